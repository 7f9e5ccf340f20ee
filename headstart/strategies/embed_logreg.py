"""embed-logreg: logistic regression (convex, lbfgs) on the frozen encoder's cached features; C chosen on validation.

The classical probe: the same features as ``linear-probe``, but the head is the exact optimum of the
L2-regularised log-loss, C·Σ log-loss + ½‖w‖², for each C of a small log grid, instead of AdamW steps; the C whose
head scores best on validation is kept. The fitted coefficients are copied into the model's ``nn.Linear`` head,
so the saved run is an ordinary linear-probe-shaped run. Multilabel: one-vs-rest; regression: Ridge (alpha = 1/C).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from headstart.strategies.base import Budget, Phase, Problem, Strategy, head_group
from headstart.strategies.classical import LinearOptions, solve_linear
from headstart.strategies.registry import register


def solve(model: nn.Module, problem: Problem, *, options: LinearOptions) -> dict[str, Any]:
    return solve_linear(model, problem, problem.train_features().double().numpy(), options)


class EmbedLogreg(Strategy):
    name = "embed-logreg"
    leaves_backbone = True
    solved = True
    description = "frozen encoder, scikit-learn logistic regression (lbfgs) on cached features, C chosen on validation"
    Options = LinearOptions

    def plan(self, model, options: LinearOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase("logreg", [head_group(model, cfg)], 0, solve=partial(solve, options=options))]


register(EmbedLogreg())
