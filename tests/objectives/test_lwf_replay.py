"""Tests of headstart/objectives/lwf.py and replay.py: the feature distance, the replayed loss, and both in a run."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from headstart.errors import ConfigError
from headstart.objectives.lwf import feature_distance
from headstart.recipe import setup, train
from headstart.specs import RunSpec
from test_ewc import FAST, _drift  # the same budget and drift measure as EWC's tests


def test_feature_distance_is_relative_and_zero_when_unchanged():
    original = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert feature_distance(original, original).item() == 0.0
    assert feature_distance(torch.zeros(2, 2), original).item() == pytest.approx(1.0), "collapsed features cost 1"
    assert feature_distance(2 * original, original).item() == pytest.approx(1.0)


def test_lwf_keeps_the_backbone_nearer_its_starting_weights(toy, make_tiny):
    free = _drift(toy, make_tiny, {})
    held = _drift(toy, make_tiny, {"lwf": {"weight": 100.0, "rows": 32}})
    assert held < 0.5 * free, (held, free)


def test_replay_keeps_the_earlier_tasks_head_working(toy, make_tiny, other_csv, monkeypatch):
    """Every step replays one batch of the earlier task, and training lowers that task's loss under its fixed head
    (a strong weight: the replayed loss is what the optimiser mostly sees)."""
    import headstart.objectives.replay as replay

    losses = []
    real = replay.cross_entropy

    def recorded(logits, y):
        loss = real(logits, y)
        losses.append(loss.item())
        return loss

    monkeypatch.setattr(replay, "cross_entropy", recorded)
    assert _drift(toy, make_tiny, {"replay": {"data": str(other_csv), "weight": 100.0, "rows": 64, "batch": 16}}) > 0
    assert len(losses) == 30, "one replayed batch a step"
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4  # the buffer of 64 is four batches: the same rows
    assert last < first, (first, last)


def test_replay_refuses_the_runs_own_data_and_needs_a_dataset(toy_csv, make_tiny):
    from headstart.data import load_dataset

    data = load_dataset(str(toy_csv))
    with pytest.raises(ConfigError, match="is this run's own dataset"):
        s = setup(RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=FAST,
                          terms={"replay": {"data": str(toy_csv)}}), data=data, pretrained=make_tiny(0))
        train(s)
    with pytest.raises(ConfigError, match=r"replay needs the earlier task to rehearse: e.g. replay\[data=drug-reviews\]"):
        setup(RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=FAST, terms={"replay": {}}),
              data=data, pretrained=make_tiny(0)).resolved()


@pytest.mark.parametrize("term", ["lwf", "replay"])
def test_a_head_only_strategy_is_refused_with_the_reason(term, toy, make_tiny):
    with pytest.raises(ConfigError, match=f"{term} cannot be used with linear-probe: it trains only a new head"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, train=FAST,
                      terms={term: {"data": "x"} if term == "replay" else {}}), data=toy, pretrained=make_tiny(0)).resolved()


def test_ewc_on_an_earlier_tasks_inputs_and_unset_options_stay_out_of_the_key(toy, make_tiny, other_csv, monkeypatch):
    import headstart.objectives.ewc as ewc

    estimates = []
    real = ewc.fisher_diagonal

    def recorded(model, reference, *args, **kwargs):
        estimates.append(real(model, reference, *args, **kwargs))
        return estimates[-1]

    monkeypatch.setattr(ewc, "fisher_diagonal", recorded)
    held = _drift(toy, make_tiny, {"ewc": {"weight": 10.0, "samples": 16, "data": str(other_csv)}})
    assert held > 0
    ewc._FISHER.clear()
    _drift(toy, make_tiny, {"ewc": {"weight": 10.0, "samples": 16}})
    (other, own) = estimates
    assert not all(torch.allclose(a, b) for a, b in zip(other, own)), "the Fisher is taken on the other dataset's inputs"
    resolved = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=FAST, terms={"ewc": {}}),
                     data=toy, pretrained=make_tiny(0)).resolved()
    assert resolved["terms"] == {"ewc": {"weight": 1.0, "samples": 64}}, "a new unset option leaves earlier keys as they were"


def test_a_dataset_both_replayed_and_retained_is_refused(toy, make_tiny, other_csv):
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=FAST,
                   terms={"replay": {"data": str(other_csv)}}, retain=(str(other_csv),))
    with pytest.raises(ConfigError, match="replay rehearses .* while --retain .* measures forgetting on it"):
        setup(spec, data=toy, pretrained=make_tiny(0)).resolved()


def test_replay_and_retain_of_one_dataset_are_refused_before_any_training(toy_csv, make_tiny, other_csv, monkeypatch):
    import headstart.recipe as recipe

    monkeypatch.setattr(recipe, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    relative = str(other_csv.relative_to(other_csv.parent.parent))
    monkeypatch.chdir(other_csv.parent.parent)
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=FAST,
                   terms={"replay": {"data": relative}}, retain=(str(other_csv),))  # one file, two spellings
    with pytest.raises(ConfigError, match="replay rehearses"):
        recipe.run(spec, pretrained=make_tiny(0))


@pytest.mark.parametrize("term", ["replay", "ewc"])
def test_a_terms_unknown_dataset_is_refused_before_any_training(term, toy_csv, make_tiny, tiny_registry, monkeypatch):
    """As train refuses it, so does a compare's plan: before the leakage line, with no cell in the store. The datasets
    it lists are those the term can read: text classification ones (drug-reviews-rating, a regression dataset, is
    refused by the same checks: below), the run's own data left out."""
    import headstart
    import headstart.recipe as recipe
    import headstart.sweep as sweep
    from headstart.data import REGISTRY
    from headstart.errors import DataError
    from headstart.run_checks import check_other_data

    monkeypatch.setattr(recipe, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=FAST, terms={term: {"data": "nope"}})
    usable = sorted(n for n, d in REGISTRY.items() if d.modality == "text" and d.task == "classification")
    with pytest.raises(DataError, match=re.escape(f"{term}[data=nope] is an unknown dataset (built-in text classification "
                                                  f"datasets: {', '.join(usable)}; or a file's path)")):
        recipe.run(spec, pretrained=make_tiny(0))
    assert "drug-reviews-rating" not in usable and "rotten-tomatoes" in usable
    with pytest.raises(DataError) as refused:  # a run on a built-in dataset: not offered its own data
        check_other_data([dataclasses.replace(spec, data="rotten-tomatoes")], "text")
    assert f"datasets: {', '.join(u for u in usable if u != 'rotten-tomatoes')}; or" in str(refused.value), str(refused.value)
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: pytest.fail("the sweep ran before refusing"))
    with pytest.raises(DataError, match=re.escape(f"{term}[data=nope] is an unknown dataset")):
        headstart.compare(str(toy_csv), backbone="tiny", arms=f"full-finetune+{term}[data=nope]", sizes=[16], seeds=1,
                          out=str(toy_csv.parent / "cmp"), config=FAST, tune=None)
    assert not (toy_csv.parent / "cmp").exists()


def test_a_term_reading_the_runs_own_data_is_refused_before_any_model_is_built(toy_csv, tmp_path, monkeypatch):
    """replay[data=<the run's own data>] was refused only as the term was prepared, after the backbone and the run's
    setup — in a compare, by every cell in turn; now by the checks a run and a sweep's plan make first, however the
    path is written."""
    from headstart.run_checks import check_other_data

    monkeypatch.chdir(toy_csv.parent)
    for term in ("replay", "coral"):
        spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, terms={term: {"data": toy_csv.name}})
        with pytest.raises(ConfigError, match=rf"^{term}\[data=toy.csv\]: 'toy.csv' is this run's own dataset; {term} reads "
                                              rf"another dataset \(an earlier task, or a target domain's inputs\), e.g. "
                                              rf"{term}\[data=drug-reviews\]$"):
            check_other_data([spec], "text")


def test_a_term_reading_a_dataset_of_another_task_or_modality_is_refused_before_any_model_is_built(toy_csv, monkeypatch):
    """replay[data=drug-reviews-rating] (a regression dataset) and dann[data=fashion-mnist] (images for a text run)
    were refused only once the term was prepared, after the backbone and the run's setup ("preparing replay before the
    first step", then the error); now by the checks a run and a sweep's plan make first, with a dataset it can read."""
    import headstart.recipe as recipe
    from headstart.run_checks import check_other_data

    monkeypatch.setattr(recipe, "setup", lambda *a, **k: pytest.fail("set up before refusing"))
    cases = {("replay", "drug-reviews-rating"): "a text regression dataset; replay reads a text classification dataset",
             ("ewc", "drug-reviews-rating"): "a text regression dataset; ewc reads a text classification dataset",
             ("dann", "fashion-mnist"): "an image classification dataset; dann reads a text dataset"}
    for (term, name), said in cases.items():
        spec = RunSpec(data="rotten-tomatoes", backbone="tiny", strategy="full-finetune", n=32, terms={term: {"data": name}})
        with pytest.raises(ConfigError, match=rf"^{term}\[data={name}\]: '{name}' is {said}, e.g. {term}\[data=drug-reviews\]$"):
            check_other_data([spec], "text")
    check_other_data([RunSpec(data="rotten-tomatoes", backbone="tiny", strategy="full-finetune", n=32,
                              terms={"dann": {"data": "drug-reviews-rating"}})], "text")  # its inputs are text: read
