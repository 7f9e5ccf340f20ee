"""SQLite store of runs: the single source of truth for results.

One file, ``DIR/runs.sqlite``, in WAL mode with a busy timeout so that several processes (local workers,
a Ray driver, a report reader) can share it. Every write is one ``BEGIN IMMEDIATE`` transaction, so a
crash leaves either the old row or the new one. Rows are keyed by the run key (hash of the full spec), so
an interrupted sweep resumes: done rows are never overwritten by ``mark`` or ``claim``.

Claims are leases: a worker ``claim``s a cell (status ``running``, ``owner``, ``lease_until``); another
worker may take it over only once the lease has expired (the first worker died). Opening the file, and what is
refused there, is ``store_open``'s; the table's schema and rows are ``store_rows``'. No torch here.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from headstart import store_rows as table
from headstart.errors import StoreError
from headstart.results import STATUSES, RunResult
from headstart.store_open import connect, out_words
from headstart.store_rows import BUSY_TIMEOUT_MS, FILENAME, SCHEMA_VERSION

__all__ = ["BUSY_TIMEOUT_MS", "FILENAME", "SCHEMA_VERSION", "Store"]


class Store:
    """A directory holding ``runs.sqlite``.

    Use as a context manager (``with Store(path) as store: ...``) or call ``open()`` / ``close()``.

    Args:
        path: the run directory (created when ``create`` is true).
        create: create the directory and database when missing; with False a missing store is an error
            (what readers such as the report want).
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.create = create
        self._conn: sqlite3.Connection | None = None

    @property
    def file(self) -> Path:
        return self.path / FILENAME

    # -- lifecycle -------------------------------------------------------------------------------------

    def open(self) -> Store:
        """Connect, create the schema if needed and check its version.

        Returns:
            self.

        Raises:
            StoreError: the store is missing (with ``create=False``), unwritable, not a SQLite file, or was
                written by an incompatible version of headstart.
        """
        if self._conn is None:
            self._conn = connect(self.path, create=self.create)
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (opening the store on first use)."""
        return self._conn if self._conn is not None else self.open()._conn  # type: ignore[return-value]

    def _transaction(self) -> table.Transaction:
        return table.Transaction(self.conn)

    # -- writes ----------------------------------------------------------------------------------------

    def put(self, result: RunResult) -> None:
        """Insert or replace the row of a finished (or failed / diverged) run and release its lease.

        Args:
            result: the run's outcome; ``created_at`` of an existing row is kept.
        """
        now = time.time()
        row = {
            "key": result.key,
            **table.spec_columns(result.spec),
            "status": result.status,
            "metrics": json.dumps(result.metrics, sort_keys=True),
            "val_metrics": json.dumps(result.val_metrics, sort_keys=True),
            "chosen": json.dumps(result.chosen, sort_keys=True, default=str),
            "record": json.dumps(result.record, sort_keys=True, default=str),
            **{name: getattr(result, name) for name in table.RESULT_FIELDS},
            "error": result.error,
            "owner": None,
            "lease_until": None,
            "created_at": now,
            "updated_at": now,
        }
        with self._transaction() as conn:
            old = conn.execute("SELECT created_at FROM runs WHERE key = ?", (result.key,)).fetchone()
            if old is not None:
                row["created_at"] = old["created_at"]
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(table.COLUMNS)}) VALUES ({', '.join('?' * len(table.COLUMNS))})",
                [row[c] for c in table.COLUMNS],
            )

    def mark(self, key: str, spec: dict[str, Any], status: str, *, error: str | None = None) -> bool:
        """Record a cell that has no result yet (``pending`` / ``running``) or that failed outside the engine.

        A ``done`` row is never downgraded, so re-marking a finished sweep is harmless.

        Args:
            key: the run key.
            spec: the run's full spec as plain data.
            status: any status but ``done`` (a done run has metrics: use ``put``).
            error: reason for ``failed`` / ``diverged``.

        Returns:
            True when the row was written, False when it was already done.

        Raises:
            ValueError: ``status`` is ``done`` or unknown (a programming error).
        """
        if status not in STATUSES or status == "done":
            raise ValueError(f"mark() takes one of {[s for s in STATUSES if s != 'done']}, got {status!r}; use put() for done runs")
        now = time.time()
        cols = table.spec_columns(spec)
        with self._transaction() as conn:
            old = conn.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
            if old is not None and old["status"] == "done":
                return False
            if old is None:
                conn.execute(
                    "INSERT INTO runs (key, strategy, n, n_requested, seed, backbone, data_name, data_hash, spec,"
                    " status, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, *cols.values(), status, error, now, now),
                )
            else:
                conn.execute(
                    "UPDATE runs SET strategy=?, n=?, n_requested=?, seed=?, backbone=?, data_name=?, data_hash=?,"
                    " spec=?, status=?, error=?, owner=NULL, lease_until=NULL, updated_at=? WHERE key=?",
                    (*cols.values(), status, error, now, key),
                )
        return True

    def claim(self, key: str, spec: dict[str, Any], owner: str, lease_seconds: float) -> bool:
        """Atomically take a cell for training.

        The claim succeeds when the cell is not done and not held by another owner whose lease is still
        live; an expired lease (its worker died) can be re-claimed, and so can a live one whose owner ran on this host
        and is gone (``owner_is_dead``: a compare killed with -9); an owner may renew its own lease.

        Args:
            key: the run key.
            spec: the run's full spec as plain data.
            owner: a unique worker id (e.g. ``"host:pid:uuid"``).
            lease_seconds: how long the claim lasts without renewal; must be > 0.

        Returns:
            True when this owner now holds the cell (status ``running``), False otherwise.
        """
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        now = time.time()
        cols = table.spec_columns(spec)
        with self._transaction() as conn:
            old = conn.execute("SELECT status, owner, lease_until, spec, metrics FROM runs WHERE key = ?", (key,)).fetchone()
            if old is not None:
                if table.finished(old):
                    return False
                held = old["status"] == "running" and old["owner"] not in (None, owner)
                if held and (old["lease_until"] is None or old["lease_until"] > now) and not owner_is_dead(old["owner"]):
                    return False
                conn.execute(  # the spec too: a damaged done row taken again gets its spec back before it trains
                    "UPDATE runs SET status='running', spec=?, owner=?, lease_until=?, error=NULL, updated_at=? WHERE key=?",
                    (cols["spec"], owner, now + lease_seconds, now, key),
                )
            else:
                conn.execute(
                    "INSERT INTO runs (key, strategy, n, n_requested, seed, backbone, data_name, data_hash, spec,"
                    " status, owner, lease_until, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                    (key, *cols.values(), owner, now + lease_seconds, now, now),
                )
        return True

    def running_owners(self) -> dict[str, str]:
        """``{key: owner}`` of the cells claimed ``running`` now (``owner_is_dead`` tells an abandoned one)."""
        with self._reading():
            rows = self.conn.execute("SELECT key, owner FROM runs WHERE status = 'running'").fetchall()
        return {r["key"]: r["owner"] for r in rows if r["owner"]}

    def abandoned(self) -> set[str]:
        """Keys of the ``running`` cells whose claiming process ran on this host and is gone (``owner_is_dead``):
        nothing trains them, and the next claim takes them. What ``runs`` marks abandoned and the report does not count
        as being trained now."""
        return {key for key, owner in self.running_owners().items() if owner_is_dead(owner)}

    def release_dead(self, is_dead: Callable[[str], bool]) -> int:
        """Put ``running`` cells whose owner ``is_dead`` back to ``pending`` (their lease need not expire first).

        Returns:
            How many cells were released.
        """
        now = time.time()
        with self._transaction() as conn:
            rows = conn.execute("SELECT key, owner FROM runs WHERE status = 'running'").fetchall()
            dead = [r["key"] for r in rows if r["owner"] and is_dead(r["owner"])]
            for key in dead:
                conn.execute("UPDATE runs SET status='pending', owner=NULL, lease_until=NULL, updated_at=? WHERE key=?", (now, key))
        return len(dead)

    def set_sweep(self, command: str, sweep: dict[str, Any], *, by: str = "compare",
                  plan: list[dict[str, Any]] | None = None, data: dict[str, Any] | None = None) -> None:
        """Remember the command line and the SweepSpec (as a dict) of the latest sweep into this store, and add the
        command to ``commands`` (each distinct one once, oldest first; those before it are forgotten while the store
        holds no finished run, as they stored nothing: a cell claimed and stopped is no result), with the folder and host
        it ran in (``commands_elsewhere``: a store copied into a new --out is not one --out).

        Args:
            by: the command whose store this is ("compare" or "adapt", which writes a compare store of its own):
                read by ``store_command``, as a Python call's ``command`` may be any text.
            plan: every cell the sweep planned (``{"key", "n", "n_actual", "seed"}`` with its experiment's and arm's
                settings, ``arms.EXPERIMENT_FIELDS`` and ``arms.ARM_FIELDS``): the report names those with no result
                yet (``analysis.unfinished``) and labels an arm planned beside another of its strategy before it ran.
            data: what reading the data did (``{"name", "modality", "text_column", "label_column", "text_given",
                "label_given", "notes"}``: the columns read, whether the user named them, rows dropped): the report's
                data line (``report.render.data_summary``).
        """
        value = json.dumps({"command": command, "sweep": sweep, "by": by, **({"plan": plan} if plan is not None else {}),
                            **({"data": data} if data is not None else {})}, sort_keys=True)
        with self._transaction() as conn:
            # before 'sweep' is replaced: a store from before the list holds its command there; a command that stored
            # no run (stopped before its first cell) is no part of this store's history: its reproduction skips it
            stored = conn.execute("SELECT 1 FROM runs WHERE status IN ('done', 'failed', 'diverged') LIMIT 1").fetchone() is not None
            earlier = self._commands(conn) if stored else []
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('sweep', ?)", (value,))
            if not stored or command not in earlier:
                commands = [*earlier, command] if command else earlier
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('commands', ?)", (json.dumps(commands),))
                ran = {**(self._folders(conn) if stored else {}),
                       **({command: {"folder": str(self.path.resolve()), "host": socket.gethostname()}} if command else {})}
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('command_folders', ?)",
                             (json.dumps({c: ran[c] for c in commands if c in ran}),))

    # -- reads -----------------------------------------------------------------------------------------

    def sweep(self) -> dict[str, Any] | None:
        """Return ``{"command": str, "sweep": dict, "by": str, "plan": list, "data": dict}`` as saved by ``set_sweep``
        (no "by", "plan" or "data" in a store written before they were kept), or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'sweep'").fetchone()
        try:
            value = None if row is None else json.loads(row["value"])
        except ValueError:  # informational: a damaged record of the command must not stop the report
            return None
        return value if isinstance(value, dict) else None

    def commands(self) -> list[str]:
        """Every distinct command that ran a sweep into this store, oldest first: run in that order into one --out, they
        store its runs again. A store written before the list was kept gives its last command (``sweep``) alone."""
        return self._commands(self.conn)

    def commands_elsewhere(self) -> list[int]:
        """The indexes in ``commands()`` of those that ran into another folder than the last one did: a store copied into
        a new --out, and a command run there. Only folders on the host the last ran on are compared (another host may
        name this very folder through another mount), and a command from before the folders were kept is none."""
        commands, ran = self.commands(), self._folders(self.conn)
        last = ran.get(commands[-1]) if commands else None
        if last is None:
            return []
        return [i for i, c in enumerate(commands[:-1])
                if c in ran and ran[c]["host"] == last["host"] and ran[c]["folder"] != last["folder"]]

    @staticmethod
    def _folders(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
        """``{command: {"folder", "host"}}`` where each command first ran (``set_sweep``); {} before they were kept."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'command_folders'").fetchone()
        try:  # informational: a damaged record must not stop the report
            found = json.loads(row["value"]) if row is not None else {}
        except ValueError:
            return {}
        return {c: w for c, w in found.items() if isinstance(w, dict) and isinstance(w.get("folder"), str)
                and isinstance(w.get("host"), str)} if isinstance(found, dict) else {}

    @staticmethod
    def _commands(conn: sqlite3.Connection) -> list[str]:
        rows = {r[0]: r[1] for r in conn.execute("SELECT key, value FROM meta WHERE key IN ('commands', 'sweep')")}

        def read(key: str) -> Any:
            try:  # informational: a damaged record of the commands must not stop the report
                return json.loads(rows[key]) if key in rows else None
            except ValueError:
                return None

        found, last = read("commands"), read("sweep")
        commands = [c for c in found if isinstance(c, str) and c] if isinstance(found, list) else []
        last = last.get("command") if isinstance(last, dict) else None
        if isinstance(last, str) and last and last not in commands:  # an older store, or a damaged list
            commands.append(last)
        return commands

    def get(self, key: str) -> RunResult | None:
        """Return the run stored under ``key`` (any status), or None."""
        row = self.conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else table.to_result(row, self.file)

    def results(self, status: str | None = None) -> list[RunResult]:
        """Return all runs, or those with ``status``, oldest first. A row whose JSON is damaged is left out (its spec)
        or read with that field empty, and a warning names it.

        Raises:
            StoreError: the database file itself is damaged.
        """
        with self._reading():
            if status is None:
                rows = self.conn.execute("SELECT * FROM runs ORDER BY created_at, key").fetchall()
            else:
                rows = self.conn.execute("SELECT * FROM runs WHERE status = ? ORDER BY created_at, key", (status,)).fetchall()
        return [r for r in (table.to_result(row, self.file) for row in rows) if r is not None]

    def done_keys(self) -> set[str]:
        """Keys of the finished runs: the cells a resumed sweep skips (``store_rows.finished``: a done row whose spec or
        scores are damaged is not among them, so it trains again)."""
        with self._reading():
            return {r["key"] for r in self.conn.execute("SELECT key, status, spec, metrics FROM runs WHERE status = 'done'")
                    if table.finished(r)}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the results store {str(self.file)!r} is damaged ({exc}); restore it from a copy, or "
                             f"point {out_words()} at a new directory (the runs in it would be trained again)") from None


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` ("host:pid:tag", a claim's) ran on this host and its process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's worker: only its lease can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
