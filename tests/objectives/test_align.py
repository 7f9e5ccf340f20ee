"""Tests of headstart/objectives/coral.py and mmd.py: the distances, and that each term pulls the encoder's features
of the task's inputs and of an unlabelled target domain's inputs together in a run."""

from __future__ import annotations

import functools

import pytest
import torch

from headstart.errors import ConfigError
from headstart.objectives.coral import coral_distance
from headstart.objectives.mmd import mmd_distance
from headstart.recipe import setup, term_context, train
from headstart.specs import RunSpec
from test_ewc import FAST


def test_the_distances_are_zero_for_one_distribution_and_grow_with_the_shift():
    torch.manual_seed(0)
    a, b = torch.randn(256, 8), torch.randn(256, 8)
    for distance in (coral_distance, mmd_distance):
        assert distance(a, a).item() == pytest.approx(0.0, abs=1e-6)
        near, far = distance(a, b).item(), distance(a, 3 * b + 2).item()
        assert far > 5 * near, (distance.__name__, near, far)


def _gap(toy, make_tiny, other_csv, terms, distance) -> float:
    """``distance`` between the trained encoder's features of 128 task inputs and 128 target inputs."""
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST, terms=terms), data=toy,
              pretrained=make_tiny(0))
    assert train(s).status == "done"
    context = term_context(s)
    s.model.eval()
    with torch.no_grad():
        source = torch.cat([s.model.backbone(b) for b in context.reference(128, 64)])
        target = torch.cat([s.model.backbone(b) for b in context.unlabelled(str(other_csv), 128, 64)])
    return distance(source.float(), target.float()).item()


@pytest.mark.parametrize("term, distance", [("coral", coral_distance), ("mmd", functools.partial(mmd_distance, unbiased=True))])
def test_each_term_brings_the_two_domains_features_together(term, distance, toy, make_tiny, other_csv):
    """Measured on 128 inputs of each domain, half of them not among those the term saw; MMD by its unbiased estimate
    (the biased one the term minimises has a floor of its own at this sample size)."""
    free = _gap(toy, make_tiny, other_csv, {}, distance)
    aligned = _gap(toy, make_tiny, other_csv, {term: {"data": str(other_csv), "weight": 100.0, "rows": 64}}, distance)
    assert aligned < 0.5 * free, (term, aligned, free)


@pytest.mark.parametrize("term", ["coral", "mmd"])
def test_a_target_is_required_and_a_head_only_strategy_or_the_runs_own_data_is_refused(term, toy, toy_csv, make_tiny):
    with pytest.raises(ConfigError, match=rf"{term} aligns the features with a target domain's unlabelled inputs; name it"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=FAST, terms={term: {}}),
              data=toy, pretrained=make_tiny(0)).resolved()
    with pytest.raises(ConfigError, match=f"{term} cannot be used with linear-probe: it trains only a new head"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, train=FAST, terms={term: {"data": "x"}}),
              data=toy, pretrained=make_tiny(0)).resolved()
    from headstart.data import load_dataset

    with pytest.raises(ConfigError, match="is this run's own dataset; the target domain is another dataset's inputs"):
        s = setup(RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=FAST,
                          terms={term: {"data": str(toy_csv)}}), data=load_dataset(str(toy_csv)), pretrained=make_tiny(0))
        train(s)


def test_dann_makes_the_domains_harder_to_tell_apart_and_trains_its_own_classifier(toy, make_tiny, tmp_path, monkeypatch):
    """A target whose texts all carry one filler word four more times: easy to tell apart by mean-pooled features. The
    domain classifier trains either way; behind the gradient reversal the encoder fights it, so over the last steps it
    is right less often than the same classifier with the reversal off (γ = 0: the encoder left alone)."""
    import pandas as pd

    import headstart.objectives.dann as dann
    from conftest import FILLER, make_toy

    x = torch.ones(3, requires_grad=True)
    dann.reverse_gradient(x, 0.5).sum().backward()
    assert x.grad.tolist() == [-0.5] * 3 and dann.ganin_gamma(0.0) == 0.0 and 0.99 < dann.ganin_gamma(1.0) < 1.0
    shifted = make_toy(300, seed=5)
    target = tmp_path / "shifted.csv"
    pd.DataFrame({"text": [f"{t} {' '.join([FILLER[0]] * 4)}" for t in shifted.inputs],
                  "label": [shifted.label_names[y] for y in shifted.targets]}).to_csv(target, index=False)
    built = []
    real_build = dann.DANN.build

    def build(self, model, options, context):
        penalty = real_build(self, model, options, context)
        built.append(penalty)
        return penalty

    monkeypatch.setattr(dann.DANN, "build", build)

    def late_accuracy(reverse: bool) -> float:
        if not reverse:
            monkeypatch.setattr(dann, "ganin_gamma", lambda progress: 0.0)
        s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST,
                          terms={"dann": {"data": str(target), "weight": 10.0, "rows": 64}}), data=toy, pretrained=make_tiny(0))
        assert train(s).status == "done"
        history = built[-1].accuracies
        assert len(history) == 30, "one domain batch pair a step"
        return sum(history[-10:]) / 10

    fought = late_accuracy(reverse=True)
    alone = late_accuracy(reverse=False)  # second: it turns the reversal off for the rest of the test
    assert alone > 0.8, ("the classifier learns to tell the domains apart: its own weights train", alone)
    assert fought < alone - 0.1, (fought, alone)
