"""`modelport inspect`: what a model file is, takes, returns and holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from modelport.commands.sources import label, local
from modelport.core.artifact import TensorSpec, as_specs, with_batch
from modelport.core.formats import Format, detect
from modelport.core.report import Report
from modelport.loaders import import_user_code
from modelport.loaders.inspect import inspect_model


def inspect(
    model: str | Path,
    *,
    from_format: str | Format | None = None,
    inputs: Sequence[TensorSpec | str] = (),
    trust: bool = False,
    imports: Sequence[str] = (),
    task: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Describe a model file; report.details["model"] holds the facts (see docs/inspect.md)."""
    name, model = model, local(model)
    fmt = detect(model, from_format)
    import_user_code(imports, trust)
    progress(f"reading {fmt} model")
    report = Report("inspect", ok=True)
    specs = with_batch(as_specs(inputs), True)
    report.details["model"] = label(name, inspect_model(model, fmt, trust=trust, input_specs=specs, task=task))
    report.details["model"]["signature"] = signature_status(model)
    return report


def signature_status(model) -> dict:
    """Whether the model has an OpenSSF signature, and whether it was checked (--require-signature)."""
    from modelport.core import attestation, signature_policy, signing

    path = Path(str(model))
    found = signature_policy.signature_for(path) if path.exists() else None
    if found is None:
        return {"status": "unsigned"}
    signed, sig = found
    key, chain = signature_policy.required()
    status = "valid" if key or chain else "present, not checked"  # a required one that failed never gets here
    out = {"status": status, "file": str(sig), "model": str(signed), "checked_with": chain or key,
           "signed_by": signing.signer(sig).get("fingerprint")}
    claimed = attestation.summary(signed) if signed.is_file() else None
    if claimed:
        out["attested"] = claimed  # covered by the signature: trusted exactly as far as the signature was checked
    return out
