"""llm.runs: what a saved sft / prefer run names its base, and reloading it on a machine whose cache is gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lm_fixtures import sft_csv, tiny_lm  # noqa: F401  (fixtures)


@pytest.fixture
def cached_lm(tiny_lm, monkeypatch):
    """A registry name whose folder is built into $HEADSTART_CACHE on first use, as smollm2-135m's GGUF is converted."""
    from headstart.backbones.registry import REGISTRY, BuiltinBackbone
    from headstart.cache import cache_dir

    built = []

    def locate() -> Path:
        folder = cache_dir() / "models" / "tiny-lm-0123"
        if not (folder / "config.json").exists():
            shutil.copytree(tiny_lm, folder)
            built.append(folder)
        return folder

    monkeypatch.setitem(REGISTRY, "tiny-lm", BuiltinBackbone(name="tiny-lm", description="a tiny causal LM", modality="text",
                                                             package="none", locate=locate))
    return built


def test_the_adapter_names_its_base_as_the_spec_does_and_generate_rebuilds_a_cleared_cache(cached_lm, sft_csv, tmp_path):
    """adapter_config.json named ~/.cache/headstart/models/..., a folder of this machine's cache, where spec.json names
    smollm2-135m: the run's adapter named a base no other machine has."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from headstart.api_llm import generate, sft
    from headstart.cache import cache_dir
    from headstart.llm.lm import lm_folder
    from headstart.llm.sft import SftConfig

    out = tmp_path / "run"
    sft(str(sft_csv), out=out, config=SftConfig(backbone="tiny-lm", max_steps=3, batch_size=6, lr=3e-2, rank=4, eval_rows=0))
    adapter = json.loads((out / "adapter_config.json").read_text())
    spec = json.loads((out / "spec.json").read_text())
    assert adapter["base_model_name_or_path"] == spec["backbone"] == "tiny-lm", adapter["base_model_name_or_path"]
    prompts = ["say hello", "count to three"]
    before = generate(out, prompts, max_new_tokens=5)
    shutil.rmtree(cache_dir())
    assert generate(out, prompts, max_new_tokens=5) == before, "the same answers from the rebuilt base"
    assert len(cached_lm) == 2, "the base was built again into the cleared cache"
    base = AutoModelForCausalLM.from_pretrained(lm_folder(adapter["base_model_name_or_path"]))
    assert isinstance(PeftModel.from_pretrained(base, str(out)), PeftModel), "plain PEFT loads it on the base it names"


@pytest.mark.parametrize("spec", [{"kind": "sft", "max_new_tokens": 64}, {"kind": "sft"}], ids=["own 64", "saved without one"])
def test_the_model_card_and_the_test_line_say_the_same_budget_differs(spec, capsys):
    """Whether a test's answers had a budget other than the run's own was decided twice, with different defaults: a run
    saved without max_new_tokens (sft's default, 64) had its test line say 'the run's own are up to None' of a test at
    64, and its model card say nothing of one at 8."""
    from headstart.cli.llm import _test_lines
    from headstart.llm.runs import model_card

    spec = {**spec, "backbone": "tiny", "strategy": "lora", "data": {"name": "x.csv"}}
    for tokens, said in ((64, False), (8, True)):
        test = {"rows": 1, "exact_match": 0.0, "max_new_tokens": tokens, "samples": []}
        card = model_card(spec, {"steps": 1, "best_step": 1, "test": test})
        _test_lines(test, spec)
        line = capsys.readouterr().out
        assert ("test answers of up to 8 new tokens (the run's own setting: 64; `headstart evaluate DIR` scores it at its own again)" in card) is said, card
        assert ("answers of up to 8 new tokens where the run's own are up to 64" in line) is said, line
        assert "up to None" not in line and "setting: None" not in card


def test_a_run_card_says_the_weights_are_its_starting_points_where_no_step_improved():
    """prefer said 'the saved weights are the starting point's, unchanged'; its README.md said only 'best on
    validation: step 0'."""
    from headstart.llm.runs import model_card

    spec = {"kind": "prefer", "sft": "runs/sft", "backbone": "tiny", "strategy": "lora", "data": {"name": "d"}}
    assert ("- weights: the starting point's, unchanged: no step improved the validation loss, so these are the sft run "
            "runs/sft's weights (step 0 of 3)") in model_card(spec, {"status": "done", "steps": 3, "best_step": 0})
    assert "- weights: step 2's of 3, the best on validation" in model_card(spec, {"status": "done", "steps": 3, "best_step": 2})
    assert "- weights:" not in model_card(spec, {"status": "interrupted", "steps": 3, "best_step": 0, "error": "x"})


def test_a_run_card_and_its_export_card_say_the_rows_a_held_out_number_was_scored_on():
    """An exported sft run's README.md said '- test exact_match: 0' of a run that answered 4 test prompts, and a
    prefer run's '- validation reward_accuracy: 0.5' of 8 pairs: a handful of rows read as the model's number."""
    from headstart.llm.runs import model_card, score_lines

    sft = {"kind": "sft", "backbone": "tiny", "strategy": "lora", "data": {"name": "d"}}
    card = model_card(sft, {"status": "done", "steps": 3, "best_step": 3, "val_loss": 4.18,
                            "test": {"rows": 4, "exact_match": 0.0, "max_new_tokens": 64}})
    assert "- test exact_match: 0 (on 4 test prompts)" in card, card
    assert score_lines({"val": {"reward_accuracy": 0.5}, "val_pairs": 8}) == [
        "- validation reward_accuracy: 0.5 (on 8 validation pairs, the pairs that chose the step kept: optimistic)",
        "- test: no held-out test score (prefer answers no test prompts; its numbers are the validation pairs', which "
        "chose the step kept)"]
    assert score_lines({"val_loss": 0.6931}) == ["- validation loss: 0.6931"], "a run saved before val_rows was recorded"
    assert score_lines({"val_loss": 2.31, "val_rows": 40}) == ["- validation loss: 2.31 (on 40 validation prompts)"]
    assert score_lines({"val_loss": 2.31, "val_rows": 1}) == ["- validation loss: 2.31 (on 1 validation prompt)"]


def test_a_prefer_card_says_its_validation_score_is_optimistic_beside_chance_and_that_it_has_no_test_score():
    """A prefer run's card said '- validation reward_accuracy: 0.375 (on 8 validation pairs)' alone, where the CLI said
    the pairs chose the step kept (optimistic) and gave the score before training (0.6931 / 0.5: chance)."""
    from headstart.llm.runs import model_card

    spec = {"kind": "prefer", "backbone": "tiny", "strategy": "lora", "data": {"name": "d"}}
    card = model_card(spec, {"status": "done", "steps": 4, "best_step": 2, "val_pairs": 8,
                             "val_before": {"loss": 0.6931, "reward_accuracy": 0.5, "margin": 0.0},
                             "val": {"loss": 0.71, "reward_accuracy": 0.375, "margin": -0.01}})
    assert ("- validation reward_accuracy: 0.375 (on 8 validation pairs, the pairs that chose the step kept: optimistic; "
            "before training 0.5, the policy its own reference: chance)") in card, card
    assert "- validation loss: 0.71 (on 8 validation pairs, the pairs that chose the step kept: optimistic; before training 0.6931" in card
    assert "- test: no held-out test score (prefer answers no test prompts" in card
    assert "validation margin: -0.01 (on 8 validation pairs, the pairs that chose the step kept: optimistic; before " \
           "training 0, the policy its own reference: no preference either way)" in card, card  # not 'chance'
    sft = {"kind": "sft", "backbone": "tiny", "strategy": "lora", "data": {"name": "d"}}
    assert "- test: no held-out test score" in model_card(sft, {"status": "done", "steps": 3, "best_step": 3, "val_loss": 4.1})
    tested = model_card(sft, {"status": "done", "steps": 3, "best_step": 3, "val_loss": 4.1, "test": {"rows": 1, "exact_match": 0.0}})
    assert "no held-out test score" not in tested and "- test exact_match: 0 (on 1 test prompt)" in tested


def test_a_missing_causal_lm_folder_names_what_of_its_path_exists(tmp_path, monkeypatch):
    """sft / prefer --backbone path/x where a folder 'path' exists: the line says what exists, as train's does
    ("no such folder ('path' exists, with no 'x' in it)"); it said only "no such folder"."""
    import pytest

    from headstart.errors import BackboneError
    from headstart.llm.lm import lm_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "path").mkdir()
    with pytest.raises(BackboneError, match=r"^--backbone 'path/x/y': no such folder \('path' exists, with no 'x' in it\); "):
        lm_folder("path/x/y")
    with pytest.raises(BackboneError, match=r"^--backbone 'nopath/x': no such folder; check the path"):
        lm_folder("nopath/x")


def test_generate_counts_a_batch_by_its_tokens_and_the_cli_says_loading_then_the_prompts_answered(
        tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """generate said nothing for 48 s (loading the model, then answering), and a batch of 8 prompts read "0/8" until
    all 8 were answered: the CLI says the loading, then the prompts answered as the tokens come (stderr; --quiet: none)."""
    from conftest import run_cli

    from headstart.api_llm import sft
    from headstart.llm.runs import generate
    from headstart.llm.sft import SftConfig

    out = tmp_path / "run"
    run = sft(str(sft_csv), out=out, config=SftConfig(backbone=str(tiny_lm), max_steps=1, batch_size=6, eval_rows=0, val_rows=4))
    told: list[tuple[float, int]] = []
    texts = generate(run.model, run.tokenizer, ["say hello", "name a colour"], max_new_tokens=6,
                     progress=lambda done, total: told.append((done, total)))
    assert len(texts) == 2 and told[0] == (0, 2) and told[-1] == (2, 2) and {t for _, t in told} == {2}
    within = [d for d, _ in told if 0 < d < 2]
    assert within and within == sorted(within), "the one batch's count moves with its tokens"
    monkeypatch.setattr("headstart.progress.LOG_EVERY", 0.0)  # a log line at every update
    code, printed, err = run_cli(["generate", str(out), "--prompt", "say hello", "--max-new-tokens", "4"], monkeypatch, capsys)
    assert code in (0, None) and printed.startswith("> say hello"), err
    assert f"loading the run's model from {str(out)!r}" in err and "prompts answered" in err and "1/1" in err, err
    code, printed, err = run_cli(["generate", str(out), "--prompt", "say hello", "-q"], monkeypatch, capsys)
    assert code in (0, None) and printed and err == "", err
