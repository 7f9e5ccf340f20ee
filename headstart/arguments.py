"""Values a caller passes, checked and converted: seeds, counts, sizes, rate grids and the Python API's arguments."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

from headstart.errors import ConfigError, closest, comma_entries, with_article


def check_seed(seed: Any) -> None:
    """Refuse a seed numpy and torch cannot take: an integer from 0 to 2**63 - 1 (no bool, no float)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise ConfigError(f"--seed must be an integer from 0 to 2**63 - 1, got {seed!r}; try --seed 0")


def check_once(flag: str, values: Any, noun: str) -> None:
    """Refuse a list that names one of its ``values`` twice, e.g. ``--sizes 16,16`` (likely a typo for another value).

    Raises:
        ConfigError: a repeated value, naming ``flag`` and the list.
    """
    values = list(values)
    if len(set(values)) != len(values):
        shown = ", ".join("all" if v is None else str(v) for v in values)
        raise ConfigError(f"{flag} lists {with_article(noun)} twice ({shown}); give each once")


def check_count(name: str, value: Any, *, example: int) -> int | None:
    """A count a config takes as a whole number >= 1, or None (``"all"`` for ``n`` reads as None, as ``--n all``).

    Raises:
        ConfigError: a float, bool, string or number below 1, naming the field and an example.
    """
    if value is None or (name == "n" and isinstance(value, str) and value.strip().lower() == "all"):
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:  # numpy's integers count
        flag = f"--{name.replace('_', '-')}"  # a settings class's check (SftConfig) names its field from Python
        raise ConfigError(f"{flag} must be a whole number >= 1{' or all' if name == 'n' else ''}, got {value!r}; "
                          f"e.g. {flag} {example}")
    return int(value)


def parse_n(value: str | int | None, *, flag: str = "--n", least: int = 0, example: int = 64) -> int | None:
    """``"all"`` / None -> None; ``"64"`` -> 64; ``"0"`` -> 0 (no labelled examples: label-free strategies such as
    zero-shot); anything else is a ConfigError naming the value and ``flag``, the option it came from. ``least``: the
    smallest count the command takes (1 where nothing trains without labels), so that ``--n abc`` and ``--n 0`` say
    the same range in ``check_count``'s words (``example``: the count the fix offers)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:  # a bool or a fraction (20.5) is no count: int() would read them as 1 or 20
        n = -1 if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()) else int(value)
    except (TypeError, ValueError, OverflowError):
        n = -1
    if n < least and least == 0:
        raise ConfigError(f"{flag} must be a non-negative integer or 'all', got {value!r}; try {flag} {example}")
    if n < least:  # check_count's words: a count it read is shown as the number
        check_count(flag.lstrip("-").replace("-", "_"), n if n >= 0 else value, example=example)
    return n


def parse_grid(value: Any, *, name: str = "--grid", example: str | None = None) -> tuple[float, ...]:
    """``"2e-5,5e-5,1e-4"`` or a list of numbers -> the sorted, distinct tuple --tune searches.

    Args:
        name: where the grid came from, for the message (``--grid``, ``--grid lora=``, ``grids['lora']``).
        example: the fix the message offers; by default ``name`` followed by three rates, as a flag takes them.

    Raises:
        ConfigError: fewer than two values, or one that is not a positive finite number, naming it.
    """
    parts = (comma_entries(value, name=name, noun="value") if isinstance(value, str)
             else list(value) if isinstance(value, Iterable) else [value])  # one number from Python: a grid of one
    example = example or f"{name}{'' if name.endswith('=') else ' '}2e-5,5e-5,1e-4"
    values = []
    for part in parts:
        try:
            number = float(part)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(part, bool) or not math.isfinite(number) or number <= 0:
            raise ConfigError(f"{name} entry {part!r} is not a positive number; e.g. {example}")
        values.append(number)
    grid = tuple(sorted(set(values)))
    if len(grid) < 2:
        raise ConfigError(f"{name} needs at least two distinct values to choose between, got {value!r}; e.g. {example}")
    return grid


def as_config(value: Any, kind: type, *, name: str = "config") -> Any:
    """A settings argument of the Python API as a ``kind`` instance: None gives the defaults, a dict its fields.

    Raises:
        ConfigError: a dict naming a field ``kind`` lacks, or anything else (a TOML path: ``compare`` reads one; a number).
    """
    if value is None:
        return kind()
    if isinstance(value, kind):
        return _as_given(value)
    fields = [f.name for f in dataclasses.fields(kind)]
    if isinstance(value, dict):
        unknown = [k for k in value if k not in fields]
        if unknown:
            raise ConfigError(f"{name} has no setting {unknown[0]!r}{closest(str(unknown[0]), fields)} ({kind.__name__} "
                              f"fields: {', '.join(fields)})")
        return _as_given(kind(**value))
    toml = (" (a sweep TOML file is compare's config, as compare --config's)" if isinstance(value, (str, os.PathLike))
            else "")
    raise ConfigError(f"{name} must be a headstart {kind.__name__} or a dict of its fields, got {type(value).__name__} "
                      f"{value!r:.60}{toml}; e.g. {name}={kind.__name__}({fields[0]}=...) or {name}={{{fields[0]!r}: ...}}")


def with_keywords(config: Any, *, checked: bool = True, **fields: Any) -> Any:
    """``config`` (a settings dataclass) with each of ``fields`` that is not None set over its own: the training flags a
    command has beside its config (``adapt(..., max_steps=50)`` as ``--max-steps 50``).

    Args:
        checked: check the result as given (``as_config``'s checks: a floor above the cap); False where the caller's
            own checks come later (compare's sweep, which knows when a cap wins over a file's floors).

    Raises:
        ConfigError: a value the settings class refuses, or (``checked``) a floor above the cap.
    """
    given = {name: value for name, value in fields.items() if value is not None}
    if not given:
        return config
    config = dataclasses.replace(config, **given)
    return _as_given(config) if checked else config


def _as_given(config: Any) -> Any:
    """``config`` after its checks of the values as given (``check_as_given``, where the kind has them: TrainConfig's
    floor above its cap), which a config resolved from defaults need not pass."""
    check = getattr(config, "check_as_given", None)
    if check is not None:
        check()
    return config


def as_table(value: Any, *, name: str, example: str) -> dict[str, Any]:
    """A dict argument of the Python API (``options``, ``grids``) as a dict; None gives {}, anything else is named."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a dict, got {type(value).__name__} {value!r:.60}; e.g. {name}={example}")
    return dict(value)


def as_list(value: Any) -> list[Any]:
    """A Python argument that gives one thing or several, as a list: None none, a list or tuple its items, anything
    else itself alone (``as_items``; ``data.memory.staged_names``, whose items may be DataFrames)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_items(value: Any, *, name: str) -> tuple[str, ...]:
    """A Python argument that names one thing or several: a string (or path) is one, a list or tuple its items.

    Raises:
        ConfigError: anything else, or an item that is not a string.
    """
    items = as_list(value)
    if all(isinstance(v, (str, os.PathLike)) for v in items):
        return tuple(str(v) for v in items)
    raise ConfigError(f"{name} must be a name or a list of names, got {value!r:.80}")
