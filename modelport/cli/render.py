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


def verification_table(v: Verification):
    from rich.table import Table

    title = f"Verification ({v.samples} samples, batch sizes {v.batch_sizes}, inputs {v.inputs_from})"
    table = Table(title=title, title_justify="left", show_edge=False)
    for col in ("output", "shape", "max abs", "max rel", "mismatch", "atol/rtol", "needed atol", "labels",
                "result"):
        table.add_column(col, justify="left" if col in ("output", "shape", "result") else "right")
    for o in v.outputs:
        name = o.name if o.candidate_name in (o.name, "") else f"{o.name} ~ {o.candidate_name}"
        result = "[green]pass[/]" if o.passed else f"[red]FAIL[/]{' ' + o.reason if o.reason else ''}"
        tol = "exact" if o.exact else f"{o.atol:g}/{o.rtol:g}"
        labels = "-" if o.label_agreement is None else f"{o.label_agreement:.1%}"
        shape = "x".join(map(str, o.shape)) or "scalar"
        needed = "-" if o.exact else _num(o.required_atol)
        table.add_row(name, shape, _num(o.max_abs_error), _num(o.max_rel_error), f"{o.mismatch_ratio:.1%}", tol,
                      needed, labels, result)
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
        verdict = ("verified" if report.verification and report.verification.passed
                   else "NOT verified" if report.verification is None else "verification FAILED")
        console.print(f"wrote {report.output} via {report.route} ({verdict})")
    elif report.command == "verify" and report.verification is not None:
        console.print("[green]models match[/]" if report.ok else "[red]models differ[/]")
