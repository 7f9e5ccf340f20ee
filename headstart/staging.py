"""Whose the hidden folders beside an output are: ``atomic.fresh_folder`` names each after the process that builds it
(``.NAME.<pid>-<host>-<random>.TAG``), so that what a killed writer left (kill -9, the OOM killer: a ``.saving`` run
half-written or scored, a ``.old`` run moved aside for a swap) is told from a folder a live process is writing.

``clear_stale(out)`` removes the folders of ``out`` whose writer is gone: its process id no longer runs on this host
(``os.kill(pid, 0)``). One of another host (a shared disk), or whose process id runs (a live writer, or the id taken
again by another process), is left alone: a folder is removed only where no process can be writing it. A ``.old``
folder is a run moved aside for a swap that did not finish: where ``out`` is missing it is the only copy, and is put
back at ``out`` instead; a ``.saving`` folder holding a whole trained run killed while it was scored is kept as
``OUT-unscored`` (``unscored_beside``), as an interrupt there leaves it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _host() -> str:
    """This machine, as 8 hex digits (a process id names a process on one host only)."""
    import hashlib
    import socket

    return hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def prefix(out: Path) -> str:
    """The start of the name of a folder this process builds beside ``out`` (``tempfile.mkdtemp`` adds the random part)."""
    return f".{out.name}.{os.getpid()}-{_host()}-"


def _alive(pid: int) -> bool:
    """Whether a process of this id runs (or may: one of another user's answers PermissionError)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def is_staging(name: str) -> bool:
    """Whether ``name`` is a folder ``fresh_folder`` makes (``.NAME.<pid>-<host>-<random>.TAG``): inside an output
    folder (a meta-train arm's, saved in ``OUT``) it says nothing of whose that folder is (``outdir.ignored``)."""
    return re.fullmatch(r"\..+\.\d+-[0-9a-f]{8}-[a-z0-9_]+\.[A-Za-z0-9_.]+", name) is not None


def stale(out: Path) -> list[Path]:
    """The folders beside ``out`` that ``fresh_folder`` made for it in a process of this host that is gone."""
    out = Path(out)
    if os.name != "posix" or not out.parent.is_dir():  # os.kill(pid, 0) is not a probe elsewhere
        return []
    named = re.compile(rf"\.{re.escape(out.name)}\.(\d+)-{_host()}-[a-z0-9_]+\.[A-Za-z0-9_.]+")
    found = []
    for entry in out.parent.iterdir():
        match = named.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not _alive(int(match.group(1))):
            found.append(entry)
    return sorted(found)


def sibling(out: str | Path, suffix: str) -> Path:
    """A folder beside ``out`` to suggest in a refusal (``runs/x`` -> ``runs/x-suffix``): never one inside it, which
    would make ``out`` hold files of two kinds; ``.`` and ``..`` are named by what they resolve to."""
    out = Path(out)
    if out.name in ("", ".", ".."):
        out = out.expanduser().resolve()
    return out.parent / f"{out.name}-{suffix}"


def free_sibling(out: str | Path, suffix: str) -> Path:
    """The first of ``sibling(out, suffix)``, ``...-suffix-2``, ``...-suffix-3`` ... that nothing stands on (a
    dangling link counts as taken)."""
    beside, k = sibling(out, suffix), 2
    while beside.exists() or beside.is_symlink():
        beside, k = sibling(out, f"{suffix}-{k}"), k + 1
    return beside


def unscored_beside(out: Path) -> Path:
    """A free folder beside ``out`` for a run stopped while it was scored, where ``out`` holds a finished run it was to
    replace: ``runs/x`` -> ``runs/x-unscored`` (``-unscored-2``, ... where that is taken)."""
    return free_sibling(out, "unscored")


def clear_stale(out: Path, *, restore: bool = True) -> None:
    """Remove what killed writers left beside ``out`` (``stale``); a ``.old`` folder where ``out`` is missing is put
    back at ``out`` (``restore``; False leaves it, for a caller about to write ``out`` unchecked). A folder that
    cannot be removed is left."""
    out = Path(out)
    try:
        found = stale(out)
    except OSError:  # a parent that cannot be listed: the command's own check of ``out`` says what is wrong
        return
    for entry in found:
        try:
            if entry.name.endswith(".old") and any(entry.iterdir()) and not out.exists() and not out.is_symlink():
                if restore:
                    os.rename(entry, out)
                    logging.getLogger("headstart").warning(
                        f"{str(out)!r} was moved aside by a command killed while it replaced it; it is back in its place")
                continue
            if entry.name.endswith(".saving") and _trained_unscored(entry):
                beside = unscored_beside(out)
                os.rename(entry, beside)
                logging.getLogger("headstart").warning(
                    f"a run trained to replace {str(out)!r} was killed while it was scored; it is kept, not scored, in "
                    f"{str(beside)!r}: headstart evaluate {beside}")
                continue
        except OSError:
            continue  # left, as a folder that cannot be removed is
        shutil.rmtree(entry, ignore_errors=True)


def _trained_unscored(folder: Path) -> bool:
    """Whether ``folder`` holds a whole trained run saved before it was scored (``train`` beside a finished run: its
    spec.json, written last, and a metrics.json listing ``not_scored``), not one a kill cut off while it was written."""
    import json

    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and "not_scored" in metrics and (folder / "spec.json").is_file()
