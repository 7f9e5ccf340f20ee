"""Atomic JSON files: written to a temporary file in the same directory, then renamed over the target."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from headstart.killpoints import kill_point


def write_json(path: Path, payload: Any) -> None:
    """Atomic JSON write: a temp file in the same directory, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=_plain))
        kill_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no temp file survives a handled error
        raise


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


