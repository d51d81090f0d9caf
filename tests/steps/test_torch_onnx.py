"""PyTorch -> ONNX: dynamo exporter and TorchScript exporter, on tiny real models."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.steps.roundtrip import batch_dim, onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("torch")]


@pytest.mark.parametrize("route", ["torch-dynamo", "torch-torchscript"])
def test_cnn_pt2_both_routes(models, tmp_path, route):
    import torch

    src = models("cnn_pt2")
    out = tmp_path / "cnn.onnx"
    round_trip(src, out, route=route)
    import onnx

    from modelport.core.onnx_files import locations

    assert not (tmp_path / "cnn.onnx.data").exists()  # the exporter's side file came back into the file
    assert not locations(onnx.load(str(out), load_external_data=False))
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    expected = torch.export.load(str(src)).module()(torch.from_numpy(x)).detach().numpy()
    got = ort_run(out, {"x": x} if "x" in onnx_io(out)[0] else {onnx_io(out)[0][0]: x})
    np.testing.assert_allclose(got["output"], expected, atol=1e-5)


@pytest.mark.parametrize("route", ["torch-dynamo", "torch-torchscript"])
def test_transformer_with_keyword_inputs_and_dict_output(models, tmp_path, route):
    import torch

    src = models("transformer_pt2")
    out = tmp_path / "enc.onnx"
    report = round_trip(src, out, route=route)
    ins, outs = onnx_io(out)
    assert ins == ["input_ids", "attention_mask"]
    assert outs == ["last_hidden_state", "logits"]
    assert [o.name for o in report.verification.outputs] == ["last_hidden_state", "logits"]
    ids = np.random.default_rng(2).integers(0, 50, (2, 12)).astype(np.int64)
    mask = np.ones((2, 12), dtype=np.int64)
    mask[1, 8:] = 0
    ref = torch.export.load(str(src)).module()(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    got = ort_run(out, {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(got["logits"], ref["logits"].detach().numpy(), atol=1e-4)


def test_torchscript_needs_input_and_converts(models, tmp_path, cli):
    src = models("mlp_ts")
    code, _, err = cli("convert", src, "-o", tmp_path / "a.onnx")
    assert code == 2 and "--input" in err
    assert not (tmp_path / "a.onnx").exists()
    out = tmp_path / "mlp.onnx"
    report = round_trip(src, out, inputs=["x:1,6"])
    assert report.route == "torch-torchscript"
    assert [a.route for a in report.attempts] == ["torch-torchscript"]  # dynamo cannot trace ScriptModules
    assert batch_dim(out) == "batch"
    x = np.random.default_rng(3).standard_normal((7, 6)).astype(np.float32)  # batch 7: dynamic batch works
    import torch

    expected = torch.jit.load(str(src))(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ort_run(out, {"x": x})["output"], expected, atol=1e-5)


def test_lstm_factory_dynamic_batch(models, tmp_path):
    import torch

    factory = models("factory")
    out = tmp_path / "lstm.onnx"
    report = round_trip(f"{factory}:lstm", out, inputs=["x:1,5,4"], trust=True)
    assert report.verification.batch_sizes == [16, 1]
    assert batch_dim(out) == "batch"
    x = np.random.default_rng(4).standard_normal((9, 5, 4)).astype(np.float32)
    ns: dict = {}
    exec(factory.read_text(), ns)
    expected = ns["lstm"]()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ort_run(out, {"x": x})["output"], expected, atol=1e-5)


def test_static_freezes_batch(models, tmp_path):
    factory = models("factory")
    out = tmp_path / "static.onnx"
    round_trip(f"{factory}:lstm", out, inputs=["x:3,5,4"], trust=True, static=True)
    assert batch_dim(out) == 3


def test_chain_falls_back_when_the_first_route_fails(models, tmp_path):
    """torch.export cannot trace a data-dependent branch; the TorchScript exporter can."""
    factory = models("factory")
    out = tmp_path / "dd.onnx"
    report = round_trip(f"{factory}:data_dependent", out, inputs=["x:1,5"], trust=True)
    assert [(a.route, a.outcome) for a in report.attempts] == [("torch-dynamo", "error"),
                                                               ("torch-torchscript", "ok")]
    assert report.attempts[0].reason and "\n" not in report.attempts[0].reason
    assert report.route == "torch-torchscript"


def test_factory_needs_trust_and_a_module(models, tmp_path, cli):
    factory = models("factory")
    code, _, err = cli("convert", f"{factory}:lstm", "-o", tmp_path / "x.onnx", "--input", "x:1,5,4")
    assert code == 4 and "--trust" in err
    code, _, err = cli("convert", f"{factory}:not_a_module", "-o", tmp_path / "x.onnx", "--input", "x:1,5",
                       "--trust")
    assert code == 2 and "not a torch.nn.Module" in err
    assert not any(tmp_path.iterdir())


def test_pickled_module_needs_trust(models, tmp_path, cli):
    src = models("torch_pickle")
    code, _, err = cli("convert", src, "-o", tmp_path / "x.onnx", "--input", "x:1,3")
    assert code == 4 and "arbitrary code" in err
    out = tmp_path / "lin.onnx"
    round_trip(src, out, inputs=["x:1,3"], trust=True)


def test_weight_bytes_count_parameters_and_buffers_once():
    """What the TFLite size check reads: float32 parameters, BatchNorm's buffers (an int64 counter), a tied
    weight counted once."""
    import torch

    from modelport.core.formats import Format
    from modelport.frameworks.torch.model import TorchModel

    first, last = torch.nn.Linear(4, 8), torch.nn.Linear(8, 4)
    tied = torch.nn.Linear(4, 8)
    tied.weight = first.weight
    module = torch.nn.Sequential(first, torch.nn.BatchNorm1d(8), last, torch.nn.ReLU(), tied)
    expected = (4 * 8 + 8) * 4 + (8 + 8 + 8 + 8) * 4 + 8 + (8 * 4 + 4) * 4 + 8 * 4  # tied: its bias only
    assert TorchModel("m.py", Format.TORCH_PY, module=module, specs=[]).weight_bytes() == expected


def _big_mlp(path, width: int = 2048, layers: int = 5):
    """An MLP with 80 MB of float32 weights: above the size whose source is released during verification."""
    import torch

    torch.manual_seed(0)
    blocks = []
    for _ in range(layers):
        blocks += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    model = torch.nn.Sequential(torch.nn.Linear(8, width), *blocks, torch.nn.Linear(width, 3)).eval()
    program = torch.export.export(model, (torch.randn(2, 8),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
    torch.export.save(program, str(path))
    return model


def test_a_large_source_released_for_verification_is_read_again_when_needed(tmp_path, cli):
    """A source above 64 MB gets its reference outputs before the export and is dropped before the candidate's
    session opens. The conversion still verifies and computes what torch does; when every route mismatches
    (zero tolerance), the next route and --locate read the source again and do their work."""
    import json

    import torch

    from modelport.pipeline.attempt import RELEASE_ABOVE

    model = _big_mlp(tmp_path / "big.pt2")
    assert sum(p.numel() * 4 for p in model.parameters()) > RELEASE_ABOVE
    code, stdout, err = cli("convert", tmp_path / "big.pt2", "-o", tmp_path / "big.onnx", "--json", "-")
    assert code == 0, err
    x = np.random.default_rng(3).standard_normal((5, 8)).astype(np.float32)
    got = ort_run(tmp_path / "big.onnx", {onnx_io(tmp_path / "big.onnx")[0][0]: x})
    np.testing.assert_allclose(next(iter(got.values())), model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)

    code, stdout, _ = cli("convert", tmp_path / "big.pt2", "-o", tmp_path / "strict.onnx", "--atol", "0",
                          "--rtol", "0", "--no-noise-floor", "--locate", "--json", "-")
    report = json.loads(stdout)
    assert code == 1 and [a["outcome"] for a in report["attempts"]] == ["mismatch", "skipped", "mismatch"], report
    assert report["locate"]["first"] is not None, report["locate"]  # located against the source, read again
