"""Start `modelport serve` as users do (its own process on 127.0.0.1, free ports), ask it through the client
process (tests/serve_client.py), and stop it by its process id. Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

CLIENT = Path(__file__).with_name("serve_client.py")


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (32768-60999) and Ray's worker ports (10002-19999): a port
    the kernel hands out could be taken by a Ray process starting up between the check and the server's bind."""
    import random

    for _ in range(100):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`modelport serve ARGS` on free ports; `ready(n)` waits for n "ready:" lines (bounded)."""

    def __init__(self, *args, env: dict | None = None, ports: tuple[int, int] | None = None) -> None:
        self.http, self.grpc = ports or (free_port(), free_port())
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelport", "serve", *map(str, args), "--http-port", str(self.http),
             "--grpc-port", str(self.grpc)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def address(self) -> dict:
        return {"http": f"127.0.0.1:{self.http}", "grpc": f"127.0.0.1:{self.grpc}"}

    def ready(self, count: int = 1, timeout: float = 180.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = [ln for ln in self.lines if " ready: " in ln]
            if len(ready) >= count:
                return ready
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                raise AssertionError(f"server exited {self.proc.returncode}: {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout} s: {self.lines}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def ask(server: Server, calls: list[dict], timeout: float = 300.0) -> list[dict]:
    """Run the calls in a client process; its answers, one per call."""
    return answers(start_client(server, calls), timeout)


def start_client(server: Server, calls: list[dict]) -> subprocess.Popen:
    """The client process, started: `answers(proc)` waits for it (bounded)."""
    proc = subprocess.Popen([sys.executable, str(CLIENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps({**server.address, "calls": calls}))
    proc.stdin.close()
    proc.stdin = None  # communicate() must not touch it again
    return proc


def answers(proc: subprocess.Popen, timeout: float = 300.0) -> list[dict]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out)


def wait_for(server: Server, text: str, timeout: float = 120.0) -> str:
    """The first stderr line of the server holding `text` (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [ln for ln in server.lines if text in ln]
        if found:
            return found[0]
        if server.proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no line with {text!r} in {timeout} s: {server.lines}")


def tensor(value, datatype: str) -> dict:
    """A job's input from a NumPy array (or a list of strings for BYTES)."""
    import numpy as np

    value = np.asarray(value)
    data = [str(v) for v in value.reshape(-1)] if datatype == "BYTES" else value.reshape(-1).tolist()
    return {"datatype": datatype, "shape": list(value.shape), "data": data}
