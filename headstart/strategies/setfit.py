"""setfit: contrastive fine-tuning of the sentence encoder on pairs of the n labelled examples, then a logistic head.

Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts" (SetFit). Phase 1: R times over the n training
rows, each row is paired with a random row of its own class (label 1) and a random row of another class (label 0);
the encoder f minimises CosineSimilarityLoss, mean over pairs of (cos(f(a), f(b)) − label)², with AdamW for one
epoch over the 2·R·n pairs (batches of ``batch_size`` pairs, linear warmup over the first ``warmup`` fraction then
linear decay: SetFit's and sentence-transformers' schedule). Phase 2: L2-regularised logistic regression on the
tuned encoder's embeddings of the same n rows, C chosen on validation as embed-logreg does (SetFit's head is
scikit-learn's LogisticRegression at C = 1). The test split is never read.

Written here rather than through the ``setfit`` / ``sentence-transformers`` trainers (both install beside our pinned
transformers): those train a ``SentenceTransformer`` through the Hugging Face Trainer (accelerate, ``datasets``, its own
seeding, device placement and checkpoint folders), while headstart's backbones are any encoder folder with its own
pooling; wrapping one would be a second training loop beside the engine for a loss of one line and a pair sampler of
ten. tests/strategies/test_setfit.py checks the loss against sentence-transformers' ``CosineSimilarityLoss``.
Both phases run inside the engine's closed-form phase (``Phase.solve``): its run seed (the engine seeds torch before
any phase) draws the pairs and the dropout masks; validation, best-weights, saving and loading are the engine's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headstart.errors import ConfigError
from headstart.precision import under
from headstart.strategies.base import Budget, ParamGroup, Phase, Problem, Strategy, head_group
from headstart.strategies.classical import check_grid, solve_linear, LinearOptions
from headstart.strategies.registry import register


@dataclass(frozen=True)
class SetFitOptions:
    """Options of setfit."""

    iterations: int = 20  # R: positive + negative pairs drawn per training row; SetFit's num_iterations default
    grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # the head's C tried on validation, as embed-logreg
    max_iter: int = 1000  # lbfgs iterations of the head

    def __post_init__(self) -> None:
        if not isinstance(self.iterations, int) or isinstance(self.iterations, bool) or not 1 <= self.iterations <= 1000:
            raise ConfigError(f"iterations must be an integer in [1, 1000] (pair draws per training row), got {self.iterations!r}; "
                              "try iterations=20")
        object.__setattr__(self, "grid", check_grid("grid", self.grid, integer=False, example="[0.1,1,10]"))
        LinearOptions(grid=self.grid, max_iter=self.max_iter)  # the same checks as embed-logreg's


def draw_pairs(targets: np.ndarray, iterations: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SetFit's pairs: ``iterations`` times over the rows, each row with a random same-class row (label 1) and a
    random other-class row (label 0); a row whose class has no other member pairs with itself, a class alone in the
    data gives no negative. Pairs come shuffled.

    Args:
        targets: (n,) class ids of the training rows.
        iterations: R.
        generator: the seeded source of every draw.

    Returns:
        (a, b, label): (P,) row indices into ``targets`` twice and (P,) float labels 1.0 / 0.0; P <= 2·R·n.
    """
    a, b, label = [], [], []
    by_class = {int(c): np.flatnonzero(targets == c) for c in np.unique(targets)}
    others = {c: np.flatnonzero(targets != c) for c in by_class}

    def pick(rows: np.ndarray) -> int:
        return int(rows[int(torch.randint(len(rows), (1,), generator=generator))])

    for _ in range(iterations):
        for i, c in enumerate(targets.tolist()):
            same = by_class[int(c)]
            same = same[same != i] if len(same) > 1 else same
            a.append(i), b.append(pick(same)), label.append(1.0)
            if len(others[int(c)]):
                a.append(i), b.append(pick(others[int(c)])), label.append(0.0)
    order = torch.randperm(len(a), generator=generator).numpy()
    return np.asarray(a)[order], np.asarray(b)[order], np.asarray(label, dtype=np.float32)[order]


def cosine_pair_loss(u: torch.Tensor, v: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """CosineSimilarityLoss: mean of (cos(u_i, v_i) − label_i)² over (P, d) embeddings ``u``, ``v`` and (P,) labels."""
    return F.mse_loss(F.cosine_similarity(u, v, dim=-1), label.float())


def tune_encoder(backbone: nn.Module, inputs: list, targets: np.ndarray, *, iterations: int, lr: float, batch_size: int,
                 weight_decay: float, warmup: float, clip: float, max_steps: int | None, generator: torch.Generator,
                 autocast: Callable[[], Any] | None = None, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Phase 1 in place: one epoch of CosineSimilarityLoss over the pairs of ``draw_pairs``; returns the steps taken and
    the steps that epoch asked for (more where ``max_steps`` cut it).

    Both sides of a batch of pairs go through the encoder as one batch (padded together; pooling reads the attention
    mask, so each embedding is what it would be alone), under the run's bf16 autocast where the run measured it pays;
    the loss is computed in fp32.

    Args:
        inputs: the training rows as ``backbone.encode`` made them. targets: (n,) their class ids.
        autocast: context-manager factory for bf16 autocast, or None for fp32.
        progress: called with (steps done, steps) after each step.
    """
    a, b, label = draw_pairs(targets, iterations, generator)
    planned = steps = math.ceil(len(a) / batch_size)
    if max_steps is not None:
        steps = min(steps, max_steps)
    params = [p for p in backbone.parameters() if p.requires_grad]
    if steps == 0 or not params:
        return 0, planned
    device = params[0].device
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    ramp = max(1, math.ceil(warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / ramp if s < ramp else max(0.0, (steps - s) / max(1, steps - ramp)))
    with torch.enable_grad():  # the engine solves closed-form phases under no_grad
        for step in range(steps):
            part = slice(step * batch_size, (step + 1) * batch_size)
            sides = [inputs[i] for i in a[part]] + [inputs[i] for i in b[part]]
            with under(autocast):
                both = backbone({k: t.to(device) for k, t in backbone.collate(sides).items()})
            left, right = both.float().split(len(a[part]))
            loss = cosine_pair_loss(left, right, torch.as_tensor(label[part], device=device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"setfit's pair loss became {loss.item()} at step {step + 1}; lower the learning rate (--lr)")
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            if progress:
                progress(step + 1, steps)
    return steps, planned


def check_task(task: str) -> None:
    """SetFit pairs rows by class: a regression dataset is refused."""
    if task != "classification":
        raise ConfigError(f"setfit pairs rows by class; this is a {task} dataset; use full-finetune or embed-logreg")


def solve(model: nn.Module, problem: Problem, *, options: SetFitOptions, cfg: Any) -> dict[str, Any]:
    """Tune the encoder on the training pairs, then fit the logistic head on its new embeddings (C on validation)."""
    check_task(problem.task)  # for_labels refused it already where a run resolves; a direct call lands here
    generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))  # from the run seed the engine set
    steps, planned = tune_encoder(model.backbone, problem.train_inputs, problem.train_targets.numpy(), iterations=options.iterations,
                         lr=cfg.lr, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay, warmup=cfg.warmup, clip=cfg.clip,
                         max_steps=cfg.max_steps, generator=generator, autocast=problem.autocast, progress=problem.progress)
    linear = LinearOptions(grid=options.grid, max_iter=options.max_iter)
    return {"pair_steps": steps, **({"pair_steps_planned": planned} if planned > steps else {}),
            **solve_linear(model, problem, problem.train_features().double().numpy(), linear)}


class SetFit(Strategy):
    name = "setfit"
    description = "SetFit: the encoder tuned contrastively on same/different-class pairs of the n rows, then logistic regression"
    Options = SetFitOptions
    solved = True
    # SetFit's defaults: body learning rate 2e-5, batches of 16 pairs (TrainConfig's batch_size), warmup 10%.
    defaults = {"lr": 2e-5}
    untuned_why = ("its encoder trains on pairs at one rate, SetFit's 2e-5, which --lr changes; its head's C is chosen "
                   "on validation")
    modalities = ("text",)  # a sentence-encoder method; image pairs would need augmentation SetFit does not define

    def for_labels(self, options: SetFitOptions, label_names: tuple[str, ...], task: str) -> SetFitOptions:
        """Refused before anything loads or trains on a task it cannot pair (resolving every run of a sweep calls this)."""
        check_task(task)
        return options

    def plan(self, model, options: SetFitOptions, cfg, budget: Budget) -> list[Phase]:
        backbone = ParamGroup("backbone", model.backbone_parameters(), cfg.lr)
        return [Phase("setfit", [backbone, head_group(model, cfg)], 0, solve=partial(solve, options=options, cfg=cfg))]


register(SetFit())
