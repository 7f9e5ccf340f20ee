"""prefer (DPO): the loss against a hand-computed value, the reference is the SFT policy, a step widens the margin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import assert_user_error, run_cli
from lm_fixtures import pref_csv, sft_csv, tiny_lm  # noqa: F401  (fixtures)

from headstart.llm.dpo import PreferConfig, dpo_loss, sequence_logps
from headstart.llm.format import example


def test_the_dpo_loss_equals_a_hand_computed_value():
    # pair 1: margin = 0.1 * ((-5 + 6) - (-7 + 6)) = 0.2, loss = log(1 + e^-0.2) = 0.5981388693
    # pair 2: margin = 0.1 * ((-4 + 4) - (-3 + 4)) = -0.1, loss = log(1 + e^0.1) = 0.7443966600
    loss, margin = dpo_loss(torch.tensor([-5.0, -4.0]), torch.tensor([-7.0, -3.0]), torch.tensor([-6.0, -4.0]),
                            torch.tensor([-6.0, -4.0]), beta=0.1)
    assert torch.allclose(margin, torch.tensor([0.2, -0.1]))
    assert loss.item() == pytest.approx((0.5981388693 + 0.7443966600) / 2, abs=1e-7)
    assert dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1))[0].item() == pytest.approx(0.6931471806), "log 2 at the start"


def test_sequence_log_probabilities_sum_the_response_tokens_only(tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(tiny_lm), AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    ids, labels = example(tok, "review the film", "a great film", eos=102, max_length=64)
    start = labels.count(-100)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], -1)
        by_hand = sum(logp[t - 1, ids[t]] for t in range(start, len(ids)))
        padded = sequence_logps(model, [(ids, labels), (ids[:3], [-100] * 3)], pad_id=0)
    assert padded[0].item() == pytest.approx(by_hand.item(), abs=1e-4) and padded[1].item() == 0.0


def sft_run(tiny_lm: Path, csv: Path, out: Path) -> Path:
    from headstart.api_llm import sft
    from headstart.llm.sft import SftConfig

    sft(str(csv), out=out, config=SftConfig(backbone=str(tiny_lm), max_steps=3, batch_size=6, lr=1e-2, rank=4, eval_rows=0))
    return out


def test_dpo_starts_at_the_sft_policy_and_its_steps_widen_the_margin(tiny_lm, sft_csv, pref_csv, tmp_path):
    from headstart.api_llm import generate, prefer

    start = sft_run(tiny_lm, sft_csv, tmp_path / "sft")
    out = tmp_path / "dpo"
    run = prefer(str(pref_csv), out=out, config=PreferConfig(sft=str(start), max_steps=4, batch_size=4, lr=1e-2, evals=2, patience=0))
    before, after = run.metrics["val_before"], run.metrics["val"]
    assert abs(before["margin"]) < 1e-4 and before["loss"] == pytest.approx(0.6931, abs=1e-3), "π = π_ref = the SFT policy at the start"
    assert after["margin"] > before["margin"] + 0.01 and after["loss"] < before["loss"], run.metrics["history"]
    spec = json.loads((out / "spec.json").read_text())
    assert spec["kind"] == "prefer" and spec["sft"] == str(start.resolve()) and spec["beta"] == 0.1 and spec["strategy"] == "lora"
    assert (out / "adapter_model.safetensors").exists()
    assert generate(run, ["review the film"], max_new_tokens=4) == generate(out, ["review the film"], max_new_tokens=4)


def test_a_strategy_or_backbone_other_than_the_sft_runs_is_refused_before_the_data_loads(tiny_lm, sft_csv, tmp_path,
                                                                                        monkeypatch, capsys):
    """prefer continues its sft run: a --strategy or --backbone that is not the run's would be ignored and the saved
    run would name what it did not do. The run's own values, or none, are taken."""
    from headstart.errors import ConfigError
    from headstart.llm.dpo import check_start

    start = sft_run(tiny_lm, sft_csv, tmp_path / "sft")
    absent = str(tmp_path / "absent.csv")
    assert_user_error(run_cli(["prefer", "--data", absent, "--sft", str(start), "--strategy", "full-finetune", "--out",
                               str(tmp_path / "o"), "-q"], monkeypatch, capsys),
                      "--strategy full-finetune differs from the sft run's (lora)", "drop --strategy")
    assert_user_error(run_cli(["prefer", "--data", absent, "--sft", str(start), "--backbone", "gemma3-270m", "--out",
                               str(tmp_path / "o"), "-q"], monkeypatch, capsys),
                      "--backbone gemma3-270m differs from the sft run's", "drop --backbone")
    with pytest.raises(ConfigError, match="differs from the sft run's"):
        check_start(PreferConfig(sft=str(start), strategy="qlora"))
    assert check_start(PreferConfig(sft=str(start), strategy="lora", backbone=str(tiny_lm)))["strategy"] == "lora"
    assert check_start(PreferConfig(sft=str(start)))["backbone"] == str(tiny_lm.resolve())


def test_a_dpo_step_without_an_sft_run_trains_a_fresh_lora_against_the_base(tiny_lm, pref_csv):
    from headstart.api_llm import prefer

    run = prefer(str(pref_csv), config=PreferConfig(backbone=str(tiny_lm), max_steps=3, lr=1e-2, evals=1, patience=0))
    assert run.metrics["val"]["margin"] > run.metrics["val_before"]["margin"]


def test_prefer_refuses_a_folder_that_is_not_an_sft_run(pref_csv, tmp_path, monkeypatch, capsys):
    assert_user_error(run_cli(["prefer", "--data", str(pref_csv), "--sft", str(tmp_path), "--out", str(tmp_path / "o"), "-q"],
                       monkeypatch, capsys), "is not an sft / prefer run")


def test_prefer_names_a_missing_column(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    assert_user_error(run_cli(["prefer", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--out", str(tmp_path / "o"), "-q"],
                       monkeypatch, capsys), "columns 'chosen' and 'rejected' not in",
                      "name them with --chosen-column and --rejected-column")


@pytest.mark.parametrize("beta", ["0", "-1"])
def test_prefer_refuses_a_beta_that_is_not_positive(pref_csv, tmp_path, monkeypatch, capsys, beta):
    assert_user_error(run_cli(["prefer", "--data", str(pref_csv), f"--beta={beta}", "--out", str(tmp_path / "o"), "-q"], monkeypatch, capsys),
               "--beta must be > 0", "--beta 0.1")


@pytest.mark.parametrize("flag,fragment", [("--n=0", "--n must be a whole number >= 1"), ("--strategy=lroa", "is not one sft / prefer trains"),
                                           ("--max-length=1", "--max-length must be >= 2")])
def test_prefer_refuses_a_bad_setting_before_reading_data(tmp_path, monkeypatch, capsys, flag, fragment):
    """Refused in one line before any data or model is read (the data file here does not even exist)."""
    assert_user_error(run_cli(["prefer", "--data", str(tmp_path / "absent.csv"), flag, "--out", str(tmp_path / "o"), "-q"],
                              monkeypatch, capsys), fragment)


def test_a_prefer_config_refuses_negative_patience():
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^patience must be an integer >= 0 \(.*\), got -1; try patience=3$"):
        PreferConfig(patience=-1)


def test_prefer_counts_the_reference_pass_and_the_steps_each_on_its_own_with_its_own_eta(tiny_lm, pref_csv):
    """One count over both ("prefer: 0/6 π_ref 1/7 batches ... 2/6 π_ref 5/7", then "3/6 step 0/3") mixed reference
    batches with steps and said "ETA ?" for the reference pass: its batches are counted on their own ("computing the
    reference model's log-probabilities, 5/7 batches"), then the steps ("step 2/3"), each ETA at its own pace."""
    from headstart.api_llm import prefer
    from headstart.progress import ETA_KEY

    calls = []
    prefer(str(pref_csv), config=PreferConfig(backbone=str(tiny_lm), max_steps=3, batch_size=2, lr=1e-2, evals=1, patience=0),
           progress=lambda done, total, info: calls.append((done, total, dict(info))))
    reference = [c for c in calls if "step" not in c[2]]
    steps = [c for c in calls if "step" in c[2]]
    assert reference and calls[: len(reference)] == reference, "the reference pass reports first"
    batches = reference[0][1]
    assert [(d, t) for d, t, _ in reference] == [(i, batches) for i in range(batches + 1)], "its own count, batch by batch"
    assert all(c[2]["setup"] == f"computing the reference model's log-probabilities, {c[0]}/{batches} batches"
               for c in reference)
    assert reference[0][2][ETA_KEY] is None, "unknown before its first batch"
    assert all(isinstance(c[2][ETA_KEY], float) for c in reference[1:]), "then at its own pace (it said ? for 86 s)"
    assert {c[1] for c in steps} == {3} and [c[0] for c in steps] == sorted(c[0] for c in steps), "the steps' own count"
    assert all(c[2]["step"] == f"{c[0]}/3" for c in steps) and steps[-1][2]["step"] == "3/3"
    assert steps[0][2][ETA_KEY] is None
    assert all(isinstance(c[2][ETA_KEY], float) and c[2][ETA_KEY] >= 0 for c in steps if c[0]) and steps[-1][2][ETA_KEY] == 0


def test_the_summary_shows_validation_before_and_after_and_says_when_no_step_improved_it(capsys, tmp_path):
    from types import SimpleNamespace

    from headstart.cli.llm import _summary

    metrics = {"status": "done", "error": None, "steps": 3, "best_step": 0, "history": [],
               "val_before": {"loss": 0.6931, "reward_accuracy": 0.5, "margin": 0.0},  # the policy is the reference: ties
               "val": {"loss": 0.6931, "reward_accuracy": 0.5, "margin": 0.0}}
    _summary(SimpleNamespace(metrics=metrics, directory=tmp_path, spec={}), tmp_path, False)
    out = capsys.readouterr().out
    assert "validation before training: loss 0.6931, reward_accuracy 0.5, margin 0" in out
    assert "validation after training: loss 0.6931" in out
    assert "note: no step improved the validation loss, so the saved weights are the starting point's" in out


def test_the_summary_says_how_many_pairs_each_validation_score_is_on_and_that_the_after_score_chose_the_step(capsys, tmp_path):
    """reward_accuracy 0.5 -> 0.75 on 4 validation pairs read as a finding: the pairs are said, the score before training
    is said to be chance by construction (the policy is its reference: a Wilson interval on it claimed an uncertainty
    it has not got), and the one after to be on the pairs that chose the step (no interval: it is the best of the
    checks on them)."""
    from types import SimpleNamespace

    from headstart.cli.llm import _summary

    metrics = {"status": "done", "error": None, "steps": 3, "best_step": 3, "history": [], "val_pairs": 4,
               "val_before": {"loss": 0.6931, "reward_accuracy": 0.5, "margin": 0.0},
               "val": {"loss": 0.52, "reward_accuracy": 0.75, "margin": 0.4}}
    _summary(SimpleNamespace(metrics=metrics, directory=tmp_path, spec={}), tmp_path, False)
    out = capsys.readouterr().out
    assert ("validation before training (4 pairs; the policy is its reference here, every margin 0: chance by "
            "construction): loss 0.6931, reward_accuracy 0.5, margin 0") in out, out
    assert "95% CI" not in out, out
    assert ("validation after training (the 4 pairs that chose the step kept: optimistic): loss 0.52, reward_accuracy "
            "0.75, margin 0.4") in out, out


def test_reward_accuracy_counts_a_tie_as_half():
    """Before training every margin is 0 (the policy is the reference): chance, not "always wrong"."""
    from headstart.llm.dpo import reward_accuracy

    assert reward_accuracy([0.0, 0.0, 0.0]) == 0.5
    assert reward_accuracy([0.3, -0.2, 1e-9, 0.1]) == (1 + 0 + 0.5 + 1) / 4


def test_pairs_whose_chosen_is_their_rejected_are_refused_when_all_and_counted_when_some(tiny_lm, pref_csv, tmp_path,
                                                                                         monkeypatch, capsys):
    import pandas as pd

    from headstart.llm.dpo import PreferConfig, run_prefer

    frame = pd.read_csv(pref_csv)
    same = tmp_path / "same.csv"
    frame.assign(rejected=frame["chosen"]).to_csv(same, index=False)
    assert_user_error(run_cli(["prefer", "--data", str(same), "--backbone", str(tiny_lm), "--out", str(tmp_path / "o"), "-q"],
                              monkeypatch, capsys), "every one of the 4 training pairs", "chosen identical to rejected",
                      "--rejected-column")
    frame.loc[0, "rejected"] = frame.loc[0, "chosen"]  # one of the 4 training pairs
    some = tmp_path / "some.csv"
    frame.to_csv(some, index=False)
    run = run_prefer(str(some), PreferConfig(backbone=str(tiny_lm), max_steps=1, val_rows=4, evals=1))
    assert run.metrics["identical_pairs"] == 1


def test_the_summary_counts_identical_pairs(capsys, tmp_path):
    from types import SimpleNamespace

    from headstart.cli.llm import _summary

    metrics = {"status": "done", "error": None, "steps": 3, "best_step": 3, "history": [], "train_pairs": 8, "identical_pairs": 3}
    _summary(SimpleNamespace(metrics=metrics, directory=tmp_path, spec={}), tmp_path, False)
    assert "note: 3 of the 8 training pairs have chosen identical to rejected; they teach nothing" in capsys.readouterr().out


def test_prefer_metrics_say_the_pairs_the_step_cap_read(tiny_lm, pref_csv):
    from headstart.llm.dpo import run_prefer

    run = run_prefer(str(pref_csv), PreferConfig(backbone=str(tiny_lm), max_steps=1, batch_size=2, val_rows=4, evals=1))
    assert (run.metrics["train_pairs"], run.metrics["pairs_seen"], run.metrics["epochs"]) == (4, 2, 0.5)
    assert run.metrics["ended_by"] == "max_steps" and run.metrics["planned_steps"] == 1


def test_prefer_from_an_sft_run_of_a_registry_name_saves_without_asking_the_hub(tiny_lm, sft_csv, pref_csv, tmp_path,
                                                                                monkeypatch):
    """An sft run of a registry name (smollm2-135m) names its adapter's base by that name; prefer loaded that adapter,
    and PEFT's save then looked the name up on the Hub (offline: "Unable to fetch remote file ... Could not find a
    config file in smollm2-135m")."""
    import peft.utils.save_and_load as peft_save

    from headstart.api_llm import prefer

    start = sft_run(tiny_lm, sft_csv, tmp_path / "sft")
    config_file = start / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "base_model_name_or_path": "smollm2-135m"}))

    def hub(*args, **kwargs):
        raise AssertionError(f"asked the Hub: {args}")

    monkeypatch.setattr(peft_save, "check_file_exists_on_hf_hub", hub)
    out = tmp_path / "dpo"
    prefer(str(pref_csv), out=out, config=PreferConfig(sft=str(start), max_steps=1, batch_size=4, evals=1, patience=0))
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_lm)


def test_prefer_runs_its_validation_pass_once_before_the_first_step(tiny_lm, pref_csv, monkeypatch):
    """prefer's own check before training (``val_before``) and the loop's step-0 check were the same validation pass,
    run twice: it runs once, and both record its result."""
    from headstart.llm import dpo
    from headstart.llm.dpo import run_prefer

    events: list[str] = []
    scored, logps = dpo.reward_accuracy, dpo.sequence_logps

    def counted_validation(margins):  # judge()'s last call: one per validation pass
        events.append("validation")
        return scored(margins)

    def counted_step(model, rows, *, pad_id):  # a training step's forward pass is the only one with gradients
        if torch.is_grad_enabled():
            events.append("step")
        return logps(model, rows, pad_id=pad_id)

    monkeypatch.setattr(dpo, "reward_accuracy", counted_validation)
    monkeypatch.setattr(dpo, "sequence_logps", counted_step)
    run = run_prefer(str(pref_csv), PreferConfig(backbone=str(tiny_lm), max_steps=2, batch_size=2, val_rows=4, evals=1))
    assert "step" in events and events[: events.index("step")] == ["validation"], events
    assert run.metrics["history"][0] == {"step": 0, "val_loss": run.metrics["val_before"]["loss"]}


def test_prefer_says_its_check_before_training_once_before_it_runs_with_its_pairs(tiny_lm, pref_csv, monkeypatch):
    """prefer said "validation before training" and ran its check, then the loop said "validation loss before
    training" of that check already taken: two lines, the second after the fact. The loop's check is the one pass, said
    once before it runs with the pairs it reads, and val_before and the history's step 0 are its one result."""
    from headstart.llm import dpo
    from headstart.llm.dpo import run_prefer

    events: list = []
    scored = dpo.reward_accuracy

    def counted_validation(margins):
        events.append("validation")
        return scored(margins)

    monkeypatch.setattr(dpo, "reward_accuracy", counted_validation)
    run = run_prefer(str(pref_csv), PreferConfig(backbone=str(tiny_lm), max_steps=2, batch_size=2, val_rows=4, evals=1),
                     progress=lambda done, total, info: events.append(info.get("setup", "")))
    said = [e for e in events if "validation" in e and e != "validation"]
    assert said == ["validation loss before training (on 4 validation pairs)"], events
    assert events.index(said[0]) < events.index("validation"), "said before the check runs, not after it"
    assert run.metrics["history"][0]["val_loss"] == run.metrics["val_before"]["loss"]


def test_ctrl_c_or_sigterm_while_prefer_sets_up_says_nothing_was_saved(tiny_lm, pref_csv, tmp_path, monkeypatch, capsys):
    """Ctrl-C during prefer's reference pass printed a bare 'interrupted', without saying what was kept (train says
    'nothing trained yet; nothing saved')."""
    from conftest import run_cli
    from headstart.interrupts import Terminated
    from headstart.llm import dpo

    for stop, by in ((KeyboardInterrupt, "Ctrl-C"), (Terminated, "SIGTERM")):
        def stopped(*args, **kwargs):
            raise stop()

        monkeypatch.setattr(dpo, "sequence_logps", stopped)  # its first use is the reference pass, before any step
        code, out, err = run_cli(["prefer", "--data", str(pref_csv), "--backbone", str(tiny_lm), "--max-steps", "1",
                                  "--out", str(tmp_path / "dpo"), "-q"], monkeypatch, capsys)
        assert code == 130 and out == ""
        assert err == (f"interrupted by {by} while prefer set up, before its first step: nothing trained yet; nothing "
                       "saved; the same command starts again\n"), err
        assert not (tmp_path / "dpo" / "spec.json").exists()


def test_ctrl_c_while_sft_loads_its_model_says_nothing_was_saved(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    from conftest import run_cli
    from headstart.llm import lm

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt()

    monkeypatch.setattr(lm, "load_lm", stopped)
    code, out, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1",
                              "--out", str(tmp_path / "sft"), "-q"], monkeypatch, capsys)
    assert code == 130 and err.startswith("interrupted by Ctrl-C while sft set up, before its first step: nothing trained "
                                          "yet; nothing saved"), err
