"""``fit`` and ``compare`` taking the training flags as flat keywords: ``fit(lr=1e-3, max_steps=10, rank=4)`` is
``headstart train --lr 1e-3 --max-steps 10 --rank 4``, and means ``config={'lr': 1e-3, 'max_steps': 10},
options={'rank': 4}``.

The keywords are derived, not listed: every ``TrainConfig`` field (the loop's flags of ``headstart train`` are its
fields) and, for ``fit``, the strategy options ``headstart train`` has a flag for (``STRATEGY_FLAGS``, which the CLI
reads too). ``with_train_keywords`` adds them to the function's signature (``help()``, ``inspect`` and the keyword
checks of ``python_checks`` see them) and moves those given into its ``config`` / ``options`` before it runs, so the
function itself reads one ``config``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from headstart.errors import ConfigError, clipped

# The strategy options ``headstart train`` takes as flags of their own (``--rank 4`` is ``--option rank=4``): the
# common ones, each of the strategies named in its help; every other option goes by ``--option`` / ``options=``.
STRATEGY_FLAGS = ("freeze", "decay", "rank", "alpha", "dropout", "targets", "reduction", "virtual_tokens")


def config_keywords() -> tuple[str, ...]:
    """The ``TrainConfig`` fields, in their order: the training loop's flags (specs imports no torch)."""
    from headstart.specs import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def routed(function: Callable[..., Any]) -> dict[str, str]:
    """The keywords ``with_train_keywords`` gave ``function`` -> where each goes (``"config"`` or ``"options"``)."""
    return dict(getattr(function, "__train_keywords__", {}))


def with_train_keywords(*, options: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The function taking each ``TrainConfig`` field it lacks as a keyword (default None: not given), and with
    ``options`` each of ``STRATEGY_FLAGS``, routed into its ``config`` / ``options`` as a dict of them would be.

    A keyword its ``config`` or ``options`` also sets is refused (neither silently wins); so is one beside a sweep file
    (``compare(config='sweep.toml')``), whose ``[train]`` table holds the settings.
    """
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        from headstart.specs import TrainConfig

        signature = inspect.signature(function)
        own = set(signature.parameters)
        types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
        routes = {name: "config" for name in config_keywords() if name not in own}
        if options:
            routes.update({name: "options" for name in STRATEGY_FLAGS if name not in own})
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=_optional(types.get(name, "Any")))
                 for name in routes]

        @functools.wraps(function)
        def routed_call(*args: Any, **kwargs: Any) -> Any:
            given = {k: kwargs.pop(k) for k in list(kwargs) if k in routes}
            config = {k: v for k, v in given.items() if routes[k] == "config" and v is not None}
            chosen = {k: v for k, v in given.items() if routes[k] == "options" and v is not None}
            if config:
                kwargs["config"] = _merged(kwargs.get("config"), config, called=function.__name__)
            if chosen:
                kwargs["options"] = _merged_options(kwargs.get("options"), chosen)
            return function(*args, **kwargs)

        routed_call.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *added])
        routed_call.__train_keywords__ = routes  # type: ignore[attr-defined]
        return routed_call

    return decorate


def _optional(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return text if "None" in text else f"{text} | None"


def _call(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={clipped(repr(v), 40)}" for k, v in settings.items())


def _merged(config: Any, given: dict[str, Any], *, called: str) -> Any:
    """``config`` (None, a dict of TrainConfig fields or a TrainConfig) with the keywords ``given`` set in it.

    Raises:
        ConfigError: a keyword the config sets too, or keywords beside a sweep file.
    """
    import os

    from headstart.specs import TrainConfig
    from headstart.surface import toml_text

    if config is None:
        return dict(given)
    if isinstance(config, (str, os.PathLike)):  # compare's sweep file: its [train] table is where they go
        lines = "; ".join(f"{k} = {toml_text(v)}" for k, v in given.items())
        raise ConfigError(f"{called}() reads the training settings from the sweep file {str(config)!r}: add {lines} under "
                          f"[train] there, or pass config as a dict")
    if isinstance(config, TrainConfig):
        defaults = TrainConfig()
        both = {k: getattr(config, k) for k in given if getattr(config, k) != getattr(defaults, k)}
        if both:
            _refuse(both, given)
        return dataclasses.replace(config, **given)
    if isinstance(config, dict):
        both = {k: config[k] for k in given if k in config}
        if both:
            _refuse(both, given)
        return {**config, **given}
    return config  # another type: the function's own check names it


def _refuse(both: dict[str, Any], given: dict[str, Any]) -> None:
    first = next(iter(both))
    raise ConfigError(f"{first} is given twice, as {first}={clipped(repr(given[first]), 40)} and in config "
                      f"({first}={clipped(repr(both[first]), 40)}); give it one way, e.g. {_call({first: given[first]})}")


def _merged_options(options: Any, given: dict[str, Any]) -> Any:
    """``options`` (fit's, one strategy's: None or a dict) with the strategy flags ``given`` set in it.

    Raises:
        ConfigError: a keyword the options set too.
    """
    if options is None:
        return dict(given)
    if not isinstance(options, dict):
        return options  # the function's own check names it
    both = [k for k in given if k in options]
    if both:
        first = both[0]
        raise ConfigError(f"{first} is given twice, as {first}={clipped(repr(given[first]), 40)} and in options "
                          f"({first}={clipped(repr(options[first]), 40)}); give it one way, e.g. "
                          f"{_call({first: given[first]})}")
    return {**options, **given}
