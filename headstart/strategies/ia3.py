"""ia3: learned per-channel scalings (Liu et al. 2022), via peft.

On BERT, PEFT's default scales the outputs of ``key`` and ``value`` and, as feed-forward modules, the inputs of every
module named ``*output.dense``: the feed-forward output projection and also the attention output projection
(``attention.output.dense``). So four vectors a layer train (16,128 scalings on MiniLM-L6, 16,898 parameters with
the head), not the paper's three. Given ``--targets``, each entry scales the modules it names exactly
(``peft_base.exact_targets``: ``output.dense`` is the feed-forward output projection, not also
``attention.output.dense``); the feed-forward modules (their input scaled) are the ``output.dense`` modules outside
attention among them, by full name (``feedforward_modules``); any other target, ``attention.output.dense`` included,
has its output scaled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from torch import nn

from headstart.strategies.peft_base import PeftStrategy, check_targets, default_targets, encoder_of, exact_targets
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
        if isinstance(options.targets, list):  # the modules each entry names, not every module whose name ends in it
            targets = exact_targets(encoder_of(backbone), targets)
        feedforward = feedforward_modules(encoder_of(backbone), targets) if isinstance(targets, list) else None
        return IA3Config(task_type=TaskType.FEATURE_EXTRACTION, target_modules=targets, feedforward_modules=feedforward)


def feedforward_modules(encoder: nn.Module, targets: list[str]) -> str | list[str]:
    """The feed-forward output projections among the modules of ``encoder`` that ``targets`` reach, as PEFT reaches a
    target list's modules (the full name, or one ending in ``.TARGET``): ``output.dense`` outside an attention block,
    whose input IA3 scales. Given as a pattern PEFT matches against each full module name whole: PEFT marks a listed
    feed-forward module by the bare end of the name, and a bare ``output.dense`` then also marked BERT's attention
    output (``attention.output.dense``), scaling its input instead of its output. [] where none is reached."""
    names = [name for name, _ in encoder.named_modules()
             if any(name == t or name.endswith(f".{t}") for t in targets)
             and (name == "output.dense" or name.endswith(".output.dense")) and "attention" not in name.split(".")]
    return "|".join(re.escape(name) for name in names) or []


register(IA3())
