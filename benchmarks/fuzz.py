"""Fuzz modelport's readers: damaged copies of valid tiny models through `inspect` and `verify`.

Builds valid tiny models (.pt2, .keras, .skops, the ONNX of the .pt2, the TFLite of the .keras) in a temp
folder, writes COUNT mutated copies (bit flips, truncation, shuffled chunks, zip entries removed, zip entries
declaring other sizes, one zip entry damaged behind valid CRCs, impossible dimensions; see tests/mutants.py)
and runs each through `modelport inspect FILE` and `modelport verify ...` (a damaged target against its intact
source, a damaged source against the intact ONNX made from it), each in a fresh process with a timeout, its
cwd and TMPDIR in the temp folder. Per run: exit code, wall time, a "Traceback" on stderr, stderr lines, files
that appeared outside the temp folder (in the repository or at $HOME's top level; new entries at the system
temp folder's top level are listed apart, since other processes write there too).

Goal: every run exits 0-4 with at most a few stderr lines, no traceback, no exit 70, none over the timeout,
nothing written outside the temp folder. Failing cases are copied with a case.json into --failures.
Runs are sequential unless --workers > 1 (then a new file may be blamed on a neighbouring run). Each run's heap
is capped (--memory-gb 4): a damaged file declaring a huge tensor must fail fast rather than swap the machine.

Usage: python benchmarks/fuzz.py [--count 1000] [--seed 0] [--formats onnx,tflite,keras,pt2,skops]
           [--mutations bitflip,truncate,...] [--commands inspect,verify] [--timeout 30] [--workers 1]
           [--failures DIR] [--json FILE] [--originals DIR] [--memory-gb 4]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)

from tests.mutants import EXTENSIONS, MUTATIONS, Case, build_originals, make_mutants, verify_args

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {0, 1, 2, 3, 4}
MAX_STDERR_LINES = 3  # "modelport: error: ..." + hint (+ a note): more is a framework talking
# a new source file in the repository is someone editing it meanwhile, not a model reader writing: listed apart
_SOURCES = (".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".yml", ".yaml")
_PRUNE = {".git", ".venv", "__pycache__", ".ruff_cache", ".pytest_cache", ".import_linter_cache", ".mypy_cache"}


def watched() -> set[str]:
    """Every file of the repository (caches and the venv pruned) and the top level of $HOME: where a stray
    write would land. A run's TMPDIR is inside the temp folder, so the system temp folder is watched apart."""
    seen: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _PRUNE and not d.endswith(".egg-info")]
        seen.update(os.path.join(folder, f) for f in files)
    seen.update(str(p) for p in Path.home().iterdir())
    return seen


def system_tmp(exclude: Path) -> set[str]:
    """The system temp folder's top level. Other processes on the machine write there too, so a new entry
    here is reported (tmp_new) but not a failure by itself: read its name."""
    top = Path(tempfile.gettempdir())
    return {str(p) for p in top.iterdir() if p != exclude}


def run_one(argv: list[str], cwd: Path, timeout: float, exclude: Path) -> dict:
    """One modelport process: exit code (None on timeout), seconds, stderr facts, stray files."""
    for folder in (cwd, cwd.parent / f"{cwd.name}-tmp"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "MODELPORT_DEBUG"}
    env["TMPDIR"] = str(cwd.parent / f"{cwd.name}-tmp")
    before, tmp_before = watched(), system_tmp(exclude)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "modelport", *argv], cwd=cwd, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, errors="replace")
    try:
        _, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        code = None
    seconds = time.perf_counter() - start
    lines = [ln for ln in err.splitlines() if ln.strip()]
    new = watched() - before
    return {
        "argv": argv, "exit": code, "seconds": round(seconds, 3), "traceback": "Traceback" in err,
        "stderr_lines": len(lines), "stderr": lines[:12],
        "outside": sorted(p for p in new if not p.endswith(_SOURCES)),
        "edits": sorted(p for p in new if p.endswith(_SOURCES)),
        "tmp_new": sorted(system_tmp(exclude) - tmp_before),
        "cwd_files": sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*")),
        "leaked_tmp": sorted(str(p.name) for p in Path(env["TMPDIR"]).iterdir()),
    }


def problems(record: dict) -> list[str]:
    out = []
    if record["exit"] is None:
        out.append("timeout")
    elif record["exit"] == 70:
        out.append("exit 70")
    elif record["exit"] not in ALLOWED:
        out.append(f"exit {record['exit']}")
    if record["traceback"]:
        out.append("traceback")
    if record["exit"] not in (None, 0) and record["stderr_lines"] > MAX_STDERR_LINES:
        out.append(f"{record['stderr_lines']} stderr lines")
    if record["outside"]:
        out.append("files outside the temp folder")
    return out


def commands_for(case: Case, originals: dict[str, Path], commands: list[str]) -> list[tuple[str, list[str]]]:
    runs = []
    if "inspect" in commands:
        runs.append(("inspect", ["inspect", str(case.path)]))
    if "verify" in commands:
        runs.append(("verify", ["verify", *map(str, verify_args(case, originals))]))
    return runs


def save_failure(folder: Path, case: Case, command: str, record: dict, originals: dict[str, Path]) -> None:
    """A folder that reproduces one failing run: the mutant, the originals it is compared with, case.json."""
    shared = folder / "originals"
    if not shared.exists():
        shared.mkdir(parents=True)
        for path in set(originals.values()):
            shutil.copy2(path, shared / path.name)
    target = folder / f"{case.path.stem}-{command}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(case.path, target / case.name)
    argv = [a if a != str(case.path) else case.name for a in record["argv"]]
    argv = [f"../originals/{Path(a).name}" if Path(a).parent == next(iter(originals.values())).parent else a
            for a in argv]
    (target / "case.json").write_text(json.dumps({
        "format": case.fmt, "mutation": case.mutation, "seed": case.seed, "problems": problems(record),
        "repro": f"cd {target} && modelport {' '.join(argv)}", **record}, indent=2))


def summary(records: list[dict], wall: float, seed: int) -> str:
    runs = len(records)
    files = len({r["case"] for r in records})
    codes = sorted({r["exit"] for r in records}, key=lambda c: (c is None, c if c is not None else 0))
    label = {c: ("t/o" if c is None else f"ex{c}") for c in codes}
    rows = Counter((r["format"], r["mutation"], r["command"]) for r in records)
    by_code = Counter((r["format"], r["mutation"], r["command"], r["exit"]) for r in records)
    out = [f"fuzz: {files} files, {runs} runs in {wall:.0f} s (seed {seed})", ""]
    out.append(f"{'format':7} {'mutation':14} {'command':8} {'runs':>5} " + " ".join(f"{label[c]:>5}" for c in codes)
               + f" {'tb':>4} {'max s':>6}")
    for key in sorted(rows):
        cells = " ".join(f"{by_code[(*key, c)]:>5}" for c in codes)
        sub = [r for r in records if (r["format"], r["mutation"], r["command"]) == key]
        out.append(f"{key[0]:7} {key[1]:14} {key[2]:8} {rows[key]:>5} {cells} "
                   f"{sum(r['traceback'] for r in sub):>4} {max(r['seconds'] for r in sub):>6.1f}")
    out.append("")
    by_format = Counter(r["format"] for r in records if r["command"] == records[0]["command"])
    out.append("files by format: " + ", ".join(f"{k} {v}" for k, v in sorted(by_format.items())))
    exits = Counter(r["exit"] for r in records)
    out.append("runs by exit code: " + ", ".join(f"{label[c]} {exits[c]}" for c in codes))
    for command in sorted({r["command"] for r in records}):
        sub = Counter(r["exit"] for r in records if r["command"] == command)
        out.append(f"  {command}: " + ", ".join(f"{label[c]} {sub[c]}" for c in codes if sub[c]))
    slow = max(records, key=lambda r: r["seconds"])
    bad = [r for r in records if r["problems"]]
    other = sum(v for c, v in exits.items() if c not in ALLOWED | {70, None})
    long = sum(1 for r in records if any(p.endswith("stderr lines") for p in r["problems"]))
    out += [
        f"tracebacks: {sum(r['traceback'] for r in records)}   exit 70: {exits[70]}   timeouts: {exits[None]}   "
        f"other exit codes: {other}",
        f"files outside the temp folder: {sum(len(r['outside']) for r in records)} "
        f"(+ {len({e for r in records for e in r['edits']})} new source files in the repository: someone editing)   "
        f"long stderr (> {MAX_STDERR_LINES} lines): {long}   "
        f"runs leaving temp files (inside the temp folder): {sum(1 for r in records if r['leaked_tmp'])}   "
        f"new entries in {tempfile.gettempdir()} during a run (any process's): "
        f"{sum(len(r['tmp_new']) for r in records)}",
        f"slowest run: {slow['seconds']:.1f} s  {slow['command']} {slow['case']} (exit {slow['exit']})",
        f"failing runs: {len(bad)}",
    ]
    tmp_names = sorted({Path(n).name for r in records for n in r["tmp_new"]})
    if tmp_names:
        more = " ..." if len(tmp_names) > 12 else ""
        out.append(f"new in {tempfile.gettempdir()}: {', '.join(tmp_names[:12])}{more}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="mutated files (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default=",".join(EXTENSIONS), help="comma-separated: " + ",".join(EXTENSIONS))
    parser.add_argument("--mutations", default=",".join(MUTATIONS), help="comma-separated: " + ",".join(MUTATIONS))
    parser.add_argument("--commands", default="inspect,verify")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (default 1: sequential)")
    parser.add_argument("--failures", type=Path, help="where failing cases go (default: a temp folder, printed)")
    parser.add_argument("--json", type=Path, help="write every run's record here")
    parser.add_argument("--originals", type=Path, help="reuse valid models built by an earlier run")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="cap each run's heap (RLIMIT_DATA, default 4): a file declaring a huge tensor must "
                             "fail fast, not take the machine's memory; 0 = no cap")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        originals = build_originals(args.build_only)
        (args.build_only / "originals.json").write_text(json.dumps({k: str(v) for k, v in originals.items()}))
        return 0
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = [f for f in formats if f not in EXTENSIONS]
    if unknown:
        parser.error(f"unknown formats {unknown}; known: {', '.join(EXTENSIONS)}")
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    only = tuple(m.strip() for m in args.mutations.split(",") if m.strip())
    if set(only) - set(MUTATIONS):
        parser.error(f"unknown mutations {sorted(set(only) - set(MUTATIONS))}; known: {', '.join(MUTATIONS)}")

    root = Path(tempfile.mkdtemp(prefix="modelport-fuzz-"))
    failures = args.failures or Path(tempfile.mkdtemp(prefix="modelport-fuzz-failures-"))
    try:
        originals_dir = args.originals or root / "originals"
        manifest = originals_dir / "originals.json"
        if not manifest.exists():  # in a child process: torch and TensorFlow stay out of this one
            print(f"building valid models in {originals_dir} ...", flush=True)
            subprocess.run([sys.executable, __file__, "--build-only", str(originals_dir)], check=True)
        originals = {k: Path(v) for k, v in json.loads(manifest.read_text()).items()}
        cases = make_mutants(originals, root / "mutants", args.count, args.seed, formats, only)
        if args.memory_gb:  # inherited by every run
            import resource

            cap = int(args.memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))
        jobs = [(case, command, argv) for case in cases for command, argv in commands_for(case, originals, commands)]
        print(f"{len(cases)} mutated files, {len(jobs)} runs, timeout {args.timeout:.0f} s, "
              f"{args.workers} worker(s)", flush=True)
        start = time.perf_counter()
        records: list[dict] = []

        free = queue.SimpleQueue()  # one working folder per worker: a run never shares its cwd or TMPDIR
        for n in range(max(args.workers, 1)):
            free.put(root / "runs" / f"cwd{n}")

        def work(item: tuple[Case, str, list[str]]) -> dict:
            case, command, argv = item
            cwd = free.get()
            try:
                record = run_one(argv, cwd, args.timeout, root)
            finally:
                free.put(cwd)
            record.update(case=case.name, format=case.fmt, mutation=case.mutation, command=command)
            record["problems"] = problems(record)
            if record["problems"]:
                save_failure(failures, case, command, record, originals)
            return record

        with ThreadPoolExecutor(max_workers=max(args.workers, 1)) as pool:
            for i, record in enumerate(pool.map(work, jobs), 1):
                records.append(record)
                if record["problems"]:
                    print(f"  FAIL {record['command']} {record['case']}: {', '.join(record['problems'])}: "
                          f"{(record['stderr'] or [''])[-1][:160]}", flush=True)
                if i % 50 == 0 or i == len(jobs):
                    done = time.perf_counter() - start
                    print(f"  {i}/{len(jobs)} runs, {done:.0f} s, ~{done / i * (len(jobs) - i):.0f} s to go",
                          flush=True)
        wall = time.perf_counter() - start
        print()
        print(summary(records, wall, args.seed))
        if any(r["problems"] for r in records):
            print(f"failing cases: {failures}")
        elif not args.failures:
            shutil.rmtree(failures, ignore_errors=True)
        if args.json:
            args.json.write_text(json.dumps({"seed": args.seed, "count": args.count, "wall_seconds": round(wall, 1),
                                             "runs": records}, indent=1))
        return 1 if any(r["problems"] for r in records) else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
