from __future__ import annotations

import json
from pathlib import Path

from modelport.cli.routes import markdown
from modelport.core.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


def test_routes_doc_is_up_to_date():
    assert (ROOT / "docs" / "routes.md").read_text() == markdown(load_registry()), (
        "docs/routes.md is stale: run `modelport routes --markdown > docs/routes.md`")


def test_routes_json(cli):
    code, stdout, _ = cli("routes", "--json", "-")
    assert code == 0
    data = json.loads(stdout)
    torch_chain = [r["route"] for r in data["routes"] if r["source"] == "torch.export" and r["target"] == "onnx"]
    assert torch_chain == ["torch-dynamo", "hf-dynamo-patched", "torch-torchscript"]
    assert all({"extra", "installed", "order"} <= set(r) for r in data["routes"])
    assert data["broken"] == []


def test_routes_table(cli):
    code, stdout, _ = cli("routes")
    assert code == 0 and "keras-torch-dynamo" in stdout and "sklearn-skl2onnx" in stdout
