"""Loss weightings of a multi-task step: how the per-task losses L_t (t = 1..T) become the one loss the engine minimises.

- ``equal``: Σ_t L_t.
- ``uncertainty`` (Kendall, Gal & Cipolla 2018, eq. 7, with s_t = log σ_t² learned per task): a regression task adds
  ½·exp(−s_t)·L_t + ½·s_t (a Gaussian likelihood; L_t the mean squared error), a classification task
  exp(−s_t)·L_t + ½·s_t (a softmax scaled by 1/σ_t²; L_t the cross-entropy). At its optimum s_t = log L_t (regression)
  or log 2L_t (classification): the noisier a task's loss, the larger s_t and the lower its weight.
- ``gradnorm`` (Chen et al. 2018): Σ_t w_t·L_t with the weights w_t held out of that loss's gradient and moved by their
  own: ∂L_grad/∂w_t of L_grad = Σ_t |G_t − Ḡ·r_t^α|, where G_t = ‖∇_W w_t·L_t‖ at the last shared layer W, Ḡ the mean
  of the G_t, r_t = L̃_t / mean(L̃), L̃_t = L_t / L_t(0) (a task's inverse training rate), the targets Ḡ·r_t^α held
  constant — so ∂L_grad/∂w_t = sign(G_t − Ḡ·r_t^α)·‖∇_W L_t‖. The weights are renormalised to Σ w_t = T before each
  step. α = 1.5 (the paper's choice for tasks of different kinds).

A weighting's own parameters (log-variances, task weights) train in the engine's optimiser as a parameter group of
their own (``WeightingOptions.lr``), out of the gradient clip (``ParamGroup.clip``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from headstart.errors import ConfigError, comma_entries, unknown
from headstart.arguments import check_once


@dataclass(frozen=True)
class WeightingOptions:
    alpha: float = 1.5  # gradnorm's asymmetry: how hard a slower-training task is pushed (0: equal gradient norms)
    # The weights must move within a fine-tune of ~100 steps: AdamW moves a parameter by about lr a step, so at 0.025 a
    # log-variance or task weight can travel ~2.5 in 100 steps (at the model's 5e-5 it would stay where it started).
    lr: float = 0.025

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 10:
            raise ConfigError(f"--alpha must be a number in [0, 10], got {self.alpha!r}; try --alpha 1.5 (GradNorm's default)")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"--weight-lr must be > 0, got {self.lr!r}; try --weight-lr 0.025")


def uncertainty_loss(losses: torch.Tensor, log_vars: torch.Tensor, regression: torch.Tensor) -> torch.Tensor:
    """Kendall et al.'s weighted sum: Σ_t c_t·exp(−s_t)·L_t + ½·s_t, c_t = ½ for regression, 1 for classification.

    Args:
        losses: (T,) the tasks' losses.
        log_vars: (T,) s_t = log σ_t².
        regression: (T,) bool, True where task t is a regression.
    """
    scale = torch.where(regression, 0.5, 1.0).to(losses)
    return (scale * torch.exp(-log_vars) * losses + 0.5 * log_vars).sum()


def gradnorm_grad(norms: torch.Tensor, ratios: torch.Tensor, weights: torch.Tensor, alpha: float) -> torch.Tensor:
    """∂L_grad/∂w_t of GradNorm's L_grad = Σ_t |w_t·n_t − mean(w·n)·r_t^α| (the targets held constant).

    Args:
        norms: (T,) n_t = ‖∇_W L_t‖, each task's unweighted gradient norm at the last shared layer.
        ratios: (T,) r_t, each task's relative inverse training rate (mean 1).
        weights: (T,) the current w_t (> 0).
        alpha: the asymmetry α.

    Returns:
        (T,) sign(G_t − Ḡ·r_t^α)·n_t, where G_t = w_t·n_t.
    """
    scaled = weights * norms
    target = scaled.mean() * ratios.pow(alpha)
    return torch.sign(scaled - target) * norms


def renormalised(weights: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """``weights`` kept positive (at least ``floor``) and rescaled to sum to their count, as GradNorm does each step."""
    kept = weights.clamp_min(floor)
    return kept * (len(kept) / kept.sum())


class Weighting(nn.Module):
    """Base: how a step's per-task losses combine. ``combine`` returns the loss to backpropagate."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, kinds: tuple[str, ...], options: WeightingOptions) -> None:
        super().__init__()
        self.kinds = kinds
        self.options = options

    def combine(self, losses: torch.Tensor, shared: Callable[[], list[nn.Parameter]]) -> torch.Tensor:
        """The step's loss from ``losses`` ((T,), still in the graph); ``shared()`` gives the last shared layer's
        trainable parameters (read by gradnorm)."""
        raise NotImplementedError

    def effective(self) -> list[float]:
        """Each task's weight on its loss now (for the record and the report)."""
        raise NotImplementedError

    def state(self) -> dict[str, list[float]]:
        return {"weights": self.effective()}


class Equal(Weighting):
    name = "equal"
    description = "the sum of the tasks' losses"

    def combine(self, losses: torch.Tensor, shared: Callable[[], list[nn.Parameter]]) -> torch.Tensor:
        return losses.sum()

    def effective(self) -> list[float]:
        return [1.0] * len(self.kinds)


class Uncertainty(Weighting):
    name = "uncertainty"
    description = "Kendall et al. 2018: a learned log-variance per task weighs its loss"

    def __init__(self, kinds: tuple[str, ...], options: WeightingOptions) -> None:
        super().__init__(kinds, options)
        self.log_vars = nn.Parameter(torch.zeros(len(kinds)))
        self.register_buffer("regression", torch.tensor([k == "regression" for k in kinds]), persistent=False)

    def combine(self, losses: torch.Tensor, shared: Callable[[], list[nn.Parameter]]) -> torch.Tensor:
        return uncertainty_loss(losses, self.log_vars, self.regression.to(losses.device))

    def effective(self) -> list[float]:
        scale = torch.where(self.regression.cpu(), 0.5, 1.0)
        return (scale * torch.exp(-self.log_vars.detach().cpu())).tolist()

    def state(self) -> dict[str, list[float]]:
        return {"weights": self.effective(), "log_vars": self.log_vars.detach().cpu().tolist()}


class GradNorm(Weighting):
    name = "gradnorm"
    description = "Chen et al. 2018: task weights moved to balance gradient norms at the last shared layer"

    def __init__(self, kinds: tuple[str, ...], options: WeightingOptions) -> None:
        super().__init__(kinds, options)
        self.weights = nn.Parameter(torch.ones(len(kinds)))
        self.register_buffer("initial", torch.zeros(len(kinds)), persistent=False)  # L_t(0), set by the first step
        self.norms: list[float] = []  # the last step's G_t = w_t·‖∇_W L_t‖ (tests read them)

    def combine(self, losses: torch.Tensor, shared: Callable[[], list[nn.Parameter]]) -> torch.Tensor:
        with torch.no_grad():
            self.weights.copy_(renormalised(self.weights))
            if not bool((self.initial > 0).all()):
                self.initial.copy_(losses.detach().float().clamp_min(1e-8))
        live = [p for p in shared() if p.requires_grad]
        weights = self.weights.detach().to(losses.device)
        if live and torch.is_grad_enabled():
            norms = torch.stack([_norm(torch.autograd.grad(losses[t], live, retain_graph=True, allow_unused=True))
                                 for t in range(len(losses))])
            inverse_rate = losses.detach().float() / self.initial.to(losses.device)
            ratios = inverse_rate / inverse_rate.mean()
            grad = gradnorm_grad(norms, ratios, weights.float(), self.options.alpha).to(self.weights)
            self.weights.grad = grad if self.weights.grad is None else self.weights.grad + grad
            self.norms = (weights.float() * norms).tolist()
        return (weights * losses).sum()

    def effective(self) -> list[float]:
        return renormalised(self.weights.detach().cpu()).tolist()


def _norm(grads: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
    parts = [g.float().pow(2).sum() for g in grads if g is not None]
    return torch.stack(parts).sum().sqrt() if parts else torch.zeros(())


WEIGHTINGS: dict[str, type[Weighting]] = {}


def register(cls: type[Weighting]) -> None:
    if cls.name in WEIGHTINGS:
        raise ValueError(f"weighting {cls.name!r} is already registered")
    WEIGHTINGS[cls.name] = cls


register(Equal)
register(Uncertainty)
register(GradNorm)


def parse_weightings(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"equal,gradnorm"`` -> ``("equal", "gradnorm")``.

    Raises:
        ConfigError: an unknown name (the closest and the list named), a name twice, or none.
    """
    names = comma_entries(text, name="--weighting", noun="weighting") if isinstance(text, str) else [str(w).strip() for w in text if str(w).strip()]
    if not names:
        raise ConfigError(f"--weighting names no weighting; use some of {', '.join(WEIGHTINGS)}, e.g. --weighting equal,gradnorm")
    for name in names:
        if name not in WEIGHTINGS:
            raise unknown("weighting", name, WEIGHTINGS)
    check_once("--weighting", names, "weighting")
    return tuple(names)


def build_weighting(name: str, kinds: tuple[str, ...], options: WeightingOptions) -> Weighting:
    return WEIGHTINGS[name](kinds, options)
