"""Resumable benchmark results: one JSON object a line, appended as each cell finishes (a kill loses at most the cell
under way), read back keyed so that a re-run skips what is done."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_rows(path: Path, key: Callable[[dict[str, Any]], tuple]) -> dict[tuple, dict[str, Any]]:
    """Every row of ``path`` (none when it does not exist yet), by ``key(row)``; a later row of the same key wins."""
    if not path.exists():
        return {}
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {key(row): row for row in rows}


def append_row(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
