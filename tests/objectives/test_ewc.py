"""Tests of headstart/objectives/ewc.py: the Fisher diagonal, the penalty, and EWC in a run."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.objectives.ewc import ewc_penalty, fisher_diagonal
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig

FAST = TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2, patience=0)


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 3)
        self.unused = nn.Parameter(torch.ones(4))

    def forward(self, batch):
        return self.layer(batch["x"])


def test_fisher_matches_its_definition_and_ignores_weights_that_do_not_act():
    """For logits z = Wx + b, ∂ log p(y|x)/∂W = (onehot(y) − p) xᵀ; F is its square averaged over x and y ~ p."""
    torch.manual_seed(0)
    model = Linear()
    x = torch.tensor([[1.0, -2.0]])
    params = [model.layer.weight, model.unused]
    draws = 4000
    fisher = fisher_diagonal(model, [{"x": x.repeat(draws, 1)}], params, task="classification",
                             generator=torch.Generator().manual_seed(0))
    p = torch.softmax(model.layer(x), -1)[0].detach()
    expected = sum(p[y] * (((torch.eye(3)[y] - p)[:, None] * x) ** 2) for y in range(3))
    assert torch.allclose(fisher[0], expected, rtol=0.1, atol=1e-3)
    assert torch.equal(fisher[1], torch.zeros(4)), "a weight the output does not depend on has no importance"


def test_penalty_weights_each_squared_move_by_its_importance():
    value = ewc_penalty([torch.tensor([1.0, 1.0])], [torch.tensor([0.0, 0.0])], [torch.tensor([2.0, 0.0])], 0.5)
    assert value.item() == pytest.approx(0.5 * 0.5 * 2.0)


def _drift(toy, make_tiny, terms) -> float:
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST, terms=terms), data=toy,
              pretrained=make_tiny(0))
    before = {n: p.detach().clone() for n, p in s.model.backbone.named_parameters()}
    assert train(s).status == "done"
    return sum((p.detach() - before[n]).pow(2).sum().item() for n, p in s.model.backbone.named_parameters())


def test_ewc_keeps_the_backbone_nearer_its_starting_weights(toy, make_tiny):
    free = _drift(toy, make_tiny, {})
    held = _drift(toy, make_tiny, {"ewc": {"weight": 10.0, "samples": 16}})
    assert held < 0.5 * free, (held, free)


def test_the_penalty_a_run_builds_weights_each_weights_move_by_the_fisher_it_estimated(toy, make_tiny):
    """The built penalty is (λ/2) Σ F (θ − θ*)², F the mean-one Fisher of the model before training on the reference
    inputs and θ* those weights: on a known move of every backbone weight it equals the sum worked out here, and not
    the flat-F sum (L2-SP), which also keeps the backbone near its start."""
    from headstart.objectives.ewc import EWC, EWCOptions, differentiable_eval, mean_one
    from headstart.recipe import term_context

    s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST), data=toy, pretrained=make_tiny(0))
    context, model = term_context(s), s.model
    head = {id(p) for p in model.head_parameters()}
    params = [p for p in model.parameters() if id(p) not in head]
    with differentiable_eval(model, params):
        fisher = mean_one(fisher_diagonal(model, context.reference(16, 8), params, task=context.task,
                                          generator=torch.Generator().manual_seed(context.seed)))
    penalty = EWC().build(model, EWCOptions(weight=10.0, samples=16), context)
    generator = torch.Generator().manual_seed(1)
    moves = [0.1 * torch.randn(p.shape, generator=generator) for p in params]
    with torch.no_grad():
        for p, move in zip(params, moves):
            p.add_(move)
    expected = 0.5 * 10.0 * sum(float((f * m**2).sum()) for f, m in zip(fisher, moves))
    flat = 0.5 * 10.0 * sum(float((m**2).sum()) for m in moves)
    assert penalty().item() == pytest.approx(expected, rel=1e-4)
    assert abs(expected - flat) > 0.1 * flat, (expected, flat)


def test_ewc_options_are_checked():
    with pytest.raises(ConfigError, match="ewc samples must be a positive integer"):
        RunSpec(terms={"ewc": {"samples": 0}})


def test_tuning_trials_of_one_run_estimate_the_fisher_once(toy, make_tiny, monkeypatch):
    """Trials differ in learning rate and steps only: they start from the same model on the same rows, so the Fisher
    is estimated once and reused (bit-identical); another seed starts elsewhere and estimates its own."""
    import dataclasses

    import headstart.objectives.ewc as ewc

    calls = []
    real = ewc.fisher_diagonal
    monkeypatch.setattr(ewc, "fisher_diagonal", lambda *a, **k: calls.append(1) or real(*a, **k))
    pretrained = make_tiny(0)
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST, terms={"ewc": {"samples": 8}})
    for lr in (1e-3, 3e-3):
        s = setup(dataclasses.replace(spec, train=dataclasses.replace(FAST, lr=lr, max_steps=5)), data=toy, pretrained=pretrained)
        assert train(s).status == "done"
    assert len(calls) == 1
    s = setup(dataclasses.replace(spec, seed=1), data=toy, pretrained=pretrained)
    train(s)
    assert len(calls) == 2


def test_the_progress_bar_says_a_terms_setup_before_the_first_step(toy, make_tiny):
    """EWC's Fisher pass runs before step 1 and took minutes with nothing on screen: the bar says what it prepares."""
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST,
                      terms={"ewc": {"weight": 10.0, "samples": 16}}), data=toy, pretrained=make_tiny(0))
    seen = []
    train(s, progress=lambda done, total, info: seen.append((done, total, dict(info))))
    assert seen[0] == (0, 30, {"setup": "preparing ewc before the first step"})
    assert seen[1][0] >= 1 and "setup" not in seen[1][2]


def test_the_progress_bar_says_what_it_scores_after_the_last_step(toy, make_tiny):
    """The test split, retention and other datasets are scored after the bar is full: each is said, not a silent wait."""
    from headstart.recipe import run

    seen = []
    run(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=FAST), data=toy, pretrained=make_tiny(0),
        progress=lambda done, total, info: seen.append((done, total, dict(info))))
    stage = seen.index((30, 30, {"then": "scoring the test split", "eta_s": None}))  # its length unknown: not "ETA 0s"
    assert seen[-1][:2] == (30, 30) and re.fullmatch(r"scoring the test split, (\d+)/\1 rows", seen[-1][2]["then"]), seen[-1]
    assert all(done == 30 and info["then"].startswith("scoring the test split") for done, _, info in seen[stage:])
    seen.clear()  # an early stop ends the bar at the steps run: the stage stays there, not at the planned 300
    run(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=64, train=TrainConfig(precision="fp32")), data=toy,
        pretrained=make_tiny(0), progress=lambda done, total, info: seen.append((done, total, dict(info))))
    stage = seen.index(next(x for x in seen if x[2] == {"then": "scoring the test split", "eta_s": None}))
    assert seen[stage][:2] == seen[stage - 1][:2] == seen[-1][:2], seen[stage - 1:]
    assert re.fullmatch(r"scoring the test split, (\d+)/\1 rows", seen[-1][2]["then"]), seen[stage:]


def test_the_fisher_is_measured_and_normalised_over_the_weights_the_run_trains(toy, make_tiny, monkeypatch):
    """Under partial-freeze (or LoRA's frozen base) the weights no phase trains get no Fisher: estimated over all of
    them, their mean set the scale, and λ did not read on L2-SP's scale (a toy LoRA's adapters averaged
    0.001, on MiniLM 1.98). The Fisher is estimated on exactly the trained non-head weights and averages 1 over them."""
    import headstart.objectives.ewc as ewc

    seen: list[list[torch.Tensor]] = []
    normalised: list[list[torch.Tensor]] = []
    real_fisher, real_mean = ewc.fisher_diagonal, ewc.mean_one
    monkeypatch.setattr(ewc, "fisher_diagonal", lambda model, batches, params, **k: seen.append(params) or real_fisher(model, batches, params, **k))
    monkeypatch.setattr(ewc, "mean_one", lambda tensors: normalised.append(real_mean(tensors)) or normalised[-1])
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="partial-freeze", options={"freeze": 2}, n=64,
                      train=dataclasses.replace(FAST, max_steps=3, min_steps=3), terms={"ewc": {"samples": 8}}),
              data=toy, pretrained=make_tiny(0))
    frozen = {id(p) for block in s.model.backbone.blocks()[:2] for p in block.parameters()}
    assert frozen and train(s).status == "done"
    head = {id(p) for p in s.model.head_parameters()}
    trained = {id(p) for p in s.model.parameters() if id(p) not in head and id(p) not in frozen}
    assert {id(p) for p in seen[0]} == trained
    assert torch.cat([f.flatten() for f in normalised[0]]).mean().item() == pytest.approx(1.0)
