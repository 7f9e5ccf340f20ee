"""icl: in-context learning — k of the n labelled examples shown in the prompt as demonstrations, no gradient step.

Brown et al. 2020 ("Language models are few-shot learners"): the prompt is the instruction, then k demonstrations
"Text: x_i / Answer: w_{y_i}", then the input; the class is the likeliest answer word (verbalizer scoring,
``backbones/verbalizer.py``). Demonstrations are drawn from the training rows with the run's seed, class-balanced
(round-robin over the classes in a seeded order, so k = 8 on two classes shows four of each where the rows allow), in
a seeded order, and only as many as fit ``max_prompt_tokens`` (how many did is recorded: ``demonstrations``). With ``calibrate`` the
prior the prompt gives content-free inputs is divided out (Zhao et al. 2021: ICL's majority-label and recency biases).
The run saves its demonstrations (token ids and classes, JSON) beside its head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from headstart.atomic import write_atomic
from headstart.errors import ConfigError, StoreError
from headstart.strategies.base import Budget, Phase, Problem, head_group
from headstart.strategies.registry import register
from headstart.strategies.zero_shot_prompt import PromptOptions, PromptStrategy, finish

DEMOS_FILE = "demonstrations.json"


@dataclass(frozen=True)
class IclOptions(PromptOptions):
    """PromptOptions plus how many demonstrations and how long the shared prompt may grow.

    Attributes:
        k: demonstrations drawn from the n labelled examples (fewer when n < k or they do not fit).
        max_prompt_tokens: the instruction and demonstrations stop here (each input then adds its own tokens): the
            cost of a prompt grows with it, and a small LM reads long contexts poorly.
    """

    k: int = 8
    max_prompt_tokens: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"k must be a positive integer (demonstrations in the prompt), got {self.k!r}; try --option k=8")
        if not isinstance(self.max_prompt_tokens, int) or self.max_prompt_tokens < 16:
            raise ConfigError(f"max_prompt_tokens must be an integer >= 16, got {self.max_prompt_tokens!r}; try --option max_prompt_tokens=1024")


def pick_demonstrations(targets: np.ndarray, k: int, seed: int) -> list[int]:
    """Indices into ``targets`` of k demonstrations: classes taken in turn (in a seeded order), rows within a class in a
    seeded order, the result shuffled. Pure; the same seed gives the same prompt."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(targets))
    queues = {c: list(rng.permutation(np.flatnonzero(targets == c))) for c in classes}
    picked: list[int] = []
    while len(picked) < k and any(queues.values()):
        for c in classes:
            if queues[c] and len(picked) < k:
                picked.append(int(queues[c].pop(0)))
    return [picked[i] for i in rng.permutation(len(picked))]


class Icl(PromptStrategy):
    name = "icl"
    description = "in-context learning: k labelled examples (icl[k=8]) shown to a causal LM in its prompt, no gradient step"
    Options = IclOptions

    def plan(self, model, options: IclOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase(self.name, [head_group(model, cfg)], 0, solve=partial(self.solve, options=options),
                      learns=False)]  # it picks demonstrations; the head stays the identity: nothing trains

    def solve(self, model: nn.Module, problem: Problem, *, options: IclOptions) -> dict[str, Any]:
        """Choose the demonstrations (fitting ``max_prompt_tokens``), then calibrate if asked."""
        scorer = model.backbone
        targets = problem.train_targets.cpu().numpy().astype(np.int64)
        chosen = pick_demonstrations(targets, options.k, scorer.seed)
        demos = [(list(problem.train_inputs[i]), int(targets[i])) for i in chosen]
        while demos:
            scorer.set_prompt(demos=demos)
            if scorer.prompt_tokens() <= options.max_prompt_tokens:
                break
            demos = demos[:-1]
        else:
            scorer.set_prompt(demos=[])
        return {**finish(model, options), "demonstrations": len(demos)}  # measured, not chosen: k was given

    def save_files(self, model: nn.Module, out: Path) -> None:
        payload = {"format": "headstart-icl", "demonstrations": [{"input_ids": x, "class": y} for x, y in model.backbone.demos]}
        write_atomic(out / DEMOS_FILE, json.dumps(payload).encode("utf-8"))

    def saved_demos(self, directory: Path) -> list[tuple[list[int], int]]:
        path = directory / DEMOS_FILE
        try:
            return [(list(map(int, d["input_ids"])), int(d["class"])) for d in json.loads(path.read_text(encoding="utf-8"))["demonstrations"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(f"{str(path)!r} is missing or damaged (the run's demonstrations); train the run again") from None


register(Icl())
