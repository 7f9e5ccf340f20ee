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


def usable_positions(encoder: Any) -> int | None:
    """How many tokens ``encoder``'s position embeddings number: ``max_position_embeddings``, less the ids a
    RoBERTa-style encoder (MPNet: 514, numbered from ``padding_idx + 1`` = 2) never gives a token; None where unknown."""
    positions = getattr(getattr(encoder, "config", None), "max_position_embeddings", None)
    table = getattr(getattr(encoder, "embeddings", None), "position_embeddings", None)
    pad = getattr(table, "padding_idx", None)
    if not isinstance(positions, int):
        return None
    return positions - (pad + 1) if isinstance(pad, int) else positions


def too_many_tokens(pretrained: Any, options: PromptOptions) -> str | None:
    """Why ``options.virtual_tokens`` do not fit beside the backbone's longest input, or None. Both methods place the
    real tokens after the virtual ones (a prefix shifts their position ids), so a text cut at ``max_length`` tokens
    needs ``virtual_tokens + max_length`` position embeddings: past the encoder's own, its embeddings fail mid-run."""
    positions = usable_positions(getattr(pretrained, "model", None))
    length = getattr(pretrained, "max_length", None)
    if not isinstance(positions, int) or not isinstance(length, int) or options.virtual_tokens + length <= positions:
        return None
    if positions - length >= 1:
        fix = f"try --option virtual_tokens={positions - length} or a smaller --max-length"
    else:
        fix = f"try --max-length {max(2, positions - options.virtual_tokens)}"
    return (f"--option virtual_tokens={options.virtual_tokens} with --max-length {length} needs {options.virtual_tokens + length} "
            f"positions; {getattr(pretrained, 'name', 'the backbone')} has {positions}: {fix}")


class PromptTuning(PeftStrategy):
    name = "prompt-tuning"
    description = "prompt tuning (peft): --virtual-tokens learned input embeddings, the encoder frozen"
    Options = PromptOptions
    defaults = {"lr": 3e-2, "head_lr": 1e-3, "min_steps": 100}  # soft prompts need a large lr (Lester et al.)
    lr_grid = (1e-2, 3e-2, 1e-1)  # --tune lr candidates

    def refuses(self, pretrained: Any, options: PromptOptions) -> str | None:
        return too_many_tokens(pretrained, options)

    def peft_config(self, options: PromptOptions, backbone) -> Any:
        from peft import PromptTuningConfig, TaskType

        return PromptTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens)


class PrefixTuning(PeftStrategy):
    name = "prefix-tuning"
    description = "prefix tuning (peft): --virtual-tokens learned keys/values in every layer, the encoder frozen"
    Options = PromptOptions
    defaults = {"lr": 1e-2, "head_lr": 1e-3, "min_steps": 100}
    lr_grid = (3e-3, 1e-2, 3e-2)  # --tune lr candidates

    def refuses(self, pretrained: Any, options: PromptOptions) -> str | None:
        """MPNet (all-mpnet-base-v2): its relative position bias spans the input's tokens only, so prefix keys do not
        fit its attention scores (a shape error mid-training); elsewhere, virtual tokens past the encoder's positions."""
        config = getattr(getattr(pretrained, "model", None), "config", None)
        if getattr(config, "model_type", None) == "mpnet":
            return (f"prefix-tuning cannot adapt {getattr(pretrained, 'name', 'this backbone')!r}: MPNet's relative position "
                    "bias covers the input's tokens, not prefix keys; use prompt-tuning or lora")
        return too_many_tokens(pretrained, options)

    def peft_config(self, options: PromptOptions, backbone) -> Any:
        from peft import PrefixTuningConfig, TaskType

        return PrefixTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens)


register(PromptTuning())
register(PrefixTuning())
