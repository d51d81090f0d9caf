"""Render reports as rich tables for people (JSON is `Report.to_dict()`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelport.core.report import Report, Verification

if TYPE_CHECKING:
    from modelport.cli.guard import Session

OUTCOME_STYLE = {"ok": "green", "mismatch": "yellow", "error": "red", "skipped": "dim"}


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}"


def size_text(size: float | None) -> str:
    """Bytes as people read them: 1.2 kB, 3.40 MB, 1.21 GB."""
    if size is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}" if unit != "kB" else f"{size / scale:.1f} kB"
    return f"{int(size)} B"


def attempts_table(report: Report):
    from rich.table import Table

    table = Table(title="Routes tried", title_justify="left", show_edge=False)
    table.add_column("route")
    table.add_column("outcome")
    table.add_column("seconds", justify="right")
    table.add_column("reason", overflow="fold")
    for a in report.attempts:
        style = OUTCOME_STYLE.get(a.outcome, "")
        table.add_row(a.route, f"[{style}]{a.outcome}[/]", f"{a.seconds:.2f}", a.reason or "")
    return table


def inputs_caption(v: Verification) -> str:
    """Where the inputs came from: the --data file, or each input's generation rule (and a pointer to --data)."""
    sources = set(v.inputs_from.values())
    if not sources:
        return "-"
    if len(sources) == 1 and not next(iter(sources)).startswith("generated"):
        return next(iter(sources))
    if len(v.inputs_from) == 1:
        return next(iter(sources)) + " - pass --data FILE.npz to verify on your own data"
    groups: dict[str, list[str]] = {}  # inputs fed by the same rule share one line (a KV cache's 2 per layer)
    for name, how in v.inputs_from.items():
        groups.setdefault(how, []).append(name)
    text = "; ".join(f"{names[0]} {how}" if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)}) {how}"
                     for how, names in groups.items())
    return text + " - pass --data FILE.npz to verify on your own data"


def verification_table(v: Verification):
    from rich.table import Table

    title = f"Verification ({v.samples} samples, batch sizes {v.batch_sizes}, inputs {inputs_caption(v)})"
    table = Table(title=title, title_justify="left", show_edge=False)
    for col in ("output", "shape", "max abs", "max rel", "mismatch", "atol/rtol", "needed atol", "x floor",
                "cosine", "labels", "result"):
        table.add_column(col, justify="left" if col in ("output", "shape", "result") else "right")
    for o in v.outputs:
        name = o.name if o.candidate_name in (o.name, "") else f"{o.name} ~ {o.candidate_name}"
        result = "[green]pass[/]" if o.passed else f"[red]FAIL[/]{' ' + o.reason if o.reason else ''}"
        if o.passed and o.passed_by == "noise floor":
            result = "[green]pass[/] (noise floor)"
        if o.ties:
            result += f" ({o.ties} ties)"
        tol = "exact" if o.exact else f"{o.atol:.3g}/{o.rtol:g}"
        labels = "-" if o.label_agreement is None else f"{o.label_agreement:.1%}"
        shape = "x".join(map(str, o.shape)) or "scalar"
        needed = "-" if o.exact else _num(o.required_atol)
        floor = "-" if o.floor_ratio is None else f"{o.floor_ratio:.2g}x"
        cosine = "-" if o.cosine is None or o.exact else f"{o.cosine:.6f}"
        table.add_row(name, shape, _num(o.max_abs_error), _num(o.max_rel_error), f"{o.mismatch_ratio:.1%}", tol,
                      needed, floor, cosine, labels, result)
    lines = [f"float32 noise floor: {v.noise_floor}"] if v.noise_floor != "not measured" else []
    lines += [f"'{o.name}': atol {o.atol:.3g} = {o.atol_rule}" for o in v.outputs if o.atol_rule]
    table.caption = "\n".join(lines) or None
    table.caption_justify = "left"
    return table


def render(report: Report, session: Session) -> None:
    console = session.console()
    if report.attempts:
        console.print(attempts_table(report))
    if report.verification is not None:
        console.print(verification_table(report.verification))
        for warning in report.verification.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if report.command == "convert" and report.output:
        for part in report.details.get("parts", [])[:-1]:
            console.print(f"wrote {part['output']} via {part['route']} "
                          f"({'verified' if part['ok'] else part['verification'] or 'NOT verified'})")
        verdict = ("verified" if report.verification and report.verification.passed
                   else "NOT verified" if report.verification is None else "verification FAILED")
        console.print(f"wrote {report.output} via {report.route} ({verdict})")
        if report.details.get("copied"):
            console.print(f"copied beside it: {', '.join(report.details['copied'])}")
        if report.details.get("genai"):
            console.print(f"wrote {report.details['genai']['config']} ({report.details['genai']['checked']})")
    elif report.command == "verify" and report.verification is not None:
        console.print("[green]models match[/]" if report.ok else "[red]models differ[/]")


def before_after_table(d: dict, title: str, nodes: bool = False, accuracy: bool = False):
    """Size, median latency (± its interquartile spread), and nodes / accuracy, before and after."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    cols = ["", *(["nodes"] if nodes else []), "size", "median latency", *(["accuracy"] if accuracy else [])]
    for col in cols:
        table.add_column(col, justify="left" if not col else "right")

    def pct(value):
        return "-" if value is None else f"{value:.2%}"

    for key in ("before", "after"):
        r = d[key]
        spread = f" ±{r['spread_ms']:.3f}" if r.get("spread_ms") is not None else ""
        table.add_row(key, *([str(r.get("nodes"))] if nodes else []), f"{r['size_bytes']:,} B",
                      f"{r['p50_ms']:.3f} ms{spread}", *([pct(r.get("accuracy"))] if accuracy else []))
    ratio_nodes = f"{(d['after'].get('nodes') or 0) / max(d['before'].get('nodes') or 1, 1):.2f}x"
    delta = f"{d['accuracy_delta_pt']:+.2f} pt" if "accuracy_delta_pt" in d else "-"
    table.add_row("ratio", *([ratio_nodes] if nodes else []), f"{d['size_ratio']:.2f}x",
                  f"{d['latency_ratio']:.2f}x" if d.get("latency_ratio") else "-", *([delta] if accuracy else []))
    return table


def locate_table(info: dict):
    """`--locate`: the first layer whose own error jumps, and the next worst, or why nothing was found."""
    from rich.table import Table

    caption = (f"{info['runs']} run(s), {info['compared']} of {info['pairs']} intermediate values compared "
               f"(matched by {info['mapped_by']})") if info.get("pairs") else None
    title = "Where it diverges" + ("" if info["found"] else f": {info['note']}")
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", show_edge=False)
    for col in ("", "layer (source)", "op", "candidate value", "rel error", "max abs", "jump"):
        table.add_column(col, justify="right" if col in ("rel error", "max abs", "jump") else "left")
    rows = ([("first", info["first"])] if info.get("first") else []) + [("", x) for x in info.get("next_worst", [])]
    for mark, x in rows:
        table.add_row(mark, x["layer"], x["op"], x["candidate_value"], _num(x["rel_error"]), _num(x["max_abs_error"]),
                      f"{x['jump']:.3g}x")
    return table


def render_with_locate(report: Report, session: Session) -> None:
    render(report, session)
    if "locate" in report.details:
        session.console().print(locate_table(report.details["locate"]))


def damage_table(rows: list[dict], keep: dict | None = None):
    """compress --locate / --keep-float: the layers quantization damages most, and what keeping them cost."""
    from rich.table import Table

    caption = None
    if keep:
        first, last = keep["first"], keep["tried"][-1]
        acc = "" if last["accuracy_delta_pt"] is None else \
            f", accuracy {first['accuracy_delta_pt']:+.2f} -> {last['accuracy_delta_pt']:+.2f} pt"
        caption = (f"{len(last['nodes'])} layer(s) left in float: max abs error {first['max_abs_error']:.3g} -> "
                   f"{last['max_abs_error']:.3g}, size {first['size_ratio']:.2f}x -> {last['size_ratio']:.2f}x{acc}")
    table = Table(title="Per-layer damage (error added over the layer's inputs)", title_justify="left",
                  caption=caption, caption_justify="left", show_edge=False)
    for col in ("node", "op", "value", "rel error", "added"):
        table.add_column(col, justify="right" if col in ("rel error", "added") else "left")
    kept = set(keep["kept"]) if keep else set()
    for r in rows:
        table.add_row(r["node"] + (" (float)" if r["node"] in kept else ""), r["node_op"], r["value"],
                      _num(r["rel_error"]), _num(r["added"]))
    return table
