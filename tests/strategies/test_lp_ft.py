"""lp-ft: a probe phase (head only) then a fine-tune phase (everything, at the small lr)."""

from __future__ import annotations

from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def plan(make_tiny, cfg=TrainConfig(), budget=Budget(steps=40, steps_per_epoch=4)):
    strategy = get_strategy("lp-ft")
    model = TaskModel(make_tiny(0), 2, seed=0)
    return model, strategy.plan(model, strategy.options({}), cfg.with_defaults(strategy.defaults), budget)


def test_probe_then_all(make_tiny):
    model, (probe, finetune) = plan(make_tiny)
    assert {id(p) for p in probe.params} == {id(p) for p in model.head.parameters()}
    assert [g.lr for g in probe.groups] == [1e-3]
    assert {id(p) for p in finetune.params} == {id(p) for p in model.parameters()}
    assert {g.lr for g in finetune.groups} == {1e-4}
    assert probe.steps == 300 and finetune.steps == 40


def test_max_steps_caps_the_probe(make_tiny):
    _, (probe, finetune) = plan(make_tiny, TrainConfig(max_steps=20), Budget(steps=20, steps_per_epoch=4))
    assert probe.steps == 20 and finetune.steps == 20


def test_probe_runs_on_cached_features_then_finetune_on_the_backbone(toy, make_tiny, monkeypatch):
    """The probe phase never runs the backbone per step; the fine-tune phase does."""

    from headstart.recipe import setup, train
    from headstart.specs import RunSpec

    cfg = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32", patience=0, evals_per_phase=1)
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="lp-ft", n=32, train=cfg), data=toy, pretrained=make_tiny(0))
    seen = []
    original = type(s.model.backbone).forward
    monkeypatch.setattr(type(s.model.backbone), "forward", lambda self, batch: seen.append(len(batch["input_ids"])) or original(self, batch))
    train(s)
    # features once for the 32 train + val rows, then 6 fine-tune steps of 8, then one validation pass.
    assert sum(seen) == 32 + len(s.splits.val) + 6 * 8 + len(s.splits.val)
