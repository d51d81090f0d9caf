"""The KServe engine: KServe's data plane, model class, v2 REST endpoints and gRPC servicer, bound where the user
says (KServe's own `ModelServer` listens on 0.0.0.0 and [::] whatever it is told).

modelport adds only what a served, verified model owes its callers on top of KServe: metadata with the version and
provenance, a decode step where every malformed request is a 400 / INVALID_ARGUMENT rather than KServe's 500 or
FastAPI's 422, a request size limit (413), and a graceful stop (SIGTERM drains requests in flight).
"""

import asyncio
import signal
import uuid
from typing import TYPE_CHECKING, Any

from modelport.core.errors import one_line
from modelport.serve.tensors import BadRequest, check_array, check_header, data_error, output_names, oversize

if TYPE_CHECKING:
    from modelport.serve.served import Served

DRAIN_BYTES = 64 * 1024 * 1024  # a body over the limit by at most this much is read (and dropped) before the 413


def import_kserve():
    """kserve, imported without it reading this process's command line (its module parses sys.argv)."""
    import sys

    from modelport.core.errors import require

    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        return require("kserve", "serve", "serve models over the Open Inference Protocol")
    finally:
        sys.argv = argv


def model_class():
    kserve = import_kserve()
    import numpy as np
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferResponse
    from kserve.utils.numpy_codec import from_np_dtype

    class OipModel(kserve.Model):
        """One served name. Each request runs on the version current when it arrived (a swap never cuts it)."""

        def __init__(self, served: "Served") -> None:
            super().__init__(served.name)
            self.served = served
            self.ready = True

        def load(self) -> bool:
            self.ready = True
            return True

        def get_input_types(self) -> list[dict[str, Any]]:
            return [t.to_dict() for t in self.served.current.runtime.inputs]

        def get_output_types(self) -> list[dict[str, Any]]:
            return [t.to_dict() for t in self.served.current.runtime.outputs]

        async def predict(self, payload, headers=None, response_headers=None):
            version = self.served.current
            runtime = version.runtime
            try:
                feed = decode(payload, runtime.inputs)
                wanted = output_names([o.name for o in payload.request_outputs or []], runtime.outputs)
                loop = asyncio.get_running_loop()
                values = await loop.run_in_executor(None, runtime.run, feed)
            except BadRequest as exc:
                raise InvalidInput(str(exc)) from None
            outputs = []
            for name in wanted:
                array = np.asarray(values[name])
                if array.dtype.kind in "USO":
                    array = np.array([str(v).encode() for v in array.reshape(-1)], dtype=object).reshape(array.shape)
                out = InferOutput(name=name, shape=list(array.shape), datatype=from_np_dtype(array.dtype))
                out.set_data_from_numpy(array, binary_data=payload.use_binary_outputs)
                outputs.append(out)
            return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                                 model_version=version.number, infer_outputs=outputs, from_grpc=payload.from_grpc,
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)

    return OipModel


def decode(payload, specs) -> dict[str, Any]:
    """A KServe InferRequest's inputs checked against the model and decoded to arrays (BadRequest otherwise)."""
    check_header([(i.name, i.datatype, list(i.shape)) for i in payload.inputs], specs)
    wanted = {s.name: s for s in specs}
    feed = {}
    for item in payload.inputs:
        try:
            array = item.as_numpy()
        except Exception as exc:
            raise data_error(item.name, item.datatype, item.shape, exc) from None
        feed[item.name] = check_array(item.name, array, wanted[item.name])
    return feed


def rest_app(models: "dict[str, Served]", dataplane, extension, max_request_bytes: int):
    """KServe's v2 REST endpoints behind modelport's metadata, infer decode and size limit."""
    import orjson
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from kserve import errors
    from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
    from kserve.protocol.infer_type import InferRequest
    from kserve.protocol.rest.v2_datamodels import InferenceRequest
    from kserve.protocol.rest.v2_endpoints import register_v2_endpoints

    app = FastAPI(title="modelport", docs_url=None, redoc_url=None)

    def find(name: str, version: str | None = None) -> "Served":
        served = models.get(name)
        if served is None:
            raise errors.ModelNotFound(name)
        if version is not None and version != served.current.number:
            raise errors.ModelNotFound(f"{name} version {version} (serving version {served.current.number})")
        return served

    @app.middleware("http")
    async def limit_size(request: Request, call_next):
        too_big = oversize(request.headers.get("content-length", ""), max_request_bytes)
        if too_big:
            if int(request.headers["content-length"]) <= max_request_bytes + DRAIN_BYTES:  # read and drop it:
                async for _ in request.stream():  # the client then reads the 413, not a broken pipe
                    pass
            return json_response({"error": too_big}, status_code=413)
        return await call_next(request)

    async def metadata(model_name: str, model_version: str | None = None):
        from modelport.serve.served import metadata_json

        served = find(model_name, model_version)
        return metadata_json(served.current.metadata(served.name))

    async def infer(request: Request, model_name: str, model_version: str | None = None):
        find(model_name, model_version)
        body = await request.body()
        headers = dict(request.headers)
        try:
            if INFERENCE_CONTENT_LENGTH_HEADER in headers:
                parsed = from_binary(body, int(headers[INFERENCE_CONTENT_LENGTH_HEADER]), model_name)
            else:
                parsed = InferRequest.from_inference_request(InferenceRequest.model_validate(orjson.loads(body)),
                                                             model_name)
        except errors.InvalidInput:
            raise
        except Exception as exc:
            raise errors.InvalidInput(f"malformed inference request: {_reason(exc)}") from None
        response, _ = await dataplane.infer(model_name=model_name, request=parsed, headers=headers)
        response, extra = dataplane.encode(model_name=model_name, response=response, headers=headers,
                                           req_attributes={})
        if isinstance(response, bytes):
            return Response(content=response, headers=extra, media_type="application/octet-stream")
        return json_response(response)

    for path in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}"):
        app.add_api_route(path, metadata, methods=["GET"])
    for path in ("/v2/models/{model_name}/infer", "/v2/models/{model_name}/versions/{model_version}/infer"):
        app.add_api_route(path, infer, methods=["POST"])
    register_v2_endpoints(app, dataplane, extension)

    async def bad_request(_, exc):
        return json_response({"error": f"malformed request: {_reason(exc)}"}, status_code=400)

    app.add_exception_handler(RequestValidationError, bad_request)
    for kind, status in ((errors.InvalidInput, 400), (errors.ModelNotFound, 404), (errors.ModelNotReady, 503),
                         (errors.InferenceError, 500), (NotImplementedError, 501)):
        app.add_exception_handler(kind, _handler(status))
    app.add_exception_handler(Exception, _handler(500, internal=True))
    return app


def from_binary(body: bytes, json_length: int, model_name: str):
    """A request with the binary tensor extension, its tensors kept as the raw bytes they came in. (KServe's own
    `InferRequest.from_bytes` turns each into a Python list and back: +45 ms for one 224x224 image.)"""
    import orjson
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

    doc = orjson.loads(body[:json_length])
    inputs, at = [], json_length
    for item in doc["inputs"]:
        params = item.get("parameters") or {}
        tensor = InferInput(name=item["name"], shape=item["shape"], datatype=item["datatype"], parameters=params)
        if "binary_data_size" in params:
            size = int(params["binary_data_size"])
            tensor._raw_data = body[at:at + size]
            at += size
        elif "data" in item:
            tensor.data = item["data"]
        else:
            raise InvalidInput(f"input '{item['name']}' has neither data nor binary_data_size")
        inputs.append(tensor)
    outputs = [RequestedOutput(name=o["name"], parameters=o.get("parameters")) for o in doc.get("outputs") or []]
    return InferRequest(model_name=model_name, infer_inputs=inputs, request_id=doc.get("id"),
                        parameters=doc.get("parameters"), request_outputs=outputs or None)


def _reason(exc: BaseException) -> str:
    if hasattr(exc, "errors"):  # pydantic: the first problem, with where it is
        try:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
            return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        except Exception:
            pass
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return one_line(exc)


def json_response(data, status_code: int = 200):
    import orjson
    from fastapi.responses import Response

    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status_code,
                    media_type="application/json")


def _handler(status: int, internal: bool = False):
    async def handle(_, exc):
        import logging

        from modelport.core.logs import debugging

        if internal or status >= 500:
            logging.getLogger("modelport.serve").error(f"request failed: {one_line(exc)}",
                                                       exc_info=exc if debugging() else None)
        message = f"internal error: {one_line(exc)}" if internal else str(exc)
        return json_response({"error": message}, status_code=status)

    return handle


def grpc_server(models: "dict[str, Served]", dataplane, extension, address: str, max_message: int):
    """KServe's gRPC servicer and interceptors on `address`, with metadata that says the version and a decode step
    where a malformed request is INVALID_ARGUMENT."""
    from grpc import aio
    from kserve.errors import InvalidInput, ModelNotFound
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.infer_type import InferRequest, InferResponse

    class Servicer(InferenceServicer):
        async def ModelMetadata(self, request, context):
            served = models.get(request.name)
            if served is None:
                raise ModelNotFound(request.name)
            version = served.current

            def tensors(items):
                return [pb.ModelMetadataResponse.TensorMetadata(**t.to_dict()) for t in items]

            return pb.ModelMetadataResponse(name=served.name, versions=[version.number],
                                            platform=version.runtime.platform,
                                            inputs=tensors(version.runtime.inputs),
                                            outputs=tensors(version.runtime.outputs))

        async def ModelInfer(self, request, context):
            if request.model_name not in models:
                raise ModelNotFound(request.model_name)
            try:
                self.validate_grpc_request(request)
                parsed = InferRequest.from_grpc(request)
            except InvalidInput:
                raise
            except Exception as exc:
                raise InvalidInput(f"malformed inference request: {_reason(exc)}") from None
            response, _ = await self._data_plane.infer(request=parsed, headers={}, model_name=request.model_name)
            return response.to_grpc() if isinstance(response, InferResponse) else response

    server = aio.server(interceptors=(ExceptionToStatusInterceptor(),),
                        options=[("grpc.max_send_message_length", max_message),
                                 ("grpc.max_receive_message_length", max_message),
                                 ("grpc.so_reuseport", 0)])
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(dataplane, extension), server)
    server.add_insecure_port(address)
    return server


def serve(served: "list[Served]", *, host: str, http_port: int, grpc_port: int | None, max_request_mb: float,
          on_ready, grace: float = 30.0, background=None) -> str:
    """Run until SIGTERM (drains, returns "term") or SIGINT (returns "interrupt"). `background(models)`: a
    coroutine run beside the servers (alias following)."""
    import_kserve()
    import uvicorn
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension

    repository = ModelRepository()
    oip = model_class()
    for s in served:
        repository.update(oip(s), s.name)
    dataplane = DataPlane(model_registry=repository)
    extension = ModelRepositoryExtension(model_registry=repository)
    models = {s.name: s for s in served}
    limit = int(max_request_mb * 1024 * 1024)
    app = rest_app(models, dataplane, extension, limit)

    class Server(uvicorn.Server):
        def capture_signals(self):  # modelport handles SIGTERM/SIGINT itself (drain, then the exit code)
            import contextlib

            return contextlib.nullcontext()

    config = uvicorn.Config(app, host=host, port=http_port, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=int(grace), loop="asyncio")
    rest = Server(config)

    async def main() -> str:
        loop = asyncio.get_running_loop()
        stop: asyncio.Future = loop.create_future()
        for sig, why in ((signal.SIGTERM, "term"), (signal.SIGINT, "interrupt")):
            loop.add_signal_handler(sig, lambda why=why: stop.done() or stop.set_result(why))
        grpc = None
        if grpc_port:
            grpc = grpc_server(models, dataplane, extension, f"{_grpc_host(host)}:{grpc_port}", limit)
            await grpc.start()
        task = asyncio.create_task(rest.serve())
        while not rest.started and not task.done():
            await asyncio.sleep(0.02)
        if task.done():  # uvicorn could not start (it logs why): a bind failure after the port check
            task.result()
            raise OSError(f"the HTTP server on {host}:{http_port} did not start")
        on_ready()
        extra = asyncio.create_task(background(models)) if background else None
        why = await stop
        if extra:
            extra.cancel()
        rest.should_exit = True
        if grpc:
            await grpc.stop(grace)
        await task
        return why

    return asyncio.run(main())


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
