"""Text backbones: loading (and its errors), pooling, blocks, dynamic padding, fresh twins."""

from __future__ import annotations

import json

import pytest
import torch

from headstart.backbones import Backbone, load_backbone
from headstart.backbones.registry import _minilm_dir
from headstart.backbones.st_folder import detect_pooling
from headstart.backbones.text import TextBackbone, load_text_backbone
from headstart.errors import BackboneError, ConfigError


@pytest.fixture(scope="module")
def small_bert() -> TextBackbone:
    """A 2-layer random BERT with the real MiniLM tokenizer: the TextBackbone mechanics in milliseconds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(_minilm_dir())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return TextBackbone(BertModel(config).eval(), tokenizer, name="small", source="memory", max_length=16)


def test_protocol(small_bert, make_tiny):
    assert isinstance(small_bert, Backbone) and isinstance(make_tiny(0), Backbone)
    assert small_bert.dim == 32 and small_bert.modality == "text"
    assert small_bert.describe() == {"name": "small", "source": "memory", "pooling": "mean", "max_length": 16, "pretrained": True, "dim": 32}


def test_blocks_are_embeddings_then_layers(small_bert):
    blocks = small_bert.blocks()
    assert len(blocks) == 3 and blocks[0] is small_bert.model.embeddings
    assert list(blocks[1:]) == list(small_bert.model.encoder.layer)


def test_encode_truncates_and_collate_pads(small_bert):
    encoded = small_bert.encode(["short", "a much longer sentence " * 10])
    assert len(encoded[1]) == 16 and len(encoded[0]) < 16
    batch = small_bert.collate(encoded)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].sum() == len(encoded[0]) and batch["attention_mask"][1].sum() == 16
    assert (batch["input_ids"][0, len(encoded[0]):] == small_bert.pad_id).all()


def test_texts_cut_to_max_length_are_noted_once(small_bert, caplog):
    texts = ["word " * 40, "word " * 30, "short", "two words"]  # max_length 16: the first two are cut
    with caplog.at_level("INFO", logger="headstart"):
        small_bert.encode(texts)
        small_bert.encode(texts)  # the same dataset again (another run of a sweep): said once
        small_bert.encode(["short"])
    said = [r.getMessage() for r in caplog.records if "--max-length" in r.getMessage()]
    assert said == ["2 of 4 texts (50%) reach --max-length 16 tokens and are cut there; a run trained with a longer "
                    "--max-length reads more of each, at more memory and time"]


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_features(small_bert, pooling):
    backbone = TextBackbone(small_bert.model, small_bert.tokenizer, name="s", source="m", pooling=pooling, max_length=16)
    encoded = backbone.encode(["good", "a long and rather dull film about nothing"])
    with torch.no_grad():
        together = backbone(backbone.collate(encoded))
        alone = torch.cat([backbone(backbone.collate([e])) for e in encoded])
    assert together.shape == (2, 32)
    assert torch.allclose(together, alone, atol=1e-5)


def test_fresh_twin(small_bert):
    twin = small_bert.fresh(1)
    assert twin.describe()["pretrained"] is False and twin.tokenizer is small_bert.tokenizer
    assert [p.shape for p in twin.parameters()] == [p.shape for p in small_bert.parameters()]
    assert not torch.equal(twin.model.embeddings.word_embeddings.weight, small_bert.model.embeddings.word_embeddings.weight)
    assert torch.equal(small_bert.fresh(1).model.embeddings.word_embeddings.weight, twin.model.embeddings.word_embeddings.weight)


def test_bad_pooling_and_length(small_bert):
    with pytest.raises(ConfigError, match="pooling must be one of"):
        TextBackbone(small_bert.model, small_bert.tokenizer, name="s", source="m", pooling="median")
    with pytest.raises(ConfigError, match="--max-length must be >= 2, got 1"):
        TextBackbone(small_bert.model, small_bert.tokenizer, name="s", source="m", max_length=1)



@pytest.mark.parametrize("pooling", ["mean++cls", "mean+", "+cls", "mean+ +cls"])
def test_a_pooling_with_an_empty_part_is_refused_not_dropped(pooling):
    """``mean++cls`` was read as ``cls+mean``: the mode typed between the '+'s may be missing."""
    from headstart.specs import pooling_modes

    kept = "+".join(p.strip() for p in pooling.split("+") if p.strip())
    with pytest.raises(ConfigError) as raised:
        pooling_modes(pooling)
    assert str(raised.value) == (f"pooling {pooling!r} has an empty part (a '+' with no mode beside it); drop the extra '+' "
                                 f"or add the mode, e.g. --pooling {kept}")
    assert pooling_modes("mean + cls") == ("cls", "mean")

@pytest.mark.parametrize(("pooling", "mode", "kept"), [("mean+mean", "mean", "mean"), ("cls+mean+cls", "cls", "cls+mean"),
                                                     ("max + max", "max", "max")])
def test_a_pooling_mode_given_twice_is_refused_not_collapsed(pooling, mode, kept):
    """``mean+mean`` was read as ``mean``: the second mode may be a typo for another."""
    from headstart.specs import pooling_modes

    with pytest.raises(ConfigError) as raised:
        pooling_modes(pooling)
    assert str(raised.value) == f"pooling {pooling!r} names {mode!r} twice; give each mode once, e.g. --pooling {kept}"


def test_detect_pooling(tmp_path):
    assert detect_pooling(tmp_path) is None
    (tmp_path / "modules.json").write_text(json.dumps([{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert detect_pooling(tmp_path) == "cls"
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert detect_pooling(tmp_path) == "mean"
    (tmp_path / "modules.json").write_text("{broken")
    assert detect_pooling(tmp_path) is None
    assert detect_pooling(_minilm_dir()) == "mean"


def test_folder_without_config(tmp_path):
    with pytest.raises(BackboneError, match="has no config.json"):
        load_backbone(str(tmp_path))


def test_pickle_weights_are_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(BackboneError, match="found pytorch_model.bin: pickle-based weights are not loaded"):
        load_text_backbone(tmp_path, name="x")


def test_corrupt_weights(tmp_path):
    import shutil

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (_minilm_dir() / name).exists():
            shutil.copy(_minilm_dir() / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(BackboneError, match="cannot load the model"):
        load_text_backbone(tmp_path, name="x")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(BackboneError, match=r"unknown backbone 'all-minilm-l6'; did you mean 'all-minilm-l6-v2'\?"):
        load_backbone("all-minilm-l6")


def test_a_path_that_does_not_exist_is_said_as_a_missing_folder(tmp_path):
    """``--backbone /nonexistent/model`` read "unknown backbone" with the built-in names, as if it were a typo'd name."""
    with pytest.raises(BackboneError, match=r"^name_or_path='.*/nope/model': no such folder \('.*' exists, with no 'nope' in it\); give a model folder"):
        load_backbone(str(tmp_path / "nope" / "model"))


def test_a_file_is_not_a_model_folder(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    with pytest.raises(BackboneError, match="is a file; give the model's folder"):
        load_backbone(str(path))


def test_unreachable_hub_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneError, match="cannot fetch backbone 'nobody/no-such-model'"):
        load_backbone("nobody/no-such-model")


@pytest.mark.slow
def test_real_minilm():
    import copy

    backbone = load_backbone()
    assert backbone.dim == 384 and len(backbone.blocks()) == 7 and backbone.pooling == "mean"
    assert backbone.describe()["name"] == "all-minilm-l6-v2" and backbone.describe()["pretrained"] is True
    texts = ["a joy to watch", "a long, slow and ultimately pointless film that never finds its footing"]
    encoded = backbone.encode(texts)
    with torch.no_grad():
        together = backbone(backbone.collate(encoded))
        alone = torch.cat([backbone(backbone.collate([e])) for e in encoded])
        twin = copy.deepcopy(backbone)
        assert torch.equal(twin(backbone.collate(encoded)), together)
    assert torch.allclose(together, alone, atol=1e-5)
    # sentence-transformers' normalised embeddings rank these as more similar to each other than to noise
    sims = torch.nn.functional.cosine_similarity(together[0:1], backbone(backbone.collate(backbone.encode(["a delight to see"]))).detach())
    assert sims.item() > 0.5
