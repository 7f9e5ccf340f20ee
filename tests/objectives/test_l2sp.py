"""Tests of headstart/objectives/l2sp.py and the objective-term plumbing (spec, key, engine step)."""

from __future__ import annotations

import pytest
import torch

from headstart.errors import ConfigError
from headstart.objectives.l2sp import l2sp_penalty
from headstart.recipe import setup, train
from headstart.arm_text import parse_arm
from headstart.specs import RunSpec, TrainConfig

FAST = TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2, patience=0)


def test_penalty_is_half_alpha_times_the_squared_distance():
    params = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    anchors = [torch.tensor([0.0, 0.0]), torch.tensor([[1.0]])]
    assert l2sp_penalty(params, anchors, 0.1).item() == pytest.approx(0.5 * 0.1 * (1 + 4 + 4))


def _drift(toy, make_tiny, terms) -> float:
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST, terms=terms), data=toy,
              pretrained=make_tiny(0))
    before = {n: p.detach().clone() for n, p in s.model.backbone.named_parameters()}
    report = train(s)
    assert report.status == "done"
    return sum((p.detach() - before[n]).pow(2).sum().item() for n, p in s.model.backbone.named_parameters())


def test_l2sp_keeps_the_backbone_nearer_its_starting_weights(toy, make_tiny):
    free = _drift(toy, make_tiny, {})
    held = _drift(toy, make_tiny, {"l2sp": {"weight": 10.0}})
    assert held < 0.5 * free, (held, free)


def test_a_term_is_part_of_the_run_key_and_its_absence_changes_nothing(toy, make_tiny):
    def resolved(**kw):
        return setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=FAST, **kw), data=toy,
                     pretrained=make_tiny(0)).resolved()

    plain, held = resolved(), resolved(terms={"l2sp": {}})
    assert "terms" not in plain, "runs without terms keep their keys"
    assert held["terms"] == {"l2sp": {"weight": 1.0}}
    assert resolved(terms={"l2sp": {"weight": 1.0}}) == held, "an explicit default is the same run"


@pytest.mark.parametrize("strategy, why", [("linear-probe", "trains only a new head"),
                                           ("scratch", "no pre-trained weights or features to keep")])
def test_a_weight_penalty_is_refused_where_it_means_nothing(strategy, why, toy, make_tiny):
    with pytest.raises(ConfigError, match=f"l2sp cannot be used with {strategy}: .*{why}"):
        setup(RunSpec(data="toy", backbone="tiny", strategy=strategy, n=32, train=FAST, terms={"l2sp": {}}), data=toy,
              pretrained=make_tiny(0)).resolved()


def test_bad_terms_name_the_value():
    with pytest.raises(ConfigError, match="unknown objective term 'l2p'; did you mean 'l2sp'"):
        RunSpec(terms={"l2p": {}})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['alpha'\] for objective term 'l2sp'"):
        RunSpec(terms={"l2sp": {"alpha": 1}})
    with pytest.raises(ConfigError, match="l2sp weight must be a finite number > 0, got -1; e.g. l2sp"):
        RunSpec(terms={"l2sp": {"weight": -1}})
    with pytest.raises(ConfigError, match="l2sp weight must be a finite number > 0, got 'abc', not a number; e.g. l2sp"):
        RunSpec(terms={"l2sp": {"weight": "abc"}})  # as --terms 'l2sp[weight=abc]' reads it
    with pytest.raises(ConfigError, match="l2sp weight must be a finite number > 0, got inf"):
        RunSpec(terms={"l2sp": {"weight": float("inf")}})


def test_arms_are_read_as_strategy_options_training_and_terms():
    assert parse_arm("full-finetune+l2sp[weight=0.01]") == ("full-finetune", {}, {}, {"l2sp": {"weight": 0.01}})
    assert parse_arm("lora[rank=4]") == ("lora", {"rank": 4}, {}, {})
    assert parse_arm("llrd[decay=0.8, lr=5e-5]+l2sp") == ("llrd", {"decay": 0.8}, {"lr": 5e-5}, {"l2sp": {}})
    with pytest.raises(ConfigError, match=r"cannot read arm .lora\[rank=4."):
        parse_arm("lora[rank=4")
