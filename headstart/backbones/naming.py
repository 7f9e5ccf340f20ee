"""How a backbone that cannot be loaded is named in its error: by the flag the caller gave it with (``--backbone``, or
``--backbones`` for one of a list: ``listed_in``), and, for a missing path, by the deepest folder of it that exists.
From Python the API boundary renames the flag (``python_checks.python_named``)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

# The flag that named the backbone being loaded, for its errors: ``--backbone`` (train, compare), or ``--backbones``
# where it is one of a list (rank-backbones, compare --backbones); from Python the API boundary renames it (python_named).
_FLAG: contextvars.ContextVar[str] = contextvars.ContextVar("headstart_backbone_flag", default="--backbone")


@contextlib.contextmanager
def listed_in(flag: str) -> Iterator[None]:
    """Backbones loaded inside are named by their caller's list ``flag`` (``--backbones``) in their errors."""
    token = _FLAG.set(flag)
    try:
        yield
    finally:
        _FLAG.reset(token)


def backbone_named(name_or_path: str) -> str:
    """``name_or_path`` as the caller gave it: ``--backbone 'x'``, or ``--backbones names 'x'`` for one of a list."""
    flag = _FLAG.get()
    return f"{flag} {name_or_path!r}" if flag == "--backbone" else f"{flag} names {name_or_path!r}"


def pass_folder() -> str:
    """How to give a model's folder instead: as ``--backbone``, or in the list that named it."""
    flag = _FLAG.get()
    return "pass its folder: --backbone MODEL_FOLDER" if flag == "--backbone" else f"list its folder in {flag} instead"


def nearest(path: Path) -> Path | None:
    """The deepest folder above ``path`` that exists here (``path/x`` -> ``path``); None: not even its first part."""
    for above in path.parents:
        if str(above) != "." and above.is_dir():
            return above
    return None


def missing_where(path: Path) -> str:
    """What of a missing ``path`` exists, for its "no such folder" line: `` ('path' exists, with no 'x' in it)``, or
    nothing where not even its first part does."""
    above = nearest(path)
    return "" if above is None else f" ({str(above)!r} exists, with no {path.relative_to(above).parts[0]!r} in it)"
