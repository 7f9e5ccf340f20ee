"""User-facing errors: one line naming the bad value and the fix.

Every mistake a user can make (a bad path, an unknown name, an out-of-range number) raises a
``HeadstartError`` subclass. The CLI prints ``error: <message>`` and exits with status 2; no traceback.
"""

from __future__ import annotations

import difflib
import errno
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any


class HeadstartError(Exception):
    """Base class of every error caused by the user's input or environment, not by a bug."""

    exit_code = 2


class ConfigError(HeadstartError):
    """A hyperparameter, option or name is invalid."""


class DataError(HeadstartError):
    """A dataset cannot be read or does not fit the task (missing column, one class, n too large…)."""


class ColumnError(DataError):
    """A file's text or label column is missing or cannot be told apart. ``problem`` says what is wrong and ``kind``
    which column ("text" or "label"); the message adds the CLI's fix, and a command that names columns another way
    (``multitask``'s FILE:COLUMN, ``adapt``'s column names) gives its own fix after ``problem`` instead."""

    def __init__(self, problem: str, kind: str) -> None:
        self.problem, self.kind = problem, kind
        super().__init__(f"{problem}; pass --{kind}-column NAME")

    def __reduce__(self):  # re-raised from a worker process as itself, not as a TypeError
        return type(self), (self.problem, self.kind)


class BackboneError(HeadstartError):
    """A backbone cannot be found or loaded."""


class StoreError(HeadstartError):
    """A run directory or results store is missing, unwritable or incompatible."""


class WriteError(StoreError, OSError):
    """A file headstart writes could not be made: one line for the CLI (a StoreError), and an OSError with the errno and
    strerror for a caller that says what the failure costs (a spooled result, a ranking)."""

    def __init__(self, folder: str, code: int | None, strerror: str | None) -> None:
        OSError.__init__(self, code, strerror, folder)
        hint = {errno.ENOSPC: "free disk space", errno.EROFS: "the file system is read-only: choose another folder",
                errno.EACCES: "check its permissions", errno.EPERM: "check its permissions"}.get(code or 0, "check the folder")
        self.message = f"cannot write into {folder!r} ({strerror}); {hint}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # re-raised from a worker process as itself
        return type(self), (self.filename, self.errno, self.strerror)


def with_article(words: str) -> str:
    """``words`` after its indefinite article: "an image classification", "a text regression"."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close (or ``name`` is no text)."""
    if not isinstance(name, str):
        return ""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown(kind: str, name: str, choices: Iterable[str], *, error: type[HeadstartError] = ConfigError) -> HeadstartError:
    """Build the standard "unknown <kind>" error listing the valid names and suggesting the closest."""
    choices = sorted(choices)
    return error(f"unknown {kind} {name!r}{closest(name, choices)} (available: {', '.join(choices)})")


def flags_checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` refusing a non-bool for each parameter whose default is a bool (``dedupe="no"`` would read as true).

    The CLI's flags are bools already; this guards the Python API's mirror of them. A ConfigError names the value.
    """
    signature = inspect.signature(function)
    flags = [p.name for p in signature.parameters.values() if isinstance(p.default, bool)]

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:  # a wrong call: Python's own message says which argument
            return function(*args, **kwargs)
        for name in flags:
            value = bound.arguments.get(name, False)
            if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
                bound.arguments[name] = bool(value)  # numpy's True is a bool for any caller's purpose
            elif not isinstance(value, bool):
                kind = f"{type(value).__module__}.{type(value).__name__}" if type(value).__module__ != "builtins" else type(value).__name__
                raise ConfigError(f"{name} must be True or False, got {kind} {value!r:.40}; "
                                  f"e.g. {name}={not signature.parameters[name].default}")
        return function(*bound.args, **bound.kwargs)

    return checked
