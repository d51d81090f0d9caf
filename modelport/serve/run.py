"""`modelport serve`: check the ports, load every model, then hand them to an engine until SIGTERM or Ctrl-C.

Engines: KServe (`kserve_engine`, the default, one machine) and Ray Serve (`ray_engine`, replicas on a Ray
cluster). `--write-config` (Ray Serve config) and `--write-triton` (Triton repository) run nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from modelport.core.errors import UsageError
from modelport.core.report import Report
from modelport.serve.quiet import quiet_servers

ENGINES = ("kserve", "ray")


def check_port(host: str, port: int, what: str) -> None:
    """Exit 2 naming the port when something already listens there (before any model loads)."""
    import socket

    if not 0 < port < 65536:
        raise UsageError(f"--{what}-port {port} is not a port number (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UsageError(f"--host {host}: not an address of this machine", hint="e.g. 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is not "in use"
        try:
            sock.bind(address)
        except OSError as exc:
            raise UsageError(f"{what.upper()} port {port} on {host} is in use ({exc.strerror})",
                             hint=f"choose another with --{what}-port, or stop what listens there") from None


def threads_per_model(threads: int | None, models: int) -> int | None:
    """--threads, else MODELPORT_THREADS, else the cores shared out between the models of one server (each ONNX
    Runtime session would otherwise start a thread per core, and concurrent models would fight over them)."""
    import os

    if threads:
        return threads
    value = os.environ.get("MODELPORT_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, (os.cpu_count() or 1) // max(1, models)) if models > 1 else None


def serve(sources: list[str], *, names: list[str] | None = None, host: str = "127.0.0.1", http_port: int = 8080,
          grpc_port: int = 8081, engine: str = "kserve", allow_unverified: bool = False, threads: int | None = None,
          max_request_mb: float = 64.0, follow: bool = False, poll: float = 10.0, debug: bool = False,
          say: Callable[[str], None] | None = None, ray: dict[str, Any] | None = None, write_config: str | None = None,
          progress: Callable[[str], None] = lambda _: None) -> Report:
    """Serve `sources` until SIGTERM (drained; returns an ok report) or Ctrl-C (KeyboardInterrupt: exit 130)."""
    from modelport.serve.served import resolve

    say = say or (lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()))
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine}: not an engine", hint=f"choose one of {', '.join(ENGINES)}")
    if max_request_mb <= 0:
        raise UsageError("--max-request-mb must be > 0")
    if poll <= 0:
        raise UsageError("--poll must be > 0 seconds")
    if follow:
        from modelport.serve.follow import check

        if engine != "kserve" or write_config:
            raise UsageError("--follow runs on the kserve engine",
                             hint="on Ray Serve a rollback is a new `serve deploy` of the config (docs/serve.md)")
        check(list(sources))
    if grpc_port and grpc_port == http_port:
        raise UsageError(f"--http-port and --grpc-port are both {http_port}", hint="give them different ports")
    if write_config:
        return _write_config(sources, names, write_config, host=host, http_port=http_port, grpc_port=grpc_port,
                             allow_unverified=allow_unverified, ray=ray or {}, max_request_mb=max_request_mb)
    check_port(host, http_port, "http")
    if grpc_port:
        check_port(host, grpc_port, "grpc")
    quiet_servers(debug)
    if engine == "kserve":
        from modelport.serve.kserve_engine import import_kserve

        import_kserve()  # exit 5 with the install line before models load
    else:
        from modelport.core.errors import require

        require("ray.serve", "ray", "serve on Ray Serve (--engine ray)")
    if engine == "kserve":
        threads = threads_per_model(threads, len(sources))
    served = resolve(list(sources), names, threads=threads, allow_unverified=allow_unverified, progress=progress)
    for s in served:
        for note in s.notes:
            say(f"warning: {note}")

    def ready() -> None:
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        for s in served:
            grpc = f", grpc {shown}:{grpc_port}" if grpc_port else ""
            say(f"{s.name} v{s.current.number} ready: http://{shown}:{http_port}/v2/models/{s.name}{grpc}")

    if engine == "ray":
        from modelport.serve import ray_engine

        args = ray_engine.app_args(served, max_request_mb=max_request_mb, allow_unverified=allow_unverified,
                                   **(ray or {}))
        if grpc_port and host in ("127.0.0.1", "localhost", "::1"):
            say(f"note: Ray Serve's gRPC proxy listens on every interface (port {grpc_port}); it has no address "
                "option")
        why = ray_engine.serve(args, host=host, http_port=http_port, grpc_port=grpc_port, debug=debug,
                               on_ready=lambda: (progress(""), ready()))
        return _stopped(why, engine, host, http_port, grpc_port, served)
    from modelport.serve import kserve_engine

    background = None
    if follow:
        from modelport.serve.follow import watcher

        background = watcher(served, poll=poll, threads=threads, allow_unverified=allow_unverified, say=say)
    why = kserve_engine.serve(served, host=host, http_port=http_port, grpc_port=grpc_port,
                              max_request_mb=max_request_mb, on_ready=lambda: (progress(""), ready()),
                              background=background)
    return _stopped(why, engine, host, http_port, grpc_port, served)


def _stopped(why: str, engine: str, host: str, http_port: int, grpc_port: int, served) -> Report:
    if why == "interrupt":
        raise KeyboardInterrupt
    report = Report("serve", ok=True)
    report.details.update({"engine": engine, "host": host, "http_port": http_port, "grpc_port": grpc_port,
                           "models": [{"name": s.name, "source": s.source, "version": s.current.number,
                                       "file": str(s.current.file)} for s in served]})
    return report


def _write_config(sources, names, path: str, *, host: str, http_port: int, grpc_port: int, allow_unverified: bool,
                  ray: dict[str, Any], max_request_mb: float) -> Report:
    """A Ray Serve config for `serve deploy` / `serve run`, checked by Ray's own schema; serves nothing."""
    from modelport.serve import ray_engine
    from modelport.serve.served import resolve

    served = resolve(list(sources), names, threads=1, allow_unverified=allow_unverified)
    args = ray_engine.app_args(served, max_request_mb=max_request_mb, allow_unverified=allow_unverified, **ray)
    ray_engine.write_config(path, ray_engine.config(args, host=host, http_port=http_port, grpc_port=grpc_port))
    report = Report("serve", ok=True)
    report.warnings.extend(n for s in served for n in s.notes)
    report.details["ray_config"] = {"path": path, "models": [m["name"] for m in args["models"]]}
    return report
