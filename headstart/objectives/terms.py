"""Objective terms: what is added to the task loss (``loss = task + Σ weight · term``), one file each behind a registry.

A term answers one narrow question — given the model and the parameters a phase trains, what penalty to add — and
never touches the loop. ``headstart strategies`` lists the strategies; ``TERMS`` lists the terms.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from headstart.errors import ConfigError, closest

Penalty = Callable[[], torch.Tensor | None]  # the term's value on the current weights (None: nothing it applies to)


@dataclass(frozen=True)
class TermContext:
    """What a term may read when it is built, before training.

    Attributes:
        task: "classification", "multilabel" or "regression".
        reference: up to ``limit`` collated input batches (each ``{name: (B, ...) tensor}`` on the model's device) of the
            reference inputs, drawn with the run's seed; their labels are never read. Default: the task's own training
            pool, as a reference dataset for what the model must not forget.
        seed: the run's seed.
        start: equal for two runs that begin from the same model on the same rows (tuning trials of one run).
        other: ``other(name, rows, batch_size) -> (batches, targets, classes)``: up to ``rows`` rows of another
            classification dataset's training pool (built-in name or file; never its test split), collated for the
            model's backbone and on its device, with their (B,) class ids and the dataset's number of classes — the
            earlier task a term replays or measures importance on. Refuses the run's own dataset, whose labels beyond
            the n drawn are not the run's to read.
    """

    task: str
    reference: Callable[[int, int], list[dict[str, torch.Tensor]]]  # (rows, batch size) -> batches
    seed: int = 0
    other: Callable[[str, int, int], tuple[list[dict[str, torch.Tensor]], list[torch.Tensor], int]] | None = None
    start: str = ""  # identifies the model a term is built on before training (data, backbone, strategy, options, seed,
    # n): equal for every tuning trial of a run, so a term may reuse what it estimated on that model (EWC's Fisher)
    unlabelled: Callable[[str, int, int], list[dict[str, torch.Tensor]]] | None = None  # (name, rows, batch size) ->
    # batches of another dataset's pool inputs, labels never read: the target domain a term aligns the features with
    steps: int = 0  # the run's planned optimiser steps (a term's schedule over training: DANN's λ)
    training: Callable[[int], list[dict[str, torch.Tensor]]] | None = None  # (batch size) -> the run's training rows'
    # inputs, collated in the order the loss indexes them (a term that weights each example's loss)
    trained: frozenset[int] = frozenset()  # id() of each parameter some phase of the run trains; empty: every one (an
    # importance is estimated and normalised over these: under LoRA the frozen base would swamp the adapters' mean)


def cycle(batches: list[Any]) -> Callable[[], Any]:
    """``next()`` over ``batches`` for ever, in order: one batch a training step."""
    position = [0]

    def take() -> Any:
        batch = batches[position[0] % len(batches)]
        position[0] += 1
        return batch

    return take


def check_weight(term: str, value: Any, default: float) -> None:
    """A term's weight is a finite number > 0; anything else is a ConfigError naming it (and the term's default)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf:
        given = f"{value!r}, not a number" if isinstance(value, str) else repr(value)
        raise ConfigError(f"{term} weight must be a finite number > 0, got {given}; e.g. {term}[weight={default:g}] (its default)")


def check_count(term: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{term} {name} must be a positive integer, got {value!r}; e.g. {term}[{name}=16]")


def refuses_with_fixed_features(strategy: Any) -> str | None:
    """Why a term that moves the features (aligning two domains) means nothing with ``strategy``, or None."""
    if strategy.leaves_backbone:
        return "it trains only a new head on features that stay as they are, so there is nothing to align"
    return None


def refuses_without_pretrained_backbone(strategy: Any) -> str | None:
    """Why a term about the pre-trained encoder (its weights, its features) means nothing with ``strategy``, or None."""
    if not strategy.uses_pretrained:
        return "it trains a freshly initialised network: there are no pre-trained weights or features to keep"
    if strategy.leaves_backbone:
        return "it trains only a new head and leaves the encoder as it was, so there is nothing to keep"
    return None


class Term(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type]

    def refuses(self, strategy: Any) -> str | None:
        """Why the term means nothing with ``strategy`` (e.g. a weight penalty on a head-only strategy), or None."""

    def build(self, model: nn.Module, options: Any, context: TermContext) -> Penalty:
        """Set up on the model before training (anchors, importance) and return its penalty."""


TERMS: dict[str, Term] = {}


def register(term: Term) -> None:
    if term.name in TERMS:
        raise ValueError(f"objective term {term.name!r} is already registered")
    TERMS[term.name] = term


def get_term(name: str) -> Term:
    if name not in TERMS:
        raise ConfigError(f"unknown objective term {name!r}{closest(name, tuple(TERMS))} (available: {', '.join(sorted(TERMS))})")
    return TERMS[name]


def options_from(options: type, given: dict[str, Any], *, what: str) -> Any:
    """The ``options`` dataclass from ``given``, naming an unknown key, ``what`` it was given to and the known ones.

    Raises:
        ConfigError: an unknown key (or a value the dataclass's own checks refuse).
    """
    names = {f.name for f in dataclasses.fields(options)}
    unknown = set(given) - names
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for {what}{closest(sorted(unknown)[0], names)} "
                          f"(options: {', '.join(sorted(names)) or 'none'})")
    return options(**given)


def term_options(term: Term, given: dict[str, Any]) -> Any:
    """The term's options dataclass from ``given``, naming an unknown key and the known ones."""
    return options_from(term.Options, given, what=f"objective term {term.name!r}")


@dataclass(frozen=True)
class Objective:
    """The terms of a run, built on its model: ``penalty()`` is Σ weight · term (None when no term applies).

    ``parameters``: weights a term trains itself (DANN's domain classifier), trained beside the backbone in every phase
    that trains it, at the head's rate; they are not part of the model and are not saved with it.
    ``example_weights``: (n,) weights of the training rows' task losses, in the order of ``TermContext.training``
    (importance weighting), or None; ``summary``: what each term estimated before training, by term, for the record.
    """

    penalties: tuple[Penalty, ...] = ()
    parameters: tuple[nn.Parameter, ...] = ()
    example_weights: torch.Tensor | None = None
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)

    def penalty(self) -> torch.Tensor | None:
        values = [v for v in (p() for p in self.penalties) if v is not None]
        return torch.stack(values).sum() if values else None


def build_objective(model: nn.Module, strategy: Any, terms: dict[str, dict[str, Any]], context: TermContext) -> Objective:
    """Build every term of ``terms`` (``{name: options}``) on ``model``.

    Raises:
        ConfigError: an unknown term or option, or a term that means nothing with ``strategy`` (with the reason).
    """
    penalties, summary, weights = [], {}, None
    for name, given in terms.items():
        term = get_term(name)
        why = term.refuses(strategy)
        if why:
            raise ConfigError(f"{name} cannot be used with {strategy.name}: {why}")
        penalty = term.build(model, term_options(term, dict(given)), context)
        penalties.append(penalty)
        if getattr(penalty, "summary", None):
            summary[name] = penalty.summary
        if getattr(penalty, "example_weights", None) is not None:
            weights = penalty.example_weights if weights is None else weights * penalty.example_weights
    owned = tuple(p for penalty in penalties for p in getattr(penalty, "parameters", ()))
    return Objective(tuple(penalties), owned, weights, summary)
