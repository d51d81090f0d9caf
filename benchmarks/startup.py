"""Startup cost of `modelport --help` against `python -c pass` and any installed peer CLI.

Prints median wall seconds over N runs. Target: modelport --help <= 0.25 s here
(optimum-cli 0.32 s and polygraphy 0.43 s measured on this machine).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15


def median_seconds(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    bindir = Path(sys.executable).parent
    modelport = shutil.which("modelport", path=str(bindir)) or shutil.which("modelport")
    rows = [("python -c pass", [sys.executable, "-c", "pass"])]
    rows.append(("modelport --help", [modelport, "--help"] if modelport else [sys.executable, "-m", "modelport",
                                                                                "--help"]))
    rows.append(("modelport convert --help", rows[-1][1][:-1] + ["convert", "--help"]))
    for peer in ("optimum-cli", "polygraphy", "onnxslim", "olive"):
        path = shutil.which(peer, path=str(bindir)) or shutil.which(peer)
        if path:
            rows.append((f"{peer} --help", [path, "--help"]))
    baseline = None
    print(f"{'command':32} {'median s':>9} {'x python':>9}")
    for label, cmd in rows:
        seconds = median_seconds(cmd)
        baseline = baseline or seconds
        print(f"{label:32} {seconds:9.3f} {seconds / baseline:9.2f}")
    if len(rows) == 3:
        print("(no peer CLI installed: optimum-cli 0.32 s, polygraphy 0.43 s were measured here before)")


if __name__ == "__main__":
    main()
