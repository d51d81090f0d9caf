"""HTML report pages (`--report`, issue 30): what writing one costs, how big it is, and the screenshots in
docs/report.md.

    python benchmarks/report_pages.py --measure          # ResNet-50 verify --locate, compress --locate, 200 jobs
    python benchmarks/report_pages.py --screenshots docs/img

Cost of a page = the same command with --report minus without (per-element detail + rendering + writing), each
in a fresh process, best of `--repeat`; and the rendering alone (`modelport.html.write` on the JSON report, in
process, after a warm-up). Goal: under 2 s and under 5 MB each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths)

MP = [sys.executable, "-m", "modelport"]


def run(args: list, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([*MP, *map(str, args)], capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr[-2000:]}")
    return best


def render_seconds(report_json: Path, page: Path) -> float:
    from modelport import html

    report = json.loads(report_json.read_text())
    html.write(report, page)  # warm: imports, templates
    start = time.perf_counter()
    html.write(report, page)
    return time.perf_counter() - start


def cost(label: str, args: list, folder: Path, repeat: int) -> None:
    page, data = folder / f"{label}.html", folder / f"{label}.json"
    plain = run([*args, "--force"] if "-o" in args else args, repeat)
    paged = run([*args, *(["--force"] if "-o" in args else []), "--report", page, "--json", data], repeat)
    alone = render_seconds(data, folder / f"{label}-again.html")
    print(f"{label:34} without {plain:6.2f} s  with --report {paged:6.2f} s  (+{paged - plain:5.2f} s; rendering "
          f"alone {alone:.2f} s)  page {page.stat().st_size / 1e6:.2f} MB, JSON {data.stat().st_size / 1e6:.2f} MB")


def measure(repeat: int) -> None:
    import numpy as np
    import onnx
    import torch
    from locate_memory import resnet50
    from onnx import numpy_helper

    import modelport

    folder = Path(tempfile.mkdtemp(prefix="modelport-pages-"))
    torch.manual_seed(0)
    src, out, bad = folder / "resnet50.pt2", folder / "resnet50.onnx", folder / "bad.onnx"
    torch.export.save(torch.export.export(resnet50(), (torch.randn(1, 3, 224, 224),)), str(src))
    assert modelport.convert(src, out).ok
    proto = onnx.load(str(out))
    target = next(t for t in proto.graph.initializer if t.name.endswith("6.2.conv2.weight"))
    target.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(target) * np.float32(1.05), target.name))
    onnx.save(proto, str(bad))
    cost("ResNet-50 verify --locate (fails)", ["verify", src, bad, "--locate"], folder, repeat)
    cost("ResNet-50 compress --locate", ["compress", out, "-o", folder / "int8.onnx", "--method", "dynamic-int8",
                                         "--locate"], folder, repeat)
    fleet(folder, 200)


def fleet(folder: Path, jobs: int) -> None:
    """A generated manifest: `jobs` jobs over small scikit-learn models (four kinds), each its own output."""
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    kinds = {"lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
             "tree": DecisionTreeClassifier(max_depth=4, random_state=0),
             "forest": RandomForestClassifier(n_estimators=10, random_state=0), "scaler": StandardScaler()}
    base = folder / "fleet"
    base.mkdir()
    for name, model in kinds.items():
        sio.dump(model.fit(x, y), str(base / f"{name}.skops"))
    lines = ["defaults: {samples: 16}", "jobs:"]
    for i in range(jobs):
        kind = list(kinds)[i % len(kinds)]
        lines.append(f"  - {{source: {kind}.skops, name: {kind}-{i:03d}, output: out/{kind}-{i:03d}.onnx}}")
    (base / "m.yaml").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    subprocess.run([*MP, "batch", base / "m.yaml", "-q", "--json", base / "fleet.json"], check=True)
    first = time.perf_counter() - start
    shutil.rmtree(base / "out")
    start = time.perf_counter()
    subprocess.run([*MP, "batch", base / "m.yaml", "-q", "--report", base / "fleet.html", "--json",
                    base / "fleet2.json"], check=True)
    second = time.perf_counter() - start
    alone = render_seconds(base / "fleet2.json", base / "fleet-again.html")
    print(f"{jobs}-job batch: without {first:.1f} s, with --report {second:.1f} s (the page: rendering alone "
          f"{alone:.2f} s), page {(base / 'fleet.html').stat().st_size / 1e6:.2f} MB, JSON "
          f"{(base / 'fleet2.json').stat().st_size / 1e6:.2f} MB")


def screenshots(target: Path) -> None:
    """One PNG per kind of page, from the test models, by the same browser the tests use."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser import ARGS, CHROMIUM
    from tests.builders import torch_iris_mlp

    work = Path(tempfile.mkdtemp(prefix="modelport-shots-"))
    import onnx
    import skops.io as sio
    from onnx import numpy_helper
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    sio.dump(model, str(work / "v1.skops"))
    model[0].mean_[2] += 1.5
    sio.dump(model, str(work / "v2.skops"))
    mlp = torch_iris_mlp(work / "mlp.pt2")
    pages = {}

    def page(name: str, *args) -> None:
        pages[name] = work / f"{name}.html"
        subprocess.run([*MP, *map(str, args), "-q", "--report", pages[name]], capture_output=True)

    page("convert", "convert", work / "v1.skops", "-o", work / "v1.onnx")
    subprocess.run([*MP, "convert", work / "v2.skops", "-o", work / "v2.onnx", "-q"], check=True)
    page("verify-failed", "verify", work / "v1.skops", work / "v2.onnx")
    subprocess.run([*MP, "convert", mlp, "-o", work / "mlp.onnx", "-q"], check=True)
    proto = onnx.load(str(work / "mlp.onnx"))
    weight = next(i for i in proto.graph.initializer if i.name == "2.weight")
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(proto, str(work / "mlp-bad.onnx"))
    page("verify-locate", "verify", mlp, work / "mlp-bad.onnx", "--locate")
    page("compress", "compress", work / "mlp.onnx", "-o", work / "mlp.int8.onnx", "--method", "dynamic-int8",
         "--locate")
    page("bench", "bench", work / "v1.onnx", work / "v2.onnx", work / "mlp.onnx", "--runs", "200")
    (work / "m.yaml").write_text("jobs:\n  - {source: v1.skops, name: iris-v1, output: out/}\n"
                                 "  - {source: v2.skops, name: iris-v2, output: out/, compress: fp16}\n"
                                 "  - {source: mlp.pt2, name: mlp, output: out/, optimize: true}\n"
                                 "  - {source: v1.skops, name: iris-pte, to: executorch, output: out/}\n")
    page("batch", "batch", work / "m.yaml")
    target.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for name, path in pages.items():
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.goto(path.as_uri())
            tab.wait_for_timeout(1500)
            tab.screenshot(path=str(target / f"report-{name}.png"), full_page=True)
            tab.close()
            print(f"{target / f'report-{name}.png'}  ({path.stat().st_size / 1e6:.2f} MB page)")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--screenshots", metavar="DIR")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.screenshots:
        screenshots(Path(args.screenshots))
    if args.measure:
        measure(args.repeat)


if __name__ == "__main__":
    main()
