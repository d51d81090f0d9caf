"""Server and framework log lines off the terminal unless --debug (every engine's processes call this)."""

from __future__ import annotations


def quiet_servers(debug: bool) -> None:
    """KServe's, uvicorn's and gRPC's log lines stay off the terminal unless --debug."""
    import logging
    import os

    if debug:
        logging.basicConfig(level=logging.INFO)
        return
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    for name in ("kserve", "kserve.trace", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "grpc",
                 "asyncio", "ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
