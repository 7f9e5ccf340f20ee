"""Tests of headstart/continual/importance.py: each method's importance Ω against its definition, worked out in closed
form (or step by step) on a linear model, where a flat Ω (a plain L2 pull) cannot pass; and online EWC's running
Fisher as F ← γF + F_k."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from headstart.continual.importance import (EWC, MAS, SI, EWCOptions, MASOptions, OnlineEWC, OnlineEWCOptions, SIOptions,
                                            task_fisher)
from headstart.objectives.ewc import mean_one


class Linear(nn.Module):
    """z = Wx + b, and a weight the output never reads (its importance must be 0, where a flat Ω gives it 1)."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.layer = nn.Linear(3, 4)
        self.unused = nn.Parameter(torch.ones(5))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.layer(batch["x"])


def _chain(x: torch.Tensor) -> SimpleNamespace:
    """What the importance estimates read of a chain: the model, one task whose training rows are ``x``'s rows, and
    the memory they keep Ω in."""
    return SimpleNamespace(model=Linear(), seed=0, train_rows=[np.arange(len(x))], memory={}, scratch={},
                           batches=lambda step, rows, size: [{"x": x[rows[i : i + size]]} for i in range(0, len(rows), size)])


NAMES = ("unused", "layer.weight", "layer.bias")  # the model's parameter order


def _kept(chain: SimpleNamespace, key: str) -> list[torch.Tensor]:
    return [chain.memory[f"{key}.{n}"] for n in NAMES]


def _inputs(rows: int = 12) -> torch.Tensor:
    return torch.randn(rows, 3, generator=torch.Generator().manual_seed(1))


def test_mas_importance_is_the_mean_absolute_gradient_of_the_squared_output_norm():
    """For z = Wx + b, ∂‖z‖²/∂W = 2 z xᵀ and ∂‖z‖²/∂b = 2 z: Ω is their absolute value averaged over the examples
    (per example, not the absolute of the mean), scaled to mean 1 over every weight."""
    x = _inputs()
    chain = _chain(x)
    with torch.no_grad():
        z = chain.model.layer(x)
    expected = mean_one([torch.zeros(5), (2 * z[:, :, None] * x[:, None, :]).abs().mean(0), (2 * z).abs().mean(0)])
    MAS().after(chain, 0, MASOptions(samples=len(x)))
    for got, want in zip(_kept(chain, "mas.omega"), expected):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6), (got, want)
    assert torch.equal(_kept(chain, "mas.omega")[0], torch.zeros(5)), "a weight the output does not read matters not"


def test_ewc_importance_is_the_fisher_of_the_models_own_predictions():
    """For softmax(Wx + b), ∂ log p(y|x)/∂W = (onehot(y) − p) xᵀ: F is its square, y drawn from p, averaged over the
    task's inputs, scaled to mean 1 — here against its expectation over y (4 inputs, 500 draws each)."""
    x = _inputs(4).repeat(500, 1)
    chain = _chain(x)
    with torch.no_grad():
        p = torch.softmax(chain.model.layer(x[:4]), -1)
    residual = torch.eye(4)[None, :, :] - p[:, None, :]  # (input, y, class): onehot(y) − p
    weight = (p[:, :, None, None] * (residual[:, :, :, None] * x[:4, None, None, :]) ** 2).sum(1).mean(0)
    bias = (p[:, :, None] * residual**2).sum(1).mean(0)
    expected = mean_one([torch.zeros(5), weight, bias])
    got = task_fisher(chain, 0, len(x))
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, rtol=0.15, atol=0.02), (a, b)
    assert torch.equal(got[0], torch.zeros(5))
    EWC().after(chain, 0, EWCOptions(samples=len(x)))
    assert all(torch.equal(a, b) for a, b in zip(_kept(chain, "ewc.0.fisher"), got)), "EWC keeps the Fisher it estimated"


def test_si_importance_is_each_weights_share_of_the_drop_in_loss_along_its_path_over_its_squared_move():
    """Ω = max(0, Σ_t −g_t·(θ_{t+1} − θ_t)) / ((θ_end − θ_start)² + ξ), scaled to mean 1; g_t the task loss's gradient
    at step t. Adam's moves are not along −g, so the path integral is not a multiple of the squared gradients."""
    x = _inputs(16)
    y = torch.arange(16) % 4
    chain = _chain(x)
    model, options = chain.model, SIOptions(damping=0.1)
    params = list(model.parameters())
    start = [p.detach().clone() for p in params]
    (track,) = SI().penalties(chain, 0, options)
    optimizer = torch.optim.Adam(params, lr=0.05)
    thetas, grads = [], []
    for _ in range(8):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model({"x": x}), y).backward()
        thetas.append([p.detach().clone() for p in params])
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params])
        track()  # where the engine calls it: after the task loss's backward, before the optimiser step
        optimizer.step()
    SI().after(chain, 0, options)
    omega = [sum(-g[i] * (b[i] - a[i]) for g, a, b in zip(grads, thetas, thetas[1:])) for i in range(len(params))]
    expected = mean_one([w.clamp_min(0) / ((p.detach() - s) ** 2 + 0.1) for w, p, s in zip(omega, params, start)])
    got = _kept(chain, "si.omega")
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), (a, b)
    assert torch.equal(got[0], torch.zeros(5)) and float(torch.cat([g.flatten() for g in got]).std()) > 0.1


def test_online_ewc_keeps_gamma_times_the_running_fisher_plus_the_new_tasks():
    """F ← γ F + F_k: after two tasks, γ F_1 + F_2, each F_k the task's mean-one Fisher at the weights it ended with."""
    x = _inputs(24)
    chain = _chain(x)
    chain.train_rows = [np.arange(12), np.arange(12, 24)]
    options = OnlineEWCOptions(gamma=0.3, samples=12)
    first = task_fisher(chain, 0, 12)
    OnlineEWC().after(chain, 0, options)
    with torch.no_grad():
        chain.model.layer.weight.add_(0.5)  # task 2 moved the weights
    second = task_fisher(chain, 1, 12)
    OnlineEWC().after(chain, 1, options)
    for got, a, b in zip(_kept(chain, "online.fisher"), first, second):
        assert torch.allclose(got, 0.3 * a + b, rtol=1e-6, atol=1e-7), (got, a, b)
    assert torch.equal(chain.memory["online.anchor.layer.weight"], chain.model.layer.weight.detach())
    assert not torch.allclose(_kept(chain, "online.fisher")[1], second[1]), "the first task's Fisher is not dropped"



def test_importance_is_measured_and_normalised_over_the_weights_the_task_trained():
    """A lora+ arm trains adapters beside a frozen base ~300x their size: measured over every weight, the base set the
    mean (the adapters' averaged 1.98 on MiniLM, 0.001 on a toy), so λ did not read on L2-SP's scale. A weight the task
    froze gets no importance, and the rest average 1 (here: W frozen, b and the unread weight trained)."""
    x = _inputs()
    chain = _chain(x)
    chain.model.layer.weight.requires_grad_(False)  # as the task's last phase left it
    with torch.no_grad():
        z = chain.model.layer(x)
    mas = mean_one([torch.zeros(5), (2 * z).abs().mean(0)])
    MAS().after(chain, 0, MASOptions(samples=len(x)))
    got = _kept(chain, "mas.omega")
    assert torch.equal(got[1], torch.zeros(4, 3)) and torch.allclose(got[2], mas[1], rtol=1e-5), got
    fisher = task_fisher(chain, 0, len(x))
    assert torch.equal(fisher[1], torch.zeros(4, 3)) and float(torch.cat([fisher[0], fisher[2]]).mean()) == pytest.approx(1.0)
    assert float(fisher[2].std()) > 0 and not chain.model.layer.weight.requires_grad, "the frozen weight stays frozen"
