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
def quiet(*loggers: str):
    """Silence converter chatter (warnings, logging, prints) during a block; errors still propagate."""
    if debugging():
        yield
        return
    saved = {}
    for name in (*loggers, None):  # None: the root logger, which some converters log to directly
        log = logging.getLogger(name)
        saved[name] = log.level
        log.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class native_stderr_silenced:
    """Silence C++ log lines (TensorFlow's oneDNN banner, XNNPACK) written straight to fd 2 during a block.

    Python exceptions are unaffected.
    """

    def __enter__(self):
        self.saved = None
        if debugging():
            return self
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


def quiet_onnxruntime() -> None:
    """Sessions onnxruntime makes itself (the quantizer's, the optimizer's) log C++ warnings such as
    "Removing initializer ..." to fd 2 under its default logger: raise its level, unless --debug."""
    import onnxruntime as ort

    ort.set_default_logger_severity(2 if debugging() else 4)
