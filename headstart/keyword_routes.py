"""Where a Python keyword a function lacks belongs instead: a strategy's ``options`` or the ``config`` it takes.

``fit(data, strategy='lora', rank=4)`` means ``options={'rank': 4}`` and ``fit(..., max_step=3)`` means
``config={'max_steps': 3}``; the closest keyword of the function's own ('retain', 'max_test') is a worse guess for
either. ``check_keywords`` names these routes before (or instead of) the closest keyword.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Iterable
from typing import Any

from headstart.errors import clipped

ROUTE_CUTOFF = 0.8  # a setting or option is a second place to look: only a near miss is suggested there


def nearest(name: str, choices: Iterable[str], *, cutoff: float) -> tuple[str, float] | None:
    """The choice most like ``name`` (case ignored) and how alike (difflib's ratio), or None under ``cutoff``."""
    scored = [(difflib.SequenceMatcher(None, name.casefold(), c.casefold()).ratio(), c) for c in choices]
    best = max(scored, default=None)
    return (best[1], best[0]) if best and best[0] >= cutoff else None


# Where the strategies are listed, imported by name at call time as ``python_checks.CONFIG_CLASSES``: this module sits
# below every module whose settings it names (python_checks uses it)
STRATEGY_LIST = ("headstart.strategies", "STRATEGIES")


def option_owners() -> dict[str, list[str]]:
    """Each strategy option's name -> the strategies that take it, in listing order (imports the strategies, and torch:
    only on the way to an error from a function that trains)."""
    module, name = STRATEGY_LIST
    strategies = getattr(importlib.import_module(module), name)
    owners: dict[str, list[str]] = {}
    for strategy in strategies.values():
        for field in dataclasses.fields(strategy.Options):
            owners.setdefault(field.name, []).append(strategy.name)
    return owners


def _chosen(kwargs: dict[str, Any]) -> list[str]:
    """The strategies a call names (fit's ``strategy``, compare's ``strategies``), as a list."""
    given = kwargs.get("strategy", kwargs.get("strategies"))
    if isinstance(given, str):
        return [s.strip() for s in given.split(",") if s.strip()]
    return [s for s in given if isinstance(s, str)] if isinstance(given, (list, tuple)) else []


def routed_hint(keyword: str, value: Any, *, kwargs: dict[str, Any], keywords: list[str], settings: frozenset[str],
                per_strategy: bool | None) -> str | None:
    """The hint for an unknown ``keyword=value`` that names a strategy option (``; it is a strategy option:
    options={'rank': 4}``) or nearly one or a ``config`` setting (``; did you mean config={'max_steps': 3} or
    'max_test'?``, the closest keyword after it where that is less alike); None where neither is near.

    Args:
        keywords: the function's own keywords (a setting or option so named is reached by that keyword: not routed).
        settings: the fields of the function's ``config`` (``settings_of``); an exact one is refused before this.
        per_strategy: None where the function takes no ``options``; True where they go by strategy (compare's
            ``{'lora': {'rank': 4}}``), False where they are one strategy's (fit's ``{'rank': 4}``).
    """
    text = clipped(repr(value), 40)
    found: list[tuple[float, str]] = []
    setting = nearest(keyword, [s for s in settings if s not in keywords], cutoff=ROUTE_CUTOFF)
    if setting:
        found.append((setting[1], f"config={{{setting[0]!r}: {text}}}"))
    option = None
    if per_strategy is not None:
        owners = option_owners()
        option = nearest(keyword, [o for o in owners if o not in keywords], cutoff=ROUTE_CUTOFF)
    if option:
        found.append(_option_call(*option, text, owners=owners, chosen=_chosen(kwargs), per_strategy=per_strategy))
    if not found:
        return None
    found.sort(key=lambda r: -r[0])
    if found[0][0] == 1.0:  # exactly an option of the strategy the call trains (or of some strategy, none named)
        return f"; it is a strategy option: {found[0][1]}"
    calls = [call for _, call in found]
    own = nearest(keyword, keywords, cutoff=0.5)  # the function's own closest keyword (errors.closest's cutoff)
    if own:  # before the routes only where it is more alike
        calls.insert(0 if own[1] > found[0][0] else len(calls), repr(own[0]))
    return f"; did you mean {' or '.join(calls)}?"


def _option_call(name: str, alike: float, text: str, *, owners: dict[str, list[str]], chosen: list[str],
                 per_strategy: bool) -> tuple[float, str]:
    """How alike and the ``options=`` that passes option ``name`` as ``text``, naming the strategies that take it
    where the call names none of them (or none)."""
    takes = [s for s in chosen if s in owners[name]]
    if chosen and not takes:  # an option of other strategies than the call's: a guess, said as one
        alike = min(alike, 0.99)
        where = f" (an option of {', '.join(owners[name][:4])}, not of {', '.join(map(repr, chosen))})"
    else:
        where = "" if takes else f" (an option of {', '.join(owners[name][:4])})"
    owner = (takes or owners[name])[0]
    call = f"options={{{owner!r}: {{{name!r}: {text}}}}}" if per_strategy else f"options={{{name!r}: {text}}}"
    return alike, call + where
