"""`modelport batch MANIFEST`: every job of a manifest on warm workers (or a process per job), with a live table,
JSON and JUnit reports, and resume (up-to-date outputs are not redone)."""

from __future__ import annotations

import json
import sys
import threading

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport batch models.yaml\n
  modelport batch models.yaml -j 2 --junit report.xml --json report.json\n
  modelport batch models.yaml --executor ray --ray-address auto\n
  modelport batch models.yaml --isolation job      (a new process per job: slower, nothing shared)\n
  modelport batch models.yaml --register      (MLflow: each verified output a registered version)\n
  modelport batch --schema\n
\n
Exit codes: 0 every job verified (or was up to date), 1 a job failed verification, 3 a job failed to
convert, crashed or timed out, 2 the manifest is wrong (nothing ran).
"""


STYLE = {"ok": "green", "up to date": "green", "verification failed": "red", "failed": "red", "running": "yellow"}


def _note(res: dict) -> str:
    if res["status"] in ("ok", "up to date"):
        note = ", ".join(s["output"].rstrip("/").rsplit("/", 1)[-1] + ("/" if s["output"].endswith("/") else "")
                         for s in res["steps"])
        reg = res.get("registered")
        return note + (f" -> {reg['uri']}{'' if reg['created'] else ' (unchanged)'}" if reg else "")
    step = next((s for s in res["steps"] if s["status"] in ("verification failed", "failed")), None)
    text = res.get("message") or (step or {}).get("verification") or (step or {}).get("message") or ""
    return f"{step['command']}: {text}" if step and not res.get("message") else text


def _table(rows: list[tuple[str, str, str, str, str]], title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, kw in (("job", {}), ("target", {}), ("status", {}), ("seconds", {"justify": "right"}),
                    ("outputs / reason", {"overflow": "fold"})):
        table.add_column(col, **kw)
    for name, target, status, seconds, note in rows:
        table.add_row(name, target, f"[{STYLE.get(status, 'white')}]{status}[/]", seconds, note)
    return table


class Progress:
    """A live table on a terminal; one line per finished job elsewhere (CI logs). Called from pool threads."""

    def __init__(self, session, total: int) -> None:
        from rich.console import Console

        self.total, self.finished = total, 0
        self.rows: dict[str, tuple] = {}
        self.lock = threading.Lock()
        self.console = Console(stderr=True, highlight=False)
        self.quiet = session.quiet
        self.live = None
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(_table(list(self.rows.values()), f"{self.finished}/{self.total} jobs"))

    def started(self, task) -> None:
        with self.lock:
            self.rows[task.label] = (task.name, task.target, "running", "", task.source)
            self._refresh()

    def done(self, task, res: dict) -> None:
        with self.lock:
            self.finished += 1
            self.rows[task.label] = (task.name, task.target, res["status"], f"{res['seconds']:.1f}", _note(res))
            self._refresh()
            if self.live is None and not self.quiet:
                self.console.print(f"[{self.finished}/{self.total}] {task.label}: {res['status']} "
                                   f"({res['seconds']:.1f} s) {_note(res)}", soft_wrap=True)

    def say(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, soft_wrap=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def render(report, session) -> None:
    d = report.details
    rows = [(j["name"], j["target"], j["status"], f"{j['seconds']:.1f}", _note(j)) for j in d.get("jobs", [])]
    console = session.console()
    if rows:
        console.print(_table(rows, "Batch"))
    counts = ", ".join(f"{n} {k}" for k, n in d.get("counts", {}).items() if n)
    console.print(f"{len(rows)} job(s): {counts} in {d.get('seconds', 0):.1f} s "
                  f"({d.get('executor')}, {d.get('parallel')} at a time)")
    if d.get("exit_code") == 1:
        sys.stderr.write("modelport: verification failed: see the jobs marked above\n")


@command("batch", "page", "signed", "sign", render=render)
def batch(
    opts,
    manifest: str = typer.Argument(None, metavar="MANIFEST", help="Jobs to run (YAML or JSON; see --schema)."),
    jobs: int = typer.Option(None, "--jobs", "-j", min=1, help="Jobs at a time (default: the number of cores)."),
    executor: str = typer.Option("pool", "--executor", metavar="pool|ray",
                                 help="pool: local processes; ray: Ray tasks (modelport[ray])."),
    ray_address: str = typer.Option(None, "--ray-address", metavar="ADDRESS",
                                    help="Ray cluster (default: RAY_ADDRESS, else a local Ray for this run)."),
    timeout: float = typer.Option(None, "--timeout", min=1, help="Seconds a job may take (default: no limit; "
                                                                 "a job's own 'timeout' wins)."),
    isolation: str = typer.Option("worker", "--isolation", metavar="worker|job",
                                  help="worker: warm workers, one framework each, job after job (default); "
                                       "job: a new process per job (imports paid per job)."),
    worker_jobs: int = typer.Option(None, "--worker-jobs", min=1, metavar="N",
                                    help="Jobs a warm worker takes before it is replaced (default: 200)."),
    worker_memory: str = typer.Option(None, "--worker-memory", metavar="SIZE",
                                      help="Replace a warm worker between jobs once its resident memory passes "
                                           "this (e.g. 4GiB; default: half the machine's memory over -j; on "
                                           "Ray the actor's memory)."),
    force: bool = typer.Option(False, "--force", "-f", help="Redo every job, even those up to date."),
    junit: str = typer.Option(None, "--junit", metavar="PATH", help="Write a JUnit XML report (one testcase "
                                                                    "per job and target)."),
    register: bool = typer.Option(False, "--register", help="Log each verified output to the MLflow registry "
                                                            "(modelport[mlflow]; see modelport register)."),
    schema: bool = typer.Option(False, "--schema", help="Print the manifest's JSON Schema and exit."),
):
    """Convert, verify (and optimize/compress) every model a manifest lists, in parallel, resumable."""
    from modelport.core.errors import ConversionFailed, UsageError

    if schema:
        from modelport.batch.manifest import schema as make_schema

        sys.stdout.write(json.dumps(make_schema(), indent=2) + "\n")
        return None
    if not manifest:
        raise UsageError("a MANIFEST is needed", hint="modelport batch models.yaml (see --schema)")
    from modelport.batch.manifest import parse_memory
    from modelport.batch.run import EXECUTORS, ISOLATIONS, plan
    from modelport.batch.run import batch as run_batch
    from modelport.core.report import Report

    if executor not in EXECUTORS:
        raise UsageError(f"unknown --executor '{executor}'", hint="pool or ray")
    if isolation not in ISOLATIONS:
        raise UsageError(f"unknown --isolation '{isolation}'", hint="worker or job")
    memory = parse_memory(worker_memory) if worker_memory is not None else None
    if worker_memory is not None and memory is None:
        raise UsageError(f"--worker-memory {worker_memory!r} is not a size", hint="e.g. 4GiB, 512MiB")
    opts.session.check_json(junit)
    tasks = plan(manifest)  # a manifest error stops here, before the display starts
    progress = Progress(opts.session, len(tasks))
    try:
        result = run_batch(manifest, tasks=tasks, jobs=jobs, executor=executor, ray_address=ray_address,
                           timeout=timeout, force=force, isolation=isolation, worker_jobs=worker_jobs,
                           worker_memory=memory, register=register, progress=progress.say,
                           started=progress.started, done=progress.done)
    finally:
        progress.stop()
    report = Report("batch", ok=result.exit_code == 0, details=result.to_dict())
    if junit:
        from modelport.batch.junit import write

        write(result, junit, opts.report_path)
    if result.exit_code == 3:
        failed = result.counts["failed"]
        exc = ConversionFailed(f"{failed} of {len(result.results)} job(s) failed to convert",
                               hint="each job's reason is in the table above; --json has every report")
        exc.report = report
        raise exc
    return report
