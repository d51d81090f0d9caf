"""`modelport batch` on a fleet of small models: warm workers (`-j 1`, `-j 2`, Ray) against a process per job
and against one process converting them all in a loop; a rerun (issues 16 and 28).

    python benchmarks/batch_fleet.py [--per-framework 8] [--skip-ray] [--many 200]

Builds N small PyTorch (.pt2), N Keras (.keras) and N scikit-learn (.skops) models, all different, and one
manifest converting each to ONNX (verified, 16 samples). Then, each a fresh `modelport batch` process:
- warm workers at `-j 1`, `-j 2` and `--executor ray` (a local Ray on all cores), and `-j 2 --isolation job`
  (a process per job), each with `--force` and into its own output folder;
- a rerun of the `-j 2` manifest with nothing changed (every job up to date);
- the same conversions in ONE process through the Python API (`modelport.convert` in a loop).
Goals (issue 28): `-j 2` <= 0.6x the in-process loop; Ray <= 1.15x the pool; the rerun <= 5% of the first run.
`--many N`: a manifest of N generated models (a third of each framework, repeated) at `-j 2`: seconds per job
and each worker's resident memory after each of its jobs (growth is bounded by `--worker-memory`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths, quiet TensorFlow)


def build(folder: Path, n: int) -> list[Path]:
    """n models per framework, each a different size or kind."""
    import keras
    import numpy as np
    import skops.io as sio
    import torch
    from sklearn import cluster, ensemble, linear_model, neighbors, pipeline, preprocessing, tree
    from sklearn.datasets import load_breast_cancer

    made = []
    for i in range(n):
        torch.manual_seed(i)
        width = 16 * (i + 1)
        model = torch.nn.Sequential(torch.nn.Linear(20, width), torch.nn.ReLU(), torch.nn.Linear(width, 5)).eval()
        if i % 2:
            model = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 5)), torch.nn.Conv2d(1, 4 + i, 3, padding=1),
                                        torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear((4 + i) * 20, 5)).eval()
        program = torch.export.export(model, (torch.randn(2, 20),),
                                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
        path = folder / f"torch{i}.pt2"
        torch.export.save(program, str(path))
        made.append(path)
    for i in range(n):
        keras.utils.set_random_seed(i)
        layers = [keras.Input((20,)), keras.layers.Dense(16 * (i + 1), activation="relu")]
        if i % 2:
            layers.append(keras.layers.Dense(8 + i, activation="tanh"))
        model = keras.Sequential([*layers, keras.layers.Dense(5, activation="softmax")])
        path = folder / f"keras{i}.keras"
        model.save(str(path))
        made.append(path)
    x, y = load_breast_cancer(return_X_y=True)
    kinds = [
        lambda: linear_model.LogisticRegression(max_iter=2000),
        lambda: pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
        lambda: tree.DecisionTreeClassifier(max_depth=5, random_state=0),
        lambda: ensemble.RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
        lambda: ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0),
        lambda: neighbors.KNeighborsClassifier(3),
        lambda: pipeline.make_pipeline(preprocessing.MinMaxScaler(), linear_model.Ridge()),
        lambda: cluster.KMeans(4, n_init=2, random_state=0),
    ]
    for i in range(n):
        est = kinds[i % len(kinds)]()
        est.fit(x, y.astype(np.float64) if "Ridge" in str(est) else y)
        path = folder / f"sklearn{i}.skops"
        sio.dump(est, str(path))
        made.append(path)
    return made


def many(work: Path, n: int, mp: list[str], ray: bool) -> None:
    """n jobs over the built models (each model several times, each its own output) at -j 2."""
    sources = sorted((work / "models").iterdir())
    jobs = [{"source": f"models/{sources[i % len(sources)].name}", "name": f"m{i}"} for i in range(n)]
    path = work / "many.json"
    path.write_text(json.dumps({"defaults": {"output": "many/"}, "jobs": jobs}))
    wall, code, report = timed(mp + [str(path), "-j", "2", "--force", "-q", "--json", "-"])
    print(f"\n{n} jobs at -j 2: {wall:.1f} s ({wall / n:.2f} s per job), exit {code}, {report.get('counts')}")
    by_worker: dict[int, list[float]] = {}
    for job in report.get("jobs", []):
        if job.get("worker"):
            by_worker.setdefault(job["worker"]["pid"], []).append(job["worker"]["rss_mib"])
    print(f"{len(by_worker)} workers; resident MiB after each job (first, max, last):")
    for pid, rss in by_worker.items():
        print(f"  worker {pid}: {len(rss)} jobs, {rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f}")
    if ray:
        ray_wall, code, report = timed(mp + [str(path), "--executor", "ray", "--force", "-q", "--json", "-"])
        print(f"{n} jobs on a local Ray: {ray_wall:.1f} s, exit {code}: {ray_wall / wall:.2f}x the pool")


def timed(cmd: list[str]) -> tuple[float, int, dict]:
    start = time.perf_counter()
    got = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    try:
        report = json.loads(got.stdout)
    except ValueError:
        report = {}
    if got.returncode:
        print("   ", got.stderr.strip().splitlines()[-1:] if got.stderr.strip() else got.returncode)
    return wall, got.returncode, report


IN_PROCESS = """
import json, sys, time
import modelport
jobs = json.loads(sys.argv[1])
start = time.perf_counter()
ok = sum(modelport.convert(src, out, force=True).ok for src, out in jobs)
print(json.dumps({"ok": ok, "seconds": time.perf_counter() - start}))
"""


def on_cluster(work: Path, cmd: list[str]):
    """`cmd` against a Ray head started beforehand (`ray start --head`, as on a cluster), stopped after: Ray's own
    start-up is not in the figure."""
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    subprocess.run(ray + ["start", "--head", "--num-cpus", str(os.cpu_count() or 1), "--include-dashboard=false",
                          "--disable-usage-stats"], capture_output=True, env=env, check=True)
    try:
        return timed(cmd)
    finally:
        subprocess.run(ray + ["stop", "--force"], capture_output=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-framework", type=int, default=8)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--many", type=int, default=0, metavar="N")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-fleet-"))
    try:
        (work / "models").mkdir()
        sources = build(work / "models", args.per_framework)
        print(f"{len(sources)} models ({args.per_framework} per framework), each to ONNX, verified")
        mp = [sys.executable, "-m", "modelport", "batch"]

        def manifest(name: str) -> Path:
            path = work / f"{name}.json"
            path.write_text(json.dumps({"defaults": {"output": f"{name}/"}, "jobs": [{"source": "models/*"}]}))
            return path

        rows = {}
        seq = manifest("seq")
        rows["warm -j 1"] = timed(mp + [str(seq), "-j", "1", "--force", "-q", "--json", "-"])
        pool = manifest("pool")
        rows["warm -j 2"] = timed(mp + [str(pool), "-j", "2", "--force", "-q", "--json", "-"])
        rows["rerun, nothing changed"] = timed(mp + [str(pool), "-j", "2", "-q", "--json", "-"])
        if not args.skip_ray:
            ray = manifest("ray")
            rows["ray (local)"] = timed(mp + [str(ray), "--executor", "ray", "--force", "-q", "--json", "-"])
            rows["ray (running cluster)"] = on_cluster(work, mp + [str(ray), "--executor", "ray", "--ray-address",
                                                                  "auto", "--force", "-q", "--json", "-"])
        cold = manifest("cold")
        rows["process per job -j 2"] = timed(mp + [str(cold), "-j", "2", "--isolation", "job", "--force", "-q",
                                                   "--json", "-"])
        (work / "inproc").mkdir()
        jobs = [(str(s), str(work / "inproc" / (s.name.split(".")[0] + ".onnx"))) for s in sources]
        start = time.perf_counter()
        got = subprocess.run([sys.executable, "-c", IN_PROCESS, json.dumps(jobs)], capture_output=True, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        inproc = time.perf_counter() - start
        print(f"{'run':26} {'wall s':>8} {'exit':>4}  counts")
        for name, (wall, code, report) in rows.items():
            print(f"{name:26} {wall:8.1f} {code:>4}  {report.get('counts')}")
        print(f"{'one process, API loop':26} {inproc:8.1f} {got.returncode:>4}  {got.stdout.strip()[-80:]}")
        s, p = rows["warm -j 1"][0], rows["warm -j 2"][0]
        print(f"warm -j 2 / in-process loop: {p / inproc:.2f}x (goal <= 0.6)")
        print(f"warm -j 1 / in-process loop: {s / inproc:.2f}x")
        print(f"warm -j 2 / process per job -j 2: {p / rows['process per job -j 2'][0]:.2f}x")
        print(f"rerun / first: {rows['rerun, nothing changed'][0] / p:.1%} (goal <= 5%)")
        if "ray (local)" in rows:
            print(f"ray / pool: {rows['ray (local)'][0] / p:.2f}x (goal <= 1.15); on a running cluster: "
                  f"{rows['ray (running cluster)'][0] / p:.2f}x")
        if args.many:
            many(work, args.many, mp, not args.skip_ray)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
