"""The command line that reproduces this run, for the report page's "to reproduce": rebuilt from the values
the command received (so it is the same whether modelport ran from a shell, a Makefile or a test), options at
their defaults left out, and so are the report's own outputs (--json, --report) and display flags."""

from __future__ import annotations

import inspect
import shlex
from typing import Any

LEFT_OUT = {"json_path", "report_path", "quiet", "debug"}


def build(command: str, params: list[inspect.Parameter], values: dict[str, Any]) -> str:
    """`modelport COMMAND ARGUMENTS OPTIONS` for `values` of the command's typer parameters `params`."""
    from typer.models import ArgumentInfo, OptionInfo

    arguments: list[str] = []
    options: list[str] = []
    for param in params:
        info, value = param.default, values.get(param.name)
        if param.name in LEFT_OUT or value is None or value in ((), []):
            continue
        if isinstance(info, ArgumentInfo):
            arguments.extend(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
            continue
        if not isinstance(info, OptionInfo) or value == info.default:
            continue
        decls = [d for d in (info.param_decls or ()) if d.startswith("--")] or [f"--{param.name.replace('_', '-')}"]
        on, _, off = decls[0].partition("/")
        if isinstance(value, bool):
            if value or off:
                options.append(on if value else off)
            continue
        for v in value if isinstance(value, list | tuple) else [value]:
            options.extend([on, str(v)])
    return shlex.join(["modelport", command, *arguments, *options])
