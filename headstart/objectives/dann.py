"""DANN: domain-adversarial training (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016, "Domain-adversarial
training of neural networks"): a small domain classifier learns to tell the task's inputs from a target domain's by
their features, and a gradient-reversal layer makes the encoder learn features it cannot tell apart:

    Ω = λ · BCE(d(R_γ(f(x))), domain),   R_γ the identity forward and −γ · gradient backward,
    γ = 2 / (1 + exp(−10 p)) − 1 with p the fraction of training done (the paper's schedule: 0 at the start, → 1)

The classifier (features → 256 → 1, ReLU) is the term's own: it trains beside the encoder at the head's rate in every
phase that trains the encoder (``Objective.parameters``) and is not saved with the model. The target's inputs are
unlabelled (``dann[data=NAME]``); each step adds one source and one target batch through the encoder
(``objectives.align``).
"""

from __future__ import annotations

import math
import torch
from torch import nn

from headstart.objectives.align import AlignOptions, feature_pairs
from headstart.objectives.terms import Penalty, TermContext, refuses_with_fixed_features, register

HIDDEN = 256


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float) -> torch.Tensor:
        ctx.gamma = gamma
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.gamma * grad, None


def reverse_gradient(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``x`` forward; −γ · its gradient backward."""
    return _Reverse.apply(x, gamma)


def ganin_gamma(progress: float) -> float:
    """The reversal's strength at ``progress`` ∈ [0, 1] of training: 2 / (1 + e^(−10 p)) − 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


class DANNOptions(AlignOptions):
    term = "dann"  # weight: λ on the domain classifier's loss


class DANN:
    name = "dann"
    description = "DANN: a domain classifier behind a gradient-reversal layer makes the task's and a target domain's features indistinguishable (dann[data=NAME])"
    Options = DANNOptions

    def refuses(self, strategy) -> str | None:
        return refuses_with_fixed_features(strategy)

    def build(self, model: nn.Module, options: DANNOptions, context: TermContext) -> Penalty:
        pair = feature_pairs(model, context, options.data, rows=options.rows, batch=options.batch, term=self.name)
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(context.seed)
        dim = int(getattr(model.backbone, "dim"))
        classifier = nn.Sequential(nn.Linear(dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
        with torch.no_grad():
            for layer in (classifier[0], classifier[2]):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        classifier.to(device)
        taken = [0]

        def penalty() -> torch.Tensor | None:
            features = pair()
            if features is None:
                return None
            source, target = features
            gamma = ganin_gamma(taken[0] / max(context.steps, 1))
            taken[0] += 1
            logits = classifier(reverse_gradient(torch.cat([source, target]), gamma)).squeeze(-1)
            domain = torch.cat([torch.zeros(len(source)), torch.ones(len(target))]).to(logits.device)
            accuracies.append(float(((logits.detach() > 0).float() == domain).float().mean()))
            return float(options.weight) * nn.functional.binary_cross_entropy_with_logits(logits, domain)

        accuracies: list[float] = []  # the domain classifier's accuracy on each step's batches: toward 0.5 as it works
        penalty.parameters = tuple(classifier.parameters())  # type: ignore[attr-defined]
        penalty.accuracies = accuracies  # type: ignore[attr-defined]
        return penalty


register(DANN())
