"""The one place that turns errors into exit codes, one stderr line plus a hint, and --json output.

Exit codes: 0 ok, 1 verification failed, 2 bad usage or unreadable input, 3 unsupported or conversion
failed, 4 refused as unsafe, 5 missing optional dependency, 70 internal error.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from modelport.core.errors import ModelportError, UsageError, one_line
from modelport.core.report import SCHEMA_VERSION, Report

EXIT_OK, EXIT_VERIFY, EXIT_INTERNAL = 0, 1, 70  # the others are each ModelportError's exit_code


class Session:
    """What one command invocation shares: flags that shape output, and the progress display."""

    def __init__(self, json_path: str | None, quiet: bool, debug: bool) -> None:
        self.json_path = json_path
        self.quiet = quiet
        self.debug = debug or bool(os.environ.get("MODELPORT_DEBUG"))
        if self.debug:
            os.environ["MODELPORT_DEBUG"] = "1"
        self._status = None
        self.report_path: str | None = None  # --report PATH.html (set once its libraries are checked)
        self.invocation = ""

    def check_json(self, *protected) -> None:
        """Refuse a --json path that is missing its folder or would overwrite a model (exit 2)."""
        if not self.json_path or self.json_to_stdout:
            return
        path = Path(self.json_path)
        problem = None
        if not path.parent.exists():
            problem = UsageError(f"--json {path}: folder {path.parent} does not exist")
        elif any(other and path.resolve() == Path(str(other)).resolve() for other in protected):
            problem = UsageError(f"--json {path} would overwrite a model", hint="choose another report path")
        if problem is not None:
            self.json_path = None  # the error report must not go there either
            raise problem

    @property
    def json_to_stdout(self) -> bool:
        return self.json_path == "-"

    def console(self):
        """Where tables go: stdout, or stderr when stdout carries JSON."""
        from rich.console import Console

        console = Console(stderr=self.json_to_stdout, highlight=False)
        if not console.is_terminal:
            console.width = max(console.width, 120)  # logs and CI output: do not squeeze tables to 80
        return console

    def progress(self, message: str) -> None:
        if self.quiet:
            return
        if self._status is None:
            from rich.console import Console

            err = Console(stderr=True)
            if not err.is_terminal:
                self._status = False
                return
            self._status = err.status(message)
            self._status.start()
        elif self._status:
            self._status.update(message)

    def stop_progress(self) -> None:
        if self._status:
            self._status.stop()
        self._status = None

    def write_report(self, data: dict) -> None:
        """--json and --report: the same report, as JSON and as a page (which also puts the command line in
        the JSON: the page shows nothing the JSON lacks)."""
        if self.report_path:
            data = {**data, "invocation": self.invocation}
        self.write_json(data)
        if self.report_path:
            from modelport import html

            html.write(data, self.report_path)

    def write_json(self, data: dict) -> None:
        if not self.json_path:
            return
        text = json.dumps(data, indent=2, default=str)
        if self.json_to_stdout:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            from modelport.core.io import PendingOutput

            with PendingOutput(self.json_path, force=True) as pending:
                Path(pending.path).write_text(text + "\n")
                pending.commit()


def error_line(exc: ModelportError) -> None:
    sys.stderr.write(f"modelport: error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")


@contextlib.contextmanager
def guarded(session: Session, command: str, render: Callable[[Report, Session], None]) -> Iterator[None]:
    """Run a command body; map every outcome to an exit code (raised as typer.Exit)."""
    code = EXIT_OK
    try:
        yield
    except ModelportError as exc:
        session.stop_progress()
        report = getattr(exc, "report", None)
        if report is not None and not session.quiet:
            render(report, session)
        error_line(exc)
        if session.debug:
            traceback.print_exc()
        payload = report.to_dict() if report is not None else {
            "schema_version": SCHEMA_VERSION, "command": command, "ok": False}
        payload["ok"] = False
        payload["error"] = {"kind": exc.kind, "message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
        _safe_json(session, payload)
        code = exc.exit_code
    except (typer.Exit, typer.Abort, KeyboardInterrupt) as exc:
        session.stop_progress()
        if isinstance(exc, KeyboardInterrupt):
            sys.stderr.write("modelport: interrupted\n")
            _handled_interrupt()
            code = 130
        else:
            raise
    except Exception as exc:  # anything unexpected is our bug: say so, exit 70
        session.stop_progress()
        if session.debug:
            traceback.print_exc()
        line = one_line(exc)
        sys.stderr.write(f"modelport: internal error: {line}\n"
                         "  hint: rerun with --debug for the traceback, and report it\n")
        _safe_json(session, {"schema_version": SCHEMA_VERSION, "command": command, "ok": False,
                             "error": {"kind": "internal", "message": line,
                                       "hint": None, "exit_code": EXIT_INTERNAL}})
        code = EXIT_INTERNAL
    finally:
        session.stop_progress()
    if code:
        raise typer.Exit(code)


def _handled_interrupt() -> None:
    """CPython 3.11 marks a Ctrl-C as unhandled for good when it lands inside code a C extension runs through
    PyRun_String (pybind11's py::exec: torch, onnx), even once caught here; at exit the interpreter then kills
    itself with SIGINT (status -2, not 130). The interrupt is handled: clear that mark."""
    try:
        import ctypes

        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (AttributeError, ValueError, OSError):  # another interpreter, or a Python without the mark
        pass


def _safe_json(session: Session, payload: dict) -> None:
    try:
        session.write_report(payload)
    except Exception:  # the JSON and page side channels must never mask the real error
        pass


def finish(session: Session, report: Report, render: Callable[[Report, Session], None]) -> None:
    """Render a finished report and exit 1 when it is not ok."""
    session.stop_progress()
    if not session.quiet:
        render(report, session)
    session.write_report(report.to_dict())
    if not report.ok:
        if report.verification is not None and not report.verification.passed:
            sys.stderr.write(f"modelport: verification failed: {report.verification.summary()}\n")
            if report.command == "convert" and report.output:
                sys.stderr.write(f"  note: the converted file was kept at {report.output}\n")
        raise typer.Exit(EXIT_VERIFY)
