"""Option parsing shared by commands (tolerances, input specs, ranges)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from modelport.core.errors import UsageError

JsonOpt = typer.Option(None, "--json", metavar="PATH|-", help="Write a machine-readable report (- for stdout).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress or tables; errors only.")
DebugOpt = typer.Option(False, "--debug", help="Show tracebacks and converter logs.")
ImportOpt = typer.Option(
    None, "--import", metavar="FILE.py|MODULE",
    help="Import code that defines custom classes before loading (repeatable; needs --trust).",
)
TrustOpt = typer.Option(False, "--trust", help="Allow formats whose loading runs code (pickles, factories).")
InputOpt = typer.Option(
    None, "--input", "-i", metavar="NAME:D1,D2,...[:DTYPE]",
    help="Input name and shape (repeatable), e.g. pixel_values:1,3,64,64 or ids:1,16:int64.",
)
AtolOpt = typer.Option(1e-4, "--atol", help="Absolute tolerance.")
RtolOpt = typer.Option(1e-3, "--rtol", help="Relative tolerance.")
TolOpt = typer.Option(None, "--tol", metavar="NAME=ATOL[,RTOL]", help="Per-output tolerance (repeatable).")
SamplesOpt = typer.Option(16, "--samples", min=1, help="Rows of generated input.")
SeedOpt = typer.Option(0, "--seed", help="Seed of the generated inputs.")
IntRangeOpt = typer.Option("0,10", "--int-range", metavar="LO,HI", help="Range of generated integer inputs.")
DataOpt = typer.Option(None, "--data", metavar="FILE.npz", help="Real inputs: arrays named like the inputs.")


def parse_inputs(values: list[str] | None):
    from modelport.core.artifact import parse_input_spec

    return [parse_input_spec(v) for v in values or []]


def parse_tols(values: list[str] | None, atol: float, rtol: float):
    from modelport.verify.compare import Tolerance

    per: dict[str, tuple[float, float]] = {}
    for value in values or []:
        name, sep, nums = value.partition("=")
        try:
            parts = [float(x) for x in nums.split(",")] if sep else []
        except ValueError:
            parts = []
        if not name or len(parts) not in (1, 2):
            raise UsageError(f"--tol '{value}' is not NAME=ATOL[,RTOL]", hint="example: --tol logits=1e-3,1e-2")
        per[name] = (parts[0], parts[1] if len(parts) == 2 else rtol)
    for value in [atol, rtol, *(v for pair in per.values() for v in pair)]:
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"tolerance {value} is not a finite number >= 0")
    return Tolerance(atol, rtol, per)


def parse_range(value: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in value.split(","))
    except ValueError:
        raise UsageError(f"--int-range '{value}' is not LO,HI", hint="example: --int-range 0,1000") from None
    if hi <= lo:
        raise UsageError(f"--int-range '{value}': HI must be greater than LO")
    return lo, hi


def verify_options(samples, seed, int_range, data, tols, atol, rtol):
    from modelport.api import VerifyOptions

    if data is not None and not Path(data).exists():
        raise UsageError(f"{data}: no such file", hint="--data takes an .npz file")
    return VerifyOptions(samples, seed, parse_range(int_range), Path(data) if data else None,
                         parse_tols(tols, atol, rtol))
