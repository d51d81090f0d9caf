"""Every flag an error message or hint names must exist on the command that can raise it, used the way that
command spells it (`--member-output IDX=NAME`, not `--output IDX=NAME`, which is the output file)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer.main

from modelport.cli.app import app

ROOT = Path(__file__).resolve().parents[2] / "modelport"
FLAG = re.compile(r"(--[a-z][a-z0-9-]*)(?:[ =]([^\s,;)'\"]+))?")
KEY_VALUE = re.compile(r"^[\w.{}]+=[\w.,]+")
# Which command(s) a module's errors reach the user through; modules not listed are shared by several.
OWNERS = {
    "fuse/": ["fuse"], "commands/fuse.py": ["fuse"], "cli/fuse.py": ["fuse"],
    "commands/compress.py": ["compress"], "cli/compress.py": ["compress"], "passes/onnx_quant.py": ["compress"],
    "commands/optimize.py": ["optimize"], "cli/optimize.py": ["optimize"], "passes/onnx_optimize.py": ["optimize"],
    "routes/": ["convert"], "commands/convert.py": ["convert"], "cli/convert.py": ["convert"],
    "commands/verify.py": ["verify"], "cli/verify.py": ["verify"],
    "commands/inspect.py": ["inspect"], "cli/inspect.py": ["inspect"],
    "commands/bench.py": ["bench"], "cli/bench.py": ["bench"],
}


def _options() -> dict[str, dict[str, str]]:
    """command -> {flag: metavar ('' for on/off flags)}."""
    group = typer.main.get_command(app)
    result = {}
    for name, cmd in group.commands.items():
        flags = {}
        for param in cmd.params:
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                flags[opt] = "" if getattr(param, "is_flag", False) else (param.metavar or param.name.upper())
        result[name] = flags
    return result


def _texts(node: ast.AST):
    """String constants, with f-strings rendered as one text ({} where a value goes)."""
    if isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    else:
        for child in ast.iter_child_nodes(node):
            yield from _texts(child)


def _messages(tree: ast.AST):
    """Text inside error constructors (`...Error(...)`, including hint=), with line numbers."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if not func.endswith("Error"):
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for text in _texts(arg):
                    yield node.lineno, text


def _owners(rel: str) -> list[str] | None:
    return next((cmds for prefix, cmds in OWNERS.items() if rel.startswith(prefix)), None)


def problems_in(rel: str, source: str, options: dict[str, dict[str, str]]) -> list[str]:
    owners = _owners(rel)
    found = []
    for line, text in _messages(ast.parse(source)):
        for flag, value in FLAG.findall(text):
            having = [c for c in (owners or options) if flag in options[c]]
            if owners and len(having) != len(owners) or not having:
                found.append(f"{rel}:{line}: {flag} is not an option of {', '.join(owners or ['any command'])}")
                continue
            for cmd in having:
                metavar = options[cmd][flag]
                if KEY_VALUE.match(value) and "=" not in metavar:
                    found.append(f"{rel}:{line}: '{flag} {value}': {cmd}'s {flag} takes {metavar or 'no value'}")
    return found


def test_every_flag_named_in_an_error_exists_where_it_is_raised():
    options = _options()
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        problems += problems_in(str(path.relative_to(ROOT)), path.read_text(), options)
    assert not problems, "\n".join(problems)


def test_the_checker_catches_the_old_fuse_hint():
    old = 'raise UsageError("choose an output", hint=f"--output {m.index}=NAME")\n'
    assert problems_in("fuse/members.py", old, _options())
    assert problems_in("fuse/members.py", 'raise UsageError("x", hint="--no-such-flag 3")\n', _options())
    assert not problems_in("fuse/members.py", 'raise UsageError("x", hint="--member-output 1=NAME")\n', _options())


def test_one_line_drops_terminal_colour_codes():
    """torch.onnx colours its step banners; a route's reason in a table or JSON must not carry escape codes."""
    from modelport.core.errors import one_line

    assert one_line(RuntimeError("Failed to export. \x1b[96mThis is step 1/3\x1b[0m of exporting")) == \
        "RuntimeError: Failed to export. This is step 1/3 of exporting"
