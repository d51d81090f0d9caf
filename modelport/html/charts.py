"""The report page's charts, drawn with Bokeh from the JSON report's numbers (nothing else): each function takes
a part of the report and returns a figure, or None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label, LinearColorMapper, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

HEIGHT = 280
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
RED, GREEN, BLUE, GREY, ORANGE = "#c0392b", "#27ae60", "#2c7fb8", "#7f8c8d", "#e67e22"


def _figure(title: str, **kwargs) -> Any:
    fig = figure(title=title, height=kwargs.pop("height", HEIGHT), sizing_mode="stretch_width", tools=TOOLS,
                 toolbar_location="right", **kwargs)
    fig.title.text_font_size = "12px"
    fig.toolbar.logo = None
    return fig


def error_histogram(name: str, detail: dict) -> Any:
    """|candidate - source| per element, log-spaced bins, with atol, the atol + rtol*|source| band and the
    float32 noise floor (and the multiple of it that passes) drawn on it."""
    hist = detail.get("error_histogram") or {}
    if not hist.get("counts"):
        return None
    edges, counts = hist["edges"], hist["counts"]
    fig = _figure(f"'{name}': absolute error per element ({hist['total'] - hist['zeros']} non-zero of "
                  f"{hist['total']})", x_axis_type="log", x_axis_label="|candidate - source|",
                  y_axis_label="elements")
    source = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "count": counts})
    fig.quad(left="left", right="right", top="count", bottom=0, source=source, fill_color=BLUE, line_color="white",
             fill_alpha=0.8)
    fig.add_tools(HoverTool(tooltips=[("from", "@left{0.000e}"), ("to", "@right{0.000e}"), ("elements", "@count")]))
    tol = detail.get("tolerance") or {}
    if tol.get("allowed_max") and tol["allowed_max"] > tol.get("atol", 0):
        fig.add_layout(BoxAnnotation(left=max(tol["atol"], edges[0] / 10), right=tol["allowed_max"],
                                     fill_color=GREEN, fill_alpha=0.08))
    marks = [(tol.get("atol"), GREEN, "atol"), (tol.get("allowed_max"), GREEN, "atol+rtol|max|"),
             (tol.get("noise_floor"), GREY, "noise floor")]
    if tol.get("noise_floor") and tol.get("floor_multiple"):
        marks.append((tol["noise_floor"] * tol["floor_multiple"], ORANGE, f"{tol['floor_multiple']:g}x floor"))
    for value, color, text in marks:
        if value:
            fig.add_layout(Span(location=value, dimension="height", line_color=color, line_dash="dashed",
                                line_width=2))
            fig.add_layout(Label(x=value, y=max(counts), text=text, text_font_size="10px", text_color=color,
                                 x_offset=3, y_offset=-12))
    return fig


def value_scatter(name: str, detail: dict) -> Any:
    """A sample of (source, candidate) values around the diagonal; mismatched elements in red."""
    sample = detail.get("sample") or {}
    if not sample.get("source"):
        return None
    fig = _figure(f"'{name}': candidate vs source ({len(sample['source'])} of {sample['of']} elements)",
                  x_axis_label="source", y_axis_label="candidate")
    lo = min(min(sample["source"]), min(sample["candidate"]))
    hi = max(max(sample["source"]), max(sample["candidate"]))
    fig.line([lo, hi], [lo, hi], line_color=GREY, line_dash="dotted")
    colors = [RED if bad else BLUE for bad in sample["mismatched"]]
    data = ColumnDataSource({"x": sample["source"], "y": sample["candidate"], "color": colors})
    fig.scatter("x", "y", source=data, color="color", size=5, alpha=0.7)
    fig.add_tools(HoverTool(tooltips=[("source", "@x{0.0000e}"), ("candidate", "@y{0.0000e}")]))
    return fig


def confusion(name: str, matrix: dict) -> Any:
    """Source label (rows) against candidate label (columns): counts, the diagonal is agreement."""
    labels = matrix["labels"]
    xs, ys, counts, text, ink = [], [], [], [], []
    top = max(max(row) for row in matrix["matrix"]) or 1
    for i, row in enumerate(matrix["matrix"]):
        for j, count in enumerate(row):
            xs.append(labels[j])
            ys.append(labels[i])
            counts.append(count)
            text.append(str(count) if count else "")
            ink.append("white" if count > 0.5 * top else "black")  # readable on dark and light cells
    fig = _figure(f"'{name}': {matrix['of']} of source (rows) vs candidate (columns), agreement "
                  f"{matrix['agreement']:.2%}", x_range=labels, y_range=list(reversed(labels)),
                  height=max(220, 24 * len(labels) + 80), x_axis_label="candidate", y_axis_label="source")
    mapper = LinearColorMapper(palette="Blues256", low=top, high=0)
    data = ColumnDataSource({"x": xs, "y": ys, "count": counts, "text": text, "ink": ink})
    fig.rect("x", "y", 1, 1, source=data, fill_color={"field": "count", "transform": mapper}, line_color="white")
    fig.text("x", "y", text="text", source=data, text_align="center", text_baseline="middle", text_font_size="11px",
             text_color="ink")
    fig.add_tools(HoverTool(tooltips=[("source", "@y"), ("candidate", "@x"), ("count", "@count")]))
    return fig


def mismatch_axes(name: str, axes: list[dict]) -> list[Any]:
    """Mismatched elements per index of an axis (a channel, a position)."""
    figs = []
    for axis in axes:
        fig = _figure(f"'{name}': mismatched elements per index of axis {axis['axis']} (length {axis['length']})",
                      height=220, x_axis_label=f"index on axis {axis['axis']}", y_axis_label="mismatched")
        fig.vbar(x=list(range(axis["length"])), top=axis["counts"], width=0.9, color=RED)
        figs.append(fig)
    return figs


def input_distribution(name: str, detail: dict) -> Any:
    """An input's values as fed: a histogram, or a count per value for integers and categories."""
    if "histogram" in detail:
        hist = detail["histogram"]
        fig = _figure(f"input '{name}' ({detail['dtype']})", height=220, x_axis_label="value",
                      y_axis_label="elements")
        fig.quad(left=hist["edges"][:-1], right=hist["edges"][1:], top=hist["counts"], bottom=0,
                 fill_color=GREY if detail.get("generated") else BLUE, line_color="white")
        return fig
    if "values" in detail:
        vals = detail["values"]
        fig = _figure(f"input '{name}' ({detail['dtype']})", height=220, x_axis_label="value",
                      y_axis_label="elements")
        fig.vbar(x=vals["values"], top=vals["counts"], width=_bar_width(vals["values"]),
                 color=GREY if detail.get("generated") else BLUE)
        return fig
    return None


def _short(name: str) -> str:
    """A model as a chart labels it: its file name (a registry URI as it is)."""
    return name if ":/" in name else Path(name).name


def _bar_width(values: list[float]) -> float:
    steps = [b - a for a, b in zip(values, values[1:]) if b > a]
    return 0.8 * min(steps) if steps else 0.8


def locate_curve(located: dict) -> Any:
    """Each compared intermediate value's relative error along the execution order, the threshold, and the
    first value whose own error jumps, named in the source's terms."""
    curve = located.get("curve") or []
    if not curve:
        return None
    fig = _figure("relative error of intermediate values, in execution order", y_axis_type="log",
                  x_axis_label="value (execution order)", y_axis_label="relative error")
    floor = min((p["rel_error"] for p in curve if p["rel_error"] > 0), default=1e-12)
    ys = [max(p["rel_error"], floor / 10) for p in curve]
    data = ColumnDataSource({"x": [p["index"] for p in curve], "y": ys, "layer": [p["layer"] for p in curve],
                             "op": [p["op"] for p in curve], "abs": [p["max_abs_error"] for p in curve]})
    fig.line("x", "y", source=data, color=BLUE)
    fig.scatter("x", "y", source=data, color=BLUE, size=5)
    fig.add_tools(HoverTool(tooltips=[("layer", "@layer"), ("op", "@op"), ("relative", "@y{0.000e}"),
                                      ("max abs", "@abs{0.000e}")]))
    if located.get("threshold"):
        fig.add_layout(Span(location=located["threshold"], dimension="width", line_color=ORANGE, line_dash="dashed"))
    first = located.get("first")
    if first:
        at = next((p for p in curve if p["layer"] == first["layer"] and p["op"] == first["op"]), None)
        if at is not None:
            y = max(at["rel_error"], floor / 10)
            fig.scatter([at["index"]], [y], color=RED, size=12, marker="diamond")
            fig.add_layout(Label(x=at["index"], y=y, text=f"first jump: {first['layer']}", text_color=RED,
                                 text_font_size="11px", x_offset=8))
    return fig


def damage_bars(rows: list[dict]) -> Any:
    """Per-layer int8 damage, worst first: the relative error each value adds over its inputs'."""
    if not rows:
        return None
    names = [f"{r['layer'] or r['value']} ({r['op']})" for r in rows]
    fig = _figure("error each layer adds (relative), worst first", y_range=list(reversed(names)),
                  height=max(220, 26 * len(rows) + 80), x_axis_label="added relative error")
    data = ColumnDataSource({"name": names, "added": [max(0.0, r["added"]) for r in rows],
                             "total": [r["rel_error"] for r in rows], "node": [r["node"] for r in rows]})
    fig.hbar(y="name", right="added", height=0.7, source=data, color=ORANGE)
    fig.add_tools(HoverTool(tooltips=[("layer", "@name"), ("added", "@added{0.000e}"), ("total", "@total{0.000e}"),
                                      ("node", "@node")]))
    return fig


def candidates(rows: list[dict]) -> Any:
    """compress auto's candidates: median latency with its spread, passed ones in green."""
    rows = [r for r in rows if r.get("p50_ms") is not None]
    if not rows:
        return None
    names = [r["method"] for r in rows]
    fig = _figure("candidates: median latency (ms) and spread", x_range=names, y_axis_label="ms")
    data = ColumnDataSource({"name": names, "p50": [r["p50_ms"] for r in rows],
                             "lo": [r["p50_ms"] - (r.get("spread_ms") or 0) / 2 for r in rows],
                             "hi": [r["p50_ms"] + (r.get("spread_ms") or 0) / 2 for r in rows],
                             "color": [GREEN if r.get("passed") else RED for r in rows]})
    fig.vbar(x="name", top="p50", width=0.6, source=data, color="color", alpha=0.8)
    fig.segment(x0="name", x1="name", y0="lo", y1="hi", source=data, color="black", line_width=2)
    fig.add_tools(HoverTool(tooltips=[("method", "@name"), ("p50 ms", "@p50{0.000}")]))
    return fig


def latency_quantiles(rows: list[dict]) -> Any:
    """bench: each model's latency at every 5th percentile of its timed runs (the whole distribution)."""
    rows = [r for r in rows if r.get("quantiles_ms")]
    if not rows:
        return None
    fig = _figure("latency distribution: ms at each percentile of the timed runs (log scale)",
                  x_axis_label="percentile", y_axis_label="ms", y_axis_type="log")
    for i, row in enumerate(rows):
        qs = row["quantiles_ms"]
        xs = [100 * k / (len(qs) - 1) for k in range(len(qs))]
        color = Category10_10[i % 10]
        fig.line(xs, qs, color=color, line_width=2, legend_label=f"{i + 1}. {_short(row['model'])}")
        fig.scatter(xs, qs, color=color, size=4)
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "10px"
    return fig


def latency_vs_size(rows: list[dict]) -> Any:
    """bench: median latency against file size, one point per model."""
    rows = [r for r in rows if r.get("size_bytes") and r.get("p50_ms") is not None]
    if not rows:
        return None
    scale, unit = next((s, u) for s, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1, "bytes"))
                       if max(r["size_bytes"] for r in rows) >= s)
    fig = _figure("median latency against size", x_axis_label=f"size ({unit})", y_axis_label="p50 ms")
    data = ColumnDataSource({"x": [r["size_bytes"] / scale for r in rows], "y": [r["p50_ms"] for r in rows],
                             "model": [f"{i + 1}. {_short(r['model'])}" for i, r in enumerate(rows)],
                             "color": [Category10_10[i % 10] for i in range(len(rows))]})
    fig.scatter("x", "y", source=data, color="color", size=10)
    fig.text("x", "y", text="model", source=data, x_offset=8, y_offset=4, text_font_size="10px")
    fig.x_range.range_padding = fig.y_range.range_padding = 0.25  # room for the labels
    fig.add_tools(HoverTool(tooltips=[("model", "@model"), (f"size {unit}", "@x{0.00}"), ("p50 ms", "@y{0.000}")]))
    return fig


STATUS_COLORS = {"ok": GREEN, "up to date": BLUE, "verification failed": ORANGE, "failed": RED}


def status_counts(counts: dict[str, int]) -> Any:
    """batch: jobs by status."""
    names = [k for k in STATUS_COLORS if k in counts] + [k for k in counts if k not in STATUS_COLORS]
    fig = _figure("jobs by status", x_range=names, height=240, y_axis_label="jobs")
    data = ColumnDataSource({"status": names, "count": [counts[k] for k in names],
                             "color": [STATUS_COLORS.get(k, GREY) for k in names]})
    fig.vbar(x="status", top="count", width=0.6, source=data, color="color")
    fig.add_tools(HoverTool(tooltips=[("status", "@status"), ("jobs", "@count")]))
    return fig


def job_times(jobs: list[dict]) -> Any:
    """batch: seconds each job took, against the size of what it wrote, coloured by status."""
    rows = [j for j in jobs if j.get("seconds") is not None]
    if not rows:
        return None
    fig = _figure("time taken per job", height=240, x_axis_label="job (manifest order)", y_axis_label="seconds")
    data = ColumnDataSource({"x": list(range(1, len(rows) + 1)), "seconds": [j["seconds"] for j in rows],
                             "job": [f"{j['name']} -> {j['target']}" for j in rows],
                             "color": [STATUS_COLORS.get(j["status"], GREY) for j in rows]})
    fig.vbar(x="x", top="seconds", width=0.8, source=data, color="color")
    fig.add_tools(HoverTool(tooltips=[("job", "@job"), ("seconds", "@seconds{0.00}")]))
    return fig
