"""`modelport serve MODEL...`: verified models over the Open Inference Protocol (REST and gRPC)."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport serve fraud.onnx         (http://127.0.0.1:8080/v2/models/fraud, gRPC on 8081)\n
  modelport serve clf.onnx digits.tflite ensemble.onnx --http-port 9000 --grpc-port 9001\n
  modelport serve models:/fraud@production --follow         (a moved alias is swapped in)\n
  modelport serve fraud.onnx --engine ray --replicas 2 --max-batch 16        (Ray Serve)\n
  modelport serve fraud.onnx --write-config serve.yaml       (then: serve deploy serve.yaml)\n
  modelport serve fraud.onnx --write-triton triton_repo/     (a Triton model repository)\n
\n
Call it with tritonclient (http or grpc), curl or grpcurl: see docs/serve.md. SIGTERM drains requests in
flight and exits 0; Ctrl-C exits 130. A file whose recorded verification failed is refused (exit 1) unless
--allow-unverified. Needs modelport[serve].
"""


def render(report, session) -> None:
    d = report.details
    console = session.console()
    if "ray_config" in d:
        console.print(f"wrote {d['ray_config']['path']} (Ray Serve config: {', '.join(d['ray_config']['models'])})")
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        return
    if "triton" in d:
        for m in d["triton"]:
            console.print(f"{m['name']}: {m['config']} (max_batch_size {m['max_batch_size']})")
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        return
    console.print(f"stopped: served {', '.join(m['name'] for m in d.get('models', []))}")


@command("serve", "signed", "signature", render=render)
def serve(
    opts,
    models: list[str] = typer.Argument(..., metavar="MODEL...", help="ONNX or TFLite files, Hugging Face output "
                                                                     "folders, models:/NAME/V or models:/NAME@ALIAS."),
    names: list[str] = typer.Option(None, "--name", "-n", help="Name of each model in URLs, in order (default: "
                                                                "the file stem or registered name)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    http_port: int = typer.Option(8080, "--http-port", help="REST port."),
    grpc_port: int = typer.Option(8081, "--grpc-port", help="gRPC port (0: no gRPC)."),
    engine: str = typer.Option("kserve", "--engine", help="kserve (one machine) or ray (Ray Serve: RAY_ADDRESS's "
                                                          "cluster, else a local Ray)."),
    replicas: int = typer.Option(1, "--replicas", min=1, help="--engine ray: replicas per model."),
    autoscale: str = typer.Option(None, "--autoscale", metavar="MIN,MAX", help="--engine ray: autoscale each "
                                                                                "model between MIN and MAX replicas."),
    replica_cpus: float = typer.Option(1.0, "--replica-cpus", help="--engine ray: CPUs per replica (its ONNX "
                                                                     "Runtime threads; fractions share a core)."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms", help="--engine ray: longest wait to fill a batch."),
    write_config: str = typer.Option(None, "--write-config", metavar="FILE.yaml",
                                     help="Write a Ray Serve config (for `serve deploy`) and exit."),
    allow_unverified: bool = typer.Option(False, "--allow-unverified",
                                          help="Serve a file whose recorded verification failed."),
    threads: int = typer.Option(None, "--threads", min=1, help="ONNX Runtime / LiteRT threads per model "
                                                               "(default: MODELPORT_THREADS, else all cores)."),
    max_request_mb: float = typer.Option(64.0, "--max-request-mb", help="Largest request body (413 above it)."),
    follow: bool = typer.Option(False, "--follow", help="models:/NAME@ALIAS: serve the version the alias names "
                                                        "now, swapping when it moves (promotion or rollback)."),
    poll: float = typer.Option(10.0, "--poll", help="--follow: seconds between looks at the alias."),
    write_triton: str = typer.Option(None, "--write-triton", metavar="DIR",
                                     help="Write a Triton model repository for MODEL... and exit."),
    max_batch: int = typer.Option(None, "--max-batch", min=1,
                                  help="Largest batch: Ray Serve's dynamic batching (1: off), Triton's "
                                       "max_batch_size (default 8; only for a dynamic batch axis)."),
    dynamic_batching: bool = typer.Option(False, "--dynamic-batching", help="--write-triton: turn Triton's dynamic "
                                                                            "batching on."),
):
    """Serve verified models over REST and gRPC (Open Inference Protocol), or write a Triton repository."""
    if write_triton:
        from modelport.serve.triton import write_repository

        return write_repository(models, write_triton, names=names, max_batch=max_batch,
                                dynamic_batching=dynamic_batching, allow_unverified=allow_unverified,
                                force=False)
    from modelport.core.errors import UsageError
    from modelport.serve.run import serve as run

    low = high = None
    if autoscale:
        try:
            low, high = (int(x) for x in autoscale.split(","))
        except ValueError:
            raise UsageError(f"--autoscale '{autoscale}' is not MIN,MAX", hint="example: --autoscale 1,4") from None
        if not 0 <= low <= high or high < 1:
            raise UsageError(f"--autoscale '{autoscale}': need 0 <= MIN <= MAX and MAX >= 1")
    if replica_cpus <= 0 or batch_wait_ms < 0:
        raise UsageError("--replica-cpus must be > 0 and --batch-wait-ms >= 0")
    ray = {"replicas": replicas, "min_replicas": low, "max_replicas": high, "replica_cpus": replica_cpus,
           "max_batch": max_batch or 8, "batch_wait_ms": batch_wait_ms}
    return run(models, names=names, host=host, http_port=http_port, grpc_port=grpc_port, engine=engine,
               allow_unverified=allow_unverified, threads=threads, max_request_mb=max_request_mb,
               follow=follow, poll=poll, ray=ray, write_config=write_config, debug=opts.session.debug,
               progress=opts.session.progress)
