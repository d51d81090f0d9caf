"""A client of `modelport serve`, run in its own process as users' clients are (tritonclient.grpc and kserve
cannot share one process). Reads a JSON job on stdin, prints a JSON answer on stdout.

Job: {"http": "HOST:PORT", "grpc": "HOST:PORT", "calls": [call, ...]}; each call is one of
  {"do": "infer", "via": "http-json"|"http-binary"|"grpc"|"plain-json", "model": NAME,
   "inputs": {NAME: {"datatype": DT, "shape": [...], "data": flat list}}, "outputs": [NAME, ...] (optional)}
  {"do": "metadata", "via": "http"|"grpc", "model": NAME}
  {"do": "health", "via": "http"|"grpc"}
  {"do": "raw", "method": "GET"|"POST", "path": "/v2/...", "body": str, "headers": {...}}   (REST, any status)
  {"do": "grpc-raw", "model": NAME, "inputs": {...}}                                      (gRPC, any status)
  {"do": "loop", "via": ..., "model": ..., "inputs": ..., "count": N, "seconds": S, "until": FILE}
      (bounded: N calls, S seconds, or until FILE exists; "expect": {OUTPUT: flat values} checks each answer)
Every answer: {"ok": bool, ...}; a failed call gives {"ok": false, "status": ..., "error": ...}.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

import numpy as np

NUMPY = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
         "INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_, "BYTES": np.object_}


def array(spec):
    if spec["datatype"] == "BYTES":
        return np.array([s.encode() for s in spec["data"]], dtype=np.object_).reshape(spec["shape"])
    return np.array(spec["data"], dtype=NUMPY[spec["datatype"]]).reshape(spec["shape"])


def plain(value):
    value = np.asarray(value)
    if value.dtype == np.object_:
        return [v.decode() if isinstance(v, bytes) else v for v in value.reshape(-1).tolist()]
    return value.reshape(-1).tolist()


def infer(job, call):
    via, model = call["via"], call["model"]
    if via == "plain-json":
        body = {"inputs": [{"name": n, "datatype": s["datatype"], "shape": s["shape"], "data": s["data"]}
                           for n, s in call["inputs"].items()]}
        status, text = rest(job, "POST", f"/v2/models/{model}/infer", json.dumps(body), {})
        data = json.loads(text)
        if status != 200:
            return {"ok": False, "status": status, "error": data.get("error")}
        return {"ok": True, "version": data.get("model_version"),
                "outputs": {o["name"]: {"shape": o["shape"], "datatype": o["datatype"], "data": o["data"]}
                            for o in data["outputs"]}}
    if via == "grpc":
        import tritonclient.grpc as client

        conn = client.InferenceServerClient(job["grpc"])
    else:
        import tritonclient.http as client

        conn = client.InferenceServerClient(job["http"])
    binary = via != "http-json"
    inputs = []
    for name, spec in call["inputs"].items():
        item = client.InferInput(name, spec["shape"], spec["datatype"])
        if via == "grpc":
            item.set_data_from_numpy(array(spec))
        else:
            item.set_data_from_numpy(array(spec), binary_data=binary)
        inputs.append(item)
    outputs = None
    if call.get("outputs"):
        outputs = [client.InferRequestedOutput(n) if via == "grpc" else
                   client.InferRequestedOutput(n, binary_data=binary) for n in call["outputs"]]
    try:
        result = conn.infer(model, inputs, outputs=outputs)
    except Exception as exc:
        return {"ok": False, "status": getattr(exc, "status", lambda: None)(), "error": str(exc)}
    response = result.get_response()
    if not isinstance(response, dict):  # gRPC: a protobuf message
        from google.protobuf.json_format import MessageToDict

        response = MessageToDict(response)
    names = [o["name"] for o in response["outputs"]]
    return {"ok": True, "version": response.get("model_version", response.get("modelVersion")),
            "outputs": {n: {"shape": list(result.as_numpy(n).shape), "data": plain(result.as_numpy(n))} for n in names}}


def rest(job, method, path, body, headers):
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(f"http://{job['http']}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def metadata(job, call):
    if call["via"] == "grpc":
        import tritonclient.grpc as client

        return {"ok": True, "metadata": client.InferenceServerClient(job["grpc"]).get_model_metadata(
            call["model"], as_json=True)}
    import tritonclient.http as client

    return {"ok": True, "metadata": client.InferenceServerClient(job["http"]).get_model_metadata(call["model"])}


def health(job, call):
    if call["via"] == "grpc":
        import tritonclient.grpc as client

        conn = client.InferenceServerClient(job["grpc"])
    else:
        import tritonclient.http as client

        conn = client.InferenceServerClient(job["http"])
    return {"ok": True, "live": conn.is_server_live(), "ready": conn.is_server_ready()}


def grpc_raw(job, call):
    """A gRPC request built by hand (tritonclient checks some mistakes before sending)."""
    import grpc
    import tritonclient.grpc as client
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    del client
    request = service_pb2.ModelInferRequest(model_name=call["model"])
    for name, spec in call["inputs"].items():
        tensor = request.inputs.add(name=name, datatype=spec["datatype"], shape=spec["shape"])
        del tensor
        flat = np.array(spec["data"], dtype=NUMPY[spec["datatype"]])  # as declared, even when it does not fit
        request.raw_input_contents.append(flat.tobytes() if spec["datatype"] != "BYTES" else b"")
    with grpc.insecure_channel(job["grpc"]) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            stub.ModelInfer(request, timeout=30)
            return {"ok": True}
        except grpc.RpcError as exc:
            return {"ok": False, "status": exc.code().name, "error": exc.details()}


def loop(job, call):
    """Requests one after another until `count` are sent or `seconds` have passed: versions seen, failures."""
    import os

    deadline = time.monotonic() + call["seconds"]
    seen, failures, sent = [], [], 0
    until = call.get("until")  # a file the test creates when it has seen enough
    while sent < call["count"] and time.monotonic() < deadline and not (until and os.path.exists(until)):
        answer = infer(job, call)
        sent += 1
        if answer["ok"] and call.get("expect") and not all(
                np.allclose(np.asarray(answer["outputs"][k]["data"], np.float64), v, atol=call.get("atol", 1e-6))
                for k, v in call["expect"].items()):
            answer = {"ok": False, "error": "answer differs from the expected values (another request's rows?)"}
        if answer["ok"]:
            if not seen or seen[-1] != answer["version"]:
                seen.append(answer["version"])
        else:
            failures.append(answer.get("error"))
    return {"ok": not failures, "sent": sent, "versions": seen, "failures": failures[:5]}


def main():
    job = json.load(sys.stdin)
    answers = []
    for call in job["calls"]:
        do = call["do"]
        if do == "infer":
            answers.append(infer(job, call))
        elif do == "metadata":
            answers.append(metadata(job, call))
        elif do == "health":
            answers.append(health(job, call))
        elif do == "raw":
            status, text = rest(job, call.get("method", "POST"), call["path"], call.get("body", ""),
                                call.get("headers", {}))
            answers.append({"ok": status == 200, "status": status, "body": text})
        elif do == "grpc-raw":
            answers.append(grpc_raw(job, call))
        elif do == "loop":
            answers.append(loop(job, call))
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
