"""`--report PATH.html`: each command's page, opened in headless Chromium (tests/browser.py). No console error, no
network request, every chart drawn by Bokeh and not blank, the numbers on the page equal to the JSON report's, and
a failed verification's page showing the failed output first, marked failed. The models' own behaviour is checked
independently where the page makes a claim about it (onnxruntime and scikit-learn on the same rows)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.browser import look, needs_browser
from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("sklearn"), needs_browser,
              pytest.mark.skipif(__import__("importlib").util.find_spec("bokeh") is None,
                                 reason="needs modelport[report]")]


@pytest.fixture(scope="module")
def iris_models(tmp_path_factory) -> Path:
    """v1: scaler + logistic regression on iris; v2: the same with one scaler mean moved (a changed model)."""
    from tests.builders import iris_versions

    folder = tmp_path_factory.mktemp("report")
    iris_versions(folder)
    return folder


def _run(cli, *args):
    """The CLI in this process (frameworks stay imported: seconds saved a call), as a finished process."""
    from types import SimpleNamespace

    code, stdout, stderr = cli(*args)
    return SimpleNamespace(returncode=code, stdout=stdout, stderr=stderr)


def _number(text: str) -> float:
    text = text.strip().rstrip("%x")
    return float(text) if text not in ("-", "") else float("nan")


def check_page(seen, report: dict) -> None:
    """What every page must be: quiet, offline, drawn, and saying what its JSON says."""
    assert seen.errors == [], seen.errors
    assert seen.requests == [], seen.requests
    assert seen.charts, "no chart on the page"
    for key, chart in seen.charts.items():
        assert chart["canvas"] >= 1 and chart["height"] > 100 and chart["width"] > 200, (key, chart)
        assert chart["colors"] > 20, (key, chart)  # drawn, not an empty frame
    assert seen.rendered_roots >= len(seen.charts)
    assert seen.screenshot_colors > 50
    verification = report.get("verification") or {}
    outputs = {o["name"]: o for o in verification.get("outputs", [])}
    rows = seen.attributes
    assert [r["output"] for r in rows] == sorted(outputs, key=lambda n: (outputs[n]["passed"], list(outputs).index(n)))
    for row in rows:
        want = outputs[row["output"]]
        assert row["passed"] == ("true" if want["passed"] else "false")
        assert ("pass" in row["cells"][2]) == want["passed"] and ("FAIL" in row["cells"][2]) != want["passed"]
        assert _number(row["cells"][3]) == pytest.approx(want["max_abs_error"], rel=1e-3, abs=1e-30)
        assert _number(row["cells"][4]) == pytest.approx(want["max_rel_error"], rel=1e-3, abs=1e-30)
        assert _number(row["cells"][5]) == pytest.approx(100 * want["mismatch_ratio"], rel=1e-3, abs=1e-6)


def test_convert_and_failed_verify_pages(iris_models, browser, tmp_path, cli):
    import onnxruntime as ort
    import skops.io as sio

    from tests.builders import iris

    folder = iris_models
    code = _run(cli, "convert", folder / "v1.skops", "-o", tmp_path / "v1.onnx", "--report", tmp_path / "convert.html",
                   "--json", tmp_path / "convert.json")
    assert code.returncode == 0, code.stderr
    report = json.loads((tmp_path / "convert.json").read_text())
    seen = look(browser, tmp_path / "convert.html", ("#verdict", "#invocation", "#attempts"))
    check_page(seen, report)
    assert "PASSED" in seen.text["#verdict"]
    assert seen.text["#invocation"] == report["invocation"]
    assert report["invocation"].startswith(f"modelport convert {folder / 'v1.skops'} --output")
    assert "sklearn-skl2onnx" in seen.text["#attempts"]
    assert {"out0_confusion", "out1_hist", "out1_scatter", "in0"} <= set(seen.charts)
    size = (tmp_path / "convert.html").stat().st_size
    assert size < 5_000_000, size

    # the other direction: v1's source against v2's file. Independently: v2's file disagrees with v1's source
    assert _run(cli, "convert", folder / "v2.skops", "-o", tmp_path / "v2.onnx", "-q").returncode == 0
    x = iris()[0].astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "v2.onnx"), providers=["CPUExecutionProvider"])
    labels = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert (labels != sio.load(str(folder / "v1.skops"), trusted=sio.get_untrusted_types(
        file=str(folder / "v1.skops"))).predict(x)).any()
    done = _run(cli, "verify", folder / "v1.skops", tmp_path / "v2.onnx", "--report", tmp_path / "verify.html",
                   "--json", tmp_path / "verify.json")
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "verify.json").read_text())
    seen = look(browser, tmp_path / "verify.html", ("#verdict", "section.output h2", "section.output p.agreement"),
                screenshot=tmp_path / "verify.png")
    check_page(seen, report)
    assert "FAILED" in seen.text["#verdict"]
    failed = [o["name"] for o in report["verification"]["outputs"] if not o["passed"]]
    assert seen.attributes[0]["output"] in failed and seen.attributes[0]["passed"] == "false"
    assert "FAIL" in seen.text["section.output h2"]  # the first output section is a failed one
    first = next(o for o in report["verification"]["outputs"] if o["name"] == seen.attributes[0]["output"])
    assert f"{100 * first['label_agreement']:.2f}%" in seen.text["section.output p.agreement"]
    detail = report["verification"]["detail"]["outputs"]["probabilities"]
    assert sum(detail["error_histogram"]["counts"]) + detail["error_histogram"]["zeros"] == \
        detail["error_histogram"]["total"]
    assert "out0_confusion" in seen.charts and any(k.endswith("_hist") for k in seen.charts)


def test_bench_optimize_and_fuse_pages(iris_models, browser, tmp_path, cli):
    folder = iris_models
    for v in ("v1", "v2"):
        assert _run(cli, "convert", folder / f"{v}.skops", "-o", tmp_path / f"{v}.onnx", "-q").returncode == 0
    done = _run(cli, "bench", tmp_path / "v1.onnx", tmp_path / "v2.onnx", "--runs", "20", "--report",
                   tmp_path / "bench.html", "--json", tmp_path / "bench.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    seen = look(browser, tmp_path / "bench.html", ("#bench-rows",))
    check_page(seen, report)
    assert set(seen.charts) == {"quantiles", "size_latency"}
    for row in report["rows"]:
        assert len(row["quantiles_ms"]) == 21 and row["quantiles_ms"] == sorted(row["quantiles_ms"])
        assert f"{row['p50_ms']:.4g}" in seen.text["#bench-rows"]

    done = _run(cli, "optimize", tmp_path / "v1.onnx", "-o", tmp_path / "v1.opt.onnx", "--report",
                   tmp_path / "optimize.html", "--json", tmp_path / "optimize.json")
    assert done.returncode == 0, done.stderr
    check_page(look(browser, tmp_path / "optimize.html"), json.loads((tmp_path / "optimize.json").read_text()))

    done = _run(cli, "fuse", folder / "v1.skops", folder / "v2.skops", "-o", tmp_path / "mean.onnx", "--strategy",
                   "mean", "--report", tmp_path / "fuse.html", "--json", tmp_path / "fuse.json")
    assert done.returncode == 0, done.stderr
    check_page(look(browser, tmp_path / "fuse.html"), json.loads((tmp_path / "fuse.json").read_text()))


def test_report_refusals(tmp_path, iris_models, cli):
    done = _run(cli, "convert", iris_models / "v1.skops", "-o", tmp_path / "a.onnx", "--report", tmp_path / "a.txt")
    assert done.returncode == 2 and "--report" in done.stderr and not (tmp_path / "a.onnx").exists()
    done = _run(cli, "convert", iris_models / "v1.skops", "-o", tmp_path / "a.onnx", "--report",
                   tmp_path / "missing" / "a.html")
    assert done.returncode == 2 and "no folder" in done.stderr and not (tmp_path / "a.onnx").exists()


@needs("torch")
def test_locate_and_compress_pages(models, browser, tmp_path, cli):
    """verify --locate on a file with the second Linear's weight x1.5: the curve's first jump is that layer (we
    changed it); compress --locate: the damage chart ranks the layers it reports, and the before/after table
    says the JSON's figures."""
    import onnx
    from onnx import numpy_helper

    source = models("torch_iris")
    assert _run(cli, "convert", source, "-o", tmp_path / "mlp.onnx", "-q").returncode == 0
    model = onnx.load(str(tmp_path / "mlp.onnx"))
    weight = next(i for i in model.graph.initializer if i.name == "2.weight")
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(model, str(tmp_path / "bad.onnx"))
    done = _run(cli, "verify", source, tmp_path / "bad.onnx", "--locate", "--report", tmp_path / "locate.html",
                   "--json", tmp_path / "locate.json")
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "locate.json").read_text())
    seen = look(browser, tmp_path / "locate.html", ("#locate",))
    check_page(seen, report)
    assert "locate" in seen.charts
    assert report["locate"]["first"]["layer"].startswith("2 ") and "2 (Linear)" in seen.text["#locate"]
    assert [p["index"] for p in report["locate"]["curve"]] == sorted(p["index"] for p in report["locate"]["curve"])

    done = _run(cli, "compress", tmp_path / "mlp.onnx", "-o", tmp_path / "mlp.int8.onnx", "--method", "dynamic-int8",
                   "--locate", "--report", tmp_path / "compress.html", "--json", tmp_path / "compress.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "compress.json").read_text())
    seen = look(browser, tmp_path / "compress.html", ("#before-after",))
    check_page(seen, report)
    assert {"damage", "candidates"} <= set(seen.charts)
    sizes = [f"{report[k]['size_bytes'] / 1000:.1f} KB" for k in ("before", "after")]
    assert all(s in seen.text["#before-after"] for s in sizes), (sizes, seen.text["#before-after"])
    assert (tmp_path / "mlp.int8.onnx").stat().st_size == report["after"]["size_bytes"]


def test_batch_page_sorts_filters_and_links_each_job(iris_models, browser, tmp_path):
    """A fleet of three (two that verify, one that cannot convert): counts, the table's numbers equal the JSON's,
    the filter and the sort work in the browser, each row links to its job's section, and the JUnit file's
    testcases link to them."""
    import shutil
    import xml.etree.ElementTree as ET

    for v in ("v1", "v2"):
        shutil.copy(iris_models / f"{v}.skops", tmp_path / f"{v}.skops")
    (tmp_path / "m.yaml").write_text(
        "jobs:\n"
        "  - {source: v1.skops, name: iris-v1, output: out/}\n"
        "  - {source: v2.skops, name: iris-v2, output: out/, compress: fp16, report: pages/v2.html}\n"
        "  - {source: v1.skops, name: iris-pte, to: executorch, output: out/}\n")
    done = run_cli("batch", tmp_path / "m.yaml", "-j", "1", "--report", tmp_path / "fleet.html", "--json",
                   tmp_path / "fleet.json", "--junit", tmp_path / "junit.xml")
    assert done.returncode == 3, done.stderr  # one job cannot be converted
    report = json.loads((tmp_path / "fleet.json").read_text())
    assert report["counts"] == {"ok": 2, "up to date": 0, "verification failed": 0, "failed": 1}
    seen = look(browser, tmp_path / "fleet.html", ("#jobs tbody", "#counts"))
    check_page(seen, report)
    assert set(seen.charts) == {"status", "times"}
    rows = [line.split("\t") for line in seen.text["#jobs tbody"].splitlines()]
    for row, job in zip(rows, report["jobs"]):
        assert row[0].split(" [")[0] == job["name"] and row[2] == job["status"]
        want = job["max_abs_error"]
        assert (row[4] == "-") if want is None else _number(row[4]) == pytest.approx(want, rel=1e-3)
    assert (tmp_path / "out" / "iris-v1.onnx").stat().st_size == report["jobs"][0]["size_bytes"]
    # the job that asked for pages (the manifest's `report`): one per step, each a full page, linked from the fleet
    pages = [s.get("page") for s in report["jobs"][1]["steps"]]
    assert pages == [str(tmp_path / "pages" / "v2.html"), str(tmp_path / "pages" / "v2.compress.html")]
    for page, step in zip(pages, report["jobs"][1]["steps"]):
        job_seen = look(browser, Path(page))
        check_page(job_seen, step["report"])
        assert any(k.endswith("_hist") for k in job_seen.charts)  # per-element detail was computed in the worker
    assert "[convert]" in rows[1][0] and "[compress]" in rows[1][0]
    links = (tmp_path / "fleet.html").read_text()
    assert 'href="pages/v2.html"' in links and 'href="pages/v2.compress.html"' in links
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    links = [p.get("value") for case in cases for p in case.iter("property") if p.get("name") == "report"]
    assert links == ["fleet.html#job-1", "fleet.html#job-2", "fleet.html#job-3"]

    page = browser.new_page()
    try:
        page.goto((tmp_path / "fleet.html").as_uri())
        page.fill("#filter", "iris-v")
        assert page.inner_text("#shown") == "2 of 3 shown"
        page.select_option("#status-filter", "failed")
        page.fill("#filter", "")
        visible = page.eval_on_selector_all("tr.job-row", "rs => rs.filter(r => r.style.display !== 'none')"
                                                          ".map(r => r.cells[0].innerText)")
        assert visible == ["iris-pte"]
        page.select_option("#status-filter", "")
        page.click("#jobs th:nth-child(8)")  # seconds, largest first
        order = page.eval_on_selector_all("tr.job-row", "rs => rs.map(r => parseFloat(r.cells[7].dataset.value))")
        assert order == sorted(order, reverse=True)
        page.click("#jobs tbody tr:last-child a")
        assert page.evaluate("location.hash").startswith("#job-")
        assert page.is_visible(page.evaluate("location.hash"))
    finally:
        page.close()
