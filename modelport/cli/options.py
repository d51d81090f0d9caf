"""Options shared by commands, declared once, and the decorator that gives a command its groups.

`@command("convert", "output", "inputs", "verify", "trust", render=render)` adds the named groups' options to
the command's signature (so every command spells `--json`, `--input`, `--atol`, `--force` ... the same way),
collects their values into `Shared`, runs the body inside the error guard (`modelport.cli.guard`), and
renders the Report the body returns. Nothing here imports a framework.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from modelport.core.errors import UsageError
from modelport.frameworks.hf.tasks import TASK_HELP

JsonOpt = typer.Option(None, "--json", metavar="PATH|-", help="Write a machine-readable report (- for stdout).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress or tables; errors only.")
DebugOpt = typer.Option(False, "--debug", help="Show tracebacks and converter logs.")
OutputOpt = typer.Option(..., "--output", "-o", metavar="OUT", help="Output file.")
ForceOpt = typer.Option(False, "--force", "-f", help="Overwrite OUT if it exists.")
ExternalOpt = typer.Option(False, "--external-data", help="ONNX: keep the weights in OUT.data beside OUT (always "
                                                          "so above 1.8 GB, where a single file cannot hold them).")
ImportOpt = typer.Option(
    None, "--import", metavar="FILE.py|MODULE",
    help="Import code that defines custom classes before loading (repeatable; needs --trust).",
)
TrustOpt = typer.Option(False, "--trust", help="Allow formats whose loading runs code (pickles, factories).")
TrustUnsafeOpt = typer.Option(False, "--trust-unsafe", help="With --trust: load even a pickle that imports "
                                                            "os / subprocess / eval (refused otherwise).")
InputOpt = typer.Option(
    None, "--input", "-i", metavar="NAME:D1,D2,...[:DTYPE]",
    help="Input name and shape (repeatable), e.g. pixel_values:1,3,64,64 or ids:1,16:int64.",
)
AtolOpt = typer.Option(None, "--atol", help="Absolute tolerance (default 1e-4; compress: the method's).")
RtolOpt = typer.Option(None, "--rtol", help="Relative tolerance (default 1e-3; compress: the method's).")
TolOpt = typer.Option(None, "--tol", metavar="NAME=ATOL[,RTOL]", help="Per-output tolerance (repeatable).")
FloorOpt = typer.Option(True, "--noise-floor/--no-noise-floor",
                        help="Also pass an output whose error is within 8x its float32 noise floor (the source "
                             "against its float64 twin), measured when an output misses atol/rtol.")
SamplesOpt = typer.Option(None, "--samples", min=1, help="Rows of generated input (default 16; fewer when a row is "
                                                         "large: 2^19 values at most, 4 rows at least).")
SeedOpt = typer.Option(0, "--seed", help="Seed of the generated inputs.")
IntRangeOpt = typer.Option("0,10", "--int-range", metavar="LO,HI", help="Range of generated integer inputs.")
TaskOpt = typer.Option(None, "--task", metavar="TASK", help=TASK_HELP)
DataOpt = typer.Option(None, "--data", metavar="FILE.npz", help="Real inputs: arrays named like the inputs.")
RequireSigOpt = typer.Option(None, "--require-signature", metavar="PUBKEY.pem",
                             help="Refuse (exit 4) a model without a valid OpenSSF model signature for this key, "
                                  "checked before it is read (also: MODELPORT_REQUIRE_SIGNATURE).")
SignKeyOpt = typer.Option(None, "--sign-key", metavar="KEY.pem",
                          help="Sign the output (OUT.sig, OpenSSF model signing) with this elliptic-curve key.")
SignCertOpt = typer.Option(None, "--sign-cert", metavar="CERT.pem",
                           help="Certificate signing: --sign-key's certificate (with --cert-chain).")
CertChainOpt = typer.Option(None, "--cert-chain", metavar="CHAIN.pem",
                            help="Certificate signing: the certificates between --sign-cert and the root (repeatable).")
SignatureOpt = typer.Option(None, "--signature", metavar="PATH",
                            help="With --require-signature/--require-cert: the model's signature when it is not "
                                 "beside it (FILE.sig, DIR.sig or DIR/model.sig).")
ReportOpt = typer.Option(None, "--report", metavar="PATH.html",
                         help="Also write a self-contained HTML page of the report: charts of where the error is, "
                              "the inputs, per-layer error (modelport[report]).")
RequireCertOpt = typer.Option(None, "--require-cert", metavar="CHAIN.pem",
                              help="Refuse (exit 4) a model without a valid certificate signature under these "
                                   "certificates (also: MODELPORT_REQUIRE_CERT).")

GROUPS: dict[str, list[tuple[str, Any, Any]]] = {
    "output": [("output", str, OutputOpt), ("force", bool, ForceOpt), ("external_data", bool, ExternalOpt)],
    "inputs": [("inputs", list[str], InputOpt)],
    "data": [("data", str, DataOpt), ("samples", int, SamplesOpt), ("seed", int, SeedOpt)],
    "int_range": [("int_range", str, IntRangeOpt)],
    "tolerance": [("atol", float, AtolOpt), ("rtol", float, RtolOpt), ("tol", list[str], TolOpt),
                  ("noise_floor", bool, FloorOpt)],
    "trust": [("trust", bool, TrustOpt), ("trust_unsafe", bool, TrustUnsafeOpt), ("imports", list[str], ImportOpt)],
    "task": [("task", str, TaskOpt)],
    "signed": [("require_signature", str, RequireSigOpt), ("require_cert", str, RequireCertOpt)],
    "signature": [("signature", str, SignatureOpt)],
    "page": [("report_path", str, ReportOpt)],
    "sign": [("sign_key", str, SignKeyOpt), ("sign_cert", str, SignCertOpt), ("cert_chain", list[str], CertChainOpt)],
    "report": [("json_path", str, JsonOpt), ("quiet", bool, QuietOpt), ("debug", bool, DebugOpt)],
}


@dataclass
class Shared:
    """Values of the shared option groups for one invocation (absent groups keep their defaults)."""

    session: Any = None
    output: str | None = None
    force: bool = False
    external_data: bool = False
    inputs: list[str] = field(default_factory=list)
    data: str | None = None
    samples: int | None = None
    seed: int = 0
    int_range: str = "0,10"
    atol: float | None = None
    rtol: float | None = None
    tol: list[str] = field(default_factory=list)
    noise_floor: bool = True
    trust: bool = False
    trust_unsafe: bool = False
    imports: list[str] = field(default_factory=list)
    task: str | None = None
    require_signature: str | None = None
    require_cert: str | None = None
    signature: str | None = None
    sign_key: str | None = None
    sign_cert: str | None = None
    cert_chain: list[str] = field(default_factory=list)
    report_path: str | None = None
    json_path: str | None = None
    quiet: bool = False
    debug: bool = False

    def verify_options(self, *, defaults: bool = True):
        """The verification options (--data, --samples, --seed, --int-range, tolerances), checked (exit 2).
        defaults=False leaves unset tolerances to the step (compress)."""
        from modelport.pipeline import VerifyOptions

        if self.data is not None and not Path(self.data).exists():
            raise UsageError(f"{self.data}: no such file", hint="--data takes an .npz file")
        atol = 1e-4 if self.atol is None and defaults else self.atol
        rtol = 1e-3 if self.rtol is None and defaults else self.rtol
        per = parse_tols(self.tol, atol, rtol)
        return VerifyOptions(self.samples, self.seed, parse_range(self.int_range), self.data, atol, rtol,
                             per_output=per, noise_floor=self.noise_floor, detail=bool(self.report_path))

    def input_specs(self):
        from modelport.core.artifact import parse_input_spec

        return [parse_input_spec(v) for v in self.inputs]


def command(name: str, *groups: str, render=None):
    """Give a command function the shared option groups, the error guard and rendering (see module doc)."""

    def decorate(fn):
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "opts"]
        added = [(n, ann, opt) for g in (*groups, "report") for n, ann, opt in GROUPS[g]]
        params = own + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
                        for n, ann, opt in added]
        names = [n for n, _, _ in added]

        @functools.wraps(fn)
        def wrapper(**kwargs):
            from modelport.cli.guard import Session, finish, guarded
            from modelport.cli.render import render as render_common

            values = dict(kwargs)
            given = {n: kwargs.pop(n) for n in names}
            opts = Shared(**{n: v for n, v in given.items() if v is not None})
            opts.session = Session(opts.json_path, opts.quiet, opts.debug)
            shown = render or render_common
            with guarded(opts.session, name, shown), _policies(opts, groups):
                if opts.report_path:
                    _page(opts, name, params, values)
                report = fn(opts, **kwargs)
                if report is not None:
                    finish(opts.session, report, shown)

        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), **{n: ann for n, ann, _ in added}}
        wrapper.__annotations__.pop("opts", None)
        wrapper.shared_groups = groups
        return wrapper

    return decorate


def _page(opts: Shared, name: str, params: list, values: dict) -> None:
    """--report: its libraries and folder checked before the command runs; the command line to show on it."""
    from modelport import html
    from modelport.cli.invocation import build

    html.require()
    opts.session.report_path = str(html.check_path(opts.report_path))
    opts.session.invocation = build(name, params, values)


def parse_tols(values: list[str] | None, atol: float | None, rtol: float | None) -> dict[str, tuple[float, float]]:
    per: dict[str, tuple[float, float]] = {}
    for value in values or []:
        name, sep, nums = value.partition("=")
        try:
            parts = [float(x) for x in nums.split(",")] if sep else []
        except ValueError:
            parts = []
        if not name or len(parts) not in (1, 2):
            raise UsageError(f"--tol '{value}' is not NAME=ATOL[,RTOL]", hint="example: --tol logits=1e-3,1e-2")
        per[name] = (parts[0], parts[1] if len(parts) == 2 else (1e-3 if rtol is None else rtol))
    for value in [atol, rtol, *(v for pair in per.values() for v in pair)]:
        if value is not None and (not math.isfinite(value) or value < 0):
            raise UsageError(f"tolerance {value} is not a finite number >= 0")
    return per


def parse_range(value: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in value.split(","))
    except ValueError:
        raise UsageError(f"--int-range '{value}' is not LO,HI", hint="example: --int-range 0,1000") from None
    if hi <= lo:
        raise UsageError(f"--int-range '{value}': HI must be greater than LO")
    return lo, hi


def pairs(values: list[str] | None, flag: str, example: str) -> dict[str, str]:
    """KEY=VALUE options (--map OUT=IN, --rename-input OLD=NEW, --member-output IDX=NAME)."""
    result = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise UsageError(f"{flag} '{value}' is not KEY=VALUE", hint=f"example: {flag} {example}")
        result[key] = val
    return result


@contextlib.contextmanager
def _policies(opts: Shared, groups: tuple[str, ...]):
    """--trust-unsafe for this command; --require-signature / --require-cert for it and the workers it starts and
    --sign-key for what they write (workers get both through the environment, restored after: an API caller's
    process is not changed for good)."""
    import os

    from modelport.core import pickles
    from modelport.core import signature_policy as signing

    before = {name: os.environ.get(name) for name in (signing.ENV, signing.ENV_CERT, signing.ENV_SIGNATURE,
                                                      *signing.SIGN_ENV)}
    pickles.allow_unsafe(opts.trust_unsafe)
    try:
        if "signed" in groups:
            signing.require(opts.require_signature, opts.require_cert)
            key, chain = signing.required()
            if opts.require_signature or opts.require_cert:  # one of the two, as this process checks
                os.environ.pop(signing.ENV if chain else signing.ENV_CERT, None)
                os.environ[signing.ENV_CERT if chain else signing.ENV] = chain or key
        if "signature" in groups and opts.signature:
            signing.name_signature(opts.signature)
            os.environ[signing.ENV_SIGNATURE] = str(Path(opts.signature).resolve())
        if "sign" in groups:
            signing.sign_outputs(opts.sign_key, opts.sign_cert, tuple(opts.cert_chain))
            os.environ.update(signing.signing_environment())
        yield
    finally:
        pickles.allow_unsafe(False)
        signing.require(None)
        signing.sign_outputs(None)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
