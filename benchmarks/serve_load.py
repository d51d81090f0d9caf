"""What serving costs (issue 25): `modelport serve` against the same model run in-process by onnxruntime.

    python benchmarks/serve_load.py [--mlp-requests 2000] [--cnn-requests 160] [--skip-ray]

Two verified models, made with `modelport convert`: a small MLP (64 -> 256 -> 256 -> 10) and ResNet-50 (25.6M
parameters, 224x224), both with a dynamic batch. Every client is its own process (benchmarks/_serve_client.py,
tritonclient), over loopback; every loop is bounded by its request count.

1. Served overhead at batch 1: p50 and p99 of sequential requests over gRPC and REST-binary (the KServe engine,
   one model per server, ONNX Runtime's default threads) against in-process `session.run` with the same threads.
2. Throughput under load: 8 client processes at once, the requests shared between them: requests/s, errors, p99.
3. Ray Serve (--engine ray: 2 replicas x 1 CPU, or 1 replica x 2 CPUs) on ResNet-50 with dynamic batching off and
   on, against the best in-process onnxruntime throughput at any batch size (1-32).
4. One replica killed with SIGKILL during the batching-on Ray run: failed requests, and seconds until Ray had a
   replacement replica process again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths, quiet TensorFlow)
import numpy as np

from tests.serving import free_port  # outside the ports a starting Ray takes

CLIENT = Path(__file__).with_name("_serve_client.py")


def build(work: Path) -> dict[str, dict]:
    import torch
    from convert_memory import build as build_resnet
    from torch import nn

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(mlp, (torch.randn(2, 64),), dynamic_shapes=({0: batch},)),
                      str(work / "mlp.pt2"))
    build_resnet(work / "cnn.pt2")
    models = {}
    for name, shape in (("mlp", (1, 64)), ("cnn", (1, 3, 224, 224))):
        done = subprocess.run([sys.executable, "-m", "modelport", "convert", str(work / f"{name}.pt2"), "-o",
                               str(work / f"{name}.onnx"), "--force"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        np.save(work / f"{name}.npy", x)
        import onnxruntime as ort

        sess = ort.InferenceSession(str(work / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        models[name] = {"file": work / f"{name}.onnx", "input": str(work / f"{name}.npy"),
                        "name": sess.get_inputs()[0].name, "output": sess.get_outputs()[0].name}
    return models


class Server:
    def __init__(self, files, *extra) -> None:
        self.http, self.grpc = free_port(), free_port()
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "modelport", "serve", *map(str, files), "--http-port",
                                      str(self.http), "--grpc-port", str(self.grpc), *extra],
                                     stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            self.log.seek(0)
            text = self.log.read()
            if text.count(" ready: ") >= len(files):
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {text[-2000:]}")
            time.sleep(0.2)
        raise SystemExit("server not ready in 600 s")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def clients(server: Server, model: dict, model_name: str, via: str, count: int, n: int, during=None) -> dict:
    """n client processes sharing `count` requests; started together (a start file), waited for."""
    start = Path(tempfile.mkdtemp()) / "go"
    job = {"http": f"127.0.0.1:{server.http}", "grpc": f"127.0.0.1:{server.grpc}", "model": model_name,
           "input": model["input"], "name": model["name"], "output": model["output"], "via": via,
           "start": str(start)}
    procs = [subprocess.Popen([sys.executable, str(CLIENT), json.dumps({**job, "count": count // n})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    deadline = time.monotonic() + 300  # each client has imported, connected and run its warm-up request
    while len(list(start.parent.glob("go.ready.*"))) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    began = time.perf_counter()
    start.touch()
    extra = during() if during else None
    results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        if p.returncode:
            raise SystemExit(err[-2000:])
        results.append(json.loads(out))
    wall = time.perf_counter() - began
    lat = [x for r in results for x in r["latencies"]]
    return {"rps": len(lat) / wall, "errors": sum(len(r["errors"]) for r in results), "p50": pct(lat, 50),
            "p99": pct(lat, 99), "sent": count // n * n, "extra": extra,
            "first_errors": [e for r in results for e in r["errors"]][:3]}


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def in_process(model: dict, runs: int, batch: int = 1) -> dict:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model["file"]), providers=["CPUExecutionProvider"])
    x = np.load(model["input"])
    x = np.repeat(x, batch, axis=0)
    for _ in range(5):
        sess.run(None, {model["name"]: x})
    lat = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {model["name"]: x})
        lat.append((time.perf_counter() - t) * 1000)
    return {"p50": pct(lat, 50), "p99": pct(lat, 99), "rows_per_s": batch * 1000 / statistics.fmean(lat)}


def replicas(name: str) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if f"ServeReplica:modelport:model-{name}" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-requests", type=int, default=2000)
    parser.add_argument("--cnn-requests", type=int, default=160)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-serve-load-"))
    models = build(work)
    counts = {"mlp": (500, args.mlp_requests), "cnn": (60, args.cnn_requests)}
    print("1. served overhead at batch 1 (ms), KServe engine, one model per server")
    print(f"{'model':6} {'path':12} {'p50':>8} {'p99':>8} {'added p50':>10}")
    for name, model in models.items():
        base = in_process(model, counts[name][0])
        print(f"{name:6} {'in-process':12} {base['p50']:8.3f} {base['p99']:8.3f}")
        server = Server([model["file"]])
        for via in ("grpc", "http-binary"):
            got = clients(server, model, name, via, counts[name][0], 1)
            print(f"{name:6} {via:12} {got['p50']:8.3f} {got['p99']:8.3f} {got['p50'] - base['p50']:10.3f}")
        print("2. under load: 8 client processes (gRPC)")
        got = clients(server, model, name, "grpc", counts[name][1], 8)
        print(f"   {name}: {got['sent']} requests, {got['rps']:.0f} req/s, errors {got['errors']}, "
              f"p50 {got['p50']:.2f} ms, p99 {got['p99']:.2f} ms")
        server.stop()
    if args.skip_ray:
        return 0
    cnn = models["cnn"]
    best = max((in_process(cnn, 8, b)["rows_per_s"], b) for b in (1, 2, 4, 8, 16, 32))
    print(f"3. ResNet-50 on Ray Serve, 8 clients (gRPC); best in-process: {best[0]:.1f} rows/s at batch {best[1]}")
    runs = (("2 replicas x 1 CPU, batching off", ["--replicas", "2", "--replica-cpus", "1", "--max-batch", "1"]),
            ("2 replicas x 1 CPU, batching on", ["--replicas", "2", "--replica-cpus", "1", "--max-batch", "16",
                                                 "--batch-wait-ms", "10"]),
            ("1 replica x 2 CPUs, batching off", ["--replicas", "1", "--replica-cpus", "2", "--max-batch", "1"]),
            ("1 replica x 2 CPUs, batching on", ["--replicas", "1", "--replica-cpus", "2", "--max-batch", "16",
                                                 "--batch-wait-ms", "10"]))
    for label, extra in runs:
        server = Server([cnn["file"]], "--engine", "ray", *extra)
        got = clients(server, cnn, "cnn", "grpc", args.cnn_requests, 8)
        print(f"   {label}: {got['rps']:.1f} req/s ({got['rps'] / best[0]:.2f}x best in-process), errors "
              f"{got['errors']}, p99 {got['p99']:.0f} ms")
        if label == "2 replicas x 1 CPU, batching on":
            def kill_one():
                time.sleep(5)
                before = replicas("cnn")
                os.kill(before[0], signal.SIGKILL)
                killed = time.monotonic()
                while time.monotonic() - killed < 300:
                    now = [p for p in replicas("cnn") if p != before[0]]
                    if len(now) >= len(before):
                        return time.monotonic() - killed
                    time.sleep(0.2)
                return None

            got = clients(server, cnn, "cnn", "grpc", args.cnn_requests, 8, during=kill_one)
            print(f"4. one replica SIGKILLed 5 s into the run: {got['errors']} of {got['sent']} requests failed "
                  f"{got['first_errors'][:1]}; replacement replica process after "
                  f"{got['extra']:.1f} s" if got["extra"] else "4. no replacement within 300 s")
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
