"""Where a compare's report is written: the store's own folder, or the one ``headstart report --to`` names
(``report_folder``), held under ``.report.lock`` while it is rendered (``rendering``), and what is said when it
cannot be written there (``unwritable_text``: the way on is ``--to``, for the store is only read)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from headstart.errors import StoreError
from headstart.store import FILENAME
from headstart.surface import spoken


def report_folder(directory: Path, to: Path) -> Path:
    """``to`` made ready for the report of the store in ``directory``: the same folder, or one made if missing that holds
    no other store (its report would be replaced by this one's).

    Raises:
        StoreError: ``to`` is a file, holds another store, or cannot be made.
    """
    flag = spoken(f"--to {str(to)!r}", f"to={str(to)!r}")
    if to.exists() and not to.is_dir():
        raise StoreError(f"{flag} is a file, not a folder; give a folder for the report files (made if missing)")
    same = to.exists() and directory.exists() and to.resolve() == directory.resolve()
    if not same and (to / FILENAME).exists():
        raise StoreError(f"{flag} holds another store, whose report this one would replace; give a folder of its own "
                         "for this report, e.g. a new one")
    try:
        to.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot make the folder {flag} ({exc.strerror}); give one you can write") from exc
    return to


def unwritable_text(directory: Path, target: Path, why: str | None) -> str:
    """Why the report of the store in ``directory`` cannot go to ``target`` (``why``: the OS's reason), and the way on:
    another folder, named as the caller gives it (``--to`` on the CLI, ``to=`` from Python); the store is only read."""
    import shlex

    if target != directory:
        return f"cannot write the report into {str(target)!r} ({why}); give {spoken('--to', 'to=')} a folder you can write"
    way = spoken(f"headstart report {shlex.quote(str(directory))} --to DIR", f"headstart.report({str(directory)!r}, to='DIR')")
    return (f"cannot write the report into {str(directory)!r} ({why}); write it to another folder with "
            f"{spoken('--to', 'to=')} ({way}: the store is only read where it is), or check the folder's permissions")


@contextlib.contextmanager
def rendering(directory: Path, target: Path) -> Iterator[None]:
    """Hold ``.report.lock`` in ``target`` (the folder the report goes to) from reading the store in ``directory`` to
    the last write. Two compares on one store each render when they finish; unserialised, the first (which read the
    store before the other's last cell was done) could write last and leave a report missing that cell."""
    try:
        import fcntl
    except ImportError:  # not POSIX: renders are not serialised
        yield
        return
    try:
        handle = open(target / ".report.lock", "a")
    except OSError as exc:
        raise StoreError(unwritable_text(directory, target, exc.strerror)) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield
