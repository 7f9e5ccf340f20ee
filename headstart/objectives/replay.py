"""Replay: rehearse an earlier task while the new one trains (experience replay; Rolnick et al. 2019, Chaudhry et al.
2019): every step adds the earlier task's loss on a batch of its own labelled examples.

The earlier task is a labelled classification dataset given by name (``replay[data=drug-reviews]``), read from its
training pool only (never its test split, and never the run's own dataset, whose labels beyond n are not the run's).
Its head is the one the original encoder supports: a logistic regression fit in closed form on the pre-trained
features of the replayed rows before training, then held fixed, so the replayed loss keeps the encoder's features
usable by the head the earlier task already had:

    Ω = λ · CE(W f_θ(x_r) + b, y_r)

It costs one more forward and backward pass of ``batch`` replayed examples a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.functional import cross_entropy

from headstart.errors import ConfigError
from headstart.objectives.terms import Penalty, TermContext, check_count, check_weight, cycle, refuses_without_pretrained_backbone, register


@dataclass(frozen=True)
class ReplayOptions:
    data: str = ""  # the earlier task: a built-in classification dataset or a file
    weight: float = 1.0  # λ on the replayed cross-entropy
    batch: int = 16  # replayed examples a step
    rows: int = 512  # the buffer: rows of the earlier task's pool, drawn with the run's seed
    C: float = 1.0  # the earlier head's inverse regularisation

    def __post_init__(self) -> None:
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError("replay needs the earlier task to rehearse: e.g. replay[data=drug-reviews]")
        check_weight("replay", self.weight, 1.0)
        check_count("replay", "batch", self.batch)
        check_count("replay", "rows", self.rows)
        if not isinstance(self.C, (int, float)) or isinstance(self.C, bool) or not self.C > 0:
            raise ConfigError(f"replay C must be > 0, got {self.C!r}; e.g. replay[C=1.0]")


class Replay:
    name = "replay"
    description = "replay: λ·CE of an earlier task's fixed head on a batch of its own examples each step (replay[data=NAME])"
    Options = ReplayOptions

    def refuses(self, strategy) -> str | None:
        return refuses_without_pretrained_backbone(strategy)

    def build(self, model: nn.Module, options: ReplayOptions, context: TermContext) -> Penalty:
        from headstart.modes import module_modes, restore_modes
        from headstart.linear_fit import fit_linear

        if context.other is None:
            raise ConfigError("replay needs another dataset, which this run cannot load")
        batches, targets, classes = context.other(options.data, options.rows, options.batch)
        modes = module_modes(model)
        model.eval()
        try:
            with torch.no_grad():
                features = torch.cat([model.backbone(b).float().cpu() for b in batches])
        finally:
            restore_modes(modes)
        W, b = fit_linear("classification", features.double().numpy(), torch.cat(targets).numpy().astype(np.int64),
                          C=float(options.C), outputs=classes, max_iter=1000)
        device = next(model.parameters()).device
        weight = torch.as_tensor(W, dtype=torch.float32, device=device)
        bias = torch.as_tensor(b, dtype=torch.float32, device=device)
        take = cycle([(batch, y.to(device)) for batch, y in zip(batches, targets)])

        def penalty() -> torch.Tensor | None:
            if not any(p.requires_grad for p in model.backbone.parameters()):
                return None
            batch, y = take()
            logits = model.backbone(batch).float() @ weight.T + bias
            return float(options.weight) * cross_entropy(logits, y)

        return penalty


register(Replay())
