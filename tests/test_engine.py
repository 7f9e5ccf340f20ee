"""The training loop: best-weights restore, accumulation, schedules, divergence, determinism, batching."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from headstart import engine
from headstart.engine import FitData, fit, lr_factor, train_batches
from headstart.model import TaskModel
from headstart.objectives import TaskLoss, class_weights
from headstart.solve import backbone_features
from headstart.specs import TrainConfig
from headstart.strategies import ParamGroup, Phase

CFG = TrainConfig(precision="fp32", batch_size=8, warmup=0.0, patience=0, evals_per_phase=5).with_defaults({})


def setup_fit(toy, make_tiny, n_train: int = 64):
    model = TaskModel(make_tiny(0), 2, seed=0)
    data = FitData(encoded=model.backbone.encode(toy.inputs), targets=torch.as_tensor(toy.targets), raw_targets=toy.targets,
                   train_rows=np.arange(n_train), val_rows=np.arange(150, 200))
    return model, data


def phase(model, steps: int, lr: float = 1e-2, **kw) -> Phase:
    return Phase("train", [ParamGroup("all", list(model.parameters()), lr)], steps, **kw)


def run(model, data, phases, cfg=CFG, loss_fn=TaskLoss("classification"), seed: int = 0):
    return fit(model, phases, loss_fn, data, cfg, seed=seed, task="classification", label_names=("neg", "pos"), metric="accuracy")


def test_patience_spent_at_the_last_check_is_not_an_early_stop(toy, make_tiny, monkeypatch):
    """The bar said "100/100 stopped early at step 100 of 100" when the last check used up the patience."""
    model, data = setup_fit(toy, make_tiny)
    scores = iter([0.1, 0.2, 0.3, 0.9, 0.5])
    monkeypatch.setattr(engine, "selection_score", lambda metrics, metric: next(scores))
    shown = []
    report = fit(model, [phase(model, 10)], TaskLoss("classification"), data, dataclasses.replace(CFG, patience=1), seed=0,
                 task="classification", label_names=("neg", "pos"), metric="accuracy",
                 progress=lambda done, total, info: shown.append((done, total, info)))
    assert report.steps == 10 and shown[-1] == (10, 10, {"phase": "train"})


def test_clip_bounds_the_gradient_each_step_and_zero_turns_it_off(toy, make_tiny, monkeypatch):
    """--clip C: every optimiser step sees the clipped groups' gradient norm at most C (a lr of 10 makes them large);
    --clip 0 clips nothing."""
    norms = []
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    for clip in (0.05, 0.0):
        model, data = setup_fit(toy, make_tiny)
        norms.clear()
        run(model, data, [phase(model, 6, lr=10.0)], dataclasses.replace(CFG, clip=clip))
        assert len(norms) == 6, norms
        if clip:
            assert max(norms) <= clip * 1.001, norms
        else:
            assert max(norms) > 0.05, "unclipped, the same steps' gradients are larger than the clip above"


def test_early_stopping_restores_the_best_weights(toy, make_tiny, monkeypatch):
    model, data = setup_fit(toy, make_tiny)
    scores = iter([0.1, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0])
    snapshots = []
    real = engine.model_outputs

    def spy(*args, **kwargs):
        snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "model_outputs", spy)
    monkeypatch.setattr(engine, "selection_score", lambda metrics, metric: next(scores))
    cfg = dataclasses.replace(CFG, patience=2, evals_per_phase=10)
    shown = []
    report = fit(model, [phase(model, 20)], TaskLoss("classification"), data, cfg, seed=0, task="classification",
                 label_names=("neg", "pos"), metric="accuracy", progress=lambda done, total, info: shown.append((done, total, info)))
    # Evaluations every 2 steps; best at the 2nd (step 4); 2 worse checks later (step 8) the phase stops.
    assert [h["step"] for h in report.history] == [2, 4, 6, 8]
    assert shown[-1] == (8, 8, {"phase": "train", "stopped early": "at step 8 of 20"}), "the bar ends at the steps run, and says why"
    assert report.best_step == 4 and report.best_score == 0.9 and report.steps == 8
    for name, p in model.named_parameters():
        assert torch.equal(p, snapshots[1][name]), name
    assert not torch.equal(model.head.weight, snapshots[-1]["head.weight"])


@pytest.mark.parametrize("affine", [True, False])
def test_early_stopping_restores_the_best_steps_batchnorm_statistics(toy, make_tiny, monkeypatch, affine):
    """BatchNorm in training mode moves its running statistics every step: the best step's weights come back with
    that step's statistics, not the last step's. Without affine parameters the norm owns nothing that trains, but it
    still runs in training mode inside a trained backbone."""
    model, data = setup_fit(toy, make_tiny)
    model.backbone.norm = torch.nn.BatchNorm1d(model.backbone.dim, affine=affine)
    norm = model.backbone.norm
    scores = iter([0.1, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0])
    snapshots = []
    real = engine.model_outputs

    def spy(*args, **kwargs):
        snapshots.append({n: b.detach().clone() for n, b in norm.named_buffers()})
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "model_outputs", spy)
    monkeypatch.setattr(engine, "selection_score", lambda metrics, metric: next(scores))
    report = run(model, data, [phase(model, 20)], dataclasses.replace(CFG, patience=2, evals_per_phase=10))
    assert report.best_step == 4 and report.steps == 8
    assert snapshots[1]["num_batches_tracked"] == 4 and snapshots[-1]["num_batches_tracked"] == 8
    for name, b in norm.named_buffers():
        assert torch.equal(b, snapshots[1][name]), f"{name} is {b}, expected the best step's {snapshots[1][name]}"
    assert not torch.equal(norm.running_mean, snapshots[-1]["running_mean"])


def test_without_patience_the_phase_runs_to_the_end_and_still_restores_best(toy, make_tiny, monkeypatch):
    model, data = setup_fit(toy, make_tiny)
    scores = iter([0.2, 0.8, 0.1, 0.1, 0.1])
    monkeypatch.setattr(engine, "selection_score", lambda metrics, metric: next(scores))
    report = run(model, data, [phase(model, 10)], dataclasses.replace(CFG, patience=0))
    assert report.steps == 10 and report.best_step == 4


def test_params_a_later_phase_trains_are_reset_when_the_best_is_earlier(toy, make_tiny, monkeypatch):
    model, data = setup_fit(toy, make_tiny)
    initial = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    scores = iter([0.9, 0.1, 0.1, 0.1])
    monkeypatch.setattr(engine, "selection_score", lambda metrics, metric: next(scores))
    phases = [Phase("probe", [ParamGroup("head", list(model.head.parameters()), 1e-2)], 2),
              Phase("all", [ParamGroup("all", list(model.parameters()), 1e-2)], 6)]
    report = run(model, data, phases, dataclasses.replace(CFG, evals_per_phase=2))
    assert report.best_step == 1
    for n, p in model.backbone.named_parameters():
        assert torch.equal(p, initial[n]), n


def test_gradient_accumulation_equals_one_big_batch(toy, make_tiny):
    model_a, data = setup_fit(toy, make_tiny, n_train=32)
    model_b = copy.deepcopy(model_a)
    big = dataclasses.replace(CFG, batch_size=32, accumulate=1)
    small = dataclasses.replace(CFG, batch_size=8, accumulate=4)
    run(model_a, data, [phase(model_a, 1)], big)
    run(model_b, data, [phase(model_b, 1)], small)
    moved = False
    for (n, a), b, before in zip(model_a.named_parameters(), model_b.parameters(), setup_fit(toy, make_tiny, 32)[0].parameters()):
        assert torch.allclose(a, b, atol=1e-6), n
        moved |= not torch.equal(a, before)
    assert moved


def test_lr_warmup_rises_linearly():
    factors = [lr_factor(s, 100, warmup=0.1, schedule="cosine") for s in range(11)]
    steps = np.diff(factors[:10])
    assert np.allclose(steps, steps[0]) and steps[0] > 0
    assert factors[9] < 1 and factors[10] == 1.0


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_lr_schedules(schedule):
    total = 50
    factors = np.asarray([lr_factor(s, total, warmup=0.0, schedule=schedule) for s in range(total + 1)])
    assert factors[0] == 1.0
    if schedule == "constant":
        assert np.all(factors == 1.0)
        return
    assert np.all(np.diff(factors) < 0)
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)  # decays to 0 at the end of the phase
    if schedule == "linear":
        assert np.allclose(np.diff(factors), -1 / total)
    else:
        assert factors[total // 2] == pytest.approx(0.5)
        assert np.allclose(factors, 0.5 * (1 + np.cos(np.pi * np.arange(total + 1) / total)))


def test_engine_applies_the_schedule(toy, make_tiny, monkeypatch):
    model, data = setup_fit(toy, make_tiny)
    seen = []
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    run(model, data, [phase(model, 10, lr=1.0)], dataclasses.replace(CFG, warmup=0.2, schedule="linear"))
    assert seen == pytest.approx([lr_factor(s, 10, warmup=0.2, schedule="linear") for s in range(10)])


def test_nan_loss_is_diverged_with_the_step(toy, make_tiny):
    model, data = setup_fit(toy, make_tiny)
    calls = []

    def loss_fn(outputs, targets):
        calls.append(1)
        loss = TaskLoss("classification")(outputs, targets)
        return loss * float("nan") if len(calls) == 3 else loss

    report = run(model, data, [phase(model, 10)], loss_fn=loss_fn)
    assert report.status == "diverged"
    assert "loss became nan at step 3" in report.error and "lower the learning rate" in report.error
    assert report.steps == 2


def test_inf_loss_is_diverged(toy, make_tiny):
    model, data = setup_fit(toy, make_tiny)
    report = run(model, data, [phase(model, 10)], loss_fn=lambda o, t: (o * float("inf")).sum())
    assert report.status == "diverged" and "step 1" in report.error


def test_huge_lr_diverges_on_regression(toy, make_tiny):
    _, data = setup_fit(toy, make_tiny)
    model = TaskModel(make_tiny(0), 1, seed=0)
    data = dataclasses.replace(data, targets=torch.as_tensor(toy.targets, dtype=torch.float32) * 1e3)
    report = fit(model, [phase(model, 30, lr=1e12)], TaskLoss("regression"), data, dataclasses.replace(CFG, clip=0.0),
                 seed=0, task="regression", label_names=(), metric="rmse")
    assert report.status == "diverged" and re_step(report.error) >= 1


def re_step(error: str) -> int:
    import re

    return int(re.search(r"at step (\d+)", error).group(1))


def test_same_seed_same_params(toy, make_tiny):
    a, data = setup_fit(toy, make_tiny)
    b, _ = setup_fit(toy, make_tiny)
    c, _ = setup_fit(toy, make_tiny)
    run(a, data, [phase(a, 8)], seed=1)
    run(b, data, [phase(b, 8)], seed=1)
    run(c, data, [phase(c, 8)], seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_class_weights():
    balanced = np.array([0] * 10 + [1] * 30)  # ratio exactly 3: not above it
    assert class_weights(balanced, 2, "auto") is None
    assert class_weights(balanced, 2, "none") is None
    weights = class_weights(balanced, 2, "balanced")
    assert torch.allclose(weights, torch.tensor([40 / (2 * 10), 40 / (2 * 30)]))
    skewed = np.array([0] * 10 + [1] * 31)
    assert torch.allclose(class_weights(skewed, 2, "auto"), torch.tensor([41 / 20, 41 / 62]))
    absent = class_weights(np.array([0] * 2 + [1] * 20), 3, "balanced")
    assert absent[2] == 0 and absent[0] == pytest.approx(22 / 6)


def test_class_weights_reach_a_gradient_trained_run(make_tiny):
    """--class-weights balanced on skewed rows trains another model than none: the recipe hands the weights to the loss."""
    from conftest import make_toy
    from headstart.recipe import setup, train
    from headstart.specs import RunSpec

    data = make_toy(200, weights=(0.8, 0.2), seed=5)
    cfg = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32", patience=0)
    heads = []
    for weighting in ("none", "balanced"):
        s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64,
                          train=dataclasses.replace(cfg, class_weights=weighting)), data=data, pretrained=make_tiny(0))
        train(s)
        heads.append(s.model.head.weight.detach().clone())
    assert not torch.equal(*heads)


def test_weighted_loss_matches_torch():
    outputs, targets = torch.randn(6, 2), torch.tensor([0, 1, 1, 1, 1, 1])
    weights = torch.tensor([3.0, 0.6])
    expected = torch.nn.functional.cross_entropy(outputs, targets, weight=weights)
    assert torch.allclose(TaskLoss("classification", weights)(outputs, targets), expected)


@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("n,batch", [(1, 4), (37, 8), (1000, 16), (64, 64)])
def test_batches_cover_every_example_once(bucket, n, batch):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=n)
    batches = train_batches(lengths, batch, np.random.default_rng(1), bucket=bucket)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(1 <= len(b) <= batch for b in batches)
    assert len(batches) == math.ceil(n / batch)


def test_bucketing_reduces_padding():
    lengths = np.random.default_rng(0).integers(1, 200, size=2000)
    pad = lambda batches: sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches)  # noqa: E731
    assert pad(train_batches(lengths, 16, np.random.default_rng(1), bucket=True)) < 0.2 * pad(train_batches(lengths, 16, np.random.default_rng(1), bucket=False))


def test_frozen_modules_run_in_eval_mode(make_tiny):
    model = TaskModel(make_tiny(0), 2, seed=0)
    engine.set_trainable(model, list(model.head.parameters()))
    assert model.head.training and not model.backbone.training
    assert all(p.requires_grad == (n.startswith("head.")) for n, p in model.named_parameters())


@pytest.mark.parametrize("choice", ["head", "top block", "biases", "everything"])
def test_set_trainable_puts_exactly_the_frozen_subtrees_in_eval_mode(choice):
    """A module trains unless it, or a module above it, holds parameters of which none trains."""
    from tests.conftest import tiny_bert

    model = TaskModel(tiny_bert(), 2, seed=0)
    params = {"head": list(model.head.parameters()),
              "top block": list(model.backbone.model.encoder.layer[-1].parameters()) + list(model.head.parameters()),
              "biases": [p for n, p in model.named_parameters() if n.endswith("bias")],
              "everything": list(model.parameters())}[choice]
    model.eval()  # set_trainable decides every mode, whatever it finds
    engine.set_trainable(model, params)
    chosen = {id(p) for p in params}

    def frozen(m):
        own = list(m.parameters())
        return bool(own) and not any(id(p) in chosen for p in own)

    for name, module in model.named_modules():
        above = [m for n, m in model.named_modules() if n == "" or name == n or name.startswith(n + ".")]
        assert module.training == (not any(frozen(m) for m in above)), name
    assert all(p.requires_grad == (id(p) in chosen) for p in model.parameters())


def test_backbone_features_put_back_each_modules_own_mode():
    """A feature pass mid-training (closed-form phases read features of a trained backbone) must not turn frozen
    blocks' dropout back on: each module gets its own mode back, not the backbone's."""
    from tests.conftest import tiny_bert

    model = TaskModel(tiny_bert(), 2, seed=0)
    top = model.backbone.model.encoder.layer[-1]
    engine.set_trainable(model, list(top.parameters()) + list(model.head.parameters()))
    before = {name: m.training for name, m in model.named_modules()}
    assert before["backbone.model.encoder.layer.1.output.dropout"] and not before["backbone.model.encoder.layer.0.output.dropout"]
    encoded = model.backbone.encode(["a film", "a long and winding film", "no"])
    features = backbone_features(model, encoded, np.arange(3), batch_size=2)
    assert features.shape == (3, model.backbone.dim)
    assert {name: m.training for name, m in model.named_modules()} == before


def test_a_head_on_cached_features_trains_on_one_thread_and_puts_the_count_back(toy, make_tiny):
    model, data = setup_fit(toy, make_tiny)
    features = backbone_features(model, data.encoded, np.arange(len(data.encoded)), batch_size=32)
    data = dataclasses.replace(data, features=lambda rows: features[torch.as_tensor(rows)])
    seen = []
    head_only = Phase("probe", [ParamGroup("head", list(model.head.parameters()), 1e-2)], 6)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fit(model, [head_only], TaskLoss("classification"), data, CFG, seed=0, task="classification",
            label_names=("neg", "pos"), metric="accuracy", progress=lambda *a: seen.append(torch.get_num_threads()))
        assert set(seen[:-1]) == {1} and seen[-1] == 2  # every step on one thread; the phase-end call after it
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("backbone", ["tiny", "tiny-bert"])
def test_a_probe_on_cached_features_equals_the_naive_probe(toy, make_tiny, make_tiny_bert, monkeypatch, backbone):
    """The feature-cache fast path trains the same head as running the frozen backbone on every batch."""
    factory = make_tiny if backbone == "tiny" else make_tiny_bert
    real_batches = engine.train_batches
    monkeypatch.setattr(engine, "train_batches", lambda lengths, size, rng, bucket: real_batches(lengths, size, rng, bucket=False))
    heads = []
    for cached in (True, False):
        model = TaskModel(factory(0), 2, seed=0)
        data = FitData(encoded=model.backbone.encode(toy.inputs), targets=torch.as_tensor(toy.targets), raw_targets=toy.targets,
                       train_rows=np.arange(64), val_rows=np.arange(150, 200))
        if cached:
            features = backbone_features(model, data.encoded, np.arange(len(data.encoded)), batch_size=7)
            data = dataclasses.replace(data, features=lambda rows: features[torch.as_tensor(rows)])
        probe = Phase("probe", [ParamGroup("head", list(model.head.parameters()), 5e-2)], 24)
        report = run(model, data, [probe])
        heads.append((report, model.head.weight.detach().clone(), model.head.bias.detach().clone()))
    (fast, w_fast, b_fast), (naive, w_naive, b_naive) = heads
    assert fast.best_step == naive.best_step and fast.best_score == pytest.approx(naive.best_score)
    assert torch.allclose(w_fast, w_naive, atol=1e-5) and torch.allclose(b_fast, b_naive, atol=1e-5)
    assert not torch.allclose(w_fast, TaskModel(factory(0), 2, seed=0).head.weight)  # it did train


@pytest.mark.parametrize("steps, evals_per_epoch, checks", [
    (100, None, 25),  # every ceil(100 / 30) = 4 steps
    (100, 1, 13),     # at most one check an epoch: 64 rows in batches of 8, every 8 steps (8, 16, ..., 96, and 100)
    (10, 1, 5),       # a short phase keeps MIN_EVALS = 5 checks rather than one an epoch
])
def test_evals_per_epoch_caps_how_often_a_phase_validates(toy, make_tiny, steps, evals_per_epoch, checks):
    model, data = setup_fit(toy, make_tiny)
    cfg = dataclasses.replace(CFG, evals_per_phase=30, evals_per_epoch=evals_per_epoch, patience=0)
    report = run(model, data, [Phase("probe", [ParamGroup("head", list(model.head.parameters()), 1e-2)], steps)], cfg)
    assert len(report.history) == checks and report.history[-1]["step"] == steps


@pytest.mark.parametrize("task", ["classification", "weighted", "multilabel", "regression"])
def test_the_closed_form_head_step_trains_the_head_autograd_trains(toy, make_tiny, monkeypatch, task):
    """A linear head on cached features steps through headstep.linear_head_backward; forcing autograd instead gives
    the same run (same best step, weights to float rounding), with gradient accumulation on."""
    model, data = setup_fit(toy, make_tiny)
    features = backbone_features(model, data.encoded, np.arange(len(data.encoded)), batch_size=32)
    data = dataclasses.replace(data, features=lambda rows: features[torch.as_tensor(rows)])
    outputs, loss_fn = 2, TaskLoss("classification")
    if task == "weighted":
        loss_fn = TaskLoss("classification", torch.tensor([0.3, 1.7]))
    elif task == "multilabel":
        outputs, loss_fn = 3, TaskLoss("multilabel")
        labels = np.asarray(toy.targets)
        multi = np.stack([labels, 1 - labels, labels], 1).astype(np.float32)
        data = dataclasses.replace(data, targets=torch.as_tensor(multi), raw_targets=multi)
    elif task == "regression":
        outputs, loss_fn = 1, TaskLoss("regression")
        values = np.asarray(toy.targets, dtype=np.float32) - 0.5
        data = dataclasses.replace(data, targets=torch.as_tensor(values), raw_targets=values)
    cfg = dataclasses.replace(CFG, accumulate=2)
    calls = []
    import headstart.step as step

    real = step.linear_head_backward
    monkeypatch.setattr(step, "linear_head_backward", lambda *a: calls.append(1) or real(*a))
    heads = []
    for closed in (True, False):
        monkeypatch.setattr(engine, "closed_form_applies", lambda *a, on=closed: on)
        model = TaskModel(make_tiny(0), outputs, seed=0)
        probe = Phase("probe", [ParamGroup("head", list(model.head.parameters()), 5e-2)], 20)
        metric = "loss" if task in ("multilabel", "regression") else "accuracy"
        report = fit(model, [probe], loss_fn, data, cfg, seed=0, task="classification" if task == "weighted" else task,
                     label_names=("a", "b", "c")[:outputs], metric=metric)
        heads.append((report, model.head.weight.detach().clone(), model.head.bias.detach().clone()))
    assert len(calls) == 20 * 2  # the closed-form run: every micro-batch of every step; the autograd run: none
    (closed_run, w_closed, b_closed), (autograd_run, w_auto, b_auto) = heads
    assert closed_run.best_step == autograd_run.best_step
    assert [h.get("train_loss") for h in closed_run.history] == pytest.approx([h.get("train_loss") for h in autograd_run.history], rel=1e-5)
    assert torch.allclose(w_closed, w_auto, atol=1e-5) and torch.allclose(b_closed, b_auto, atol=1e-5)
    assert not torch.allclose(w_closed, TaskModel(make_tiny(0), outputs, seed=0).head.weight)  # it did train


def test_length_bucketed_batches_do_not_change_predictions(make_tiny_bert):
    """Evaluation batches sorted by length and padded per batch give each row what it gets alone."""
    from headstart.evaluation import model_outputs

    model = TaskModel(make_tiny_bert(0), 3, seed=0)
    texts = ["good", "a very long and rather winding review of a film that goes on", "bad film", "fine", "ok then so"] * 3
    encoded = model.backbone.encode(texts)
    rows = np.random.default_rng(0).permutation(len(texts))
    batched = model_outputs(model, encoded, rows, batch_size=8)
    alone = model_outputs(model, encoded, rows, batch_size=1)
    assert torch.allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize("stop_at", [5, 2])
def test_ctrl_c_in_the_steps_keeps_the_best_check_so_far_or_before_any_the_last_steps_weights(toy, make_tiny, monkeypatch,
                                                                                                 stop_at):
    """Interrupted at a later phase's first steps (step 5: no check of its own yet), the probe phase's best check comes
    back, the backbone untouched; at step 2, before any check, the weights of step 1 stay. Either way the interrupt goes
    on, carrying the report."""
    model, data = setup_fit(toy, make_tiny)
    initial = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    real, after = engine.lr_factor, {}

    def hooked(step, steps, **kwargs):
        if steps == 6 and step == stop_at - 5 or steps == 4 and step == stop_at - 1:
            after.update({n: p.detach().clone() for n, p in model.named_parameters()})
            raise KeyboardInterrupt
        return real(step, steps, **kwargs)

    monkeypatch.setattr(engine, "lr_factor", hooked)
    phases = [Phase("probe", [ParamGroup("head", list(model.head.parameters()), 1e-2)], 4),
              Phase("all", [ParamGroup("all", list(model.parameters()), 1e-2)], 6)]
    with pytest.raises(engine.StepsInterrupted) as stopped:
        run(model, data, phases, dataclasses.replace(CFG, evals_per_phase=2))
    report = stopped.value.report
    assert isinstance(stopped.value, KeyboardInterrupt) and report.status == "done"
    assert report.ended_by == f"interrupted by Ctrl-C at step {stop_at - 1} of 10" and report.steps == stop_at - 1
    if stop_at == 5:
        assert report.best_step in (2, 4) and [h["step"] for h in report.history] == [2, 4]
        for n, p in model.backbone.named_parameters():
            assert torch.equal(p, initial[n]), n
    else:
        assert report.best_step == 0 and report.history == [] and report.val_metrics == {}
        for n, p in model.named_parameters():
            assert torch.equal(p, after[n]), n
        assert not torch.equal(model.head.weight, TaskModel(make_tiny(0), 2, seed=0).head.weight), "the step's, not untrained"
    assert report.trained, "what trained is named, for the save"
