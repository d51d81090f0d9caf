"""`modelport inspect MODEL`: format, inputs/outputs, versions, operators, parameters, provenance."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport inspect model.onnx\n
  modelport inspect model.tflite --json -\n
  modelport inspect model.pt2\n
  modelport inspect clf.pkl --trust
"""


def render(report, session) -> None:
    from rich.table import Table

    info = report.details.get("model")
    if not info:
        return
    console = session.console()
    head = [f"[bold]{info['path']}[/]  {info['format']}  {info['size_bytes']:,} bytes"]
    for key in ("framework", "producer", "ir_version", "opsets", "signature", "estimator", "kind", "model_class"):
        if info.get(key) not in (None, "", {}):
            head.append(f"{key}: {info[key]}")
    if info.get("parameters") is not None:
        head.append(f"parameters: {info['parameters']:,}   nodes: {info.get('nodes', '-')}")
    console.print("\n".join(head))
    table = Table(show_edge=False)
    for col in ("", "name", "shape", "dtype"):
        table.add_column(col)
    for kind in ("inputs", "outputs"):
        for item in info.get(kind, []):
            shape = item.get("shape")
            dims = "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape) or "scalar"
            table.add_row(kind[:-1], item["name"], dims, str(item.get("dtype") or "?"))
    console.print(table)
    ops = info.get("operators") or {}
    if ops:
        top = list(ops.items())[:15]
        more = f" (+{len(ops) - 15} more)" if len(ops) > 15 else ""
        console.print("operators: " + ", ".join(f"{k} x{v}" for k, v in top) + more)
    sig = info.get("signature") or {}
    if sig.get("status") == "valid":
        console.print(f"signature: [green]valid[/] ({sig['file']}, checked with {sig['checked_with']})")
    elif sig.get("status"):
        console.print(f"signature: {sig['status']}" + (f" ({sig['file']}; --require-signature PUBKEY.pem checks "
                                                        "it)" if sig.get("file") else ""))
    if sig.get("signed_by"):
        console.print(f"signed by: {sig['signed_by']}")
    claim = sig.get("attested") or {}
    if claim.get("unreadable"):
        console.print("attestation: [yellow]unreadable[/]")
    elif claim:
        verdict = {"PASSED": "[green]verified, passed[/]", "FAILED": "[red]verification failed[/]"}.get(
            claim.get("verdict"), "not verified")
        trust = "" if sig.get("status") == "valid" else " (not checked: --require-signature PUBKEY.pem checks it)"
        console.print(f"attested: {verdict}; {claim.get('command')} from {claim.get('source')} (sha256 "
                      f"{str(claim.get('source_sha256'))[:12]}...) by route {claim.get('route')}{trust}")
    prov = info.get("provenance") or {}
    if prov:
        console.print(f"modelport provenance: route {prov.get('route')}, from {prov.get('source_format')} "
                      f"{prov.get('source_name', '')} (sha256 {str(prov.get('source_sha256', ''))[:12]}...), "
                      f"verification {prov.get('verification')}, {prov.get('created', '')}")


@command("inspect", "signed", "signature", "inputs", "task", "trust", render=render)
def inspect(
    opts,
    model: str = typer.Argument(..., metavar="MODEL", help="Any model modelport reads."),
    from_format: str = typer.Option(None, "--from", metavar="FORMAT", help="Format (default: detected)."),
):
    """Describe a model: inputs and outputs, versions, operator histogram, parameters, provenance."""
    from modelport.commands.inspect import inspect as run

    opts.session.check_json(model)
    return run(model, from_format=from_format, inputs=opts.input_specs(), trust=opts.trust, imports=opts.imports,
               task=opts.task, progress=opts.session.progress)
