"""zero-shot: no labelled examples; each class is the sentence-encoder embedding of a text describing it.

The head is "nearest description by cosine": for an input x and the descriptions d_1..d_C (one text per class,
``--label-descriptions`` or the template "This example is {label}." over the label names, as transformers'
zero-shot pipeline words it), the class is argmax_c cos(f(x), f(d_c)). The head's weight rows are the L2-normalised
description embeddings ê_c = f(d_c) / ‖f(d_c)‖ and its bias is 0, so the logits are f(x)·ê_c = ‖f(x)‖ cos(f(x), f(d_c))
(exactly the cosines when the encoder normalises, as all-MiniLM-L6-v2 does): ‖f(x)‖ is the same for every class, so
the argmax is the cosine's. The head is an ordinary ``nn.Linear``; the run saves and loads as a linear probe does.
Nothing is chosen on validation. Text backbones, classification only (Yin et al. 2019, "Benchmarking zero-shot text
classification"; the sentence-encoder form in Reimers & Gurevych's SBERT documentation).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headstart.errors import ConfigError
from headstart.strategies.base import Budget, Phase, Problem, Strategy, head_group
from headstart.strategies.registry import register

TEMPLATE = "This example is {label}."  # transformers' zero-shot-classification pipeline's default hypothesis


@dataclass(frozen=True)
class ZeroShotOptions:
    """Options of zero-shot.

    Attributes:
        descriptions: a text per class, ``{label: text}`` (or ``[[label, text], ...]``); classes left out take the
            template. Resolved against the data into every class in class order, so the run key holds each text.
        template: the text of a class without a description; ``{label}`` is replaced by its name.
    """

    descriptions: Any = ()
    template: str = TEMPLATE

    def __post_init__(self) -> None:
        object.__setattr__(self, "descriptions", parse_descriptions(self.descriptions))
        if not isinstance(self.template, str) or "{label}" not in self.template:
            raise ConfigError(f"template must be a text containing {{label}}, got {self.template!r}; "
                              "try 'template=A review that is {label}.'")


def parse_descriptions(value: Any) -> tuple[tuple[str, str], ...]:
    """``{label: text}``, ``[[label, text], ...]`` or the text ``fresh="a good film",rotten="a bad film"`` as
    ``((label, text), ...)``.

    Raises:
        ConfigError: anything else, or an empty text, naming it.
    """
    if isinstance(value, str):
        value = parse_label_texts(value)
    pairs = list(value.items()) if isinstance(value, dict) else list(value or ())
    ok = all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs)
    if not ok or any(not text.strip() for _, text in pairs):
        raise ConfigError(f"label descriptions must give a non-empty text per label, got {value!r}; "
                          "e.g. --label-descriptions 'fresh=a positive movie review,rotten=a negative movie review'")
    labels = [label.strip() for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label descriptions name a label twice ({', '.join(labels)}); give each once")
    return tuple((label.strip(), text.strip()) for label, text in pairs)


PAIR = re.compile(r"""\s*([^=,]+?)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^,]*?)\s*(?:,|$)""")


def parse_label_texts(text: str) -> list[tuple[str, str]]:
    """``fresh="a good film, warm",rotten=a bad film`` -> ``[("fresh", "a good film, warm"), ("rotten", "a bad film")]``:
    a text in quotes may hold commas.

    Raises:
        ConfigError: text that is not ``LABEL=TEXT`` pairs separated by commas, naming where it stops.
    """
    pairs, at = [], 0
    while at < len(text):
        match = PAIR.match(text, at)
        if match is None or match.end() == at:
            raise ConfigError(f"cannot read label descriptions from {text[at:]!r}; write LABEL=TEXT pairs separated by commas, "
                              "e.g. 'fresh=\"a positive movie review\",rotten=\"a negative movie review\"', or give a .json / .toml file")
        label, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = json.loads(value) if value[0] == '"' else value[1:-1]
        pairs.append((label, value))
        at = match.end()
    return pairs


def read_label_descriptions(value: str) -> list[tuple[str, str]]:
    """``--label-descriptions``: a .json / .toml file of ``{label: text}``, or ``LABEL=TEXT,...`` as text.

    Raises:
        ConfigError: a file that cannot be read or is not a table of texts, naming it.
    """
    path = Path(value)
    if path.suffix.lower() not in (".json", ".toml") or "=" in value:
        return parse_label_texts(value)
    try:
        raw = path.read_text(encoding="utf-8")
        table = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except OSError as e:
        raise ConfigError(f"cannot read label descriptions {value!r} ({e.strerror}); give a .json / .toml file of label = text") from None
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot parse label descriptions {value!r}: {e}; write a table of label = text") from None
    if not isinstance(table, dict):
        raise ConfigError(f"label descriptions {value!r} must be a table of label = text, got {type(table).__name__}")
    return list(table.items())


def solve(model: nn.Module, problem: Problem, *, options: ZeroShotOptions, batch_size: int) -> dict[str, Any]:
    """Set the head to the normalised embeddings of the class descriptions (bias 0); reads no training rows."""
    from headstart.features import embed_rows

    texts = [text for _, text in options.descriptions]
    backbone = model.backbone
    encoded = backbone.encode(texts)
    embedded = embed_rows(backbone, encoded, np.arange(len(texts)), batch_size=batch_size, device=model.head.weight.device)
    model.head.weight.copy_(F.normalize(embedded.float(), dim=-1).to(model.head.weight))
    model.head.bias.zero_()
    return {}


class ZeroShot(Strategy):
    name = "zero-shot"
    description = "no labels: the class whose description (--label-descriptions, or 'This example is {label}.') is nearest by cosine"
    Options = ZeroShotOptions
    leaves_backbone = True
    solved = True
    weighs_classes = False  # the nearest description wins
    needs_labels = False
    modalities = ("text",)
    refused_why = {"image": "it needs an image-text model (CLIP-like) to embed the label names, and none ships offline"}

    def for_labels(self, options: ZeroShotOptions, label_names: tuple[str, ...], task: str) -> ZeroShotOptions:
        """One description per class in class order: the given one, else the template over the label name.

        Raises:
            ConfigError: a task other than classification, or a description of a label the data lacks.
        """
        if task != "classification":
            raise ConfigError(f"zero-shot picks one class per input; this is a {task} dataset; use a strategy that "
                              "trains on labels, e.g. embed-logreg")
        given = dict(options.descriptions)
        unknown = [label for label in given if label not in label_names]
        if unknown:
            raise ConfigError(f"label descriptions name {', '.join(map(repr, unknown))}, not a label of the data "
                              f"(its labels: {', '.join(label_names)}); describe those")
        texts = tuple((label, given.get(label) or options.template.replace("{label}", label)) for label in label_names)
        return ZeroShotOptions(descriptions=texts, template=options.template)

    def plan(self, model, options: ZeroShotOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase("zero-shot", [head_group(model, cfg)], 0, solve=partial(solve, options=options, batch_size=cfg.eval_batch_size),
                      learns=False)]  # the head is the descriptions' embeddings: nothing trains


register(ZeroShot())
