"""One load client of serve_load.py, in its own process: waits for a start file, sends `count` requests one after
another with tritonclient (grpc or http binary), prints each request's latency (ms) and the errors as JSON."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def main() -> None:
    job = json.loads(sys.argv[1])
    x = np.load(job["input"])
    if job["via"] == "grpc":
        import tritonclient.grpc as client

        conn = client.InferenceServerClient(job["grpc"])
        item = client.InferInput(job["name"], list(x.shape), "FP32")
        item.set_data_from_numpy(x)
    else:
        import tritonclient.http as client

        conn = client.InferenceServerClient(job["http"], connection_timeout=120, network_timeout=120)
        item = client.InferInput(job["name"], list(x.shape), "FP32")
        item.set_data_from_numpy(x, binary_data=True)
    outputs = [client.InferRequestedOutput(job["output"])] if job["via"] == "grpc" else \
        [client.InferRequestedOutput(job["output"], binary_data=True)]
    conn.infer(job["model"], [item], outputs=outputs)  # warm: connection, first run
    if job.get("start"):
        open(f"{job['start']}.ready.{os.getpid()}", "w").close()
    deadline = time.monotonic() + 600
    while job.get("start") and not os.path.exists(job["start"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    latencies, errors = [], []
    began = time.perf_counter()
    for _ in range(job["count"]):
        t = time.perf_counter()
        try:
            conn.infer(job["model"], [item], outputs=outputs)
            latencies.append((time.perf_counter() - t) * 1000)
        except Exception as exc:
            errors.append(str(exc)[:200])
    print(json.dumps({"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - began}))


if __name__ == "__main__":
    main()
