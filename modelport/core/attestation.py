"""An in-toto attestation of a written model, `OUT.intoto.jsonl` beside it: what it was made from and how it
verified, as two in-toto v1 statements whose subjects are the model's files and their sha256.

- SLSA provenance v1 (`https://slsa.dev/provenance/v1`): the source (name, format, sha256) as the resolved
  dependency; the command and the options that change the bytes as external parameters; the route, converter
  and framework versions; the full verification (per output errors, tolerances, noise floor, input rules) as a
  byproduct.
- in-toto test result v0.1 (`https://in-toto.io/attestation/test-result/v0.1`): PASSED / FAILED, one entry per
  output, and as configuration the verification inputs' sha256 (names, dtypes, shapes and bytes of every case).

Written before the model is signed, and covered by the signature (core/signing.py), so what it claims cannot be
changed without the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

STATEMENT = "https://in-toto.io/Statement/v1"
SLSA = "https://slsa.dev/provenance/v1"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
BUILD_TYPE = "https://modelport.dev/buildtypes/modelport/v1"
BUILDER = "https://modelport.dev/modelport"
SUFFIX = ".intoto.jsonl"


def path_for(model: Path) -> Path:
    return model.parent / f"{model.name}{SUFFIX}"


def inputs_digest(cases: list[dict]) -> str:
    """sha256 over every verification case: each input's name, dtype and shape, then its bytes (C order)."""
    import numpy as np

    digest = hashlib.sha256()
    for case in cases:
        for name in sorted(case):
            value = np.ascontiguousarray(case[name])
            digest.update(f"{name}|{value.dtype.str}|{list(value.shape)}\n".encode())
            digest.update(value.tobytes())
    return digest.hexdigest()


def subjects(model: Path) -> list[dict[str, Any]]:
    """The model's files (itself, and its weights file when it has one) with their sha256."""
    from modelport.core.io import sha256_of, side_data

    files = [model] + ([side_data(model)] if side_data(model).exists() else [])
    return [{"name": f.name, "digest": {"sha256": sha256_of(f)}} for f in files]


def _clean(value):
    """Options as they matter: no None, False or empty values."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v not in (None, False, [], {}, ())}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def statements(model: Path, facts: dict, verification: dict | None, command: str, options: dict,
               measured: dict | None = None) -> list[dict]:
    subject = subjects(model)
    dependencies = [{"name": facts.get("source_name", ""), "digest": {"sha256": facts.get("source_sha256", "")},
                     "annotations": {"format": facts.get("source_format", "")}}]
    if isinstance(facts.get("members"), list) and facts["members"]:  # fuse: each member is a source
        dependencies = [{"name": m.get("source", ""), "digest": {"sha256": m.get("sha256", "")},
                         "annotations": _clean({"output": m.get("output")})} for m in facts["members"]]
    provenance = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"command": command, "output": model.name, "options": _clean(options)},
            "internalParameters": _clean({k: facts.get(k) for k in ("route", "converter", "optimized", "compressed",
                                                                    "precision", "fixed", "strategy")}),
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER, "version": _clean({"modelport": facts.get("modelport_version"),
                                                          "framework": facts.get("framework")})},
            "metadata": {"finishedOn": facts.get("created")},
            "byproducts": [{"name": "verification", "annotations": verification or {"skipped": True}}]
            + ([{"name": "measurements", "annotations": measured}] if measured else []),
        },
    }
    out = [{"_type": STATEMENT, "subject": subject, "predicateType": SLSA, "predicate": provenance}]
    if verification is not None:
        out.append({"_type": STATEMENT, "subject": subject, "predicateType": TEST_RESULT,
                    "predicate": test_result(verification)})
    return out


def test_result(verification: dict) -> dict:
    passed, failed = [], []
    if verification.get("method") == "generation":  # a decoder judged by greedy generation against its input
        line = (f"generation: top-1 agreement {verification.get('agreement', 0):.4f} (at least "
                f"{verification.get('min_agreement')}), {verification.get('prompts')} prompts")
        (passed if verification.get("passed") else failed).append(line)
    for o in verification.get("outputs", []):
        line = (f"output '{o['name']}': max abs error {o.get('max_abs_error', 0):.3g}, atol {o.get('atol')}, "
                f"rtol {o.get('rtol')}" + (f" ({o['reason']})" if o.get("reason") else ""))
        (passed if o.get("passed") else failed).append(line)
    config = {"name": "verification inputs", "digest": {"sha256": verification.get("inputs_sha256", "")},
              "annotations": _clean({k: verification.get(k) for k in ("samples", "batch_sizes", "seed",
                                                                      "inputs_from", "noise_floor")})}
    return {"result": "PASSED" if verification.get("passed") else "FAILED", "configuration": [config],
            "passedTests": passed, "failedTests": failed, "warnedTests": list(verification.get("warnings", []))}


def write(model: Path, facts: dict, verification: dict | None, command: str, options: dict,
          measured: dict | None = None) -> Path:
    """Write `OUT.intoto.jsonl` beside `model` (one statement a line). `measured`: compress / optimize figures
    (size and latency before and after), recorded as a byproduct."""
    target = path_for(model)
    lines = [json.dumps(s, sort_keys=True, default=str) for s in statements(model, facts, verification, command,
                                                                           options, measured)]
    target.write_text("\n".join(lines) + "\n")
    return target


def read(model: Path) -> list[dict]:
    target = path_for(model)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]


def summary(model: Path) -> dict[str, Any] | None:
    """What the attestation beside `model` claims, in short: the verdict (PASSED, FAILED, or None when the
    conversion was not verified), the source's name and sha256, the route. None without one."""
    try:
        found = read(model)
    except (OSError, ValueError):
        return {"unreadable": True}
    if not found:
        return None
    by_type = {s.get("predicateType"): s.get("predicate", {}) for s in found}
    build = by_type.get(SLSA, {}).get("buildDefinition", {})
    source = (build.get("resolvedDependencies") or [{}])[0]
    return {"verdict": by_type.get(TEST_RESULT, {}).get("result"), "source": source.get("name"),
            "source_sha256": source.get("digest", {}).get("sha256"),
            "route": build.get("internalParameters", {}).get("route"),
            "command": build.get("externalParameters", {}).get("command")}
