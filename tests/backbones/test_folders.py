"""Local model folders: plain HF, sentence-transformers (root or 0_Transformer layout), pooling detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from headstart.backbones import load_backbone
from headstart.backbones.registry import _minilm_dir
from headstart.errors import BackboneError


def _copy_model(target: Path) -> Path:
    target.mkdir(parents=True)
    for f in _minilm_dir().iterdir():
        if f.is_file():
            shutil.copy(f, target / f.name)
    return target


def _pooling_config(folder: Path, *, cls: bool) -> None:
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 384, "pooling_mode_cls_token": cls, "pooling_mode_mean_tokens": not cls}))


@pytest.fixture(scope="module")
def st_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    flat = _copy_model(root / "flat-cls")
    _pooling_config(flat, cls=True)
    nested = root / "nested"
    _copy_model(nested / "0_Transformer")
    (nested / "0_Transformer" / "modules.json").unlink()
    (nested / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    _pooling_config(nested, cls=False)
    plain = _copy_model(root / "plain-hf")
    (plain / "modules.json").unlink()
    return {"flat": flat, "nested": nested, "plain": plain}


def test_pooling_read_from_sentence_transformers_config(st_folders):
    assert load_backbone(str(st_folders["flat"])).pooling == "cls"
    assert load_backbone(str(st_folders["nested"])).pooling == "mean"
    assert load_backbone(str(st_folders["plain"])).pooling == "mean"  # no config: mean, like sentence-transformers
    assert load_backbone(str(st_folders["flat"]), pooling="mean").pooling == "mean"  # an explicit choice wins


@pytest.mark.slow
def test_nested_folder_gives_the_same_features_as_the_builtin(st_folders):
    import torch

    builtin, nested = load_backbone(), load_backbone(str(st_folders["nested"]))
    texts = ["a joy to watch", "dull, overlong and lifeless"]
    with torch.inference_mode():
        a = builtin.eval()(builtin.collate(builtin.encode(texts)))
        b = nested.eval()(nested.collate(nested.encode(texts)))
    torch.testing.assert_close(a, b)
    assert len(nested.blocks()) == 7  # embeddings + 6 layers, input side first


def test_folder_without_safetensors_is_refused_naming_pickles(st_folders, tmp_path):
    folder = _copy_model(tmp_path / "pickled")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(BackboneError, match="pytorch_model.bin.*pickle"):
        load_backbone(str(folder))


def test_corrupt_weights_are_a_clear_error(tmp_path):
    folder = _copy_model(tmp_path / "corrupt")
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(BackboneError, match="corrupt|cannot load"):
        load_backbone(str(folder))


def test_hub_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(BackboneError, match="--backbone /path/to/model"):
        load_backbone("sentence-transformers/not-cached-here")
