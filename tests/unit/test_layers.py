"""The architecture, checked: layers (import-linter, see [tool.importlinter] in pyproject.toml), no private name
imported across packages, no module over the size where it stops being one idea."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "modelport"
MAX_LINES = 400


def _package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_private_name_is_imported_across_packages():
    found = []
    for path in PACKAGE.rglob("*.py"):
        here = _package_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelport"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and _package_of(node.module) != here:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {private}")
    assert not found, found


def test_modules_stay_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not big, big


def test_layers_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _imports() -> dict[str, set[str]]:
    """modelport module -> the modelport modules it imports (at module level or inside functions)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "proto" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelport"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("modelport"))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_import_circles():
    """No module reaches itself through imports, function-level ones included (they were how circles hid:
    keras <-> taps <-> tflite, torch <-> taps, twins <-> keras/torch, sklearn <-> sklearn_columns)."""
    graph = _imports()
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not circles, circles[:5]
