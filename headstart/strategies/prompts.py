"""prompt-tuning and prefix-tuning: learned virtual tokens, the encoder untouched, via peft.

Prompt tuning (Lester et al. 2021) prepends ``--virtual-tokens`` learned embeddings to the input;
prefix tuning (Li & Liang 2021) prepends learned keys and values in every layer. Pooling covers the
real tokens only (they attend to the virtual ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.backbones.registry import encoder_config
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


# The model types whose position embeddings number tokens from ``pad_token_id + 1`` (RoBERTa's scheme): what
# ``usable_positions`` reads off the built encoder, known from its config.json alone (tests/strategies/test_prompts.py
# builds each and compares). A type missing here reads a few positions too many: the check once loaded still refuses.
PADDED_POSITIONS = frozenset({"camembert", "data2vec-text", "ibert", "longformer", "luke", "markuplm", "mpnet", "roberta",
                              "roberta-prelayernorm", "xlm-roberta", "xlm-roberta-xl", "xmod"})


def config_positions(config: dict[str, Any]) -> int | None:
    """``usable_positions`` of the encoder the config.json ``config`` describes, before it is built; None where unknown."""
    positions, pad = config.get("max_position_embeddings"), config.get("pad_token_id")
    if not isinstance(positions, int) or isinstance(positions, bool):
        return None
    return positions - (pad + 1) if config.get("model_type") in PADDED_POSITIONS and isinstance(pad, int) else positions


def _too_many(positions: int | None, length: Any, name: str, options: PromptOptions) -> str | None:
    """Why ``options.virtual_tokens`` do not fit beside inputs of ``length`` tokens in ``positions``, or None. Both
    methods place the real tokens after the virtual ones (a prefix shifts their position ids), so a text cut at
    ``max_length`` tokens needs ``virtual_tokens + max_length`` position embeddings: past the encoder's own, its
    embeddings fail mid-run."""
    if not isinstance(positions, int) or not isinstance(length, int) or options.virtual_tokens + length <= positions:
        return None
    if positions - length >= 1:
        fix = f"try --option virtual_tokens={positions - length} or a smaller --max-length"
    else:
        fix = f"try --max-length {max(2, positions - options.virtual_tokens)}"
    return (f"--option virtual_tokens={options.virtual_tokens} with --max-length {length} needs {options.virtual_tokens + length} "
            f"positions; {name} has {positions}: {fix}")


def too_many_tokens(pretrained: Any, options: PromptOptions) -> str | None:
    """``_too_many`` for the loaded backbone ``pretrained``."""
    return _too_many(usable_positions(getattr(pretrained, "model", None)), getattr(pretrained, "max_length", None),
                     getattr(pretrained, "name", "the backbone"), options)


def too_many_before_load(backbone: str, options: PromptOptions, *, max_length: int) -> str | None:
    """``_too_many`` for the encoder ``backbone`` names, read from its config.json before it loads (MPNet: ~28 s)."""
    read = encoder_config(backbone)
    return None if read is None else _too_many(config_positions(read[1]), max_length, read[0], options)


def _no_prefix(model_type: Any, name: str) -> str | None:
    """MPNet (all-mpnet-base-v2): its relative position bias spans the input's tokens only, so prefix keys do not fit
    its attention scores (a shape error mid-training)."""
    if model_type == "mpnet":
        return (f"prefix-tuning cannot adapt {name!r}: MPNet's relative position bias covers the input's tokens, not "
                "prefix keys; use prompt-tuning or lora")
    return None


class PromptTuning(PeftStrategy):
    name = "prompt-tuning"
    description = "prompt tuning (peft): --virtual-tokens learned input embeddings, the encoder frozen"
    Options = PromptOptions
    defaults = {"lr": 3e-2, "head_lr": 1e-3, "min_steps": 100}  # soft prompts need a large lr (Lester et al.)
    lr_grid = (1e-2, 3e-2, 1e-1)  # --tune lr candidates

    def refuses(self, pretrained: Any, options: PromptOptions) -> str | None:
        return too_many_tokens(pretrained, options)

    def refuses_before_load(self, backbone: str, options: PromptOptions, *, max_length: int) -> str | None:
        return too_many_before_load(backbone, options, max_length=max_length)

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
        """MPNet (``_no_prefix``); elsewhere, virtual tokens past the encoder's positions."""
        config = getattr(getattr(pretrained, "model", None), "config", None)
        return (_no_prefix(getattr(config, "model_type", None), getattr(pretrained, "name", "this backbone"))
                or too_many_tokens(pretrained, options))

    def refuses_before_load(self, backbone: str, options: PromptOptions, *, max_length: int) -> str | None:
        read = encoder_config(backbone)
        if read is None:
            return None
        name, config = read
        return _no_prefix(config.get("model_type"), name) or _too_many(config_positions(config), max_length, name, options)

    def peft_config(self, options: PromptOptions, backbone) -> Any:
        from peft import PrefixTuningConfig, TaskType

        return PrefixTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=options.virtual_tokens)


register(PromptTuning())
register(PrefixTuning())
