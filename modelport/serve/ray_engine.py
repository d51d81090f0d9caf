"""`modelport serve --engine ray`: the models as a Ray Serve application on a local Ray, or on the cluster
RAY_ADDRESS names; `--write-config serve.yaml` writes the same application as a Ray Serve config for `serve deploy`.

Ray's HTTP proxy listens on --host; its gRPC proxy has no address option and listens on every interface.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.core.errors import MissingDependency, UsageError, one_line
from modelport.serve.ray_app import SERVICER


def app_args(served, *, replicas: int, min_replicas: int | None, max_replicas: int | None, replica_cpus: float,
             max_batch: int, batch_wait_ms: float, max_request_mb: float,
             allow_unverified: bool = False) -> dict[str, Any]:
    """The builder's arguments. A registry alias is fixed to the version it names now, so every replica loads the
    same one; a file path is made absolute (replicas run in other working directories)."""
    models = []
    for s in served:
        source = s.current.uri or str(Path(s.current.file).resolve())
        models.append({"name": s.name, "source": source})
    args: dict[str, Any] = {"models": models, "replica_cpus": replica_cpus, "max_batch": max_batch,
                            "batch_wait_ms": batch_wait_ms, "max_request_mb": max_request_mb,
                            "allow_unverified": allow_unverified}
    from modelport.core.signature_policy import policy_environment

    if policy_environment():  # --require-signature: every replica checks what it loads
        args["env"] = policy_environment()
    if max_replicas:
        args.update(min_replicas=min_replicas or 1, max_replicas=max_replicas)
    else:
        args["replicas"] = replicas
    return args


def config(args: dict[str, Any], *, host: str, http_port: int, grpc_port: int | None) -> dict[str, Any]:
    """A Ray Serve deploy config (ServeDeploySchema) running `modelport.serve.ray_app:build` with `args`."""
    data: dict[str, Any] = {"proxy_location": "EveryNode", "http_options": {"host": host, "port": http_port},
                            "applications": [{"name": "modelport", "route_prefix": "/",
                                              "import_path": "modelport.serve.ray_app:build", "args": args}]}
    if grpc_port:
        data["grpc_options"] = {"port": grpc_port, "grpc_servicer_functions": [SERVICER]}
    return data


def write_config(path: str, data: dict[str, Any]) -> None:
    """Checked by Ray Serve's own schema, then written whole (never half)."""
    import yaml

    from modelport.core.io import PendingOutput

    check_schema(data)
    with PendingOutput(path, force=True) as pending:
        Path(pending.path).write_text(yaml.safe_dump(data, sort_keys=False))
        pending.commit()


def check_schema(data: dict[str, Any]) -> None:
    try:
        from ray.serve.schema import ServeDeploySchema
    except ImportError as exc:
        raise MissingDependency("ray", "ray", "write a Ray Serve config") from exc
    ServeDeploySchema.model_validate(data) if hasattr(ServeDeploySchema, "model_validate") \
        else ServeDeploySchema.parse_obj(data)


def _start_ray(debug: bool):
    import logging

    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise MissingDependency("ray", "ray", "serve on Ray Serve (--engine ray)") from exc
    address = os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": debug,
                              "logging_level": logging.INFO if debug else logging.ERROR}
    try:
        ray.init(address=address, **kwargs) if address else ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UsageError(f"cannot start {where} ({one_line(exc)})", hint="check RAY_ADDRESS, or `ray status`") from exc
    return ray, serve


def check_capacity(ray, args: dict[str, Any]) -> None:
    """Replicas that cannot all be placed would leave the deploy waiting forever: say so before."""
    cpus = float(ray.cluster_resources().get("CPU", 0))
    per_model = args.get("min_replicas") or args.get("replicas", 1)
    need = per_model * len(args["models"]) * float(args["replica_cpus"])
    if cpus and need > cpus + 1e-9:
        raise UsageError(f"{len(args['models'])} model(s) x {per_model} replica(s) x {args['replica_cpus']} CPU need "
                         f"{need:g} CPUs; the Ray cluster has {cpus:g}",
                         hint="lower --replicas or --replica-cpus (fractions work: 0.5), or add nodes")


def serve(args: dict[str, Any], *, host: str, http_port: int, grpc_port: int | None, on_ready: Callable[[], None],
          debug: bool = False) -> str:
    """Deploy, call `on_ready`, wait for SIGTERM ("term") or SIGINT ("interrupt"), then shut Serve down (requests
    in flight finish: Ray drains each replica before stopping it)."""
    from modelport.serve.ray_app import build

    ray, rserve = _start_ray(debug)
    quiet = {"log_level": "DEBUG" if debug else "ERROR"}
    try:
        check_capacity(ray, args)
        try:
            rserve.start(http_options={"host": host, "port": http_port}, logging_config=quiet,
                         grpc_options={"port": grpc_port, "grpc_servicer_functions": [SERVICER]} if grpc_port else None)
        except Exception as exc:
            raise _bind_error(exc, host, http_port, grpc_port) from exc
        _quiet_serve_logger(debug)
        try:
            rserve.run(build(args), name="modelport", route_prefix="/", blocking=False, logging_config=quiet)
        except Exception as exc:
            raise _bind_error(exc, host, http_port, grpc_port) from exc
        on_ready()
        stop = threading.Event()
        why: list[str] = []
        for sig, name in ((signal.SIGTERM, "term"), (signal.SIGINT, "interrupt")):
            signal.signal(sig, lambda *_, name=name: (why.append(name), stop.set()))
        while not stop.wait(0.5):
            pass
        return why[0]
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _shutdown(ray, rserve)


def _bind_error(exc: BaseException, host: str, http_port: int, grpc_port: int | None) -> BaseException:
    """A proxy that could not bind its port is exit 2 naming it (the port was free when modelport checked it:
    something, maybe one of Ray's own processes, took it since); anything else stays as it is."""
    text = str(exc)
    if "Failed to bind" not in text and "Address already in use" not in text and "ProxyActor" not in text:
        return exc
    ports = f"{host}:{http_port}" + (f" or gRPC port {grpc_port}" if grpc_port else "")
    return UsageError(f"Ray Serve's proxy could not listen on {ports} (taken after modelport checked it)",
                      hint="choose other ports (--http-port, --grpc-port); with a local Ray, ports below 32768 "
                           "avoid the ones Ray's own processes pick")


def _quiet_serve_logger(debug: bool) -> None:
    import logging

    if not debug:
        logging.getLogger("ray.serve").setLevel(logging.CRITICAL + 1)


def _shutdown(ray, rserve, grace: float = 60.0) -> None:
    """Serve drains its replicas; bounded, since a Ray whose processes were signalled too (Ctrl-C reaches the
    whole process group, systemd the whole cgroup) may never answer. Then the local Ray stops."""
    done = threading.Thread(target=lambda: _ignore(rserve.shutdown), daemon=True)
    done.start()
    done.join(grace)
    _ignore(ray.shutdown)


def _ignore(call) -> None:
    try:
        call()
    except Exception:
        pass
