"""The runs table: its schema and migrations, the connection's WAL switch, and rows read back as ``RunResult``.

``store.Store`` is the only user; this module holds what a row is, ``store`` what is done with rows. No torch here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from headstart.killpoints import kill_point
from headstart.results import STATUSES, RunResult

SCHEMA_VERSION = 4  # 2: saved_bytes (what a run's weights take on disk); 3: chosen (hyperparameters picked on validation);
# 4: record (the validation history, the budget, the majority-class reference and the test predictions)
ADDED = {"saved_bytes": "INTEGER DEFAULT 0", "chosen": "TEXT NOT NULL DEFAULT '{}'",
          "record": "TEXT NOT NULL DEFAULT '{}'"}  # columns newer than v1: migrated in place
FILENAME = "runs.sqlite"
BUSY_TIMEOUT_MS = 30_000  # a long sweep's workers write rarely; waiting beats failing

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    strategy TEXT,
    n INTEGER,
    n_requested,
    seed INTEGER,
    backbone TEXT,
    data_name TEXT,
    data_hash TEXT,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    val_metrics TEXT NOT NULL DEFAULT '{}',
    chosen TEXT NOT NULL DEFAULT '{}',
    record TEXT NOT NULL DEFAULT '{}',
    train_seconds REAL DEFAULT 0,
    eval_seconds REAL DEFAULT 0,
    trainable_params INTEGER DEFAULT 0,
    total_params INTEGER DEFAULT 0,
    saved_bytes INTEGER DEFAULT 0,
    steps INTEGER DEFAULT 0,
    best_step INTEGER DEFAULT 0,
    error TEXT,
    owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""

COLUMNS = (
    "key", "strategy", "n", "n_requested", "seed", "backbone", "data_name", "data_hash", "spec", "status",
    "metrics", "val_metrics", "chosen", "record", "train_seconds", "eval_seconds", "trainable_params", "total_params", "saved_bytes", "steps",
    "best_step", "error", "owner", "lease_until", "created_at", "updated_at",
)
RESULT_FIELDS = ("train_seconds", "eval_seconds", "trainable_params", "total_params", "saved_bytes", "steps", "best_step")


def spec_columns(spec: dict[str, Any]) -> dict[str, Any]:
    """Columns copied out of the spec so rows can be filtered in SQL; the JSON spec stays authoritative."""
    data = spec.get("data") or {}
    return {
        "strategy": spec.get("strategy"),
        "n": spec.get("n"),
        "n_requested": spec.get("n_requested"),
        "seed": spec.get("seed"),
        "backbone": spec.get("backbone"),
        "data_name": data.get("name") if isinstance(data, dict) else None,
        "data_hash": data.get("hash") if isinstance(data, dict) else None,
        "spec": json.dumps(spec, sort_keys=True),
    }


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, retrying while another process holds the lock.

    ``PRAGMA journal_mode = WAL`` does not always wait on the busy handler: when two ``compare`` start on a new store at
    the same moment, one of them used to fail at once with "database is locked".
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def init_schema(conn: sqlite3.Connection) -> object:
    """Create the tables of a new store; return the schema version found (checked before touching runs)."""
    with Transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            value = row["value"]
            if str(value) in ("1", "2", "3"):  # older stores gain the new columns; their rows read 0 bytes, nothing chosen, no record
                present = {r["name"] for r in conn.execute("PRAGMA table_info(runs)")}
                for column, kind in ADDED.items():
                    if column not in present:
                        conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
                return SCHEMA_VERSION
            return int(value) if str(value).isdigit() else value
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)
    return SCHEMA_VERSION


def to_result(row: sqlite3.Row, file: Path | None = None) -> RunResult | None:
    def field(name: str) -> dict[str, Any] | None:
        try:
            value = json.loads(row[name] or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            logging.getLogger("headstart").warning("run %s in %s has a damaged %s; it is read without it", row["key"], file, name)
            return None
        return value

    spec = field("spec")
    if spec is None or row["status"] not in STATUSES:
        logging.getLogger("headstart").warning("run %s in %s is damaged (spec or status); it is left out", row["key"], file)
        return None
    return RunResult(
        key=row["key"],
        spec=spec,
        status=row["status"],
        metrics=field("metrics") or {},
        val_metrics=field("val_metrics") or {},
        chosen=field("chosen") or {},
        record=field("record") or {},
        **{name: _number(row, name, file) for name in RESULT_FIELDS},
        error=row["error"] if isinstance(row["error"], str) or row["error"] is None else str(row["error"]),
    )


def finished(row: sqlite3.Row) -> bool:
    """A done row whose spec and scores read back (a JSON object each, the scores not empty): a resumed sweep skips it.
    A damaged one is not finished: it trains again, and its new row replaces it."""
    if row["status"] != "done":
        return False
    try:
        spec, metrics = json.loads(row["spec"] or ""), json.loads(row["metrics"] or "")
    except (TypeError, ValueError):
        return False
    return isinstance(spec, dict) and isinstance(metrics, dict) and bool(metrics)


def _number(row: sqlite3.Row, name: str, file: Path | None) -> int | float:
    value = row[name]
    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    logging.getLogger("headstart").warning("run %s in %s has a damaged %s (%r); it is read as 0", row["key"], file, name, value)
    return 0


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): takes the write lock up front, so two
    processes never deadlock upgrading read locks; waits up to the busy timeout for the other writer."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            kill_point("store.commit")
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
