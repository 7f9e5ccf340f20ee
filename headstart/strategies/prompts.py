"""prompt-tuning and prefix-tuning: learned virtual tokens, the encoder untouched, via peft.

Prompt tuning (Lester et al. 2021) prepends ``--virtual-tokens`` learned embeddings to the input;
prefix tuning (Li & Liang 2021) prepends learned keys and values in every layer. Pooling covers the
real tokens only (they attend to the virtual ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.strategies.base import check_int_range
from headstart.strategies.peft_base import PeftStrategy
from headstart.strategies.registry import register


@dataclass(frozen=True)
class PromptOptions:
    virtual_tokens: int = 20

    def __post_init__(self) -> None:
        check_int_range("virtual-tokens", self.virtual_tokens, 1, 512, "learned tokens prepended to every input",
                        default=PromptOptions.virtual_tokens)


class PromptTuning(PeftStrategy):
    name = "prompt-tuning"
    description = "prompt tuning (peft): --virtual-tokens learned input embeddings, the encoder frozen"
    Options = PromptOptions
    defaults = {"lr": 3e-2, "head_lr": 1e-3, "min_steps": 100}  # soft prompts need a large lr (Lester et al.)
    lr_grid = (1e-2, 3e-2, 1e-1)  # --tune lr candidates

    def peft_config(self, options: PromptOptions, backbone) -> Any:
        from peft import PromptTuningConfig, TaskType

        return PromptTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens)


class PrefixTuning(PeftStrategy):
    name = "prefix-tuning"
    description = "prefix tuning (peft): --virtual-tokens learned keys/values in every layer, the encoder frozen"
    Options = PromptOptions
    defaults = {"lr": 1e-2, "head_lr": 1e-3, "min_steps": 100}
    lr_grid = (3e-3, 1e-2, 3e-2)  # --tune lr candidates

    def peft_config(self, options: PromptOptions, backbone) -> Any:
        from peft import PrefixTuningConfig, TaskType

        return PrefixTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens)


register(PromptTuning())
register(PrefixTuning())
