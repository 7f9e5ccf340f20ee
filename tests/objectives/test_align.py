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
