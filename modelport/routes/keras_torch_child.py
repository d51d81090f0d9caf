"""Child process of the keras-torch-dynamo route. Reads a JSON job on stdin, writes the ONNX file,
prints one JSON line of versions on stdout. KERAS_BACKEND=torch is set by the parent."""

from __future__ import annotations

import json
import sys


def main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        import logging
        import warnings

        warnings.simplefilter("ignore")
        for name in ("torch.onnx", "torch.export", "onnxscript"):
            logging.getLogger(name).setLevel(logging.ERROR)
        import keras
        import torch
        from torch.export import Dim

        from modelport.frameworks.keras.outputs import flatten_outputs
        from modelport.loaders import import_user_code

        import_user_code(job.get("imports") or [], trust=True)  # the parent already required --trust

        model = keras.saving.load_model(job["model"], compile=False, safe_mode=False)
        specs = job["inputs"]
        struct = getattr(model, "_inputs_struct", None)
        hints = getattr(model, "output_names", None)

        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = model

            def forward(self, *xs):
                if isinstance(struct, dict):
                    by_name = {s["name"]: x for s, x in zip(specs, xs)}
                    arranged = {k: by_name.get(getattr(v, "name", k), by_name.get(k)) for k, v in struct.items()}
                else:
                    arranged = xs[0] if len(xs) == 1 else list(xs)
                return tuple(flatten_outputs(self.inner(arranged, training=False), hints)[1])

        examples, shapes, dims = [], [], {}
        for s in specs:
            shape = [d if isinstance(d, int) else (2 if i == 0 else 8) for i, d in enumerate(s["shape"])]
            dtype = getattr(torch, s["dtype"])
            examples.append(torch.randn(*shape).to(dtype) if dtype.is_floating_point
                            else torch.randint(0, 2, shape, dtype=dtype))
            axes = {}
            for i, d in enumerate(s["shape"]):
                if not isinstance(d, int):
                    key = str(d) if d else f"{s['name']}_dim{i}"
                    axes[i] = dims.setdefault(key, Dim(key.replace(".", "_")))
            shapes.append(axes or None)
        wrapper = Wrapper().eval()
        with torch.no_grad():
            wrapper(*examples)  # build the model once before exporting (RECIPES)
            kwargs = {"opset_version": job["opset"]} if job["opset"] else {}
            program = torch.onnx.export(
                wrapper, tuple(examples), dynamo=True, input_names=[s["name"] for s in specs],
                output_names=job["outputs"], dynamic_shapes=(tuple(shapes),), **kwargs)
        program.save(job["out"], external_data=True)  # see torch_onnx.save_program
        print(json.dumps({"torch": torch.__version__, "keras": keras.__version__}))
        return 0
    except Exception as exc:
        text = str(exc).strip().splitlines()
        sys.stderr.write(f"MODELPORT_ERROR {type(exc).__name__}: {text[0][:300] if text else ''}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
