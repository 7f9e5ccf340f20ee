"""Atomic files (JSON, or any bytes): written to a temporary file in the same directory, then renamed over the target."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import StoreError, WriteError
from headstart.interrupts import signals_held
from headstart.killpoints import kill_point
from headstart.outdir import foreign, sibling
from headstart.staging import clear_stale, prefix


def write_json(path: Path, payload: Any) -> None:
    """Atomic JSON write (``write_atomic``): a new temp file in the same directory, then rename."""
    write_atomic(path, json.dumps(payload, indent=2, default=_plain).encode())


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """The mode an ordinary new file gets here: 0o666 less the umask (0o644 under the usual 022)."""
    return 0o666 & ~_umask()


def share_files(path: Path) -> None:
    """Give ``path`` (a file, or every file under a folder) the mode an ordinary new file gets (``_file_mode``).
    Writers that go through a temporary file (``tempfile.mkstemp``, safetensors' ``save_file``) make them owner-only,
    0600, where the JSON beside them is readable as any file the user makes."""
    mode = _file_mode()
    for file in [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        os.chmod(file, mode)


_PLACED = [0]  # files and folders this process has begun to move into place (``placed``)


def placed() -> int:
    """How many files and folders this process has begun to move into place (each counted before its rename): what the
    CLI's entry point says of an interrupt that came before any ("nothing written")."""
    return _PLACED[0]


def publish(tmp: Path, out: Path) -> None:
    """Move a folder written whole at ``tmp`` into place at ``out`` (one rename), its files readable as ``share_files`` makes them."""
    share_files(tmp)
    _PLACED[0] += 1
    os.replace(tmp, out)


def write_atomic(path: Path, data: bytes | Callable[[Path], None], *, point: str | None = None) -> None:
    """Write ``path`` via a new temp file in the same directory and ``os.replace``: ``data`` is the bytes, or a writer
    given the temp file's path (``safetensors.torch.save_file``: a large file streamed, never held twice in memory).
    ``point`` names the kill point between the two (default ``write:<file name>``, ``headstart.killpoints``).

    Raises:
        WriteError: no temp file can be made there (a StoreError and an OSError: full disk, permissions).
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # an OSError still, for callers that catch one; one line for the CLI
        raise WriteError(str(path.parent), exc.errno, exc.strerror) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(Path(tmp))  # into the file mkstemp made (O_EXCL): a fresh file, never a planted link
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600; a report is meant to be shared, as any file the user makes
        kill_point(point or f"write:{path.name}")
        _PLACED[0] += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fresh_folder(out: Path, tag: str) -> Path:
    """A new, empty, hidden folder beside ``out`` (``.NAME.<pid>-<host>-<random>.TAG``, made by ``tempfile.mkdtemp``):
    where a folder is built before it is moved into place. Its name is never guessable, so no planted link can stand in
    for it; it names the process building it, so that the folders of ``out`` a killed process left are removed first
    (``staging.clear_stale``: never one a live process writes).

    Raises:
        WriteError: it cannot be made there (a StoreError and an OSError).
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clear_stale(out, restore=False)  # a run moved aside for a swap stays, where out is missing: claim puts it back
        folder = Path(tempfile.mkdtemp(dir=out.parent, prefix=prefix(out), suffix=f".{tag}"))
        os.chmod(folder, 0o777 & ~_umask())  # mkdtemp makes 0700; the folder it becomes is shared as any the user makes
        return folder
    except OSError as exc:
        raise WriteError(str(out.parent), exc.errno, exc.strerror) from exc


def write_directory(out: Path, fill: Callable[[Path], None], *, is_replaceable: Callable[[Path], bool], what: str) -> Path:
    """Build a directory whole, then put it at ``out``: ``fill(staging)`` writes into a sibling staging directory
    (``build_directory``), which ``swap_in`` puts in place. A failure or a kill while filling leaves ``out`` as it was,
    and the staging directory is removed.

    Args:
        fill: writes the directory's files into the path it is given.
        is_replaceable: whether an existing, non-empty ``out`` may be replaced (it holds an earlier ``what``).
        what: what such a directory is, for the refusal, e.g. "headstart run".

    Raises:
        StoreError: ``out`` is a non-empty directory that is not a ``what``, or cannot be written.
    """
    return swap_in(build_directory(out, fill, is_replaceable=is_replaceable, what=what), out)


def build_directory(out: Path, fill: Callable[[Path], None], *, is_replaceable: Callable[[Path], bool], what: str) -> Path:
    """``write_directory``'s first half: the directory built whole in a new hidden folder beside ``out``, returned
    (``swap_in`` puts it at ``out``; until then ``out`` is as it was). A failure or a kill while filling removes it.

    Raises:
        StoreError: as ``write_directory``.
    """
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not is_replaceable(out):
        names = foreign(out)
        held = f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})" if names else ""
        raise StoreError(f"--out {str(out)!r} is a directory holding other files{held}, not a {what}; "
                         f"choose a new directory, e.g. {str(sibling(out, 'run'))!r}")
    try:
        staging = fresh_folder(out, "saving")
    except OSError as e:
        raise StoreError(f"cannot write to output directory {str(out)!r} ({e.strerror}); choose another --out") from None
    try:
        fill(staging)
        share_files(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def swap_in(staging: Path, out: Path) -> Path:
    """Put the directory built at ``staging`` (``build_directory``) at ``out``: two renames (the old ``out`` removed only
    after both, Ctrl-C and SIGTERM held back between them). A failure leaves ``out`` as it was, ``staging`` removed."""
    out, old = Path(out), None
    try:
        kill_point("swap:run")
        _PLACED[0] += 1
        with signals_held():  # a Ctrl-C or SIGTERM between the two renames would leave no ``out`` at all
            if out.exists():
                old = fresh_folder(out, "old")  # empty: the rename below replaces it
                os.replace(out, old)
                try:
                    os.replace(staging, out)
                except BaseException:
                    kept, old = old, None  # never removed below, even where putting it back fails
                    os.replace(kept, out)  # the old one back where it was
                    raise
            else:
                os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:  # swapped in: the old one goes, even where a signal held back during the swap now interrupts
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out
