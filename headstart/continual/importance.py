"""The importance-weighted pulls of continual learning: after each task, how much each weight mattered to it (Ω) and
the weights it ended with (θ*); later tasks add (λ/2) Σ Ω (θ − θ*)². ``ewc`` and ``online-ewc`` measure Ω as the
Fisher diagonal, ``mas`` as the mean |∂‖f(x)‖²/∂θ| on the task's inputs, ``si`` as each weight's share of the drop
in loss along its path (the formulas and papers: ``continual.methods``' docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.continual.method_base import Method
from headstart.errors import ConfigError
from headstart.objectives.ewc import differentiable_eval, ewc_penalty, fisher_diagonal, mean_one
from headstart.objectives.terms import Penalty, check_count, check_weight


@dataclass(frozen=True)
class EWCOptions:
    weight: float = 100.0  # λ (F normalised to mean 1)
    samples: int = 200  # training inputs of each task the Fisher is estimated on

    def __post_init__(self) -> None:
        check_weight("ewc", self.weight, 100.0)
        check_count("ewc", "samples", self.samples)


@dataclass(frozen=True)
class OnlineEWCOptions(EWCOptions):
    gamma: float = 1.0  # how much of the running Fisher each new task keeps

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.gamma, (int, float)) or isinstance(self.gamma, bool) or not 0 < self.gamma <= 1:
            raise ConfigError(f"online-ewc gamma must be in (0, 1], got {self.gamma!r}; e.g. online-ewc[gamma=1]")


def _shared_params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.is_floating_point()]


def _trains(named: list[tuple[str, nn.Parameter]]) -> list[bool]:
    """Which of ``named`` the task just trained (its last phase's: the adapters and head under LoRA; every weight under
    full fine-tuning), read after it trained; every one where none is marked."""
    marked = [p.requires_grad for _, p in named]
    return marked if any(marked) else [True] * len(marked)


def _normalised(importance: list[torch.Tensor], trains: list[bool]) -> list[torch.Tensor]:
    """``importance`` at mean 1 over the weights that train, 0 on the others: a LoRA arm's frozen base (~300x the
    adapters' weights on MiniLM) would otherwise set the mean, and the weight (λ, c) would not read on L2-SP's scale
    (EWC on MiniLM + LoRA before training: the adapters averaged 1.98 over every weight, a pull twice λ's)."""
    scaled = iter(mean_one([value for value, t in zip(importance, trains) if t]))
    return [next(scaled) if t else torch.zeros_like(value) for value, t in zip(importance, trains)]


def _sample(chain: Any, step: int, samples: int) -> list[dict[str, torch.Tensor]]:
    """Up to ``samples`` of task ``step``'s training inputs, drawn across its classes (seeded), in batches of 8."""
    rows = np.random.default_rng(chain.seed * 1000 + step).permutation(chain.train_rows[step])[:samples]
    return chain.batches(step, rows, 8)


def task_fisher(chain: Any, step: int, samples: int) -> list[torch.Tensor]:
    """The Fisher diagonal of every weight on up to ``samples`` of task ``step``'s training inputs, the model as it
    is (predictions over the classes the task may choose from), normalised to mean 1."""
    named = _shared_params(chain.model)
    trains = _trains(named)
    params = [p for (_, p), t in zip(named, trains) if t]  # a frozen weight's Fisher is never read: not estimated
    with differentiable_eval(chain.model, params):
        generator = torch.Generator().manual_seed(chain.seed * 1000 + step)
        fisher = iter(fisher_diagonal(chain.model, _sample(chain, step, samples), params, task="classification",
                                      generator=generator))
    return _normalised([next(fisher) if t else torch.zeros_like(p, dtype=torch.float32) for (_, p), t in zip(named, trains)],
                       trains)


def keep(chain: Any, prefix: str, kind: str, importance: list[torch.Tensor], *, decay: float | None = 1.0) -> None:
    """Keep the weights as they are (``{prefix}.anchor.NAME``) and ``importance`` (``{prefix}.{kind}.NAME``): added to
    the kept one times ``decay``, or replacing it when ``decay`` is None."""
    for (name, p), value in zip(_shared_params(chain.model), importance):
        old = chain.memory.get(f"{prefix}.{kind}.{name}")
        chain.memory[f"{prefix}.{kind}.{name}"] = value if old is None or decay is None else decay * old + value
        chain.memory[f"{prefix}.anchor.{name}"] = p.detach().clone()


def pull(chain: Any, prefix: str, kind: str, weight: float) -> Penalty:
    """(weight/2) Σ Ω (θ − θ*)² over the weights that train, Ω and θ* as ``keep`` kept them under ``prefix``."""
    named = _shared_params(chain.model)
    params = [p for _, p in named]
    anchors = [chain.memory[f"{prefix}.anchor.{n}"] for n, _ in named]
    importance = [chain.memory[f"{prefix}.{kind}.{n}"] for n, _ in named]
    return lambda: _trained(params, anchors, importance, weight)


def _trained(params: list[nn.Parameter], anchors: list[torch.Tensor], fisher: list[torch.Tensor], weight: float) -> torch.Tensor | None:
    live = [i for i, p in enumerate(params) if p.requires_grad]
    if not live:
        return None
    return ewc_penalty([params[i] for i in live], [anchors[i] for i in live], [fisher[i] for i in live], weight)


class EWC(Method):
    name = "ewc"
    description = "EWC: a Fisher-weighted pull toward the weights each earlier task ended with, one per task"
    Options = EWCOptions
    grid = (0.1, 1.0, 10.0, 100.0)

    def after(self, chain: Any, step: int, options: EWCOptions) -> None:
        keep(chain, f"ewc.{step}", "fisher", task_fisher(chain, step, options.samples), decay=None)

    def penalties(self, chain: Any, step: int, options: EWCOptions) -> list[Penalty]:
        pulls = [pull(chain, f"ewc.{k}", "fisher", options.weight) for k in range(step)]

        def penalty() -> torch.Tensor | None:
            values = [v for v in (each() for each in pulls) if v is not None]
            return torch.stack(values).sum() if values else None

        return [penalty] if pulls else []


class OnlineEWC(Method):
    name = "online-ewc"
    description = "online EWC: one running Fisher F ← γF + F_k and the latest weights as the anchor"
    Options = OnlineEWCOptions
    grid = (0.1, 1.0, 10.0, 100.0)

    def after(self, chain: Any, step: int, options: OnlineEWCOptions) -> None:
        keep(chain, "online", "fisher", task_fisher(chain, step, options.samples), decay=options.gamma)

    def penalties(self, chain: Any, step: int, options: OnlineEWCOptions) -> list[Penalty]:
        return [pull(chain, "online", "fisher", options.weight)] if step else []


@dataclass(frozen=True)
class MASOptions:
    weight: float = 1.0  # λ (Ω normalised to mean 1)
    samples: int = 200  # training inputs of each task the importance is measured on

    def __post_init__(self) -> None:
        check_weight("mas", self.weight, 1.0)
        check_count("mas", "samples", self.samples)


class MAS(Method):
    name = "mas"
    description = "MAS: importance = mean |∂‖f(x)‖²/∂θ| on each task's inputs (no labels), summed over tasks; a pull toward the last weights"
    Options = MASOptions
    grid = (0.1, 1.0, 10.0, 100.0)

    def after(self, chain: Any, step: int, options: MASOptions) -> None:
        model = chain.model
        named = _shared_params(model)
        trains = _trains(named)
        params = [p for (_, p), t in zip(named, trains) if t]  # a frozen weight's importance is never read
        importance = [torch.zeros_like(p, dtype=torch.float32) for p in params]
        with differentiable_eval(model, params):
            for batch in _sample(chain, step, options.samples):
                size = next(iter(batch.values())).shape[0]
                for i in range(size):  # per example: the mean of absolute gradients, not the absolute mean gradient
                    out = model({k: v[i : i + 1] for k, v in batch.items()}).float()
                    got = torch.autograd.grad(out.pow(2).sum(), params, allow_unused=True)
                    for acc, g in zip(importance, got):
                        if g is not None:
                            acc += g.detach().abs().float()
        found = iter(importance)
        keep(chain, "mas", "omega", _normalised([next(found) if t else torch.zeros_like(p, dtype=torch.float32)
                                                  for (_, p), t in zip(named, trains)], trains))

    def penalties(self, chain: Any, step: int, options: MASOptions) -> list[Penalty]:
        return [pull(chain, "mas", "omega", options.weight)] if step else []


@dataclass(frozen=True)
class SIOptions:
    weight: float = 1.0  # c (Ω normalised to mean 1)
    damping: float = 0.1  # ξ in Ω = Σ ω / (Δ² + ξ)

    def __post_init__(self) -> None:
        check_weight("si", self.weight, 1.0)
        if not isinstance(self.damping, (int, float)) or isinstance(self.damping, bool) or not self.damping > 0:
            raise ConfigError(f"si damping must be > 0, got {self.damping!r}; e.g. si[damping=0.1] (its default)")


class SI(Method):
    name = "si"
    description = "SI: each weight's contribution to the drop in loss along its path while a task trains (−Σ g·Δθ), over Δ² + ξ"
    Options = SIOptions
    grid = (0.1, 1.0, 10.0, 100.0)

    def penalties(self, chain: Any, step: int, options: SIOptions) -> list[Penalty]:
        """The path integral's tracker (every step: −g·Δθ of the step before, g the task loss's gradient, read before
        any penalty adds to it), and from the second task the penalty on Ω."""
        named = _shared_params(chain.model)
        params = [p for _, p in named]
        start = [p.detach().clone() for p in params]
        omega = [torch.zeros_like(p, dtype=torch.float32) for p in params]
        last: dict[str, list[torch.Tensor]] = {}

        def track() -> None:
            now = [p.detach().clone() for p in params]
            if "theta" in last:
                for w, g, a, b in zip(omega, last["grad"], last["theta"], now):
                    w -= g * (b - a).float()
            last["theta"] = now
            last["grad"] = [torch.zeros_like(p, dtype=torch.float32) if p.grad is None else p.grad.detach().float().clone()
                            for p in params]
            return None

        chain.scratch["si"] = (params, start, omega, last)
        return [track, pull(chain, "si", "omega", options.weight)] if step else [track]

    def after(self, chain: Any, step: int, options: SIOptions) -> None:
        params, start, omega, last = chain.scratch.pop("si")
        # The path ends at the last recorded step: the engine may then restore an earlier checkpoint, a jump that is
        # not a gradient step, so it adds nothing to ω (Δ below is still measured to the weights the task kept).
        contribution = [w.clamp_min(0) / ((p.detach() - s).float().pow(2) + options.damping) for w, p, s in zip(omega, params, start)]
        keep(chain, "si", "omega", _normalised(contribution, _trains(_shared_params(chain.model))))
