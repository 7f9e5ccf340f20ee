"""Frozen bottom blocks computed once (headstart.activations): the cached path equals the full forward."""

import dataclasses

import numpy as np
import pytest
import torch

from headstart import activations, engine
from headstart.activations import PrefixCache, frozen_prefix
from headstart.engine import FitData, fit
from headstart.model import TaskModel
from headstart.objectives import TaskLoss
from headstart.specs import TrainConfig
from headstart.strategies import ParamGroup, Phase
from tests.conftest import tiny_bert

TEXTS = ["good", "a very long and rather winding review of a film", "bad film", "fine", "ok then so", "not bad at all"] * 4


def freeze_below(model: TaskModel, k: int) -> list[torch.nn.Parameter]:
    """Train blocks k.. and the head, as partial-freeze --freeze k does; returns what trains."""
    blocks = model.backbone.blocks()
    params = [p for b in blocks[k:] for p in b.parameters()] + list(model.head.parameters())
    engine.set_trainable(model, params)
    return params


def test_frozen_prefix_counts_the_frozen_bottom_blocks():
    model = TaskModel(tiny_bert(), 2, seed=0)
    assert len(model.backbone.blocks()) == 3  # embeddings + 2 layers
    for k in (0, 1, 2):
        freeze_below(model, k)
        assert frozen_prefix(model.backbone) == k
    freeze_below(model, 3)
    assert frozen_prefix(model.backbone) == 0  # nothing trains in the backbone: the feature cache's case


def test_cached_states_give_the_full_forward_and_its_gradients():
    model = TaskModel(tiny_bert(), 2, seed=0)
    trained = freeze_below(model, 2)
    encoded = model.backbone.encode(TEXTS)
    rows = np.arange(len(TEXTS))
    cache = PrefixCache.build(model.backbone, encoded, rows, batch_size=5)
    assert cache is not None and cache.k == 2
    assert all(cache.states[r].shape == (len(encoded[r]), model.backbone.dim) for r in rows)
    batch_rows = np.array([1, 4, 0, 7])
    batch = model.backbone.collate([encoded[r] for r in batch_rows])
    results = []
    for cached in (False, True):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the trained layer's dropout draws the same masks on both paths
        with cache.skipping(batch_rows) if cached else torch.enable_grad():
            out = model(batch)
        out.square().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in trained]))
    (full, full_grads), (fast, fast_grads) = results
    assert torch.allclose(full, fast, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(full_grads, fast_grads))
    assert all(p.grad is None for p in model.backbone.blocks()[0].parameters())
    assert not any("forward" in vars(b) for b in model.backbone.blocks())  # the class forwards are back
    with torch.no_grad():  # the frozen blocks are not run at all on the cached path
        for p in [*model.backbone.blocks()[0].parameters(), *model.backbone.blocks()[1].parameters()]:
            p.zero_()
    torch.manual_seed(0)
    with cache.skipping(batch_rows):
        assert torch.allclose(model(batch), fast, atol=1e-5)
    torch.manual_seed(0)
    assert not torch.allclose(model(batch), fast, atol=1e-3)


def test_no_cache_when_little_is_frozen_or_the_check_fails(monkeypatch):
    model = TaskModel(tiny_bert(), 2, seed=0)
    encoded = model.backbone.encode(TEXTS)
    rows = np.arange(len(TEXTS))
    freeze_below(model, 1)  # only the embeddings: a lookup, nothing worth caching
    assert PrefixCache.build(model.backbone, encoded, rows, batch_size=8) is None
    freeze_below(model, 2)
    monkeypatch.setattr(activations, "_pass_through", lambda hidden, *a, **k: 2 * hidden)  # an encoder unlike the assumption
    assert PrefixCache.build(model.backbone, encoded, rows, batch_size=8) is None
    monkeypatch.undo()
    monkeypatch.setattr(activations, "MAX_BYTES", 10)
    assert PrefixCache.build(model.backbone, encoded, rows, batch_size=8) is None


@pytest.mark.parametrize("k", [2])
def test_a_partial_freeze_phase_trains_the_same_with_and_without_the_cache(toy, monkeypatch, k):
    cfg = TrainConfig(precision="fp32", batch_size=8, warmup=0.0, patience=0, evals_per_phase=2).with_defaults({})
    results, built = [], []
    real_build = PrefixCache.build

    def spy(*args, **kwargs):
        cache = real_build(*args, **kwargs)
        built.append(cache)
        return cache

    entered = []
    real_skipping = PrefixCache.skipping
    monkeypatch.setattr(PrefixCache, "skipping", lambda self, rows: entered.append(len(rows)) or real_skipping(self, rows))
    for cached in (True, False):
        monkeypatch.setattr(engine.PrefixCache, "build", spy if cached else (lambda *a, **kw: None))
        model = TaskModel(tiny_bert(), 2, seed=0)
        data = FitData(encoded=model.backbone.encode(toy.inputs), targets=torch.as_tensor(toy.targets), raw_targets=toy.targets,
                       train_rows=np.arange(48), val_rows=np.arange(150, 200))
        blocks = model.backbone.blocks()
        phase = Phase("finetune", [ParamGroup("top", [p for b in blocks[k:] for p in b.parameters()], 1e-3),
                                   ParamGroup("head", list(model.head.parameters()), 1e-2)], 12)
        report = fit(model, [phase], TaskLoss("classification"), data, cfg, seed=3, task="classification",
                     label_names=("neg", "pos"), metric="accuracy")
        results.append((report, {n: p.detach().clone() for n, p in model.named_parameters()}))
    assert built and built[0] is not None and built[0].k == k  # the cached run built the cache
    assert len(entered) >= 12, entered  # ... and every training step went through it
    (fast, fast_params), (full, full_params) = results
    assert fast.best_step == full.best_step and fast.best_score == pytest.approx(full.best_score)
    for name in full_params:
        assert torch.allclose(fast_params[name], full_params[name], atol=1e-5), name


def test_the_engine_does_not_cache_while_every_block_trains(toy, monkeypatch):
    built = []
    real_build = PrefixCache.build
    monkeypatch.setattr(engine.PrefixCache, "build", lambda *a, **kw: built.append(real_build(*a, **kw)) or built[-1])
    model = TaskModel(tiny_bert(), 2, seed=0)
    data = FitData(encoded=model.backbone.encode(toy.inputs), targets=torch.as_tensor(toy.targets), raw_targets=toy.targets,
                   train_rows=np.arange(16), val_rows=np.arange(150, 170))
    cfg = dataclasses.replace(TrainConfig(precision="fp32", batch_size=8, warmup=0.0).with_defaults({}), evals_per_phase=1)
    fit(model, [Phase("all", [ParamGroup("all", list(model.parameters()), 1e-3)], 2)], TaskLoss("classification"), data, cfg,
        seed=0, task="classification", label_names=("neg", "pos"), metric="accuracy")
    assert built == [None]
