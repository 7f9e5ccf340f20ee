"""Tests of headstart/objectives/importance.py: density-ratio weights from a domain classifier, the weighted task
loss, and a run whose training examples that look like the target count more."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from headstart.errors import ConfigError
from headstart.objectives.importance import density_ratio_weights
from headstart.objectives.task import TaskLoss
from headstart.recipe import setup, term_context, train
from headstart.specs import RunSpec
from test_ewc import FAST


def test_weights_favour_source_examples_that_look_like_the_target_and_stay_near_one_without_a_shift():
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + np.array([1.5, 0, 0, 0])
    train = rng.normal(size=(64, 4))
    weights, summary = density_ratio_weights(source, target, train, clip=10.0, seed=0)
    assert weights.mean() == pytest.approx(1.0) and weights.max() <= 10.0 + 1e-9
    assert spearmanr(train[:, 0], weights)[0] > 0.9, "the further along the shift, the heavier"
    assert summary["domain_accuracy"] > 0.7 and summary["ess"] < 64
    same, alike = density_ratio_weights(source, rng.normal(size=(400, 4)), train, clip=10.0, seed=0)
    assert alike["domain_accuracy"] < 0.6 and np.abs(same - 1).max() < 0.5 and alike["ess"] > 60
    clipped, summary = density_ratio_weights(source, target + np.array([3.0, 0, 0, 0]), train, clip=2.0, seed=0)
    assert clipped.max() <= 2.0 + 1e-9 and summary["clipped"] > 0


def test_the_weighted_loss_is_the_plain_one_at_unit_weights_and_ignores_a_zero_weight_example():
    torch.manual_seed(0)
    outputs, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    for loss in (TaskLoss("classification"), TaskLoss("classification", torch.tensor([1.0, 2.0, 0.5]))):
        assert loss(outputs, targets, torch.ones(6)).item() == pytest.approx(loss(outputs, targets).item(), rel=1e-6)
    zero_last = torch.tensor([1.0, 1, 1, 1, 1, 0])
    plain = TaskLoss("classification")
    assert plain(outputs, targets, zero_last).item() == pytest.approx(plain(outputs[:5], targets[:5]).item() * 5 / 6, rel=1e-6)
    regression = TaskLoss("regression")
    y = torch.randn(6)
    assert regression(outputs[:, :1], y, 2 * torch.ones(6)).item() == pytest.approx(2 * regression(outputs[:, :1], y).item())


def test_a_run_weights_the_examples_that_look_like_the_target_and_trains_differently(toy, make_tiny, tmp_path):
    """A target whose texts carry one filler word four more times: the task's examples that happen to use that word
    more get more weight, the run records how far apart the domains are, and its weights differ from an unweighted run."""
    from conftest import FILLER, make_toy

    shifted = make_toy(300, seed=5)
    target = tmp_path / "shifted.csv"
    pd.DataFrame({"text": [f"{t} {' '.join([FILLER[1]] * 4)}" for t in shifted.inputs],
                  "label": [shifted.label_names[y] for y in shifted.targets]}).to_csv(target, index=False)

    def run(strategy: str, terms: dict):
        s = setup(RunSpec(data="toy", backbone="tiny", strategy=strategy, n=64, train=FAST, terms=terms), data=toy,
                  pretrained=make_tiny(0))
        report = train(s)
        assert report.status == "done"
        return s, report

    terms = {"importance": {"data": str(target), "rows": 128}}
    for strategy in ("full-finetune", "linear-probe"):  # the probe's head on cached features takes the weighted path too
        s, report = run(strategy, terms)
        assert report.estimates["importance"]["domain_accuracy"] > 0.8 and report.estimates["importance"]["ess"] < 64
        assert "importance" not in report.chosen, "the weights' stats are what the term estimated, not a choice on validation"
        plain, _ = run(strategy, {})
        assert not torch.equal(s.model.head.weight, plain.model.head.weight), strategy
    from headstart.objectives import build_objective
    from headstart.strategies import get_strategy

    objective = build_objective(s.model, get_strategy("linear-probe"), terms, term_context(s))
    uses = np.array([toy.inputs[r].split().count(FILLER[1]) for r in s.train_rows])
    weights = objective.example_weights.numpy()
    assert spearmanr(uses, weights)[0] > 0.5, "examples using the target's word more weigh more"


def test_bad_options_and_a_closed_form_strategy_are_refused(toy, make_tiny):
    for terms, message in [({"importance": {}}, "importance aligns the features with a target domain's unlabelled inputs"),
                           ({"importance": {"data": "x", "clip": 1}}, r"importance clip must be a number > 1"),
                           ({"importance": {"data": "x", "rows": 0}}, "importance rows must be a positive integer")]:
        with pytest.raises(ConfigError, match=message):
            train(setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=FAST, terms=terms),
                        data=toy, pretrained=make_tiny(0)))
    with pytest.raises(ConfigError, match="importance cannot be used with embed-logreg: it is fitted by a closed-form solver"):
        train(setup(RunSpec(data="toy", backbone="tiny", strategy="embed-logreg", n=32, train=FAST,
                            terms={"importance": {"data": "x"}}), data=toy, pretrained=make_tiny(0)))


def test_runs_stored_with_the_estimates_under_chosen_still_read():
    """The weights' stats were stored under a run's ``chosen`` (what validation chose); they are ``record["estimates"]``
    now, and the runs in users' stores that kept them the old way read the same."""
    from headstart.analysis.adaptation import estimates
    from headstart.results import RunResult, chosen_on_validation, term_estimates

    stats = {"domain_accuracy": 0.9, "ess": 20.0, "clipped": 1}
    spec = {"strategy": "full-finetune", "n": 32, "seed": 0, "options": {}, "terms": {"importance": {"data": "x"}}}
    old = RunResult(key="a", spec=spec, status="done", chosen={"lr": 1e-4, "importance": stats})
    new = RunResult(key="b", spec={**spec, "seed": 1}, status="done", chosen={"lr": 1e-4},
                    record={"estimates": {"importance": {**stats, "ess": 30.0}}})
    assert term_estimates(old) == {"importance": stats} and term_estimates(new)["importance"]["ess"] == 30.0
    assert chosen_on_validation(old.chosen) == chosen_on_validation(new.chosen) == {"lr": 1e-4}
    assert estimates([old, new])["importance"] == {"domain_accuracy": 0.9, "ess": 25.0, "clipped": 1.0}


def test_train_says_the_weights_stats_as_estimates_not_as_a_choice(toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """train printed "chosen on validation: importance={'domain_accuracy': ...}"; metrics.json kept them under chosen."""
    import json

    from conftest import run_cli

    code, out, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe",
                              "--n", "32", "--max-steps", "2", "--terms", f"importance[data={other_csv},rows=32]",
                              "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert code in (0, None), err
    assert "chosen on validation" not in out and "importance estimated before training: domain_accuracy=" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "importance" not in metrics["chosen"] and set(metrics["estimates"]["importance"]) == {"domain_accuracy", "ess", "clipped"}
