"""--layout genai: the folder onnxruntime_genai.Model(DIR) loads. Its own greedy search (no hand-written loop)
matches transformers' generate() token for token; a folder whose check disagrees gets no genai_config.json."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.hf_zoo import save

pytestmark = [pytest.mark.slow, needs("torch", "transformers", "onnxruntime_genai")]


@pytest.mark.parametrize("name", ["llama", "qwen2", "phi", "gpt2"])
def test_genai_generates_like_transformers(tmp_path, cli, name):
    import onnxruntime_genai as og
    import torch

    folder = tmp_path / name
    model = save(name, folder)
    out = tmp_path / "genai"
    code, stdout, err = cli("convert", folder, "-o", f"{out}/", "--layout", "genai")
    assert code == 0, err
    assert "genai_config.json" in stdout and "greedy tokens equal" in stdout
    assert {"model.onnx", "genai_config.json", "config.json"} <= {p.name for p in out.iterdir()}
    prompt = np.random.default_rng(5).integers(3, 99, (1, 7)).astype(np.int64)
    with torch.no_grad():
        expected = model.generate(torch.from_numpy(prompt), attention_mask=torch.ones(1, 7, dtype=torch.int64),
                                  do_sample=False, num_beams=1, max_new_tokens=20, min_new_tokens=20)[0].tolist()
    genai = og.Model(str(out))
    params = og.GeneratorParams(genai)
    params.set_search_options(do_sample=False, max_length=27, min_length=27)
    generator = og.Generator(genai, params)
    generator.append_tokens(prompt)
    while not generator.is_done():
        generator.generate_next_token()
    got = [int(t) for t in generator.get_sequence(0)]
    assert len(set(expected[7:])) > 2  # a model repeating one token would prove little
    assert got == expected


def test_a_folder_whose_genai_tokens_disagree_gets_no_config_and_exit_1(tmp_path, cli, monkeypatch):
    """The check's other direction: ONNX Runtime's loop made to disagree (one token changed), the config is not
    written and the command exits 1; an encoder-decoder or a file output is refused (exit 2)."""
    import modelport
    from modelport.core.errors import VerificationRefused
    from modelport.runtimes.onnx.decoder import Decoder

    folder = tmp_path / "llama"
    save("llama", folder)
    real = Decoder.greedy
    monkeypatch.setattr(Decoder, "greedy", lambda *a: [t + 1 for t in real(*a)])
    with pytest.raises(VerificationRefused, match="greedy tokens"):
        modelport.convert(folder, f"{tmp_path / 'out'}/", layout="genai")
    assert not (tmp_path / "out" / "genai_config.json").exists()
    assert not list((tmp_path / "out").glob(".*"))
    assert cli("convert", folder, "-o", tmp_path / "m.onnx", "--layout", "genai")[0] == 2
