"""MAML (Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks") and its
first-order approximation FOMAML (same paper, §5.2; Nichol et al. 2018).

Meta-parameters θ = (network, head initialisation). For each task, k inner SGD steps on the support loss,
φ_{t+1} = φ_t − α ∇_φ L_S(φ_t), φ_0 = θ; the outer loss is the query loss at the adapted weights, L_Q(φ_k), averaged
over a meta-batch of tasks and minimised by Adam on θ. MAML differentiates L_Q(φ_k) through the inner steps
(second order: ∇_θ L_Q(φ_k) = Π_t (I − α ∇²L_S(φ_t)) ∇_φ L_Q(φ_k), via ``create_graph=True``); FOMAML drops the
Hessian terms and applies ∇_φ L_Q(φ_k) to θ. At test time both take the same inner steps (``test_inner_steps``) on
the support set and classify the queries.

``inner="head"`` adapts only the linear head in the inner loop, the network's features computed once per task and
meta-learned through the outer loss: ANIL (Raghu et al. 2020, "Rapid Learning or Feature Reuse?") found it matches
full MAML on mini-ImageNet, at the cost of one forward pass instead of one per inner step. ``inner="all"`` adapts
the network too (Finn et al.'s setting), through ``torch.func.functional_call``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from headstart.meta.base import MetaArm, Params, Task, forward, head_logits, inner_loop, joined, network_params, part, register


def adapted_query_logits(net: nn.Module, head: Params, task: Task, *, inner: str, steps: int, lr: float,
                         create_graph: bool) -> tuple[torch.Tensor, Params]:
    """Adapt (head, and with ``inner="all"`` the network) on the support set; return the queries' (Q, ways) logits
    at the adapted weights and the adapted weights.

    Args:
        head: {"weight": (ways, D), "bias": (ways,)}, requiring grad (the meta-learned init, or a detached copy).
        inner: "head" or "all".
        create_graph: True for MAML's second order, False for FOMAML and for evaluation.
    """
    if inner == "head":
        n = task.support_x.shape[0]
        features = net(torch.cat([task.support_x, task.query_x]))
        support, query = features[:n], features[n:]
        if not create_graph:  # first order: φ_k does not depend on θ through the support features
            support = support.detach()
        phi = inner_loop(head, lambda p, t: F.cross_entropy(head_logits(support, p), task.support_y), steps=steps, lr=lr,
                         create_graph=create_graph)
        return head_logits(query, phi), phi
    def support_loss(p: Params, t: int) -> torch.Tensor:
        return F.cross_entropy(head_logits(forward(net, part(p, "net."), task.support_x), part(p, "head.")), task.support_y)

    phi = inner_loop(joined(network_params(net), head), support_loss, steps=steps, lr=lr, create_graph=create_graph)
    return head_logits(forward(net, part(phi, "net."), task.query_x), part(phi, "head.")), phi


def _step(second_order: bool):
    def step(net: nn.Module, head: Params, tasks: list[Task], optimizer: torch.optim.Optimizer, cfg, progress: float,
             generator: torch.Generator) -> float:
        losses = []
        for task in tasks:
            logits, _ = adapted_query_logits(net, head, task, inner=cfg.inner, steps=cfg.inner_steps, lr=cfg.inner_lr,
                                             create_graph=second_order)
            losses.append(F.cross_entropy(logits, task.query_y))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad(set_to_none=True)
        # First order: the inner gradients are constants (no graph), so φ_k = θ − α Σ g_t and autograd's ∂L_Q/∂θ
        # through the subtraction is ∂L_Q/∂φ_k, FOMAML's update.
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def predict(net: nn.Module, head: Params, task: Task, cfg) -> torch.Tensor:
    start = {k: v.detach().clone().requires_grad_(True) for k, v in head.items()}
    with torch.enable_grad():
        logits, _ = adapted_query_logits(net, start, task, inner=cfg.inner, steps=cfg.test_inner_steps, lr=cfg.inner_lr,
                                         create_graph=False)
    return logits.detach()


register(MetaArm(name="maml", description="MAML (Finn et al. 2017): inner SGD on the support set, query loss through the steps (second order)",
                 step=_step(True), predict=predict, learns_head=True))
register(MetaArm(name="fomaml", description="first-order MAML: MAML's query gradient at the adapted weights, applied to the initial ones",
                 step=_step(False), predict=predict, learns_head=True))
