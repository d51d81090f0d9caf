"""One self-contained HTML page from a command's JSON report (`--report PATH.html`): Jinja2 fills the template
(html/templates/report.html.j2); Bokeh draws the charts (html/charts.py), its JavaScript inline, so the page
opens offline from a CI artifact or an email and fetches nothing. Everything on it comes from the report dict
`--json` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.html import charts

BOKEH_COMPONENTS = ["bokeh"]  # the core bundle only (1.3 MB): no widgets, tables, GL or MathJax


def render(report: dict[str, Any], where: Path | None = None) -> str:
    """The page's HTML for `report` (a `Report.to_dict()`); `where`: the page's folder, for relative links to
    other pages (a batch's per-job pages)."""
    import jinja2
    from bokeh.embed import components
    from bokeh.resources import Resources

    figs: dict[str, Any] = {}
    context = _context(report, figs)
    context["links"] = _links(report, where)
    script, divs = components(figs) if figs else ("", {})
    resources = Resources(mode="inline", components=BOKEH_COMPONENTS, log_level="warn")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["g"] = _number
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.2f}%"
    env.filters["size"] = _size
    template = env.get_template("report.html.j2")
    return template.render(r=report, c=context, charts=divs, chart_script=script,
                           bokeh_js=resources.render_js(), bokeh_css=resources.render_css())


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _size(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(value)


def _add(figs: dict[str, Any], key: str, fig: Any) -> str | None:
    if fig is None:
        return None
    figs[key] = fig
    return key


def _context(report: dict[str, Any], figs: dict[str, Any]) -> dict[str, Any]:
    """What the template shows beyond the report itself: outputs in the order to read them (failed first),
    chart keys, and the parts each command has."""
    verification = report.get("verification") or {}
    detail = verification.get("detail") or {}
    outputs = []
    ordered = sorted(enumerate(verification.get("outputs") or []), key=lambda p: (p[1].get("passed", False), p[0]))
    for i, (_, out) in enumerate(ordered):
        d = (detail.get("outputs") or {}).get(out["name"], {})
        keys = [_add(figs, f"out{i}_hist", charts.error_histogram(out["name"], d)),
                _add(figs, f"out{i}_scatter", charts.value_scatter(out["name"], d))]
        if d.get("confusion"):
            keys.append(_add(figs, f"out{i}_confusion", charts.confusion(out["name"], d["confusion"])))
        for j, fig in enumerate(charts.mismatch_axes(out["name"], d.get("mismatch_by_axis") or [])):
            keys.append(_add(figs, f"out{i}_axis{j}", fig))
        outputs.append({"o": out, "d": d, "charts": [k for k in keys if k]})
    inputs = []
    for i, (name, d) in enumerate((detail.get("inputs") or {}).items()):
        inputs.append({"name": name, "d": d, "chart": _add(figs, f"in{i}", charts.input_distribution(name, d))})
    generated = any(not str(rule).endswith(".npz") for rule in (verification.get("inputs_from") or {}).values())
    located = report.get("locate") or {}
    extra = {
        "locate": _add(figs, "locate", charts.locate_curve(located)) if located else None,
        "damage": _add(figs, "damage", charts.damage_bars(report.get("damage") or [])),
        "candidates": _add(figs, "candidates", charts.candidates(report.get("candidates") or [])),
        "quantiles": _add(figs, "quantiles", charts.latency_quantiles(report.get("rows") or [])),
        "size_latency": _add(figs, "size_latency", charts.latency_vs_size(report.get("rows") or [])),
    }
    if report.get("command") == "batch" and report.get("jobs") is not None:
        extra["status"] = _add(figs, "status", charts.status_counts(report.get("counts") or {}))
        extra["times"] = _add(figs, "times", charts.job_times(report["jobs"]))
    failed = [o["o"]["name"] for o in outputs if not o["o"].get("passed")]
    return {"outputs": outputs, "inputs": inputs, "generated": generated, "failed": failed, **extra,
            "verdict": _verdict(report), "title": _title(report)}


def _links(report: dict[str, Any], where: Path | None) -> dict[int, list[tuple[str, str]]]:
    """A batch's per-step pages (the manifest's `report`) by job number, relative to this page when they can be."""
    import os

    links: dict[int, list[tuple[str, str]]] = {}
    for number, job in enumerate(report.get("jobs") or [], 1):
        for step in job.get("steps") or []:
            if step.get("page"):
                target = Path(step["page"]).absolute()
                link = os.path.relpath(target, where) if where is not None else str(target)
                links.setdefault(number, []).append((step.get("command", ""), link))
    return links


def _verdict(report: dict[str, Any]) -> str:
    if report.get("error"):
        return "error"
    verification = report.get("verification")
    if report.get("ok"):
        return "passed" if verification and verification.get("passed") else "ok"
    return "failed"


def _title(report: dict[str, Any]) -> str:
    if report.get("command") == "batch":
        return f"{Path(str(report.get('manifest', ''))).name}: {len(report.get('jobs') or [])} job(s)"
    if report.get("command") == "bench":
        return ", ".join(Path(str(r.get("model", ""))).name for r in report.get("rows") or []) or "bench"
    source = report.get("source") or {}
    name = source.get("path") if isinstance(source, dict) else source
    candidate = report.get("candidate")
    out = report.get("output") or (candidate.get("path") if isinstance(candidate, dict) else candidate)
    if name and out:
        return f"{Path(str(name)).name} → {Path(str(out)).name}"
    return str(name or out or report.get("command", ""))
