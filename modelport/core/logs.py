"""Keep framework chatter off the user's terminal: Python warnings, logging, prints and C++ log lines.

Everything here is shown again with `--debug` (which sets MODELPORT_DEBUG=1).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings


def debugging() -> bool:
    return bool(os.environ.get("MODELPORT_DEBUG"))


@contextlib.contextmanager
def quiet(*loggers: str, everywhere: bool = True):
    """Silence converter chatter (warnings, logging, prints) during a block; errors still propagate.
    `everywhere=False`: only the named loggers' levels (a block that collects another logger's warnings)."""
    if debugging():
        yield
        return
    saved = {}
    for name in (*loggers, None):  # None: the root logger, which some converters log to directly
        log = logging.getLogger(name)
        saved[name] = log.level
        log.setLevel(logging.ERROR)
    # and below ERROR everywhere: importing torch._dynamo (torchao does, on transformers' first import) resets the
    # torch loggers' levels in the middle of the block, and their pytree deprecations then reach the terminal
    disabled = logging.root.manager.disable
    if everywhere:
        logging.disable(max(disabled, logging.WARNING))
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class native_silenced:
    """Silence C++ lines written straight to file descriptors during a block: fd 2 by default (TensorFlow's oneDNN
    banner, XNNPACK), fd 1 too where native code prints to stdout (the TorchScript ONNX exporter's "Torch IR graph
    at exception" dump). Python exceptions are unaffected.
    """

    def __init__(self, *fds: int, capture: bool = False) -> None:
        self.fds = fds or (2,)
        self.python = contextlib.ExitStack()
        self.capture = capture  # keep what was written: `.text` after the block
        self.text = ""
        self._sinks: list = []

    def __enter__(self):
        self.saved = {}
        if debugging():
            return self
        # and the same lines sent through Python's sys.stdout/stderr (pybind11 modules such as ExecuTorch's runtime
        # redirect their C++ streams there)
        for fd in self.fds:
            sink = io.StringIO()
            self._sinks.append(sink)
            self.python.enter_context((contextlib.redirect_stdout if fd == 1 else contextlib.redirect_stderr)(sink))
        for fd in self.fds:
            try:
                (sys.stdout if fd == 1 else sys.stderr).flush()
                saved = os.dup(fd)
                if self.capture:
                    import tempfile

                    target = tempfile.TemporaryFile()
                    self._sinks.append(target)
                    os.dup2(target.fileno(), fd)
                else:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, fd)
                    os.close(devnull)
                self.saved[fd] = saved
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        self.python.close()
        for fd, saved in self.saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        if self.capture:
            parts = []
            for sink in self._sinks:
                if isinstance(sink, io.StringIO):
                    parts.append(sink.getvalue())
                else:
                    sink.seek(0)
                    parts.append(sink.read().decode(errors="replace"))
                    sink.close()
            self.text = "".join(parts)



def quiet_onnxruntime() -> None:
    """Sessions onnxruntime makes itself (the quantizer's, the optimizer's) log C++ warnings such as
    "Removing initializer ..." to fd 2 under its default logger: raise its level, unless --debug."""
    import onnxruntime as ort

    ort.set_default_logger_severity(2 if debugging() else 4)
