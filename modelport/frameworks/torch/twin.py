"""The float64 twin of a PyTorch model: a deep copy moved to float64 (`.double()`; dtype constants in an exported
graph are switched too)."""

from __future__ import annotations

import copy

import numpy as np

from modelport.core.model import Model
from modelport.core.twin import Twin


def torch_twin(tm) -> Model:
    import torch

    from modelport.frameworks.torch.outputs import tensors

    module = copy.deepcopy(tm.module)
    if isinstance(module, torch.fx.GraphModule):  # dtype constants baked into an exported graph
        for node in module.graph.nodes:
            if node.kwargs.get("dtype") in (torch.float32, torch.float16, torch.bfloat16):
                node.kwargs = {**node.kwargs, "dtype": torch.float64}
        module.recompile()
    module = module.double()

    def call(arrays):
        args, kwargs = tm.split_args([torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
        with torch.no_grad():
            return [t.detach().numpy() for t in tensors(module(*args, **kwargs))]

    return Twin(tm, call, "module.double()")
