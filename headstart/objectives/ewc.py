"""EWC: elastic weight consolidation (Kirkpatrick et al., PNAS 2017, "Overcoming catastrophic forgetting in neural
networks"): keep the weights that mattered for what the model did before training near their values, in proportion
to how much they mattered.

    Ω(θ) = (λ / 2) · Σ_i F_i (θ_i − θ_i*)²,   F_i = E_x E_{y ~ p_θ*(y|x)} [ (∂ log p_θ*(y|x) / ∂θ_i)² ]

θ* the weights before training, F the diagonal of the Fisher information of the model's own predictions (labels
sampled from the model, never read from the data) on reference inputs — by default the task's training pool
(``TermContext.reference``) or an earlier task's inputs (``ewc[data=NAME]``). F is estimated for the weights the run
trains (``TermContext.trained``: the adapters under LoRA, the unfrozen blocks under partial-freeze) and normalised to
mean 1 over them, so λ reads on L2-SP's scale:
EWC is L2-SP with each weight's pull scaled by its importance. For regression the model's output is taken as the
mean of a unit-variance Gaussian, whose Fisher is (∂f/∂θ)². The head (new, with no earlier task) is not anchored;
before training it is the freshly initialised head, so F measures how much each weight moves the features the
head reads — which weights the encoder's current representation rests on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.objectives.terms import Penalty, TermContext, check_count, check_weight, refuses_without_pretrained_backbone, register


def fisher_diagonal(model: nn.Module, batches: list[dict[str, torch.Tensor]], params: list[torch.Tensor], *, task: str,
                    generator: torch.Generator) -> list[torch.Tensor]:
    """The diagonal Fisher of ``model``'s predictive distribution, per example, averaged over ``batches``.

    Args:
        batches: collated inputs; each example's gradient is taken alone (the diagonal needs per-example squares).
        params: the weights to estimate it for (each gets a tensor of its shape).
        generator: draws the labels from the model's own predictions.

    Returns:
        One tensor per param, F_i >= 0, in the params' shapes.
    """
    fisher = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    count = 0
    for batch in batches:
        size = next(iter(batch.values())).shape[0]
        for i in range(size):
            one = {k: v[i : i + 1] for k, v in batch.items()}
            out = model(one).float()
            if task == "classification":
                # drawn on the CPU with the CPU generator (the same draws on any device; a CUDA tensor refuses it)
                y = torch.multinomial(torch.softmax(out.detach(), -1).cpu(), 1, generator=generator).squeeze(-1).to(out.device)
                objective = torch.log_softmax(out, -1)[0, y[0]]
            elif task == "multilabel":
                y = torch.bernoulli(torch.sigmoid(out.detach()).cpu(), generator=generator).to(out.device)
                objective = -torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="sum")
            else:
                objective = out.sum()
            grads = torch.autograd.grad(objective, params, allow_unused=True)
            for f, g in zip(fisher, grads):
                if g is not None:
                    f += g.detach().float() ** 2
            count += 1
    return [f / max(count, 1) for f in fisher]


@contextmanager
def differentiable_eval(model: nn.Module, params: list[torch.Tensor]) -> Iterator[None]:
    """``model`` in eval mode (no dropout) with ``params`` requiring gradients inside the block; both put back after."""
    from headstart.modes import module_modes, restore_modes

    modes = module_modes(model)
    grads = [p.requires_grad for p in params]
    model.eval()
    try:
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p, g in zip(params, grads):
            p.requires_grad_(g)
        restore_modes(modes)


def mean_one(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """``tensors`` scaled so that their elements average 1 (an importance on L2-SP's scale)."""
    mean = torch.cat([t.flatten() for t in tensors]).mean().clamp_min(1e-30)
    return [t / mean for t in tensors]


def ewc_penalty(params: list[torch.Tensor], anchors: list[torch.Tensor], fisher: list[torch.Tensor], lam: float) -> torch.Tensor:
    """(λ / 2) Σ F (p − a)² over matching tensors; a scalar."""
    return 0.5 * lam * torch.stack([(f * (p - a).pow(2)).sum() for p, a, f in zip(params, anchors, fisher)]).sum()


@dataclass(frozen=True)
class EWCOptions:
    # λ, on L2-SP's scale (F is normalised to mean 1). 1: MiniLM fine-tuned at its defaults (n = 64, 100 steps) drifted
    # half as far from its pre-trained weights at no cost on validation; at 0.01 (L2-SP's old α, once this default) as far
    # as with no term (`python benchmarks/ewc_weights.py`; docs/BENCHMARKS.md, "The ewc term's default weight")
    weight: float = 1.0
    samples: int = 64  # reference inputs the Fisher is estimated on (one gradient each: ~0.1 s each for MiniLM on CPU)
    data: str | None = None  # the reference inputs' dataset (an earlier task, its pool's inputs); None: the task's own pool

    def __post_init__(self) -> None:
        check_weight("ewc", self.weight, 1.0)
        check_count("ewc", "samples", self.samples)
        if self.data is not None and (not isinstance(self.data, str) or not self.data):
            raise ConfigError(f"ewc data must name a dataset, got {self.data!r}; e.g. ewc[data=drug-reviews]")


class EWC:
    name = "ewc"
    description = "EWC: (λ/2)·Σ F·(θ − θ*)², F the Fisher of the model's own predictions on the training pool before training"
    Options = EWCOptions

    def refuses(self, strategy) -> str | None:
        return refuses_without_pretrained_backbone(strategy)

    def build(self, model: nn.Module, options: EWCOptions, context: TermContext) -> Penalty:
        head = {id(p) for p in model.head_parameters()}
        params = [p for p in model.parameters() if id(p) not in head and p.is_floating_point()
                  and (not context.trained or id(p) in context.trained)]  # a weight no phase trains needs no anchor
        anchors = [p.detach().clone() for p in params]
        key = (context.start, repr(options)) if context.start else None
        if key is not None and key in _FISHER and len(_FISHER[key]) == len(params):
            fisher = _FISHER[key]  # a tuning trial of the same run: the same model before training, the same estimate
        else:
            fisher = self._fisher(model, params, options, context)
            if key is not None:
                _FISHER.clear()  # one run at a time
                _FISHER[key] = fisher

        def penalty() -> torch.Tensor | None:
            trained = [i for i, p in enumerate(params) if p.requires_grad]
            if not trained:
                return None
            return ewc_penalty([params[i] for i in trained], [anchors[i] for i in trained], [fisher[i] for i in trained],
                               float(options.weight))

        return penalty

    def _fisher(self, model: nn.Module, params: list[torch.Tensor], options: EWCOptions, context: TermContext) -> list[torch.Tensor]:
        """The Fisher diagonal of ``params`` on the reference inputs (the model as it predicts: no dropout), normalised
        to mean 1 over them: the weights the run trains, so that λ keeps L2-SP's scale under LoRA or partial-freeze."""
        with differentiable_eval(model, params):
            generator = torch.Generator().manual_seed(context.seed)
            if options.data:  # an earlier task's inputs (its labels are not read: y is drawn from the model)
                if context.other is None:
                    raise ConfigError("ewc[data=...] needs another dataset, which this run cannot load")
                reference = context.other(options.data, options.samples, 8)[0]
            else:
                reference = context.reference(options.samples, 8)
            fisher = fisher_diagonal(model, reference, params, task=context.task, generator=generator)
        return mean_one(fisher)


_FISHER: dict[tuple[str, str], list[torch.Tensor]] = {}  # the last run's estimate, reused by its tuning trials


register(EWC())
