"""The one registry of strategies: name -> instance, registered once by an explicit call."""

from __future__ import annotations

from typing import Any

from headstart.errors import ConfigError, unknown
from headstart.strategies.base import Strategy

STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Register ``strategy`` under its ``name``; a second registration of a name is an error."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    if not isinstance(name, str) or name not in STRATEGIES:
        raise unknown("strategy", name, STRATEGIES)
    return STRATEGIES[name]


def check_applies(strategy: Strategy, modality: str) -> None:
    """Raise a ConfigError naming the strategies that do apply when ``strategy`` cannot adapt a ``modality`` backbone."""
    if modality not in strategy.modalities:
        why = f" ({strategy.refused_why[modality]})" if modality in strategy.refused_why else ""
        fits = [name for name, s in STRATEGIES.items() if modality in s.modalities]
        raise ConfigError(f"strategy {strategy.name!r} does not apply to {modality} backbones{why}; for {modality}s use one of: {', '.join(fits)}")


def list_strategies() -> list[dict[str, Any]]:
    """The registered strategies in listing order: name, description and options with their defaults (``headstart strategies``)."""
    return [{"name": s.name, "description": s.description, "options": _options(s)} for s in STRATEGIES.values()]


def _options(strategy: Strategy) -> dict[str, str]:
    import dataclasses

    return {f.name: repr(f.default) for f in dataclasses.fields(strategy.Options)}
