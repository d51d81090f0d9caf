"""What registering in MLflow costs per model (issue 16): `batch --register` on a fleet, on the embedded SQLite
store and (with --server) on a local `mlflow server`.

    python benchmarks/register_overhead.py [--per-framework 4] [--server]

Builds the batch_fleet models (N per framework), converts them once (`batch -j 2`), then, each a fresh process:
- a rerun with nothing changed, no registry (every job up to date): the baseline;
- the same rerun with `--register` into a new store: every output becomes version 1 (log, metrics, latency);
- again with `--register`: every output is already a version (content digest found, nothing logged);
- one `modelport register FILE` process (MLflow import included).
Per-model overhead = (registering rerun - baseline rerun) / models.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _common  # noqa: F401  (import paths, quiet TensorFlow)
from batch_fleet import build


def timed(cmd: list[str], env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    got = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if got.returncode:
        print("   exit", got.returncode, got.stderr.strip().splitlines()[-1:])
    try:
        return wall, json.loads(got.stdout)
    except ValueError:
        return wall, {}


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{folder / 'server.db'}", "--artifacts-destination", str(folder / "art"),
                               "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return server, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit("mlflow server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-framework", type=int, default=4)
    parser.add_argument("--server", action="store_true", help="also register into a local `mlflow server`")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-register-"))
    server = None
    try:
        (work / "models").mkdir()
        n = len(build(work / "models", args.per_framework))
        manifest = work / "m.json"
        manifest.write_text(json.dumps({"defaults": {"output": "out/"}, "jobs": [{"source": "models/*"}]}))
        mp = [sys.executable, "-m", "modelport"]
        base_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        wall, report = timed(mp + ["batch", str(manifest), "-j", "2", "-q", "--json", "-"], base_env)
        print(f"{n} models converted in {wall:.1f} s: {report.get('counts')}")
        stores = {"embedded sqlite": f"sqlite:///{work / 'mlflow.db'}"}
        if args.server:
            server, url = start_server(work / "server")
            stores["mlflow server (local)"] = url
        baseline, _ = timed(mp + ["batch", str(manifest), "-q", "--json", "-"], base_env)
        print(f"{'store':24} {'run':30} {'wall s':>7}")
        print(f"{'-':24} {'rerun, no registry':30} {baseline:7.1f}")
        one = next((work / "out").glob("*.onnx"))
        for label, uri in stores.items():
            env = dict(base_env, MLFLOW_TRACKING_URI=uri)
            first, rep = timed(mp + ["batch", str(manifest), "--register", "-q", "--json", "-"], env)
            made = sum(1 for j in rep.get("jobs", []) if (j.get("registered") or {}).get("created"))
            again, rep = timed(mp + ["batch", str(manifest), "--register", "-q", "--json", "-"], env)
            kept = sum(1 for j in rep.get("jobs", []) if (j.get("registered") or {}).get("created") is False)
            single, _ = timed(mp + ["register", str(one), "--name", "single", "-q", "--json", "-"], env)
            print(f"{label:24} {f'--register, {made} new versions':30} {first:7.1f}")
            print(f"{label:24} {f'--register, {kept} unchanged':30} {again:7.1f}")
            print(f"{label:24} {'one `modelport register`':30} {single:7.1f}")
            print(f"{label:24} per model: new version {(first - baseline) / n:.2f} s, "
                  f"unchanged {(again - baseline) / n:.2f} s")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
