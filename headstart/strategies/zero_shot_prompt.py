"""zero-shot-prompt: a causal LM asked to classify, no labelled example read; its answer words scored, not generated.

The backbone becomes a ``PromptScorer`` (``backbones/verbalizer.py``): features are log p(w_c | prompt) normalised over
the classes c, the head is the identity, so the prediction is the class whose answer word the LM finds likeliest
after "instruction / Text: x / Answer:" (or the same as a user turn of its chat template). Answer words: each label's
``descriptions`` entry (``--label-descriptions 'fresh=positive,rotten=negative'``), else the label name. With
``calibrate`` the head's bias is −log p_cf(c), the distribution the prompt gives content-free inputs ("N/A", "",
"[MASK]"), so a prompt that leans to one answer is evened out (Zhao et al. 2021, "Calibrate before use"). No gradient
step: the cost is inference. The run saves its head; the LM reloads from its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.strategies.base import Budget, Phase, Problem, Strategy, head_group
from headstart.strategies.registry import register
from headstart.strategies.zero_shot import parse_descriptions

INSTRUCTION = "Classify the text. Answer with one of: {choices}."


@dataclass(frozen=True)
class PromptOptions:
    """Options of the prompt arms.

    Attributes:
        descriptions: the answer word(s) of each class, ``{label: words}``; resolved against the data into every class
            in class order (the label name where none is given), so the run key holds each.
        instruction: the prompt's first line; ``{choices}`` becomes the answer words joined by commas.
        chat: wrap the prompt in the model's chat template; None: where the model has one (SmolLM2 does, Gemma base not).
        calibrate: contextual calibration (Zhao et al. 2021): divide out the classes' prior under content-free inputs.
    """

    descriptions: Any = ()
    instruction: str = INSTRUCTION
    chat: Any = None
    calibrate: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "descriptions", parse_descriptions(self.descriptions))
        if not isinstance(self.instruction, str):
            raise ConfigError(f"instruction must be a text, got {self.instruction!r}; e.g. 'instruction=Is this review positive or negative?'")
        if self.chat not in (None, True, False):
            raise ConfigError(f"chat must be true or false (or left out: the model's own), got {self.chat!r}")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"calibrate must be true or false, got {self.calibrate!r}")


class PromptStrategy(Strategy):
    """What the prompt arms share: the scorer as backbone, an identity head, words from the labels, no training."""

    Options = PromptOptions
    leaves_backbone = True  # the LM is read, never changed: no private copy
    uses_pretrained = False  # features are the scorer's, not the LM's pooled states: no feature cache
    solved = True
    weighs_classes = False  # the LM's answer words are scored as they are
    modalities = ("text",)
    refused_why = {"image": "it asks a causal language model in words; no image-text model ships offline"}

    def for_labels(self, options: PromptOptions, label_names: tuple[str, ...], task: str) -> PromptOptions:
        """One answer per class in class order: the given words, else the label name.

        Raises:
            ConfigError: a task other than classification, or words for a label the data lacks.
        """
        import dataclasses

        if task != "classification":
            raise ConfigError(f"{self.name} picks one class per input; this is a {task} dataset; use a strategy that trains, e.g. lora")
        given = dict(options.descriptions)
        unknown = [label for label in given if label not in label_names]
        if unknown:
            raise ConfigError(f"label descriptions name {', '.join(map(repr, unknown))}, not a label of the data "
                              f"(its labels: {', '.join(label_names)})")
        return dataclasses.replace(options, descriptions=tuple((label, given.get(label, label)) for label in label_names))

    def refuses(self, pretrained: nn.Module, options: Any) -> str | None:
        """A backbone that is no causal LM (an encoder has no answer words to score)."""
        from headstart.backbones.verbalizer import not_causal

        return not_causal(pretrained)

    def backbone(self, pretrained: nn.Module, *, seed: int) -> nn.Module:
        from headstart.backbones.verbalizer import PromptScorer

        return PromptScorer(pretrained, seed=seed)

    def saved_part(self, model: nn.Module, trained: list[str]) -> str:
        return "none"  # the LM as it was; the head (and the demonstrations, save_files) are the run

    def attach(self, model, options: PromptOptions, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        """Set the scorer's prompt (wrapping the LM when a saved run is loaded) and a head as wide as the classes
        (``finish`` makes it the identity; a saved run's comes from its weights)."""
        from headstart.backbones.verbalizer import PromptScorer

        scorer = model.backbone if isinstance(model.backbone, PromptScorer) else PromptScorer(model.backbone, seed=seed)
        words = tuple(words for _, words in options.descriptions)
        scorer.set_prompt(words, instruction=options.instruction.replace("{choices}", ", ".join(words)), chat=options.chat,
                         demos=self.saved_demos(Path(directory)) if directory is not None else [])
        model.backbone = scorer
        device = model.head.weight.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.head = nn.Linear(len(words), len(words)).to(device)

    def saved_demos(self, directory: Path) -> list[tuple[list[int], int]]:
        """The demonstrations a saved run used (none for zero-shot-prompt)."""
        return []

    def plan(self, model, options: PromptOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase(self.name, [head_group(model, cfg)], 0, solve=partial(self.solve, options=options),
                      learns=False)]  # the head is the identity on the answer words' scores (and a calibration): nothing trains

    def solve(self, model: nn.Module, problem: Problem, *, options: PromptOptions) -> dict[str, Any]:
        return finish(model, options)


def finish(model: nn.Module, options: PromptOptions) -> dict[str, Any]:
    """Make the head the identity on the classes' log-probabilities, its bias the calibration (or 0), once the prompt
    is final; returns what the run chose."""
    from headstart.backbones.verbalizer import calibration

    scorer = model.backbone
    with torch.no_grad():
        model.head.weight.copy_(torch.eye(scorer.dim))
        model.head.bias.copy_(calibration(scorer, device=model.head.weight.device) if options.calibrate else torch.zeros(scorer.dim))
    return {"prompt_tokens": scorer.prompt_tokens(), "chat": scorer.chat}


class ZeroShotPrompt(PromptStrategy):
    name = "zero-shot-prompt"
    description = "no labels: a causal LM's likeliest answer word per class after an instruction (--label-descriptions for the words)"
    needs_labels = False


register(ZeroShotPrompt())
