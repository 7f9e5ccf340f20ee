"""Opening a results store: ``DIR/runs.sqlite`` connected in WAL mode with a busy timeout, its schema made or checked.

What is refused, each with its fix: a folder with no store (``missing_store`` says what the path holds instead: a
saved run, a file, a meta-train output), a folder that cannot be made, a file that is not SQLite or holds another
program's tables, an empty store beside a report of earlier runs, a damaged or locked one, another schema version.
A store in a folder that cannot be written (permissions, a read-only mount, ``chattr +i``) is intact: a reader opens it
read-only (``read_only``), a writer says the folder cannot be written, never that the store is damaged. The messages name ``--out`` on the CLI and ``out=`` from Python (``out_words``). No torch here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

from headstart import store_rows as table
from headstart.errors import StoreError
from headstart.killpoints import kill_point
from headstart.store_rows import BUSY_TIMEOUT_MS, FILENAME, SCHEMA_VERSION
from headstart.surface import spoken


def missing_store(path: Path) -> str:
    """Why ``path`` has no store, and what to do: give the folder, not the file; read a saved run with evaluate; or
    write a store with compare."""
    from headstart.outdir import held

    if path.name == FILENAME and path.is_file():
        return f"{str(path)!r} is the store's file; give the folder that holds it: {str(path.parent)!r}"
    found = held(path)
    if found == "run":
        trained = spoken("headstart train", "headstart.fit")
        scores = spoken(f"headstart evaluate {path}", f"headstart.evaluate({str(path)!r})")
        return (f"{str(path)!r} is a saved run ({trained}), not a results store; {scores} scores it, "
                f"and its validation scores are in {str(path / 'metrics.json')!r}")
    if found == "file":
        return (f"{str(path)!r} is a file, not a results store; give the folder a compare wrote "
                f"({spoken('its --out', 'the out= of headstart.compare')})")
    if found == "lm-run":
        generate = spoken(f"headstart generate {path}", f"headstart.generate({str(path)!r}, prompts)")
        return (f"{str(path)!r} is a saved sft / prefer run, not a results store; its scores are in "
                f"{str(path / 'metrics.json')!r}, and {generate} answers prompts with it")
    if found == "meta":
        return f"{str(path)!r} is a meta-train output, not a results store; its results are in {str(path / 'meta.md')!r}"
    write = spoken(f"run `headstart compare --out {path}`", f"run headstart.compare(..., out={str(path)!r})")
    return f"no results store at {str(path / FILENAME)!r}; {write} first"


def out_words(noun: str = "", *, article: bool = False) -> str:
    """Where the store's folder came from, in the caller's words: ``--out`` on the CLI, ``out=`` from Python (with
    ``noun``: "an out= folder", the CLI keeping "--out")."""
    python = f"out= {noun}".strip()
    return spoken("--out", f"an {python}" if article else python)


_WRITERS = [0]  # stores this process has opened to write (``writers_opened``)


def writers_opened() -> int:
    """How many times this process has opened a store to write: what the CLI's entry point says of an interrupt that
    came before any (nothing was stored: there is nothing a re-run resumes)."""
    return _WRITERS[0]


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Connect to ``path``'s ``runs.sqlite``, create the schema if needed and check its version (``Store.open``).

    Args:
        path: the store's folder.
        create: make the folder and the database when missing; False: a missing store is an error.

    Returns:
        the open connection (autocommit, rows as ``sqlite3.Row``).

    Raises:
        StoreError: the store is missing (with ``create=False``), unwritable, not a SQLite file, or was
            written by an incompatible version of headstart.
    """
    file = path / FILENAME
    if not file.exists():
        if not create:
            raise StoreError(missing_store(path))
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run directory {str(path)!r} ({exc.strerror}); choose a writable {out_words('folder')}") from exc
    try:
        conn = sqlite3.connect(file, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open results store {str(file)!r} ({exc}); check the path and its permissions") from exc
    conn.row_factory = sqlite3.Row
    _WRITERS[0] += create
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not create and conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                                       ).fetchone() is None:  # a reader never writes a schema into another file
            conn.close()
            raise StoreError(f"{str(file)!r} holds no headstart runs (an empty or foreign SQLite file); point at "
                             f"the folder a compare, adapt, continual or multitask run wrote")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if create and "meta" not in tables:  # a writer: never into another program's database, nor over a report
            foreign = sorted(tables - {"runs", "sweep"})
            if foreign or (not tables and (path / "results.json").exists()):
                conn.close()
                what = (f"a SQLite file headstart did not write (tables: {', '.join(foreign[:3])})" if foreign else
                        "an empty runs.sqlite beside the report of earlier runs (results.json), the only copy of them")
                raise StoreError(f"{str(file)!r} is {what}; nothing was written; choose a new {out_words('folder')}")
        table.use_wal(conn)
        kill_point("store.open")
        version = table.init_schema(conn)
        conn.execute("SELECT key FROM runs LIMIT 1").fetchall()  # a store whose runs table is gone is damaged
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "unable to open" in str(exc) and not os.access(path, os.W_OK):  # SQLite could not make its -wal / -shm there
            if create:
                raise StoreError(unwritable(path)) from exc
            return read_only(path)
        if "full" in str(exc):
            raise StoreError(f"cannot write the results store {str(file)!r}: the disk is full; free space or "
                             f"choose {out_words('folder', article=True)} on another disk") from exc
        if "locked" in str(exc):
            raise StoreError(f"the results store {str(file)!r} was locked by another process for over "
                             f"{BUSY_TIMEOUT_MS // 1000} s; run again when it finishes") from exc
        fix = f"point {out_words()} at a new directory" if create else "restore it from a backup, or give another store's folder"
        raise StoreError(f"{str(file)!r} is not a usable headstart store ({exc}); {fix}") from exc
    if version != SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"results store {str(file)!r} has schema version {version!r}, this headstart reads version "
            f"{SCHEMA_VERSION}; use the headstart version that wrote it, or write to a new directory with {out_words()}"
        )
    return conn


def unwritable(path: Path) -> str:
    """Why a writer cannot use the intact store in ``path``, a folder that cannot be written, and the fixes."""
    return (f"the folder {str(path)!r} cannot be written (its permissions, a read-only mount or an immutable flag), so "
            f"its results store cannot take new runs; the store is unchanged: make the folder writable, or copy it and "
            f"point {out_words()} at the copy")


def read_only(path: Path) -> sqlite3.Connection:
    """Connect read-only to the store of ``path``, a folder that cannot be written: SQLite cannot make the ``-shm`` file
    a WAL reader needs there, so where none is left beside the file the store is opened as ``immutable`` (nothing can
    write it either); a non-empty ``-wal`` holds rows the file does not, so it is read with ``mode=ro`` or refused.

    Raises:
        StoreError: the store cannot be read this way (a write-ahead log to replay), holds no headstart runs, or has
            another schema version (an older one is upgraded by a writer).
    """
    file = path / FILENAME
    wal = file.with_name(FILENAME + "-wal")
    logged = wal.exists() and wal.stat().st_size > 0
    where = "file:" + urllib.parse.quote(str(file.absolute())) + ("?mode=ro" if logged else "?mode=ro&immutable=1")
    try:
        conn = sqlite3.connect(where, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
            conn.close()
            raise StoreError(f"{str(file)!r} holds no headstart runs (an empty or foreign SQLite file); point at "
                             f"the folder a compare, adapt, continual or multitask run wrote")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        conn.execute("SELECT key FROM runs LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        with contextlib.suppress(NameError):
            conn.close()
        if "unable to open" in str(exc):  # a log to replay, and no -shm to read it through
            raise StoreError(f"the folder {str(path)!r} cannot be written, and its results store has changes still in "
                             f"{wal.name!r} that reading needs to write beside it; make the folder writable, or copy "
                             "the folder and read the copy") from exc
        raise StoreError(f"{str(file)!r} is not a usable headstart store ({exc}); restore it from a backup, or give "
                         "another store's folder") from exc
    version = None if row is None else row["value"]
    if str(version) != str(SCHEMA_VERSION):
        conn.close()
        older = str(version) in ("1", "2", "3")  # init_schema upgrades these in place, which needs a writable folder
        raise StoreError(
            f"results store {str(file)!r} has schema version {version!r}, this headstart reads version {SCHEMA_VERSION}"
            + (f"; it upgrades the store when it opens it in a writable folder: make {str(path)!r} writable, or copy it"
               if older else "; use the headstart version that wrote it"))
    return conn
