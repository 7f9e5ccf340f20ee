"""The one registry of strategies: name -> instance, registered once by an explicit call."""

from __future__ import annotations

from headstart.errors import unknown
from headstart.strategies.base import Strategy

STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Register ``strategy`` under its ``name``; a second registration of a name is an error."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise unknown("strategy", name, STRATEGIES)
    return STRATEGIES[name]


def list_strategies() -> list[dict[str, str]]:
    return [{"name": s.name, "description": s.description, "options": _options(s)} for s in STRATEGIES.values()]


def _options(strategy: Strategy) -> dict[str, str]:
    import dataclasses

    return {f.name: repr(f.default) for f in dataclasses.fields(strategy.Options)}
