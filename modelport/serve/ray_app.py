"""The Ray Serve application: one deployment per model (replicas, CPU share, dynamic batching) behind one ingress
that speaks the Open Inference Protocol on Ray's HTTP proxy (FastAPI) and on its gRPC proxy (modelport's compiled
`inference.GRPCInferenceService`, `modelport.serve.proto`).

`build(args)` is also the application builder a Ray Serve config names (`import_path:
modelport.serve.ray_app:build`), so `modelport serve --engine ray` and `serve deploy serve.yaml` run the same code.
Nothing here imports Ray or a framework at import time. (No `from __future__ import annotations`: FastAPI reads the
route parameters' annotations as objects.)
"""

import asyncio
from typing import Any

from modelport.serve.tensors import BadRequest, output_names, oversize

SERVICER = "modelport.serve.proto.open_inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server"


class ModelReplica:
    """One replica of one model: loads its own copy of the file (ONNX Runtime or LiteRT, `threads` threads) and runs
    requests, batched along the first axis when the model's batch axis is dynamic."""

    def __init__(self, name: str, source: str, threads: int, max_batch: int, batch_wait_s: float,
                 allow_unverified: bool = False) -> None:
        from modelport.serve.quiet import quiet_servers
        from modelport.serve.served import load_version

        quiet_servers(False)
        self.name = name
        # checked again here: a config written earlier may be deployed after its file was replaced
        self.version = load_version(source, threads=threads, allow_unverified=allow_unverified, notes=[])
        inputs = self.version.runtime.inputs
        self.batching = max_batch > 1 and bool(inputs) and all(t.shape and t.shape[0] == -1 for t in inputs)
        self.joined = 0  # runs that served more than one request (what batching saved)
        if self.batching:
            from ray import serve

            self._batched = serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=batch_wait_s,
                                        batch_size_fn=lambda feeds: sum(_rows(f) for f in feeds))(self._run_many)

    def metadata(self) -> dict[str, Any]:
        meta = self.version.metadata(self.name)
        meta["parameters"] |= {"modelport.batching": str(self.batching).lower(),
                               "modelport.replica_joined_runs": str(self.joined)}
        return meta

    async def infer(self, feed: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.batching:
            values = await self._batched(feed)
        else:
            values = await asyncio.to_thread(self.version.runtime.run, feed)
        return values, self.version.number

    async def _run_many(self, feeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Requests whose non-batch sizes agree run as one batch; each gets its own rows back."""
        import numpy as np

        results: list[Any] = [None] * len(feeds)
        groups: dict[tuple, list[int]] = {}
        for i, feed in enumerate(feeds):
            groups.setdefault(tuple((k, v.shape[1:], str(v.dtype)) for k, v in feed.items()), []).append(i)
        for members in groups.values():
            joined = {k: np.concatenate([feeds[i][k] for i in members]) for k in feeds[members[0]]}
            self.joined += len(members) > 1
            try:
                values = await asyncio.to_thread(self.version.runtime.run, joined)
            except Exception as exc:  # one bad request must not fail its neighbours: run each alone
                if len(members) == 1:
                    results[members[0]] = exc
                    continue
                for i in members:
                    try:
                        results[i] = await asyncio.to_thread(self.version.runtime.run, feeds[i])
                    except Exception as alone:
                        results[i] = alone
                continue
            total, start = len(joined[next(iter(joined))]), 0
            for i in members:
                rows = _rows(feeds[i])
                results[i] = {k: (v[start:start + rows] if np.ndim(v) and len(v) == total else v)
                              for k, v in values.items()}
                start += rows
        return [r if not isinstance(r, Exception) else _Raised(r) for r in results]


class Unavailable(RuntimeError):
    """Not the caller's fault and not lasting: 503 / UNAVAILABLE, which clients retry."""


def _plain(exc: BaseException) -> str:
    """One line without Ray's colour codes and actor dumps."""
    import re

    cause = getattr(exc, "cause", None) or exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:160]}" if text else type(cause).__name__


class _Raised:
    """An exception carried back through the batch (serve.batch hands each caller its own item)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _rows(feed: dict[str, Any]) -> int:
    first = next(iter(feed.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def ingress_class(max_request_bytes: int):
    """The ingress deployment's class: REST routes on a FastAPI app, gRPC methods by name."""
    import grpc
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    from ray import serve

    from modelport.serve import codec
    from modelport.serve.proto import open_inference_pb2 as pb
    from modelport.serve.served import metadata_json

    app = FastAPI(docs_url=None, redoc_url=None)

    def reply(data, status: int = 200, headers=None) -> Response:
        import json

        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return Response(body, status_code=status, headers=headers, media_type=None if headers else "application/json")

    @serve.ingress(app)
    class Ingress:
        def __init__(self, handles: dict[str, Any]) -> None:
            self.handles = handles
            self.metas: dict[str, dict] = {}

        async def meta(self, name: str) -> dict | None:
            if name not in self.handles:
                return None
            if name not in self.metas:
                self.metas[name] = await self.handles[name].metadata.remote()
            return self.metas[name]

        async def run(self, name: str, decode) -> tuple[Any, dict, str]:
            meta = await self.meta(name)
            request = decode(meta["inputs"])
            wanted = output_names(request.outputs, meta["outputs"])
            handle = self.handles[name]
            try:
                values, version = await handle.infer.remote(request.inputs)
            except BadRequest:
                raise
            except Exception as exc:  # the replica died under the request (Ray starts another): retry-able
                raise Unavailable(f"the replica running {name} failed ({_plain(exc)}); retry the request") from None
            if isinstance(values, _Raised):
                raise values.exc
            return request, {n: values[n] for n in wanted}, version

        @app.get("/v2/health/live")
        async def live(self):
            return {"live": True}

        @app.get("/v2/health/ready")
        async def ready(self):
            return {"ready": True}

        @app.get("/v2/models/{name}")
        async def model_metadata(self, name: str):
            if name not in self.handles:
                return reply({"error": f"Model with name {name} does not exist."}, 404)
            return metadata_json(await self.handles[name].metadata.remote())  # fresh: a replica's counters

        @app.get("/v2/models/{name}/ready")
        async def model_ready(self, name: str):
            if name not in self.handles:
                return reply({"error": f"Model with name {name} does not exist."}, 404)
            return {"name": name, "ready": True}

        @app.post("/v2/models/{name}/infer")
        async def infer(self, name: str, request: Request):
            if name not in self.handles:
                return reply({"error": f"Model with name {name} does not exist."}, 404)
            too_big = oversize(request.headers.get("content-length", ""), max_request_bytes)
            if too_big:
                return reply({"error": too_big}, 413)
            body = await request.body()
            headers = dict(request.headers)
            try:
                parsed, values, version = await self.run(name, lambda specs: codec.decode_rest(body, headers, specs))
            except BadRequest as exc:
                return reply({"error": str(exc)}, 400)
            except Unavailable as exc:
                return reply({"error": str(exc)}, 503)
            data, extra = codec.encode_rest(parsed, name, version, values)
            return reply(data, 200, extra)

        # gRPC: Ray's proxy calls the method named like the rpc
        async def ServerLive(self, request):
            return pb.ServerLiveResponse(live=True)

        async def ServerReady(self, request):
            return pb.ServerReadyResponse(ready=True)

        async def ServerMetadata(self, request):
            from modelport import __version__

            return pb.ServerMetadataResponse(name="modelport", version=__version__, extensions=[])

        async def ModelReady(self, request, grpc_context):
            if request.name not in self.handles:
                return _abort(grpc_context, grpc.StatusCode.NOT_FOUND, f"model {request.name} does not exist",
                              pb.ModelReadyResponse())
            return pb.ModelReadyResponse(ready=True)

        async def ModelMetadata(self, request, grpc_context):
            meta = await self.meta(request.name)
            if meta is None:
                return _abort(grpc_context, grpc.StatusCode.NOT_FOUND, f"model {request.name} does not exist",
                              pb.ModelMetadataResponse())
            tensors = pb.ModelMetadataResponse.TensorMetadata
            return pb.ModelMetadataResponse(name=request.name, versions=meta["versions"], platform=meta["platform"],
                                            inputs=[tensors(**t.to_dict()) for t in meta["inputs"]],
                                            outputs=[tensors(**t.to_dict()) for t in meta["outputs"]])

        async def ModelInfer(self, request, grpc_context):
            name = request.model_name
            if name not in self.handles:
                return _abort(grpc_context, grpc.StatusCode.NOT_FOUND, f"model {name} does not exist",
                              pb.ModelInferResponse())
            try:
                parsed, values, version = await self.run(name, lambda specs: codec.decode_grpc(request, specs))
            except BadRequest as exc:
                return _abort(grpc_context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), pb.ModelInferResponse())
            except Unavailable as exc:
                return _abort(grpc_context, grpc.StatusCode.UNAVAILABLE, str(exc), pb.ModelInferResponse())
            return codec.encode_grpc(pb.ModelInferResponse(), parsed, name, version, values)

    return Ingress


def _abort(context, code, details: str, empty):
    context.set_code(code)
    context.set_details(details)
    return empty


def build(args: dict[str, Any]):
    """The application: `args` = {"models": [{"name", "source"}], "replicas" | "min_replicas"/"max_replicas",
    "replica_cpus", "max_batch", "batch_wait_ms", "max_request_mb", "allow_unverified"}."""
    from ray import serve

    cpus = float(args.get("replica_cpus", 1))
    options: dict[str, Any] = {"ray_actor_options": {"num_cpus": cpus},
                               "max_ongoing_requests": max(8, 2 * int(args.get("max_batch", 8)))}
    if args.get("env"):  # --require-signature (MODELPORT_REQUIRE_SIGNATURE): each replica checks what it loads
        options["ray_actor_options"]["runtime_env"] = {"env_vars": dict(args["env"])}
    if args.get("max_replicas"):
        options["autoscaling_config"] = {"min_replicas": int(args.get("min_replicas", 1)),
                                         "max_replicas": int(args["max_replicas"]), "target_ongoing_requests": 2}
    else:
        options["num_replicas"] = int(args.get("replicas", 1))
    handles = {}
    for m in args["models"]:
        deployment = serve.deployment(ModelReplica, name=f"model-{m['name']}", **options)
        handles[m["name"]] = deployment.bind(m["name"], m["source"], max(1, int(cpus)), int(args.get("max_batch", 8)),
                                             float(args.get("batch_wait_ms", 5)) / 1000,
                                             bool(args.get("allow_unverified", False)))
    limit = int(float(args.get("max_request_mb", 64)) * 1024 * 1024)
    ingress = serve.deployment(ingress_class(limit), name="ingress", num_replicas=1,
                               ray_actor_options={"num_cpus": 0})
    return ingress.bind(handles)
