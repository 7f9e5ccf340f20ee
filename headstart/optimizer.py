"""The optimiser a phase steps with, and its learning-rate schedule.

AdamW over each ``ParamGroup`` split into decayed weights and undecayed biases / norm scales (``optimizer_groups``),
fused where the build supports it or bitsandbytes' 8-bit AdamW (``make_optimizer``; bitsandbytes is imported only
then); each phase's rate warms up linearly, then decays by cosine or linearly to 0, or stays constant
(``lr_factor``). The engine's loop and the causal-LM loop (``llm.loop``) share them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from headstart.strategies.base import Phase


def lr_factor(step: int, total: int, *, warmup: float, schedule: str) -> float:
    """Multiplier of the base lr at ``step`` (0-based) of ``total``: linear warmup, then decay to 0."""
    warm = int(round(warmup * total))
    if step < warm:
        return (step + 1) / (warm + 1)
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def optimizer_groups(phase: Phase, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: each ParamGroup split into decayed weights and undecayed biases / norm scales (1-D)."""
    groups = []
    for g in phase.groups:
        decay = [p for p in g.params if p.ndim > 1]
        no_decay = [p for p in g.params if p.ndim <= 1]
        groups += [{"params": ps, "lr": g.lr, "weight_decay": wd, "name": g.name} for ps, wd in ((decay, weight_decay), (no_decay, 0.0)) if ps]
    return groups


def make_optimizer(groups: list[dict[str, Any]], kind: str = "adamw", device: torch.device | None = None) -> torch.optim.Optimizer:
    """AdamW, fused where the build supports it (one pass over memory instead of ~10: 5x faster on CPU),
    or bitsandbytes' 8-bit AdamW (optimiser state in 8 bits; ``paged-`` pages it out of GPU memory, CUDA only)."""
    if kind in ("adamw8bit", "paged-adamw8bit"):
        from headstart.errors import ConfigError

        if kind == "paged-adamw8bit" and (device is None or device.type != "cuda"):
            raise ConfigError("paged-adamw8bit pages optimiser state out of GPU memory and needs CUDA; "
                              "on this machine use --optimizer adamw8bit (or adamw)")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ConfigError(f"--optimizer {kind} needs bitsandbytes, headstart's [qlora] extra: pip install 'headstart[qlora]'; or use --optimizer adamw") from None
        cls = bnb.optim.PagedAdamW8bit if kind.startswith("paged") else bnb.optim.AdamW8bit
        return cls([{k: v for k, v in g.items() if k != "name"} for g in groups])
    try:
        return torch.optim.AdamW(groups, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, foreach=True)
