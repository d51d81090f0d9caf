"""`serve models:/NAME@ALIAS --follow`: a promotion or a rollback in the registry reaches the running server.

Every `poll` seconds the alias is resolved; when it names another version, that version is downloaded, loaded,
run once on generated inputs of its own interface (a file that cannot run never replaces one that can), then
swapped in whole: a request holds the version it started on, so requests in flight finish on the old one and none
fails. A version that cannot be loaded, or whose recorded verification failed, is skipped with a warning and the
current one keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from modelport.core.errors import ModelportError, UsageError, one_line
from modelport.serve.served import Served, load_version


def followable(source: str) -> bool:
    """An alias or `latest`: a registry URI whose version can move."""
    from modelport.loaders.mlflow_store import is_models_uri, parse

    if not is_models_uri(source):
        return False
    _, version, alias = parse(source)
    return alias is not None or version == "latest"


def check(sources: list[str]) -> None:
    fixed = [s for s in sources if not followable(s)]
    if fixed:
        raise UsageError(f"--follow needs registry aliases; {fixed[0]} cannot move",
                         hint="serve models:/NAME@ALIAS (or models:/NAME/latest) with --follow")


def current_version(source: str) -> str:
    from modelport.loaders.mlflow_store import client, version_of

    return str(version_of(client(), source).version)


def smoke_run(version) -> None:
    """One run on generated inputs of the version's own interface (batch 2 where the batch is free)."""
    from modelport.core.artifact import TensorSpec
    from modelport.verify.inputs import generate

    model = version.runtime.model
    specs = [TensorSpec(s.name, tuple(2 if j == 0 and not isinstance(d, int) else d for j, d in enumerate(s.shape)),
                        s.dtype) for s in model.inputs]
    feed = generate(specs, samples=2, seed=0)[0]
    version.runtime.run(feed)


def swap_if_moved(served: Served, *, threads: int | None, allow_unverified: bool) -> str | None:
    """Load the version the alias names now, if it moved; returns the line to print (None: unchanged)."""
    number = current_version(served.source)
    if number == served.current.number:
        return None
    notes: list[str] = []
    try:
        version = load_version(served.source, threads=threads, allow_unverified=allow_unverified, notes=notes)
        smoke_run(version)
    except ModelportError as exc:
        return f"warning: {served.name}: v{number} not served ({exc.message}); still serving v{served.current.number}"
    except Exception as exc:
        return f"warning: {served.name}: v{number} cannot run ({one_line(exc)}); still serving v{served.current.number}"
    before = served.current.number
    served.current = version  # one assignment: a request holds whichever version it read
    extra = "".join(f"; {n}" for n in notes)
    return f"{served.name} v{version.number} ready (alias moved from v{before}){extra}"


def watcher(served: list[Served], *, poll: float, threads: int | None, allow_unverified: bool,
            say: Callable[[str], None]):
    """The coroutine an engine runs beside its servers."""

    async def watch(_models) -> None:
        loop = asyncio.get_running_loop()
        last: dict[str, str] = {}
        while True:
            await asyncio.sleep(poll)
            for s in served:
                try:
                    line = await loop.run_in_executor(None, lambda s=s: swap_if_moved(
                        s, threads=threads, allow_unverified=allow_unverified))
                except Exception as exc:  # the registry is unreachable for a while: keep serving, keep looking
                    line = f"warning: {s.name}: cannot read {s.source} ({one_line(exc)})"
                if line and line != last.get(s.name):  # a registry down for an hour says so once
                    say(line)
                last[s.name] = line or ""

    return watch
