"""Causal LMs as backbones: a tiny random Llama folder built here (the real SmolLM2 in one slow test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from headstart.backbones.causal import lm_head_weight
from headstart.backbones.registry import load_backbone
from headstart.backbones.text import is_causal
from headstart.errors import BackboneError


def tiny_llama_folder(folder: Path, *, tied: bool = True, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random LlamaForCausalLM saved with the MiniLM tokenizer (any tokenizer reads text)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from headstart.backbones.registry import _minilm_dir

    config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=tied,
                         pad_token_id=0, bos_token_id=101, eos_token_id=102)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(_minilm_dir()).save_pretrained(folder)
    return folder


@pytest.fixture
def llama(tmp_path: Path) -> Path:
    return tiny_llama_folder(tmp_path / "tiny-llama")


def test_a_causal_lm_folder_loads_as_a_last_token_backbone(llama):
    backbone = load_backbone(str(llama))
    assert is_causal(backbone.model.config)
    assert backbone.pooling == "lasttoken" and backbone.dim == 32
    blocks = backbone.blocks()
    assert blocks[0] is backbone.model.embed_tokens, "the input side first: depth-wise strategies freeze/decay it"
    assert len(blocks) == 3


def test_last_token_features_ignore_right_padding(llama):
    backbone = load_backbone(str(llama))
    texts = ["a short one", "a much longer text that pads the first row of the batch"]
    encoded = backbone.encode(texts)
    with torch.no_grad():
        together = backbone(backbone.collate(encoded))
        alone = backbone(backbone.collate(encoded[:1]))
        mean = load_backbone(str(llama), pooling="mean")(backbone.collate(encoded[:1]))
    assert torch.allclose(together[0], alone[0], atol=1e-5), "a causal LM's last real token never sees the padding after it"
    assert not torch.allclose(alone, mean), "--pooling still chooses"


def test_lora_on_a_causal_lm_targets_q_proj_and_v_proj(llama, toy):
    from headstart.recipe import setup
    from headstart.specs import RunSpec, TrainConfig
    from headstart.strategies import Budget

    cfg = TrainConfig(max_steps=3, min_steps=3, batch_size=8, precision="fp32")
    s = setup(RunSpec(data="toy", backbone=str(llama), strategy="lora", n=16, train=cfg), data=toy)
    names = {id(p): n for n, p in s.model.named_parameters()}
    trained = [names[id(p)] for phase in s.strategy.plan(s.model, s.options, s.cfg, Budget(3, 3)) for p in phase.params]
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trained if ".lora_" in n}
    assert adapted == {"q_proj", "v_proj"}, "PEFT's targets for Llama: the seed's LoRA config"


def test_a_saved_lora_run_on_a_causal_lm_predicts_as_it_did_in_memory(llama, toy_csv, tmp_path):
    from headstart.api import fit, predict
    from headstart.specs import TrainConfig

    out = tmp_path / "run"
    cfg = TrainConfig(max_steps=4, min_steps=4, precision="fp32")
    result = fit(str(toy_csv), str(llama), strategy="lora", n=16, out=out, config=cfg)
    assert sorted(json.loads((out / "adapter_config.json").read_text())["target_modules"]) == ["q_proj", "v_proj"]
    texts = ["a good movie", "a bad movie that pads the batch a little"]
    in_memory, reloaded = result.predict(texts), predict(out, texts)
    for a, b in zip(in_memory, reloaded):
        assert a["label"] == b["label"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def test_lm_head_tied_is_the_embedding_and_untied_is_read_from_the_folder(tmp_path):
    tied = load_backbone(str(tiny_llama_folder(tmp_path / "tied", tied=True)))
    assert lm_head_weight(tied) is tied.model.get_input_embeddings().weight
    untied = load_backbone(str(tiny_llama_folder(tmp_path / "untied", tied=False)))
    head = lm_head_weight(untied)
    assert head.shape == (30522, 32) and not torch.equal(head, untied.model.get_input_embeddings().weight)


def test_an_encoder_has_no_lm_head(make_tiny_bert):
    with pytest.raises(BackboneError, match="not a causal language model"):
        lm_head_weight(make_tiny_bert(0))


def test_a_gguf_file_that_is_not_one_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(BackboneError, match="'.*model.gguf' is not a GGUF file"):
        load_backbone(str(bad))


def test_a_missing_gguf_file_is_said_missing_not_an_unknown_backbone(tmp_path, monkeypatch):
    from headstart.llm.lm import lm_folder

    monkeypatch.chdir(tmp_path)
    # train's, called from Python: its own parameter; sft's (an inner function): the flag its command takes
    for load, named in ((load_backbone, "name_or_path='missing.gguf'"), (lm_folder, "--backbone 'missing.gguf'")):
        with pytest.raises(BackboneError, match=f"{named}: no such file"):
            load("missing.gguf")
    with pytest.raises(BackboneError, match="--backbone 'runs/nope': no such folder"):
        lm_folder("runs/nope")


def tiny_gguf(path: Path) -> Path:
    """A GGUF file of one 64x32 fp32 tensor under a llama header (not a model transformers can build)."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.ones((64, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("keep", [0.5, 0.02])  # the tensor data cut; the header itself cut
def test_a_truncated_gguf_file_is_said_damaged_with_the_fix(tmp_path, monkeypatch, keep):
    from headstart.llm.lm import lm_folder

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    whole = tiny_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    for load in (load_backbone, lm_folder):
        with pytest.raises(BackboneError, match=r"the GGUF file '.*cut.gguf' is damaged or truncated .*download or copy it again"):
            load(str(cut))
    assert not (tmp_path / "cache" / "models").exists() or not list((tmp_path / "cache" / "models").glob("cut-*")), \
        "no half-converted folder left"


@pytest.mark.slow
def test_smollm2_loads_from_its_package_and_its_features_separate_sentiment():
    """The built-in SmolLM2: converted once from GGUF, last-token features that a probe can read."""
    backbone = load_backbone("smollm2-135m")
    assert backbone.dim == 576 and backbone.pooling == "lasttoken"
    assert lm_head_weight(backbone).shape[0] == 49152
    texts = ["a wonderful, moving film", "a dull, tedious mess"]
    with torch.no_grad():
        features = backbone(backbone.collate(backbone.encode(texts)))
    assert features.shape == (2, 576) and torch.isfinite(features).all()
    again = load_backbone("smollm2-135m")  # from the cached folder now
    with torch.no_grad():
        assert torch.allclose(again(again.collate(again.encode(texts))), features)


def test_the_conversion_note_is_one_of_headstarts_notes_and_stdout_stays_json(tmp_path, capsys, headstart_notes):
    """generate --json on a run whose GGUF base was converted again (a cleared cache) printed the note on stdout first;
    then it was printed straight to stderr, where no caller's logging could quiet it. It is said on the ``headstart``
    logger as every other note (the CLI prints it as "note: ..." on stderr), and nothing is printed on stdout."""
    import logging

    from headstart.backbones.causal import gguf_folder

    said = headstart_notes
    with pytest.raises(BackboneError):  # one tensor under a llama header: the note, then transformers cannot build it
        gguf_folder(tiny_gguf(tmp_path / "tiny.gguf"))
    assert [(level, message.split(" (cached in ")[0]) for level, message in said] == [
        (logging.INFO, "converting tiny.gguf to a safetensors folder once")], said
    printed = capsys.readouterr()
    assert printed.out == "" and "converting" not in printed.err, printed


def test_a_gguf_files_quantisation_is_read_from_its_header_and_said_in_the_cards(tmp_path):
    """An sft / prefer export of smollm2-135m said "base model: smollm2-135m" and "fp32 safetensors", not that those
    fp32 weights are a 4-bit file's, rounded from the original model's. The cards now say it, for the built-in GGUF
    models and for a .gguf path (its header read past an array and strings, without gguf's ~10 s reader)."""
    import gguf
    import numpy as np

    from headstart.backbones.causal import gguf_file_type
    from headstart.backbones.registry import dequantised
    from headstart.llm.runs import model_card

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("a model")
    writer.add_token_list(["a", "bb", "ccc"])
    writer.add_array("some.ints", [1, 2, 3])
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_K_M))
    writer.add_tensor("token_embd.weight", np.ones((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert gguf_file_type(path) == "Q4_K_M"
    assert dequantised(str(path)) == ("dequantised to fp32 from the GGUF file m.gguf (Q4_K_M, about 4 bits a weight): "
                                      "the quantised model's weights, rounded from the original's")
    assert gguf_file_type(tiny_gguf(tmp_path / "plain.gguf")) is None  # no file type in its header
    assert "its quantisation not read" in dequantised(str(tmp_path / "gone.gguf"))
    assert dequantised("all-minilm-l6-v2") == "" and "(Q4_1, about 4 bits a weight)" in dequantised("smollm2-135m")
    spec = {"kind": "sft", "backbone": "smollm2-135m", "strategy": "lora", "lr": 1e-4, "data": {"name": "d"}, "n": 16,
            "seed": 0}
    card = model_card(spec, {"steps": 3, "best_step": 3})
    assert (r"- base model: smollm2-135m (dequantised to fp32 from the GGUF file SmolLM2-135M-Instruct.Q4\_1.gguf (Q4\_1, "
            "about 4 bits a weight): the quantised model's weights, rounded from the original's)") in card, card  # Markdown
