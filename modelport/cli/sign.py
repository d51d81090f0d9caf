"""`modelport sign PATH --key KEY.pem` and `modelport sign PATH --check PUBKEY.pem`: OpenSSF model signatures."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  openssl ecparam -name prime256v1 -genkey -noout -out key.pem && openssl ec -in key.pem -pubout -out key.pub\n
  modelport sign fraud.onnx --key key.pem                  (writes fraud.onnx.sig)\n
  modelport sign fraud.onnx --check key.pub                (exit 4 if it changed since)\n
  modelport convert fraud.skops -o fraud.onnx --sign-key key.pem\n
  modelport inspect fraud.onnx --require-signature key.pub (or MODELPORT_REQUIRE_SIGNATURE=key.pub)\n
  model_signing verify key fraud.onnx --signature fraud.onnx.sig --public_key key.pub   (the upstream tool)\n
\n
A file with weights beside it (model.onnx + model.onnx.data) is signed as both; a folder as every file in it.
Needs modelport[sign].
"""


def render(report, session) -> None:
    d = report.details
    console = session.console()
    verb = "signature valid" if d["action"] == "check" else "signed"
    console.print(f"{report.output}: {verb} ([bold]{d['signature']}[/], covers {', '.join(d['covers'])})")


@command("sign", render=render)
def sign(
    opts,
    path: str = typer.Argument(..., metavar="PATH", help="A model file or folder."),
    key: str = typer.Option(None, "--key", metavar="KEY.pem", help="Elliptic-curve private key (PEM) to sign with."),
    check: str = typer.Option(None, "--check", metavar="PUBKEY.pem", help="Check PATH's signature instead "
                                                                          "(exit 4 when it does not hold)."),
    cert: str = typer.Option(None, "--cert", metavar="CERT.pem", help="Certificate signing: --key's certificate."),
    chain: list[str] = typer.Option(None, "--chain", metavar="CHAIN.pem",
                                    help="Certificate signing: certificates between --cert and the root "
                                         "(repeatable); with --check-cert, the certificates to trust."),
    check_cert: bool = typer.Option(False, "--check-cert", help="Check a certificate signature against --chain."),
    signature: str = typer.Option(None, "--signature", metavar="SIG", help="Where the signature is or goes "
                                                                           "(default PATH.sig)."),
    password: str = typer.Option(None, "--password", envvar="MODELPORT_KEY_PASSWORD",
                                 help="Password of an encrypted key (or MODELPORT_KEY_PASSWORD)."),
):
    """Sign a model file or folder (OpenSSF model signing), or check its signature."""
    from pathlib import Path

    from modelport.core import signing
    from modelport.core.errors import UsageError
    from modelport.core.report import Report

    checking = bool(check) or check_cert
    if bool(key) == checking:
        raise UsageError("give --key to sign, or --check (or --check-cert) to check a signature",
                         hint="modelport sign model.onnx --key key.pem")
    if check_cert and len(chain or []) != 1:
        raise UsageError("--check-cert needs one --chain file (the certificates to trust, PEM)")
    target = Path(path)
    if not target.exists():
        raise UsageError(f"{path}: no such file or folder")
    if key:
        sig = signing.sign(target, key, signature, password, cert=cert, chain=tuple(chain or ()))
    elif check_cert:
        sig = signing.check(target, None, signature, chain=chain[0])
    else:
        sig = signing.check(target, check, signature)
    return Report("sign", ok=True, output=str(target),
                  details={"action": "sign" if key else "check", "signature": str(sig),
                           "covers": signing.covered(target)})
