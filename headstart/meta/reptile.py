"""Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms").

For each task of a meta-batch, k steps of SGD from the meta-parameters θ (network and head initialisation) on
minibatches of the task's examples give φ_i; then θ ← θ + ε · (1/n) Σ_i (φ_i − θ), the weights moved toward the
adapted ones by the step size ε, linearly annealed to 0 over meta-training as in the paper. No second derivatives
and no query loss: the update approximates MAML's gradient plus a term that maximises within-task generalisation
(the paper's §5). At test time, SGD on the support set from θ (``test_inner_steps``), then classify the queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from headstart.meta.base import MetaArm, Params, Task, forward, head_logits, inner_loop, joined, network_params, part, register


def reptile_update(theta: Params, adapted: list[Params], step_size: float) -> Params:
    """θ + ε · mean_i(φ_i − θ): (name -> tensor) before and after each task's inner loop -> the new θ."""
    return {k: v + step_size * torch.stack([phi[k] - v for phi in adapted]).mean(0) for k, v in theta.items()}


def adapt(net: nn.Module, head: Params, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float, batch: int,
          generator: torch.Generator | None = None) -> Params:
    """SGD from (network, head) on (x, y): ``steps`` minibatches of ``batch`` rows in a seeded order (all rows when
    ``batch`` covers them). Shared with the fine-tuning baseline.

    Args:
        x: (N, C, H, W) pixels; y: (N,) labels.
        head: {"weight": (ways, D), "bias": (ways,)}.

    Returns:
        ``joined`` adapted weights ("net.<name>", "head.weight", "head.bias"), detached.
    """
    start = {k: v.detach().clone().requires_grad_(True) for k, v in joined(network_params(net), head).items()}
    order = torch.randperm(len(y), generator=generator) if batch < len(y) else torch.arange(len(y))

    def loss(p: Params, t: int) -> torch.Tensor:
        rows = order[(torch.arange(batch) + t * batch) % len(y)] if batch < len(y) else order
        return F.cross_entropy(head_logits(forward(net, part(p, "net."), x[rows]), part(p, "head.")), y[rows])

    with torch.enable_grad():
        phi = inner_loop(start, loss, steps=steps, lr=lr, create_graph=False)
    return {k: v.detach() for k, v in phi.items()}


def adapted_logits(net: nn.Module, phi: Params, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return head_logits(forward(net, part(phi, "net."), x), part(phi, "head."))


def step(net: nn.Module, head: Params, tasks: list[Task], optimizer: None, cfg, progress: float, generator: torch.Generator) -> float:
    adapted, losses = [], []
    for task in tasks:
        x, y = torch.cat([task.support_x, task.query_x]), torch.cat([task.support_y, task.query_y])
        phi = adapt(net, head, x, y, steps=cfg.inner_steps, lr=cfg.inner_lr, batch=task.support_x.shape[0], generator=generator)
        adapted.append(phi)
        losses.append(float(F.cross_entropy(adapted_logits(net, phi, task.query_x), task.query_y)))
    theta = {k: v.detach() for k, v in joined(network_params(net), head).items()}
    new = reptile_update(theta, adapted, cfg.reptile_step * (1.0 - progress))
    with torch.no_grad():
        for k, v in joined(network_params(net), head).items():
            v.copy_(new[k])
    return sum(losses) / len(losses)  # the task loss after adaptation (its queries were among the inner batches)


def predict(net: nn.Module, head: Params, task: Task, cfg) -> torch.Tensor:
    phi = adapt(net, head, task.support_x, task.support_y, steps=cfg.test_inner_steps, lr=cfg.inner_lr, batch=task.support_x.shape[0])
    return adapted_logits(net, phi, task.query_x)


register(MetaArm(name="reptile", description="Reptile (Nichol et al. 2018): SGD on each task, weights moved toward the adapted ones",
                 step=step, predict=predict, learns_head=True, uses_optimizer=False))
