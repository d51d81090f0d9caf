"""`modelport serve`: verified ONNX and TFLite files over the Open Inference Protocol (KServe v2, REST and gRPC)
on KServe's server, and a Triton model repository writer. Nothing here imports a server until it runs."""
