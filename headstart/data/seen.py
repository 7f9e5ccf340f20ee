"""Another file's rows against a run's own: which of them duplicate (exactly or nearly, as ``leakage.find_leakage``
matches) an input the run trained or validated on, for ``evaluate --eval-data FILE`` (warned of) and its ``--dedupe``
(dropped before scoring)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.duplicates import match_texts, normalize
from headstart.data.leakage import DEFAULT_THRESHOLD, LEAKAGE_WARN, check_threshold, comparable

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset


def seen_rows(seen: dict[str, list[Any]], scored: list[Any], *, threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """How many of ``scored`` duplicate (exactly or nearly, as ``find_leakage`` counts) an input of each part of
    ``seen``: another file's rows against a run's own training and validation inputs, ``{"training": [...],
    "validation": [...]}`` (each compared as ``comparable`` gives them; image digests at threshold 1.0). A row that
    duplicates several parts counts under the first.

    Returns:
        ``{part: rows}`` for every part of ``seen``, in its order.
    """
    part = seen_parts(seen, scored, threshold=threshold)
    return {name: int((part == k).sum()) for k, name in enumerate(seen)}


def seen_parts(seen: dict[str, list[Any]], scored: list[Any], *, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(len(scored),) int64: for each of ``scored``, the position in ``seen`` of the first part it duplicates (as
    ``seen_rows`` counts), -1 for none; what ``evaluate --eval-data FILE --dedupe`` drops."""
    threshold = check_threshold(threshold)
    key = hashlib.sha256(json.dumps([threshold, list(seen.values()), list(scored)], default=str).encode()).digest()
    if key in _SEEN:  # evaluate --eval-data D --tta a,b,c asks the same of D's rows for each method
        return _SEEN[key]
    query = [normalize(x) for x in scored]  # once, however many parts it is compared with
    part = np.full(len(scored), -1, dtype=np.int64)
    for k, own in enumerate(seen.values()):
        match, _, _ = match_texts([normalize(x) for x in own], query, threshold)
        part[(match >= 0) & (part < 0)] = k
    if len(_SEEN) >= 8:  # a few datasets at a time: keep memory flat
        _SEEN.clear()
    _SEEN[key] = part
    return part


_SEEN: dict[bytes, np.ndarray] = {}


def unseen_rows(data: "Dataset", rows: np.ndarray, seen: dict[str, list[Any]]) -> tuple[np.ndarray, dict[str, int]]:
    """``rows`` of ``data`` less those that duplicate an input of a part of ``seen`` (``seen_parts``, each compared as
    ``comparable`` gives it), and how many each part took (``seen_rows``' counts)."""
    inputs, threshold = comparable(data, DEFAULT_THRESHOLD)
    part = seen_parts(seen, [inputs[i] for i in rows], threshold=threshold)
    return rows[part < 0], {name: int((part == k).sum()) for k, name in enumerate(seen)}


def dropped_text(counts: dict[str, int], rows: int, name: str) -> str:
    """The line ``evaluate --eval-data FILE --dedupe`` says of the ``seen_rows`` counts it dropped from ``rows``."""
    total = sum(counts.values())
    parts = ", ".join(f"{n:,} {part}" for part, n in counts.items() if n)
    return (f"--dedupe dropped {total:,} of the {rows:,} rows of {name} ({100 * total / max(rows, 1):.2f}%) before scoring: "
            + (f"they duplicate the run's own training or validation rows ({parts})" if total else
               "none duplicates the run's own training or validation rows"))


def seen_text(counts: dict[str, int], scored: int, name: str) -> str | None:
    """The warning for ``seen_rows`` counts of ``scored`` rows of the file ``name``, worded as an in-domain evaluate's
    (``loaded._leakage``), over ``LEAKAGE_WARN`` of them; None at or below it."""
    total = sum(counts.values())
    if scored <= 0 or total / scored <= LEAKAGE_WARN:
        return None
    parts = ", ".join(f"{n:,} {part}" for part, n in counts.items() if n)
    return (f"{total:,} of the {scored:,} rows scored from {name} ({100 * total / scored:.2f}%) duplicate the run's own "
            f"training or validation rows ({parts}), so this score is optimistic; evaluate --dedupe leaves them out, to "
            "score only rows the run never saw")
