"""Figures for compress / optimize / bench targets (prints; asserts nothing).

1. A conv net trained on scikit-learn's digits: `compress --method auto` size, ORT latency (batch 32, one
   thread) and top-1 accuracy against fp32 ONNX (targets: <= 0.30x, <= 0.75x, <= 1 pt loss).
2. A trained LSTM classifier on digits rows (8 steps x 8 features): auto must pick dynamic int8
   (targets: <= 0.30x size, >= 99% label agreement).
3. `optimize` on MobileNetV2 exported from Keras: node count against plain onnxslim, size ratio, latency
   ratio over 50 runs (targets: <= onnxslim's nodes, <= 1.5x size, <= 1.02x latency).
4. ORT against PyTorch eager and Keras on the same models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms  # noqa: E402  (sets up paths and environment)


def p50(fn, runs=100) -> float:
    return median_ms(fn, runs, 10)

def train_cnn(tmp: Path):
    import torch

    import modelport
    from tests.builders import _train, digits

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(64, 128, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(128, 10))
    x, y = digits("train")
    _train(model, x, y, epochs=15, reshape=(-1, 1, 8, 8))
    pt2 = tmp / "cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(2, 1, 8, 8),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), str(pt2))
    modelport.convert(pt2, tmp / "cnn.onnx", force=True)
    return model, tmp / "cnn.onnx"


def train_lstm(tmp: Path):
    import torch

    import modelport
    from tests.builders import digits

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 128, batch_first=True)
            self.head = torch.nn.Linear(128, 10)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.head(y[:, -1])

    torch.manual_seed(0)
    model = Net()
    x, y = digits("train")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x.reshape(-1, 8, 8)), torch.from_numpy(y)
    for _ in range(15):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    model.eval()
    pt2 = tmp / "lstm.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(2, 8, 8),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), str(pt2))
    modelport.convert(pt2, tmp / "lstm.onnx", force=True)
    return model, tmp / "lstm.onnx"


def main() -> None:
    import numpy as np
    import torch

    import modelport
    from modelport.runtimes.onnx.model import OnnxModel
    from tests.builders import digits

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="modelport-cbench-"))
    xtr, _ = digits("train")
    xte, yte = digits("test")

    print("== compress --method auto")
    for name, trainer, shape in (("conv net (digits)", train_cnn, (-1, 1, 8, 8)),
                                 ("LSTM (digits rows)", train_lstm, (-1, 8, 8))):
        torch_model, onnx_path = trainer(tmp)
        calib, data = tmp / f"{onnx_path.stem}_calib.npz", tmp / f"{onnx_path.stem}_test.npz"
        np.savez(calib, input=xtr.reshape(shape)[:512])
        np.savez(data, input=xte.reshape(shape), labels=yte)
        r = modelport.compress(onnx_path, tmp / f"{onnx_path.stem}.auto.onnx", calibration=calib, data=data, force=True,
                         runs=50)
        d = r.details
        agree = next((o.label_agreement for o in r.verification.outputs if o.label_agreement is not None), None)
        x32 = xte.reshape(shape)[:32]
        fp32, q8 = OnnxModel(onnx_path, threads=1), OnnxModel(r.output, threads=1)
        t32 = p50(lambda m=fp32, x=x32: m.run({"input": x}))
        q32 = p50(lambda m=q8, x=x32: m.run({"input": x}))
        with torch.no_grad():
            te = p50(lambda m=torch_model, x=x32: m(torch.from_numpy(x)))
        print(f"{name:20} picked {d['method']:13} ({d['auto_reason']}); size {d['size_ratio']:.2f}x; "
              f"latency b32 {q32 / t32:.2f}x ({q32:.3f} vs {t32:.3f} ms); top-1 {d['before']['accuracy']:.2%} -> "
              f"{d['after']['accuracy']:.2%} ({d['accuracy_delta_pt']:+.2f} pt); label agreement {agree:.2%}; "
              f"ORT fp32 vs PyTorch eager b32: {te / t32:.2f}x faster")
        for c in d["candidates"]:
            print(f"    candidate {c['method']:13} size {c['size_bytes']:,} B  p50(b1-16) {c['p50_ms']:.3f} ms  "
                  f"passed {c['passed']}  accuracy {c['accuracy']}")

    print("== optimize on MobileNetV2 (Keras, 96x96, random weights)")
    import keras
    import onnx
    import onnxslim

    keras.utils.set_random_seed(0)
    mnet = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
    mnet.save(str(tmp / "mnet.keras"))
    modelport.convert(tmp / "mnet.keras", tmp / "mnet.onnx", force=True)
    r = modelport.optimize(tmp / "mnet.onnx", tmp / "mnet.opt.onnx", force=True, runs=50)
    plain = onnxslim.slim(onnx.load(str(tmp / "mnet.onnx")))
    d = r.details
    print(f"nodes {d['before']['nodes']} -> {d['after']['nodes']} (plain onnxslim: {len(plain.graph.node)}); "
          f"size {d['size_ratio']:.2f}x; latency {d['latency_ratio']:.2f}x; verified {r.ok}")
    xk = np.random.default_rng(0).standard_normal((1, 96, 96, 3)).astype(np.float32)
    ort_m = OnnxModel(tmp / "mnet.opt.onnx", threads=1)
    t_ort = p50(lambda: ort_m.run({ort_m.inputs[0].name: xk}), 50)
    t_keras = p50(lambda: mnet(xk, training=False), 50)
    print(f"ORT vs Keras (MobileNetV2 b1): {t_keras / t_ort:.2f}x faster ({t_ort:.2f} vs {t_keras:.2f} ms)")


if __name__ == "__main__":
    main()
