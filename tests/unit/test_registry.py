from __future__ import annotations

import pytest

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.registry import Registry, Step, load_registry


def _step(name, order, source=(Format.KERAS,), target=Format.ONNX, requires=()):
    cls = type(name, (Step,), {"name": name, "order": order, "source": source, "target": target,
                               "requires": requires})
    return cls()


def test_chain_order_and_pairs():
    reg = Registry([_step("b", 20), _step("a", 10), _step("t", 5, source=(Format.TORCH_EXPORT,))])
    assert [s.name for s in reg.chain(Format.KERAS, Format.ONNX)] == ["a", "b"]
    assert [s.name for s in reg.find(Format.KERAS, Format.ONNX, route="b")] == ["b"]


def test_duplicate_names_raise():
    with pytest.raises(ValueError, match="duplicate"):
        Registry([_step("a", 1), _step("a", 2)])


def test_no_route_lists_what_exists():
    reg = Registry([_step("a", 10)])
    with pytest.raises(UnsupportedError) as info:
        reg.find(Format.SKLEARN_SKOPS, Format.ONNX)
    assert "keras -> onnx" in info.value.hint
    with pytest.raises(UnsupportedError, match="converts keras"):
        reg.find(Format.TORCH_EXPORT, Format.ONNX, route="a")
    with pytest.raises(UnsupportedError, match="no route named"):
        reg.find(Format.KERAS, Format.ONNX, route="zzz")


def test_missing_requirement_is_reported_without_import():
    assert _step("x", 1, requires=("surely_not_installed_pkg",)).missing() == "surely_not_installed_pkg"
    assert _step("y", 1, requires=("json",)).missing() is None


def test_builtin_steps_come_from_entry_points():
    reg = load_registry()
    assert not reg.broken, reg.broken
    names = [s.name for s in reg.chain(Format.TORCH_EXPORT, Format.ONNX)]
    assert names == ["torch-dynamo", "hf-dynamo-patched", "torch-torchscript"]  # the middle one: transformers ops
    keras = [s.name for s in reg.chain(Format.KERAS, Format.ONNX)]
    assert keras == ["keras-tf2onnx-keras", "keras-tf2onnx-function", "keras-tf2onnx-savedmodel", "keras-torch-dynamo"]


def test_broken_plugin_is_listed_not_fatal(monkeypatch):
    import importlib.metadata as md

    real = md.entry_points

    class Fake:
        name = "broken-plugin"
        value = "nowhere:Nothing"

        def load(self):
            raise ImportError("No module named 'nowhere'")

    def fake_entry_points(group=None, **kw):
        eps = list(real(group=group, **kw))
        return eps + [Fake()]

    monkeypatch.setattr(md, "entry_points", fake_entry_points)
    load_registry.cache_clear()
    try:
        reg = load_registry()
    finally:
        load_registry.cache_clear()
    assert [b.name for b in reg.broken] == ["broken-plugin"]
    assert "nowhere" in reg.broken[0].reason


def test_the_python_api_names_commands_even_after_their_namesake_packages_load():
    """modelport.verify and modelport.fuse are also packages: importing them bound the module over the command."""
    import modelport
    import modelport.fuse.base  # noqa: F401
    import modelport.verify.check  # noqa: F401
    from modelport.commands.fuse import fuse
    from modelport.commands.verify import verify

    assert modelport.verify is verify and modelport.fuse is fuse
    from modelport import verify as imported

    assert imported is verify
