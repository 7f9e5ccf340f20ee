"""The optimiser step of a head on cached features, without torch.optim's per-call machinery.

A linear head on cached features is a few tensors of a few hundred values: a step's arithmetic takes
microseconds, and ``torch.optim.AdamW.step`` and ``clip_grad_norm_`` spend most of theirs in Python around the
kernel (hooks, compiler guards, grouping by device and dtype): about half of a probe step on a CPU
(docs/BENCHMARKS.md, "Speed goals"). ``HeadAdamW`` and ``clip_grad_norm`` call the same kernels in the same
order as ``torch.optim.AdamW(fused=True)`` and ``torch.nn.utils.clip_grad_norm_(foreach=True)``, so the
updates are bit-identical (tests/test_headstep.py); the engine uses them only for phases on cached features.
"""

from __future__ import annotations

from typing import Any

import torch

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
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
