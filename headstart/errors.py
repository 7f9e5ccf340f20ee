"""User-facing errors: one line naming the bad value and the fix.

Every mistake a user can make (a bad path, an unknown name, an out-of-range number) raises a
``HeadstartError`` subclass. The CLI prints ``error: <message>`` and exits with status 2; no traceback.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


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


def clipped(text: str, width: int = 100) -> str:
    """``text`` on one line (runs of whitespace as one space), cut to ``width`` characters with an ellipsis where cut:
    a user's text or a recorded command quoted in a message."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def with_article(words: str) -> str:
    """``words`` after its indefinite article: "an image classification", "a text regression"."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def closest(name: str, choices: Iterable[str], *, cutoff: float = 0.5) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close (or ``name`` is no text);
    a choice equal but for case comes first, and case counts for nothing in the closeness.

    Args:
        cutoff: how alike (difflib's ratio, 0 to 1) a choice must be to be suggested; higher where the choices are
            not what ``name`` is meant to be but a second place to look (adapt's methods, then the strategies).
    """
    if not isinstance(name, str):
        return ""
    choices = [c for c in choices if isinstance(c, str)]
    folded = {c.casefold(): c for c in choices}  # 'LoRA' is 'lora' in the wrong case: that first
    match = ([folded[name.casefold()]] if name.casefold() in folded else difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
             or [folded[m] for m in difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=cutoff)])
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown(kind: str, name: str, choices: Iterable[str], *, error: type[HeadstartError] = ConfigError) -> HeadstartError:
    """Build the standard "unknown <kind>" error listing the valid names and suggesting the closest."""
    choices = sorted(choices)
    return error(f"unknown {kind} {name!r}{closest(name, choices)} (available: {', '.join(choices)})")


def comma_entries(text: str, *, name: str, noun: str, entries: list[str] | None = None, flag: str | None = None) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty entry (``"a,,b"``, a trailing comma) is refused, never dropped: the
    entry typed between the commas may be missing. Text with no entry at all gives ``[]``, for the caller to name.

    Args:
        name: where the list came from (``--sizes``, ``sizes in 'sweep.toml'``, ``--grid lora=``), for the message.
        noun: what one entry is (``size``, ``strategy``), for the message.
        entries: ``text`` already split (arms split at commas outside [...]); by default split at every comma.
        flag: the flag the example writes (default ``name``); a flag ending in ``=`` takes the list without a space.

    Raises:
        ConfigError: an empty entry, naming ``name``, the text and the list without it.
    """
    entries = [p.strip() for p in (str(text).split(",") if entries is None else entries)]
    parts = [p for p in entries if p]
    if parts and len(parts) < len(entries):
        flag = flag or name
        raise ConfigError(f"{name} {str(text)!r} has an empty entry (a comma with no {noun} beside it); drop the extra "
                          f"comma or add the {noun}, e.g. {flag}{'' if flag.endswith('=') else ' '}{','.join(parts)}")
    return parts
