"""The Typer app. Commands are thin; errors map to exit codes in `modelport.cli.guard`.

Nothing here imports a framework: `modelport --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from modelport import __version__
from modelport.cli import batch as batch_cmd
from modelport.cli import bench as bench_cmd
from modelport.cli import compress as compress_cmd
from modelport.cli import convert as convert_cmd
from modelport.cli import fuse as fuse_cmd
from modelport.cli import inspect as inspect_cmd
from modelport.cli import optimize as optimize_cmd
from modelport.cli import register as register_cmd
from modelport.cli import routes as routes_cmd
from modelport.cli import serve as serve_cmd
from modelport.cli import sign as sign_cmd
from modelport.cli import verify as verify_cmd

HELP = """Move trained models between PyTorch, TensorFlow/Keras, scikit-learn and ONNX — and prove it.

Exit codes: 0 ok, 1 verification failed, 2 bad usage or unreadable input, 3 unsupported or conversion
failed, 4 refused as unsafe (needs --trust), 5 missing optional dependency, 70 internal error, 130 interrupted.
"""

app = typer.Typer(
    name="modelport",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"modelport {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """modelport: convert, verify and ship models across frameworks."""


app.command("convert", epilog=convert_cmd.EPILOG)(convert_cmd.convert)
app.command("verify", epilog=verify_cmd.EPILOG)(verify_cmd.verify)
app.command("inspect", epilog=inspect_cmd.EPILOG)(inspect_cmd.inspect)
app.command("fuse", epilog=fuse_cmd.EPILOG)(fuse_cmd.fuse)
app.command("compress", epilog=compress_cmd.EPILOG)(compress_cmd.compress)
app.command("optimize", epilog=optimize_cmd.EPILOG)(optimize_cmd.optimize)
app.command("bench", epilog=bench_cmd.EPILOG)(bench_cmd.bench)
app.command("batch", epilog=batch_cmd.EPILOG)(batch_cmd.batch)
app.command("register", epilog=register_cmd.EPILOG)(register_cmd.register)
app.command("serve", epilog=serve_cmd.EPILOG)(serve_cmd.serve)
app.command("sign", epilog=sign_cmd.EPILOG)(sign_cmd.sign)
app.command("routes")(routes_cmd.routes)


def main() -> None:
    app(prog_name="modelport")
