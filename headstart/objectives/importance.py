"""Importance weighting for covariate shift (Shimodaira 2000; Sugiyama et al. 2007; the density ratio from a domain
classifier: Bickel et al., ICML 2007): weight each training example's loss by how much more likely its input is under
the target domain than under the source,

    w(x) = p(target | x) / p(source | x) · N_source / N_target,   loss = mean_i w(x_i) · ℓ_i

with p(target | x) a logistic regression on the pre-trained encoder's features (standardised) of ``rows`` source
inputs (the task's training pool, labels never read) against ``rows`` target inputs (``importance[data=NAME]``: its
pool, labels never read), its inverse regularisation chosen by 3-fold cross-validated log-loss. The weights of the
run's training rows are scaled to mean 1 with none above ``clip`` (no example counts more than ``clip`` times the
average: the ratios scaled so that, clipped, they average 1). The term adds no penalty; it changes the task loss (``Objective.example_weights``).

Every run records what the weights did (``report.estimates["importance"]``; a stored run's ``record["estimates"]``,
a saved run's ``metrics.json`` ``estimates``): the domain classifier's held-out accuracy
(0.5: the domains look alike and the weights stay near 1; near 1.0: the features tell them apart and a few examples
carry the loss) and the effective sample size (Σw)² / Σw² of the n weighted rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.modes import module_modes, restore_modes
from headstart.objectives.align import check_target
from headstart.objectives.terms import Penalty, TermContext, check_count, register

BATCH = 64  # inputs a forward pass when the features are read


@dataclass(frozen=True)
class ImportanceOptions:
    data: str = ""  # the target domain: a built-in dataset or a file, read for its inputs only
    clip: float = 10.0  # the largest weight, as a multiple of the mean
    rows: int = 512  # of each domain for the domain classifier

    def __post_init__(self) -> None:
        check_target("importance", self.data)
        if not isinstance(self.clip, (int, float)) or isinstance(self.clip, bool) or not self.clip > 1:
            raise ConfigError(f"importance clip must be a number > 1 (the largest weight as a multiple of the mean), got "
                              f"{self.clip!r}; e.g. importance[clip=10] (its default)")
        check_count("importance", "rows", self.rows)
        if self.rows < 3:
            raise ConfigError(f"importance rows must be at least 3 (its domain classifier is cross-validated in 3 folds), "
                              f"got {self.rows}; e.g. importance[rows=512] (its default)")


def density_ratio_weights(source: np.ndarray, target: np.ndarray, train: np.ndarray, *, clip: float,
                          seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Weights (mean 1, at most ``clip``) of the ``train`` rows from a domain classifier of ``source`` vs ``target``.

    Args:
        source / target: (N_s, d) / (N_t, d) features of each domain's inputs.
        train: (n, d) features of the rows the task loss is weighted over.

    Returns:
        (n,) weights, and ``{"domain_accuracy", "ess", "clipped"}``: the classifier's 3-fold held-out accuracy, the
        effective sample size (Σw)²/Σw² of the weights, and how many rows the clip bounded.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.concatenate([source, target]).astype(np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-8
    x = (x - mean) / std
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    best = None
    for c in np.logspace(-4, 2, 7):  # the inverse regularisation with the lowest held-out log-loss
        held = np.clip(cross_val_predict(LogisticRegression(C=c, max_iter=2000), x, y, cv=folds, method="predict_proba")[:, 1],
                       1e-12, 1 - 1e-12)
        loss = -np.mean(y * np.log(held) + (1 - y) * np.log(1 - held))
        if best is None or loss < best[0]:
            best = (loss, c, held)
    _, c, held = best
    classifier = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    p = np.clip(classifier.predict_proba((train.astype(np.float64) - mean) / std)[:, 1], 1e-6, 1 - 1e-6)
    weights = p / (1 - p) * len(source) / len(target)
    weights = weights / weights.mean()  # the scale s with mean(min(s·w, clip)) = 1: at s = 1 the mean is <= 1, at
    low, high = 0.0, float(np.log(clip / weights.min()))  # s = clip / min w it is clip > 1; bisect on log s
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if np.minimum(np.exp(middle) * weights, clip).mean() < 1 else (low, middle)
    clipped = int((np.exp(high) * weights >= clip).sum())  # rows held at the cap once scaled
    weights = np.minimum(np.exp(high) * weights, clip)
    summary = {"domain_accuracy": round(float(((held > 0.5) == y).mean()), 4),
               "ess": round(float(weights.sum() ** 2 / np.square(weights).sum()), 2), "clipped": clipped}
    return weights, summary


@torch.no_grad()
def _features(backbone: nn.Module, batches: list[dict[str, torch.Tensor]]) -> np.ndarray:
    return torch.cat([backbone(b).float().cpu() for b in batches]).numpy()


class Importance:
    name = "importance"
    description = ("importance weighting: each example's loss times p(target|x)/p(source|x), a domain classifier on the "
                   "pre-trained features, clipped (importance[data=NAME])")
    Options = ImportanceOptions

    def refuses(self, strategy) -> str | None:
        if getattr(strategy, "solved", False):
            return "it is fitted by a closed-form solver, not by minimising a loss the weights could scale"
        return None

    def build(self, model: nn.Module, options: ImportanceOptions, context: TermContext) -> Penalty:
        if context.unlabelled is None or context.training is None:
            raise ConfigError("importance needs the target dataset's inputs, which this run cannot load")
        modes = module_modes(model)
        model.eval()  # the features as the pre-trained encoder gives them: no dropout
        try:
            source = _features(model.backbone, context.reference(options.rows, BATCH))
            target = _features(model.backbone, context.unlabelled(options.data, options.rows, BATCH))
            train = _features(model.backbone, context.training(BATCH))
        finally:
            restore_modes(modes)
        if min(len(source), len(target)) < 3:
            raise ConfigError(f"importance needs at least 3 inputs of each domain to fit its domain classifier; "
                              f"{options.data!r} gave {len(target)} and the task's pool {len(source)}")
        weights, summary = density_ratio_weights(source, target, train, clip=float(options.clip), seed=context.seed)

        def penalty() -> torch.Tensor | None:
            return None

        penalty.example_weights = torch.as_tensor(weights, dtype=torch.float32)  # type: ignore[attr-defined]
        penalty.summary = summary  # type: ignore[attr-defined]
        return penalty


register(Importance())
