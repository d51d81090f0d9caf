"""ExecuTorch targets (`-o model.pte`): each route both ways. A faithful program passes and equals PyTorch run
here (the program run directly by executorch.runtime); a program lowered from a copy whose largest weight is x1.01
fails verification against the original source."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.builders import scale_pt2_weight
from tests.conftest import needs

pytestmark = [pytest.mark.slow, needs("torch"),
              pytest.mark.skipif(importlib.util.find_spec("executorch") is None, reason="needs modelport[executorch]")]


def _et_run(path, arrays: list[np.ndarray]) -> list[np.ndarray]:
    import torch
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    return [o.numpy() for o in method.execute([torch.from_numpy(a) for a in arrays])]


def _inspected(cli, path, tmp_path) -> dict:
    code, _, err = cli("inspect", path, "--json", tmp_path / "inspect.json")
    assert code == 0, err
    return json.loads((tmp_path / "inspect.json").read_text())["model"]


def _both_ways(cli, src, out, tmp_path, *extra) -> dict:
    code, _, err = cli("convert", src, "-o", out, *extra)
    assert code == 0, err
    shown = _inspected(cli, out, tmp_path)
    assert shown["provenance"]["verification"] == "passed"
    bad_src = tmp_path / f"bad-{src.name}"
    scale_pt2_weight(src, bad_src)
    bad = tmp_path / f"bad-{out.name}"
    code, _, err = cli("convert", bad_src, "-o", bad, "--no-verify", *extra)
    assert code == 0, err
    code, _, err = cli("verify", src, bad)
    assert code == 1, err
    code, _, err = cli("verify", src, out)
    assert code == 0, err
    return shown


def test_cnn_and_dynamic_batch_classifier_to_executorch(models, tmp_path, cli):
    """A CNN exported at batch 2, and an iris classifier with a dynamic batch, run directly at 1 and 3."""
    import torch

    from tests.builders import iris

    for name, batches, make in (("cnn_pt2", (2,), lambda b: np.random.default_rng(b).normal(size=(b, 3, 16, 16))),
                                ("torch_iris", (1, 3), lambda b: iris()[0][:b])):
        src = models(name)
        out = tmp_path / f"{name}.pte"
        shown = _both_ways(cli, src, out, tmp_path)
        assert shown["provenance"]["route"] == "torch-executorch"
        assert shown["delegated_calls"] >= 1 and "delegate:XnnpackBackend" in shown["operators"], shown
        module = torch.export.load(str(src)).module()
        for batch in batches:
            x = make(batch).astype(np.float32)
            want = module(torch.from_numpy(x)).detach().numpy()
            np.testing.assert_allclose(_et_run(out, [x])[0], want, atol=1e-5, rtol=1e-4)


def test_encoder_with_keyword_inputs_and_dict_outputs(models, tmp_path, cli):
    import torch

    src = models("transformer_pt2")
    out = tmp_path / "encoder.pte"
    shown = _both_ways(cli, src, out, tmp_path)
    assert [o["name"] for o in shown["outputs"]] == ["last_hidden_state", "logits"]
    program = torch.export.load(str(src))
    args, kwargs = program.example_inputs
    want = program.module()(*args, **kwargs)
    got = _et_run(out, [t.numpy() for t in (*args, *kwargs.values())])
    np.testing.assert_allclose(got[1], want["logits"].detach().numpy(), atol=1e-5, rtol=1e-4)


def test_portable_route_without_delegation(models, tmp_path, cli):
    out = tmp_path / "iris.pte"
    code, said, err = cli("convert", models("torch_iris"), "-o", out, "--route", "torch-executorch-portable")
    assert code == 0, err
    assert "portable kernels" in said
    shown = _inspected(cli, out, tmp_path)
    assert shown["delegated_calls"] == 0 and shown["portable_kernels"] > 0, shown


def test_unsupported_and_unreadable(models, tmp_path, cli):
    code, _, err = cli("convert", models("mlp_ts"), "-o", tmp_path / "m.pte", "--input", "x:2,6")
    assert code == 3 and "no route converts torchscript to executorch" in err
    fake = tmp_path / "fake.pte"
    fake.write_bytes(b"\0" * 64)
    code, _, err = cli("inspect", fake)
    assert code == 2 and "not an ExecuTorch program" in err


OPS = '''
import torch


@torch.library.custom_op("mp::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@twice.register_fake
def _(x):
    return torch.empty_like(x)
'''


def test_an_operator_executorch_has_no_kernel_for_is_exit_3_naming_it(tmp_path, cli, monkeypatch):
    import sys

    import torch

    (tmp_path / "mp_ops.py").write_text(OPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    if not hasattr(torch.ops.mp, "twice"):
        __import__("mp_ops")

    class Twice(torch.nn.Module):
        def forward(self, x):
            return torch.ops.mp.twice(x) + 1

    src = tmp_path / "custom.pt2"
    torch.export.save(torch.export.export(Twice(), (torch.randn(2, 3),)), str(src))
    code, _, err = cli("convert", src, "-o", tmp_path / "c.pte", "--import", tmp_path / "mp_ops.py", "--trust")
    assert code == 3 and "no kernel for 'mp::twice'" in err, err
    assert not (tmp_path / "c.pte").exists()
    sys.modules.pop("mp_ops", None)


def test_factory_module_with_dynamic_batch(models, tmp_path, cli):
    """A file.py:factory LSTM: exported here with a bounded dynamic batch, run directly at 9 rows."""
    import torch

    factory = models("factory")
    out = tmp_path / "lstm.pte"
    code, _, err = cli("convert", f"{factory}:lstm", "-o", out, "--input", "x:1,5,4", "--trust")
    assert code == 0, err
    shown = _inspected(cli, out, tmp_path)
    assert shown["inputs"][0]["shape"][0] is None and shown["batch_capacity"] == 16, shown
    x = np.random.default_rng(4).standard_normal((9, 5, 4)).astype(np.float32)
    ns: dict = {}
    exec(factory.read_text(), ns)
    want = ns["lstm"]()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(_et_run(out, [x])[0], want, atol=1e-5, rtol=1e-4)


OUT_VARIANT_OPS = '''
import torch


def _twice_out(x, *, out):
    out.copy_(x * 2)
    return out


if not hasattr(torch.ops.mp2, "twice"):  # once per process (the test imports it, then --import does)
    lib = torch.library.Library("mp2", "FRAGMENT")
    lib.define("twice(Tensor x) -> Tensor")
    lib.define("twice.out(Tensor x, *, Tensor(a!) out) -> Tensor(a!)")
    lib.impl("twice", lambda x: x * 2, "CompositeExplicitAutograd")
    lib.impl("twice.out", _twice_out, "CompositeExplicitAutograd")
    lib.impl("twice", lambda x: torch.empty_like(x), "Meta")
    lib.impl("twice.out", lambda x, *, out: out, "Meta")
'''


def test_a_kernel_missing_from_the_runtime_at_load_time_is_named(tmp_path, cli, monkeypatch):
    """An operator with an out= variant lowers, but this runtime has no kernel for it: exit 3 naming it."""
    import sys

    import torch

    (tmp_path / "mp2_ops.py").write_text(OUT_VARIANT_OPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    if not hasattr(torch.ops.mp2, "twice"):
        __import__("mp2_ops")

    class Twice(torch.nn.Module):
        def forward(self, x):
            return torch.ops.mp2.twice(x) + 1

    src = tmp_path / "custom2.pt2"
    torch.export.save(torch.export.export(Twice(), (torch.randn(2, 3),)), str(src))
    code, _, err = cli("convert", src, "-o", tmp_path / "c.pte", "--import", tmp_path / "mp2_ops.py", "--trust")
    assert code == 3 and "no kernel for mp2::twice.out" in err, err
    assert not (tmp_path / "c.pte").exists()
    sys.modules.pop("mp2_ops", None)
