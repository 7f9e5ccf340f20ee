"""``$HEADSTART_CACHE`` (default ``~/.cache/headstart``): what headstart keeps between runs, its size, and clearing it.

Parts:
- ``features/``: frozen-backbone features, one safetensors file per (backbone, preprocessing, data) key.
- ``data/``: tables given as a DataFrame or a list of rows, stored as parquet under their content hash.
- ``models/``: causal LMs converted from their GGUF files, and models shipped in parts across packages, joined (and
  extracted: all-mpnet-base-v2) once (hundreds of MB each), each beside the empty ``.NAME.lock`` its maker held
  (``backbones.parts._held``): counted with them, and cleared with them unless a process holds it now.
- ``leakage/``: the test rows that repeat training rows, one JSON file per (data, split rows) key.
- ``precision.json``: the measured bf16-or-fp32 verdict per device and CPU model.
- left-overs: the temporary files and folders of a write that was killed (``.NAME.<random>.tmp``, a staged table).

Everything in it but ``data/`` is rebuilt on demand, so clearing loses only the time to rebuild it; a run fit on a
DataFrame reads its copy in ``data/`` again to be evaluated, and once cleared the same DataFrame passed to
``load_dataset`` writes it back. Only what headstart writes is
counted and removed (``OWN``: a misdirected ``$HEADSTART_CACHE`` never costs another tool's files), and a temporary
file younger than ``STALE_SECONDS`` may belong to a write in progress and is left alone. No torch import.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from headstart.errors import ConfigError, StoreError
from headstart.python_checks import python_named
from headstart.surface import spoken

PARTS = ("features", "data", "models", "leakage", "precision")
KINDS = (*PARTS, "temp", "all")
STALE_SECONDS = 3600  # a write takes seconds to minutes; an hour-old temp file is left from a killed one


def cache_dir() -> Path:
    """``$HEADSTART_CACHE``, else (unset or empty, as XDG's variables read) ``~/.cache/headstart``: an empty value was
    the current folder, which then filled with the cache's parts."""
    return Path(os.environ.get("HEADSTART_CACHE") or Path.home() / ".cache" / "headstart")


@dataclass
class CachePart:
    """One part of the cache: its name, the files it holds and their bytes."""

    name: str
    files: int = 0
    bytes: int = 0


@dataclass
class CacheReport:
    """What ``cache_info`` found, or what ``clear_cache`` removed.

    Attributes:
        where: the cache folder.
        parts: ``features``, ``data``, ``models``, ``leakage``, ``precision`` and ``temp`` (left-overs of killed writes older than
            ``STALE_SECONDS``), each with its file count and bytes.
    """

    where: str
    parts: list[CachePart] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    def to_dict(self) -> dict:
        return {"where": self.where, "bytes": self.bytes,
                "parts": {p.name: {"files": p.files, "bytes": p.bytes} for p in self.parts}}


def is_temporary(path: Path) -> bool:
    """A left-over of a write: ``atomic.write_atomic``'s ``.NAME.<random>.tmp`` file, ``fresh_folder``'s
    ``.NAME.<random>.tmp`` folder (a converted model), or a staged data table (``.staged-*.parquet``)."""
    return path.name.startswith(".") and (path.name.endswith(".tmp") or path.name.startswith(".staged-"))


def is_lock(path: Path) -> bool:
    """The empty ``.NAME.lock`` that ``backbones.parts._held`` holds beside NAME while a process makes it."""
    return path.name.startswith(".") and path.name.endswith(".lock")


def _remove_lock(path: Path) -> bool:
    """Remove the lock file ``path`` unless another process holds it (it is making the part beside it now): taken
    first, without waiting, and removed while held. False where it is held (left in place).

    A process that opened it just before it went waits on the removed file and then makes its part while a later one
    makes it under a new lock: both write into folders of their own and rename, so the cost is one making twice."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no process locks it (``_held``)
        path.unlink(missing_ok=True)
        return True
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # gone, or a link planted there: removed, never followed
        path.unlink(missing_ok=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


OWN = {  # what headstart itself writes in each part; anything else there is left alone, never counted or removed
    "features": re.compile(r"[0-9a-f]{20}\.safetensors"),  # features.feature_key
    "data": re.compile(r"table-[0-9a-f]+(?:-[0-9a-f]+)?\.parquet"),  # data.memory: a table under its content hash
    "models": re.compile(r".+-[0-9a-f]{24}|.+\.gguf"),  # backbones.causal / parts: a converted or extracted folder, a
    # joined GGUF file
    "leakage": re.compile(r"[0-9a-f]{20}\.json"),  # data.leakage.split_leakage: one report per data and split
}


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """(headstart's own entries, temporary entries) directly under ``root`` (a model folder is one entry); ``root``
    itself where it is a file headstart writes (precision.json). Other entries are not headstart's: left out."""
    if not root.is_dir():
        return ([root] if root.is_file() and root.name == "precision.json" else []), []
    own, temporary = [], []
    pattern = OWN[root.name]
    for entry in root.iterdir():
        if is_temporary(entry):
            if _temporary_of(entry.name, pattern):
                temporary.append(entry)
        elif is_lock(entry):
            if pattern.fullmatch(entry.name[1:-len(".lock")]):
                own.append(entry)
        elif pattern.fullmatch(entry.name):
            own.append(entry)
    return own, temporary


def _temporary_of(name: str, pattern: re.Pattern) -> bool:
    """Whether the temporary entry ``name`` was on its way to becoming one of ``pattern``'s (``.NAME.<random>.tmp``),
    or is a staged table."""
    if name.startswith(".staged-"):
        return True
    return pattern.fullmatch(name[1:-len(".tmp")].rsplit(".", 1)[0]) is not None


def _files(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return 1
    return sum(_files(p) for p in path.iterdir())


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    return sum(_size(p) for p in path.iterdir())


def _stale(path: Path, now: float) -> bool:
    try:
        return now - path.lstat().st_mtime >= STALE_SECONDS
    except OSError:
        return False


def _part_root(where: Path, part: str) -> Path:
    return where / ("precision.json" if part == "precision" else part)


def _survey(where: Path) -> dict[str, list[Path]]:
    """Entries of each part; ``temp`` gathers the stale temporary entries of every part and of the top folder."""
    now = time.time()
    found: dict[str, list[Path]] = {part: [] for part in (*PARTS, "temp")}  # temp last, as the report lists it
    for part in PARTS:
        found[part], temporary = _walk(_part_root(where, part))
        found["temp"] += [p for p in temporary if _stale(p, now)]
    if where.is_dir():
        found["temp"] += [p for p in where.iterdir() if p.name.startswith(".precision.json.") and is_temporary(p) and _stale(p, now)]
    return found


@python_named
def cache_info() -> CacheReport:
    """Mirrors ``headstart cache``: the cache folder and the files and bytes of each part."""
    where = cache_dir()
    found = _survey(where)
    return CacheReport(str(where), [CachePart(name, sum(_files(p) for p in paths), sum(_size(p) for p in paths))
                                    for name, paths in found.items()])


def check_kind(what: str) -> str:
    if what not in KINDS:
        example = spoken("--clear temp", "clear_cache('temp')")
        raise ConfigError(f"unknown cache part {what!r}; choose one of {', '.join(KINDS)} (e.g. {example})")
    return what


@python_named
def clear_cache(what: str = "temp") -> CacheReport:
    """Mirrors ``headstart cache --clear WHAT``: remove one part of the cache (``features``, ``data``, ``models``,
    ``leakage``, ``precision``), the stale left-overs of killed writes (``temp``, the default), or ``all`` of them.

    A part in use by a running job is rebuilt by it as needed; only temporary files older than an hour are removed,
    and a model's lock file only where no process holds it.
    ``data`` holds the copies of DataFrames that runs were fit on, which are not rebuilt: evaluating such a run
    afterwards says how to write its copy back (``headstart.load_dataset(df, ...)`` on the same DataFrame).

    Returns:
        A ``CacheReport`` of what was removed.

    Raises:
        ConfigError: an unknown part.
        StoreError: a file could not be removed (the report names it and why).
    """
    check_kind(what)
    where = cache_dir()
    found = _survey(where)
    chosen = [*PARTS, "temp"] if what == "all" else [what]
    removed = []
    for name in chosen:
        part = CachePart(name)
        for path in found[name]:
            size, files = _size(path), _files(path)
            try:
                if is_lock(path):
                    if not _remove_lock(path):
                        continue  # a process is making its part now
                elif path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as e:
                raise StoreError(f"cannot remove {str(path)!r} ({e.strerror}); check its permissions, or remove it by hand") from None
            part.files += files
            part.bytes += size
        removed.append(part)
    for name in ("features", "data", "models", "leakage"):  # a part folder left empty goes too; one holding other files stays
        with contextlib.suppress(OSError):
            (where / name).rmdir()
    return CacheReport(str(where), removed)
