"""ia3: learned per-channel scalings (Liu et al. 2022), via peft.

On BERT, PEFT's default scales the outputs of ``key`` and ``value`` and, as feed-forward modules, the inputs of every
module named ``*output.dense``: the feed-forward output projection and also the attention output projection
(``attention.output.dense``). So four vectors a layer train (16,128 scalings on MiniLM-L6, 16,898 parameters with
the head), not the paper's three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.strategies.peft_base import PeftStrategy, check_targets, default_targets
from headstart.strategies.registry import register


@dataclass(frozen=True)
class IA3Options:
    targets: Any = None  # None: PEFT's default for the architecture (key, value, *output.dense for BERT; k, v, output.dense for MPNet)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", check_targets(self.targets))


class IA3(PeftStrategy):
    name = "ia3"
    description = ("IA3 (peft): learned rescaling of keys and values and of the inputs to the attention-output and "
                   "feed-forward-output projections, 4 vectors a layer (~0.07% of params; on MPNet keys, values and the "
                   "feed-forward output, 3)")
    Options = IA3Options
    defaults = {"lr": 3e-3, "head_lr": 1e-3, "min_steps": 100}  # scalings start at 1 and need a large lr to move
    lr_grid = (1e-3, 3e-3, 1e-2)  # --tune lr candidates

    def peft_config(self, options: IA3Options, backbone) -> Any:
        from peft import IA3Config, TaskType

        targets = options.targets or default_targets(backbone, "ia3")
        feedforward = None
        if isinstance(targets, list):  # the feed-forward output projections among the given targets
            feedforward = [t for t in targets if t.endswith("output.dense") and "attention" not in t] or []
        return IA3Config(task_type=TaskType.FEATURE_EXTRACTION, target_modules=targets, feedforward_modules=feedforward)


register(IA3())
