"""The training step of a head on cached features, without autograd's and torch.optim's per-call machinery.

A linear head on cached features is a few tensors of a few hundred values: a step's arithmetic takes
microseconds, and ``torch.optim.AdamW.step`` and ``clip_grad_norm_`` spend most of theirs in Python around the
kernel (hooks, compiler guards, grouping by device and dtype): about half of a probe step on a CPU
(docs/BENCHMARKS.md, "Speed goals"). ``HeadAdamW`` and ``clip_grad_norm`` call the same kernels in the same
order as ``torch.optim.AdamW(fused=True)`` and ``torch.nn.utils.clip_grad_norm_(foreach=True)``, so the
updates are bit-identical (tests/test_headstep.py). The engine steps ``HeadAdamW`` only for phases on cached
features, and clips every phase with ``clip_grad_norm``: one foreach pass for the norms instead of one call per
tensor (``clip_grad_norm_`` loops on a CPU), and on a CPU no scaling pass when the norm is under the limit.

``linear_head_backward`` does the forward, the loss and its gradient for a linear head in closed form (a softmax,
two matrix products) instead of building and walking an autograd graph, which costs several times the arithmetic
at this size. Its gradients equal autograd's to float rounding (tests/test_headstep.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from headstart.objectives.task import TaskLoss

BETAS = (0.9, 0.999)  # torch.optim.AdamW's defaults, which make_optimizer uses
EPS = 1e-8


class HeadAdamW:
    """AdamW (decoupled weight decay) over ``groups`` (dicts with ``params``, ``lr``, ``weight_decay``), fused kernel.

    ``param_groups`` is a list of those dicts, so the engine's per-step learning-rate schedule writes ``g["lr"]``
    exactly as it does for a torch optimizer.
    """

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.param_groups = [dict(g, params=list(g["params"])) for g in groups]
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for g in self.param_groups:
            for p in g["params"]:
                step = torch.zeros((), dtype=torch.float32, device=p.device)
                self.state[id(p)] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                                     torch.zeros_like(p, memory_format=torch.preserve_format), step)

    @staticmethod
    def available(params: list[torch.nn.Parameter]) -> bool:
        """The fused kernel takes floating-point tensors on CPU and CUDA (what ``make_optimizer`` gets)."""
        return hasattr(torch, "_fused_adamw_") and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)

    @torch.no_grad()
    def step(self) -> None:
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if not params:
                continue
            states = [self.state[id(p)] for p in params]
            steps = [s[2] for s in states]
            torch._foreach_add_(steps, 1)
            torch._fused_adamw_(params, [p.grad for p in params], [s[0] for s in states], [s[1] for s in states], [], steps,
                                amsgrad=False, lr=g["lr"], beta1=BETAS[0], beta2=BETAS[1], weight_decay=g["weight_decay"],
                                eps=EPS, maximize=False, grad_scale=None, found_inf=None)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None


@torch.no_grad()
def clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float) -> None:
    """Scale gradients so their joint L2 norm is at most ``max_norm`` (``clip_grad_norm_``'s foreach arithmetic)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    if grads[0].device.type == "cpu" and coefficient.item() == 1.0:
        return  # x 1.0 changes nothing: skip a read and write of every gradient (a device would have to sync to know)
    torch._foreach_mul_(grads, coefficient)


def closed_form_applies(head: nn.Module, params: list[nn.Parameter], loss_fn: Any, autocast: Any) -> bool:
    """``linear_head_backward`` can train ``params``: exactly the weight and bias of an fp32 ``nn.Linear`` head,
    under a task loss, without autocast."""
    return (type(head) is nn.Linear and head.bias is not None and head.weight.dtype == torch.float32
            and type(loss_fn) is TaskLoss and autocast is None
            and sorted(id(p) for p in params) == sorted((id(head.weight), id(head.bias))))


@torch.no_grad()
def linear_head_backward(head: nn.Linear, features: torch.Tensor, targets: torch.Tensor, loss_fn: TaskLoss,
                         scale: float = 1.0) -> float:
    """The loss of ``head(features)`` against ``targets``; adds ``scale`` x its gradient to the head's ``.grad``.

    Args:
        head: the linear head (weight (C, D), bias (C,)).
        features: (B, D) fp32 cached features of the batch.
        targets: (B,) class ids, (B, C) multilabel 0/1 floats, or (B,) standardised regression values.
        loss_fn: the task loss (cross-entropy, optionally class-weighted; BCE with logits; MSE).
        scale: weight of this micro-batch in the step (its share of the examples under gradient accumulation).

    Returns:
        The loss value (unscaled), as ``loss_fn(head(features), targets).item()``.
    """
    z = torch.addmm(head.bias, features, head.weight.t())
    if loss_fn.task == "classification":
        value = F.cross_entropy(z, targets, weight=loss_fn.weights).item()
        g = torch.softmax(z, dim=1).sub_(F.one_hot(targets, z.shape[1]))
        if loss_fn.weights is None:
            g.mul_(scale / z.shape[0])
        else:  # weighted mean: sum_i w_{y_i} loss_i / sum_i w_{y_i}
            w = loss_fn.weights[targets]
            g.mul_((w * (scale / w.sum())).unsqueeze(1))
    elif loss_fn.task == "multilabel":
        value = F.binary_cross_entropy_with_logits(z, targets).item()
        g = torch.sigmoid(z).sub_(targets).mul_(scale / z.numel())
    else:
        diff = z.squeeze(-1) - targets
        value = diff.square().mean().item()
        g = diff.mul_(2 * scale / diff.numel()).unsqueeze(1)
    grads = (g.t().mm(features), g.sum(0))
    for p, grad in zip((head.weight, head.bias), grads):
        if p.grad is None:
            p.grad = grad
        else:
            p.grad.add_(grad)
    return value
