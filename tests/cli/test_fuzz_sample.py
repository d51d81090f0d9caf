"""A fixed-seed sample of `benchmarks/fuzz.py`: damaged models get a clean exit code and a short message.

50 mutated files (10 per format: ONNX, TFLite, .keras, .pt2, .skops; bit flips, truncation, shuffled chunks,
zip entries removed, declaring other sizes or damaged behind valid CRCs, impossible dimensions) go through
`modelport inspect` (all in one process, fd 1 and 2 redirected per file) and one per format through
`modelport verify` in a fresh process. Each must exit 0-4 (0 when the damage happened to hit nothing that
matters), never 70, with no traceback, at most 3 stderr lines when it fails, and write nothing outside its
temp folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs, run_cli
from tests.mutants import EXTENSIONS, build_originals, make_mutants, verify_args

pytestmark = [pytest.mark.slow, needs("torch", "tensorflow", "sklearn")]

SEED = 7
COUNT = 10 * len(EXTENSIONS)
ALLOWED = {0, 1, 2, 3, 4}
ROOT = Path(__file__).resolve().parents[2]
_PRUNE = {".git", ".venv", "__pycache__", ".ruff_cache", ".pytest_cache", ".import_linter_cache"}


def repo_files() -> set[str]:
    seen: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _PRUNE and not d.endswith(".egg-info")]
        seen.update(os.path.join(folder, f) for f in files)
    return seen


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    originals = build_originals(root / "originals")
    cases = make_mutants(originals, root / "mutants", COUNT, SEED)
    return originals, cases, root


def _problems(code: int, err: str) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    out = []
    if code not in ALLOWED:
        out.append(f"exit {code}")
    if "Traceback" in err:
        out.append("traceback")
    if code != 0 and len(lines) > 3:
        out.append(f"{len(lines)} stderr lines")
    if code not in (0, 1) and not (lines and lines[0].startswith("modelport: error: ")):
        out.append("no 'modelport: error:' line")
    return out


def test_sample_covers_every_format_and_mutation(sample):
    _, cases, _ = sample
    assert len(cases) == COUNT
    assert {c.fmt for c in cases} == set(EXTENSIONS)
    assert all(sum(c.fmt == f for c in cases) == 10 for f in EXTENSIONS)
    assert {c.mutation for c in cases if c.fmt == "keras"} >= {"zip_remove", "zip_inflate", "huge_dims"}
    originals_bytes = {f: sample[0][f].read_bytes() for f in EXTENSIONS}
    assert all(c.path.read_bytes() != originals_bytes[c.fmt] for c in cases)


# Runs `modelport inspect` on each file in ONE process (frameworks import once), with fd 1 and fd 2 redirected
# per file: what a framework's own log handler or C++ code writes is caught too, not only Python's sys.stderr.
CHILD = r"""
import json, os, sys, tempfile
from modelport.cli.app import app

results = []
for path in sys.argv[2:]:
    with tempfile.TemporaryFile() as err, open(os.devnull, "w") as out:
        sys.stdout.flush(); sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            app(["inspect", path], prog_name="modelport")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # escaped the CLI's guard: a bug
            code = "escaped " + type(exc).__name__
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        err.seek(0)
        results.append({"path": path, "exit": code, "stderr": err.read().decode("utf-8", "replace")})
with open(sys.argv[1], "w") as fh:
    json.dump(results, fh)
"""


def test_inspect_sample(sample, tmp_path):
    originals, cases, root = sample
    work, tmp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    before_repo, before_root = repo_files(), set(root.rglob("*"))
    result = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(result), *(str(c.path) for c in cases)], cwd=work,
                          env=dict(os.environ, TMPDIR=str(tmp)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(result.read_text())
    assert [r["path"] for r in runs] == [str(c.path) for c in cases]
    bad = []
    for run in runs:
        problems = _problems(run["exit"], run["stderr"])
        if problems:
            bad.append(f"{Path(run['path']).name}: {', '.join(problems)}: {run['stderr'].strip()[-300:]}")
    assert not bad, "\n".join(bad)
    codes = [r["exit"] for r in runs]
    assert sum(code != 0 for code in codes) >= COUNT // 2, codes  # the damage is mostly noticed
    assert list(work.iterdir()) == []
    assert repo_files() == before_repo
    assert set(root.rglob("*")) == before_root


def test_verify_sample(sample, tmp_path):
    """One damaged file per format through `verify`, each a real process (exit code and stderr as users see)."""
    originals, cases, root = sample
    picked = {}
    for case in cases:  # the first case of each format whose damage is not a plain bit flip
        if case.mutation != "bitflip":
            picked.setdefault(case.fmt, case)
    before_repo, before_root = repo_files(), set(root.rglob("*"))
    bad = []
    for case in picked.values():
        proc = run_cli("verify", *verify_args(case, originals), env={"TMPDIR": str(tmp_path)})
        problems = _problems(proc.returncode, proc.stderr)
        if problems:
            bad.append(f"{case.name}: {', '.join(problems)}: {proc.stderr.strip()[-300:]}")
    assert len(picked) == len(EXTENSIONS)
    assert not bad, "\n".join(bad)
    assert repo_files() == before_repo
    assert set(root.rglob("*")) == before_root
