"""`modelport register MODEL --name NAME`: a verified file becomes a version in the MLflow model registry."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport register fraud.onnx --name fraud\n
  modelport register fraud.onnx --name fraud --alias production\n
  modelport register --name fraud --alias production --version 3     (roll back: point the alias at v3)\n
  modelport register --list fraud\n
  modelport verify models:/fraud/3 models:/fraud@production\n
\n
Store: MLFLOW_TRACKING_URI when set (MLFLOW_REGISTRY_URI for the registry), else mlflow.db (SQLite)
and mlruns/ in the working directory.
Needs modelport[mlflow]. A file whose model is already a version of NAME (same content, modelport's own
record aside) adds no version; --alias then moves to that version.
"""


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import size_text

    d = report.details
    console = session.console()
    if "versions" in d:
        table = Table(title=f"{d['name']} ({d['tracking_uri']})", title_justify="left", show_edge=False)
        for col in ("version", "aliases", "verification", "size", "p50 ms", "max abs error", "route", "signed by",
                    "file"):
            table.add_column(col, justify="right" if col in ("version", "size", "p50 ms") else "left")
        for v in d["versions"]:
            size = size_text(v['size_bytes'])
            p50 = f"{v['latency_p50_ms']:.3f}" if v["latency_p50_ms"] is not None else "-"
            err = f"{v['max_abs_error']:.3g}" if v["max_abs_error"] is not None else "-"
            color = "green" if v["verification"] == "passed" else "yellow"
            table.add_row(str(v["version"]), ", ".join(v["aliases"]), f"[{color}]{v['verification']}[/]", size,
                          p50, err, v["route"], (v.get("signed_by") or "-")[:19], v["file"])
        console.print(table)
    elif "version" in d:
        what = "registered as" if d["created"] else ("already registered as" if "file" in d else "alias on")
        alias = f", alias '{d['alias']}' -> v{d['version']}" if d.get("alias") else ""
        signed = d.get("signature")
        signed = f", signed by {signed['signed_by']} ({signed['status']})" if signed else ""
        console.print(f"{d.get('file', d['name'])}: {what} [bold]{d['uri']}[/]{alias}{signed}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@command("register", "signed", "signature", render=render)
def register(
    opts,
    model: str = typer.Argument(None, metavar="MODEL", help="A verified ONNX or TFLite file (made by modelport)."),
    name: str = typer.Option(None, "--name", "-n", help="Registered model name."),
    alias: str = typer.Option(None, "--alias", help="Point this alias (e.g. production) at the version."),
    version: int = typer.Option(None, "--version", min=1, help="With --alias and no MODEL: the version to point "
                                                               "the alias at (rollback)."),
    list_name: str = typer.Option(None, "--list", metavar="NAME", help="Show NAME's versions and exit."),
    experiment: str = typer.Option("modelport", "--experiment", help="MLflow experiment of the runs."),
    latency_runs: int = typer.Option(30, "--latency-runs", min=0, help="Timed runs for the latency metric "
                                                                       "(0: none)."),
):
    """Register a verified ONNX/TFLite file as a new version in MLflow, or move an alias, or list versions."""
    from modelport.commands import register as api
    from modelport.core.errors import UsageError

    if list_name:
        return api.versions(list_name)
    if not name:
        raise UsageError("--name is needed", hint="modelport register model.onnx --name fraud")
    if model is None:
        if not (alias and version):
            raise UsageError("give a MODEL file, or --alias with --version to move an alias",
                             hint="modelport register model.onnx --name fraud")
        return api.set_alias(name, alias, version)
    if version is not None:
        raise UsageError("--version goes with --alias and no MODEL (a file gets the next version)")
    report = api.register(model, name, alias=alias, experiment=experiment, latency_runs=latency_runs,
                          progress=opts.session.progress)
    if not report.ok:
        import sys

        sys.stderr.write(f"modelport: {model} not registered: {report.details['refused']}\n"
                         f"  hint: modelport inspect {model} shows its provenance; convert it again\n")
    return report
