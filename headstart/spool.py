"""Results the store could not take: retried, then kept beside the store, and merged by the next sweep.

A trained cell's result is never lost while any disk will hold it: ``put_with_retries`` waits out a busy store,
``spool`` writes what still fails to ``DIR/spool/KEY.json`` (atomically), and ``merge_spool`` puts those files into
the store when the next sweep opens it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from headstart.errors import StoreError
from headstart.results import RunResult

PUT_ATTEMPTS = 3  # each waits up to the store's busy timeout (30 s) for another process's write lock
SPOOL = "spool"  # results the store could not take, one JSON file each, merged by the next sweep on the store


def put_with_retries(store: Any, result: RunResult) -> None:
    import sqlite3

    for attempt in range(PUT_ATTEMPTS):
        try:
            store.put(result)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == PUT_ATTEMPTS - 1:
                raise
            time.sleep(1 + attempt)


def reason(exc: BaseException) -> str:
    text = str(exc)
    return ("the disk is full" if "full" in text else "another process held its write lock too long" if "locked" in text
            else text)


def spool(directory: Path, result: RunResult, cause: BaseException) -> Path:
    """Write ``result`` to ``directory/spool/KEY.json`` (atomically).

    Raises:
        StoreError: the spool cannot be written either; the message says what was lost and why.
    """
    from headstart.atomic import write_json

    path = directory / SPOOL / f"{result.key}.json"
    try:
        path.parent.mkdir(exist_ok=True)
        write_json(path, result.to_dict())
    except OSError as exc:
        spec = result.spec
        raise StoreError(f"could not store the result of {spec.get('strategy')} n={spec.get('n_requested')} seed={spec.get('seed')} "
                         f"({reason(cause)}) nor keep it in "
                         f"{str(path.parent)!r} ({exc.strerror}); free disk space and run the same command again to "
                         "retrain that cell") from None
    return path


def merge_spool(store: Any) -> int:
    """Put the spooled results of ``store``'s directory into it (oldest first) and delete their files; returns how many.

    A spooled result whose cell is already done in the store is dropped (the store holds it already).
    """
    directory = Path(store.path) / SPOOL
    files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime) if directory.is_dir() else []
    done = store.done_keys()
    merged = 0
    for path in files:
        result = _read_spooled(path)
        if result is None:
            continue
        if result.key not in done:
            store.put(result)
            merged += 1
        path.unlink(missing_ok=True)
    return merged


def _read_spooled(path: Path) -> RunResult | None:
    """The result spooled in ``path``, or None (with a warning; the file is kept) when it is damaged: unreadable, not
    JSON, or not a result object (``spool`` writes one, whose key is a string and whose spec is an object)."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"it holds {json.dumps(data)[:80]}, not a result object")
        result = RunResult.from_dict(data)
        if not isinstance(result.key, str) or not isinstance(result.spec, dict):
            raise ValueError("its key must be a string and its spec an object")
    except (OSError, ValueError, TypeError) as exc:
        logging.getLogger("headstart").warning("skipped the damaged spooled result %s (%s); move it aside or delete it",
                                               path, exc)
        return None
    return result
