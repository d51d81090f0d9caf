"""What this process asks of the models it reads and writes: signatures required (--require-signature,
--require-cert, MODELPORT_REQUIRE_SIGNATURE / _CERT), a signature named elsewhere (--signature), outputs to sign
(--sign-key, MODELPORT_SIGN_KEY); and the environment that makes worker processes, Ray actors and replicas do the
same. Signing and checking themselves: core/signing.py."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from modelport.core.errors import UsageError
from modelport.core.signing import check, find_signature

ENV = "MODELPORT_REQUIRE_SIGNATURE"  # a public key (PEM)
ENV_CERT = "MODELPORT_REQUIRE_CERT"  # a certificate chain (PEM) for certificate signatures
ENV_SIGNATURE = "MODELPORT_SIGNATURE"  # --signature: for a model read with no signature of its own beside it

_required: dict[str, Any] = {}


def require(public_key: str | Path | None, chain: str | Path | None = None) -> None:
    """From now on in this process, models read must carry a valid signature for `public_key`, or a certificate
    signature under `chain` (None for both: only when the environment names a key or a chain)."""
    _required.pop("key", None)
    _required.pop("chain", None)
    _required.pop("signature", None)
    for name, value in (("key", public_key), ("chain", chain)):
        if value:
            if not Path(value).is_file():
                raise UsageError(f"{value}: no such file", hint="--require-signature takes a public key (PEM), "
                                                                 "--require-cert a certificate chain (PEM)")
            _required[name] = str(Path(value).resolve())


def required() -> tuple[str | None, str | None]:
    """(public key, certificate chain) that models read must be signed for (the environment's when not set)."""
    key = _required.get("key") or (None if _required.get("chain") else os.environ.get(ENV)) or None
    chain = _required.get("chain") or (None if key else os.environ.get(ENV_CERT)) or None
    return key, chain


def name_signature(signature: str | Path) -> None:
    """--signature: the signature of a model read that has none of its own beside it (exit 2 when it is missing
    or no signature is required)."""
    if not Path(signature).is_file():
        raise UsageError(f"{signature}: no such file", hint="--signature names the model's signature bundle")
    if required() == (None, None):
        raise UsageError("--signature goes with --require-signature or --require-cert (the key to check it with)")
    _required["signature"] = str(Path(signature).resolve())


def ensure(path: str | Path) -> None:
    """Check `path`'s signature when this process requires signatures (a no-op otherwise); called before a
    model is read. modelport's own work files (results being verified) are not checked. A signature named by
    --signature (MODELPORT_SIGNATURE) is used for a model with none of its own beside it."""
    from modelport.core.io import is_own_work_path

    key, chain = required()
    if (key or chain) and not is_own_work_path(path):
        found = signature_for(Path(path))
        model, sig = found if found else (path, None)  # none: check says so (exit 4)
        check(model, key, signature=sig, chain=chain)


def signature_for(path: Path) -> tuple[Path, Path] | None:
    """(the signed model, its signature) for `path`: its own or its folder's (`find_signature`), else the one
    --signature named while signatures are required."""
    found = find_signature(path)
    named = _required.get("signature") or os.environ.get(ENV_SIGNATURE) or None
    if found is None and named and required() != (None, None):
        return path, Path(named)
    return found


def sign_outputs(key: str | Path | None, cert: str | Path | None = None, chain: tuple = ()) -> None:
    """Sign the verified outputs this process writes with `key` (and `cert` / `chain` for certificate signing;
    None: do not sign)."""
    _required.pop("sign", None)
    if cert and not key:
        raise UsageError("--sign-cert needs --sign-key (the certificate's private key)")
    if key:
        for value in (key, cert, *chain):
            if value and not Path(value).is_file():
                raise UsageError(f"{value}: no such file", hint="--sign-key, --sign-cert and --cert-chain take "
                                                                 "PEM files")
        _required["sign"] = {"key": str(Path(key).resolve()), "cert": cert, "chain": tuple(chain)}


SIGN_ENV = ("MODELPORT_SIGN_KEY", "MODELPORT_SIGN_CERT", "MODELPORT_CERT_CHAIN")  # chain: paths joined by os.pathsep


def signing_options() -> dict | None:
    """{"key", "cert", "chain"} for outputs to sign (--sign-key, else MODELPORT_SIGN_KEY and friends, which is how
    `batch` hands them to its workers), else None."""
    if "sign" in _required:  # set in this process (False: sign nothing, whatever the environment says)
        return _required["sign"] or None
    key, cert, chain = (os.environ.get(name) for name in SIGN_ENV)
    if not key:
        return None
    return {"key": key, "cert": cert or None, "chain": tuple(c for c in (chain or "").split(os.pathsep) if c)}


@contextlib.contextmanager
def outputs_signed(how: dict | bool | None):
    """Within: outputs are signed as `how` says ({"key", "cert", "chain"}; False: not signed; None: as before)."""
    saved = _required.get("sign", None), "sign" in _required
    try:
        if how is False:
            _required["sign"] = False
        elif how:
            sign_outputs(how["key"], how.get("cert"), tuple(how.get("chain") or ()))
        yield
    finally:
        _required.pop("sign", None)
        if saved[1]:
            _required["sign"] = saved[0]


def signing_environment() -> dict[str, str]:
    """The environment that makes a worker process sign as this one does."""
    options = _required.get("sign")
    if not options:
        return {}
    values = (options["key"], options["cert"] or "", os.pathsep.join(str(c) for c in options["chain"]))
    return dict(zip(SIGN_ENV, values))


def policy_environment() -> dict[str, str]:
    """This process's signature settings as environment variables (required key or chain, signing key): what a
    Ray actor or replica on another node needs to check and sign as this process does (the key files must be
    at the same paths there)."""
    return {name: os.environ[name] for name in (ENV, ENV_CERT, ENV_SIGNATURE, *SIGN_ENV) if os.environ.get(name)}
