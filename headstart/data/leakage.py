"""Train/test leakage: test examples that also appear, exactly or nearly, in the pool or validation split.

A test score means little when the model saw the same review during training (scraped corpora repeat
texts: the same review posted under two product names, a retweet, a template). Two checks:

- exact: equal after normalisation (Unicode NFKC, lowercase, punctuation removed, whitespace collapsed).
- near: Jaccard similarity J(A, B) = |A ∩ B| / |A ∪ B| of the word 3-shingle sets ≥ ``threshold``.
  Candidates come from MinHash with LSH banding (Broder 1997, "On the resemblance and containment of
  documents"; Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets* ch. 3): 64 hashes in 16 bands of
  4 rows; a pair with J = 0.8 shares a band with probability 1 - (1 - 0.8⁴)¹⁶ ≈ 0.9998. Every candidate is
  then verified with its exact Jaccard, so a reported pair is never a hashing artefact.

Images are checked for exact copies only (same shape and pixels).

The same pass counts label conflicts: inputs that occur (exactly, after normalisation) in two or more rows of the
whole dataset with different labels. Every such text caps the accuracy any model can reach on it, and a conflict
between a training row and a test row scores the model against the opposite of what it was taught.

Hashing is a pure function of the texts (words get ids in order of first appearance; fixed hash
coefficients), so the result does not depend on ``PYTHONHASHSEED`` and ``SplitConfig(dedupe=True)``
re-splits identically in every process. numpy only: no torch import.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.duplicates import match_texts, normalize
from headstart.data.shown import shown_name
from headstart.errors import ConfigError

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset, Splits

DEFAULT_THRESHOLD = 0.8
LEAKAGE_WARN = 0.01  # over 1% of the test rows duplicating training rows can move accuracy by a point: warned of


@dataclass
class LeakageReport:
    """How many test examples are duplicated in pool + validation.

    Attributes:
        n_test: test examples checked.
        exact: test examples equal (after normalisation) to a pool/validation example.
        near: further test examples with a word-3-shingle Jaccard ≥ ``threshold`` to one.
        fraction: (exact + near) / n_test.
        examples: up to ``examples`` pairs (test text, train text, Jaccard similarity), exact ones at 1.0.
        threshold: the Jaccard threshold used for ``near``.
        data: the dataset's name (a DataFrame's cached table as "data passed from Python (<hash>)": ``shown_name``).
        conflicts: inputs (after normalisation) that carry two or more different labels, over every row of the data;
            0 for regression, where equal texts with different values are not a contradiction.
        conflict_rows: the rows holding those inputs.
        conflict_examples: up to ``examples`` of them, each (text, the labels it carries by name).
        n_val: validation examples checked against the pool.
        val_leaked: those equal to, or at Jaccard >= ``threshold`` with, a pool example (what ``dedupe`` drops from
            validation: they reward memorising).
    """

    n_test: int
    exact: int
    near: int
    fraction: float
    examples: list[tuple[str, str, float]] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    data: str = ""
    conflicts: int = 0
    conflict_rows: int = 0
    conflict_examples: list[tuple[str, list[str]]] = field(default_factory=list)
    exact_only: bool = False  # images: compared pixel for pixel, near-duplicates not searched (no threshold applies)
    n_val: int = 0
    val_leaked: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["examples"] = [{"test": t, "train": s, "similarity": round(sim, 4)} for t, s, sim in self.examples]
        out["conflict_examples"] = [{"text": t, "labels": list(labels)} for t, labels in self.conflict_examples]
        return out

    def summary(self, *, removed: bool = False) -> str:
        """One line: ``leakage: 12 of 2,561 test examples (0.47%) duplicate pool/validation examples (3 exact, 9 near,
        ...)``, then the validation examples that duplicate pool examples where there are any; ``removed``: under
        ``dedupe``, which says each part's copies were dropped."""
        line = (f"leakage: {self.exact + self.near:,} of {self.n_test:,} test examples ({100 * self.fraction:.2f}%) duplicate "
                f"pool/validation examples ({how_found(self.exact, self.near, self.threshold, self.exact_only)})")
        if removed and self.exact + self.near:
            line += "; removed from test (--dedupe)"
        if self.val_leaked:
            line += f"; {self.val_leaked:,} of {self.n_val:,} validation examples duplicate pool examples"
            line += ", removed from validation (--dedupe)" if removed else ""
        return line

    def conflicts_summary(self) -> str:
        """One line on label conflicts, or "" when there are none."""
        return conflict_sentence(self.conflicts, self.conflict_rows)


def leakage_warning(report: LeakageReport | None, *, dedupe: bool) -> str | None:
    """The warning a test split gets where over ``LEAKAGE_WARN`` of its rows duplicate training rows (None under it, or
    with ``dedupe``, which dropped them), its fix in the caller's words: ``--dedupe`` on the CLI, ``dedupe=True`` from
    Python (``surface.spoken``)."""
    from headstart.surface import spoken

    if report is None or dedupe or report.fraction <= LEAKAGE_WARN:
        return None
    return (f"{100 * report.fraction:.1f}% of the test set duplicates training data, so test scores are optimistic; "
            + spoken("re-run with --dedupe (headstart check-leakage shows the pairs)",
                     f"{report.exact + report.near:,} of its {report.n_test:,} rows; re-run with dedupe=True "
                     "(headstart.check_leakage shows the pairs)"))


def warn_of_leakage(report: LeakageReport | None, *, dedupe: bool) -> None:
    """``leakage_warning``'s text, where there is one, on the ``headstart`` logger at WARNING: a Python caller reads it
    as the CLI's ``warning:`` line (``python_checks.python_notes``), or in their own logging."""
    said = leakage_warning(report, dedupe=dedupe)
    if said:
        import logging

        logging.getLogger("headstart").warning(said)


def how_found(exact: int, near: int, threshold: float, exact_only: bool) -> str:
    """``3 exact, 9 near, Jaccard >= 0.8``; for images, which are compared pixel for pixel, that only exact copies were
    searched (a word-shingle threshold means nothing for pixels)."""
    if exact_only:
        return f"{exact:,} exact copies; images are compared pixel for pixel, near-duplicates are not searched"
    return f"{exact:,} exact, {near:,} near, Jaccard >= {threshold:g}"


def conflict_sentence(conflicts: int, rows: int) -> str:
    """``label conflicts: 3 inputs carry two or more labels (7 rows) ...``, or "" for none."""
    if not conflicts:
        return ""
    which = "1 input carries" if conflicts == 1 else f"{conflicts:,} inputs carry"
    return (f"label conflicts: {which} two or more different labels ({rows:,} rows); no model can be right on all of them, "
            "so fix or drop them in the data")


def check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ConfigError(f"--threshold must be in (0, 1], got {threshold!r}; try --threshold 0.8")
    return float(threshold)


def find_leakage(data: "Dataset", splits: "Splits", *, threshold: float = DEFAULT_THRESHOLD, examples: int = 5) -> LeakageReport:
    """Count the test examples of ``splits`` that duplicate a pool or validation example.

    Args:
        data: the dataset the split indexes.
        splits: its pool / val / test rows.
        threshold: Jaccard threshold for near-duplicates, in (0, 1].
        examples: how many (test, train, similarity) pairs to keep for display.

    Returns:
        A ``LeakageReport``.

    Raises:
        ConfigError: threshold outside (0, 1] or a negative ``examples``.
    """
    threshold = check_threshold(threshold)
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ConfigError(f"--examples must be an integer >= 0, got {examples!r}; try --examples 5")
    train = np.concatenate([splits.pool, splits.val])
    inputs, threshold = comparable(data, threshold)
    normal = [normalize(x) for x in inputs]  # every row once: the search reads pool, validation and test, conflicts all
    match, similarity, exact = _test_matches(data, splits, threshold, lambda rows: [normal[i] for i in rows])
    near = (match >= 0) & ~exact
    # Near pairs first: exact copies explain themselves, near ones show what the threshold lets through.
    shown = np.concatenate([np.flatnonzero(near), np.flatnonzero(exact)])[:examples]
    pairs = [(_shown(data, splits.test[i]), _shown(data, train[match[i]]), float(similarity[i])) for i in shown]
    n_test = len(splits.test)
    n_exact, n_near = int(exact.sum()), int(near.sum())
    val_match, _, _ = _val_matches(data, splits, threshold, lambda rows: [normal[i] for i in rows])
    conflicts, conflict_rows, conflict_examples = label_conflicts(data, normal, examples)
    return LeakageReport(n_test=n_test, exact=n_exact, near=n_near, fraction=(n_exact + n_near) / max(n_test, 1),
                         examples=pairs, threshold=threshold, data=shown_name(data.name), conflicts=conflicts,
                         conflict_rows=conflict_rows, conflict_examples=conflict_examples,
                         exact_only=data.modality == "image", n_val=len(splits.val),
                         val_leaked=int((val_match >= 0).sum()))


def label_conflicts(data: "Dataset", normal: list[str], examples: int) -> tuple[int, int, list[tuple[str, list[str]]]]:
    """Inputs equal after ``normalize`` (images: equal digests) that carry different labels, over every row.

    Args:
        data: the dataset (its targets and label names).
        normal: what ``comparable`` compares for it, through ``normalize``, one per row.
        examples: how many conflicting inputs to return for display.

    Returns:
        (inputs in conflict, rows holding them, up to ``examples`` of (shown input, its labels by name, sorted)).
        Regression data has none: equal texts with different values are noise, not a contradiction.
    """
    if data.task == "regression" or len(normal) == 0:
        return 0, 0, []
    unique: dict[str, int] = {}
    doc = np.fromiter((unique.setdefault(t, len(unique)) for t in normal), dtype=np.int64, count=len(normal))
    targets = np.asarray(data.targets)
    label = (np.unique(targets.reshape(len(targets), -1), axis=0, return_inverse=True)[1].reshape(-1)
             if targets.ndim > 1 else targets.astype(np.int64))  # multilabel: one id per distinct label set
    pairs = np.unique(np.stack([doc, label], axis=1), axis=0)
    docs, counts = np.unique(pairs[:, 0], return_counts=True)
    texts = list(unique)
    clashing = docs[(counts > 1) & np.asarray([texts[d] != "" for d in docs], dtype=bool)]
    in_conflict = np.isin(doc, clashing)
    shown = []
    for d in clashing[:examples]:
        rows = np.flatnonzero(doc == d)
        shown.append((_shown(data, rows[0]), sorted({_label_name(data, r) for r in rows})))
    return len(clashing), int(in_conflict.sum()), shown


def _label_name(data: "Dataset", row: int) -> str:
    target = np.asarray(data.targets[row])
    if target.ndim:  # multilabel
        return "{" + ", ".join(data.label_names[i] for i in np.flatnonzero(target > 0.5)) + "}"
    return data.label_names[int(target)] if data.label_names else str(target)


def split_leakage(data: "Dataset", config: Any) -> LeakageReport:
    """``find_leakage`` of ``data`` as ``config`` (a ``SplitConfig``) cuts it, measured without ``dedupe``: with dedupe
    on, the test rows it leaves out; what ``fit`` and ``compare`` report before they train.

    The report is kept in ``$HEADSTART_CACHE/leakage/`` under the data's content hash, name and the rows of each part (a
    search takes ~1 s on 12,808 reviews, and every ``train`` on the same data asks the same question); a file that
    cannot be read or written there is measured again, never an error."""
    import dataclasses

    from headstart.data import split_dataset

    splits = split_dataset(data, dataclasses.replace(config, dedupe=False))  # milliseconds: the search is the cost
    path = _cached_path(data, splits)
    report = _read_cached(path)
    if report is None:
        report = find_leakage(data, splits)
        _write_cached(path, report)
    return report


LEAKAGE_CACHE_VERSION = 1  # bump when a change outside the files of CODE changes what find_leakage counts or keeps
CODE = (Path(__file__), Path(__file__).with_name("duplicates.py"))  # an edit to either changes the key by itself


@functools.cache
def code_digest(paths: tuple[Path, ...]) -> str:
    """What the kept reports rest on besides the data: the text of ``paths`` (the matching, the normalisation, what a
    report counts) and the Unicode tables NFKC reads (another Python may have others), so that neither an edit nor an
    upgrade reads a report the old code wrote; a file that cannot be read counts as empty (``LEAKAGE_CACHE_VERSION``
    still keys it)."""
    import unicodedata

    h = hashlib.sha256(unicodedata.unidata_version.encode())
    for path in paths:
        try:
            h.update(path.read_bytes() + b"|")
        except OSError:
            h.update(b"|")
    return h.hexdigest()


def _cached_path(data: "Dataset", splits: "Splits") -> Path:
    """The report's file: keyed by the rows each part holds (not the settings that cut them, so a change in how a
    split is cut never reads a stale report), the data's content and name, the images' file names it shows, and the
    code that searched (``code_digest``)."""
    from headstart.cache import cache_dir

    h = hashlib.sha256(json.dumps([LEAKAGE_CACHE_VERSION, code_digest(CODE), data.hash, data.name]).encode())
    h.update(_parts_bytes(splits))
    if data.modality == "image" and data.origins is not None:
        h.update(json.dumps([str(origin) for origin in data.origins]).encode())
    return cache_dir() / "leakage" / f"{h.hexdigest()[:20]}.json"


def _parts_bytes(splits: "Splits") -> bytes:
    """The rows of pool, validation and test, as the keys of the kept report and of ``_test_matches`` read them."""
    return b"".join(np.ascontiguousarray(part, dtype=np.int64).tobytes() + b"|" for part in (splits.pool, splits.val, splits.test))


_MATCHES: dict[tuple[str, float, bytes], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _test_matches(data: "Dataset", splits: "Splits", threshold: float,
                  texts: Callable[[np.ndarray], list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``match_texts`` of the test rows against pool + validation, ``texts`` giving the normalised texts of rows: one
    search a process for each data, threshold and rows of the parts, which the report (``find_leakage``) and the cut
    (``leaked_test_rows``) of compare or train --dedupe both ask for (~0.5 s on 12,808 reviews)."""
    key = (data.hash, threshold, hashlib.sha256(_parts_bytes(splits)).digest())
    if key not in _MATCHES:
        if len(_MATCHES) >= 4:  # a dataset or two at a time, each cut a way or two: keep memory flat
            _MATCHES.clear()
        _MATCHES[key] = match_texts(texts(np.concatenate([splits.pool, splits.val])), texts(splits.test), threshold)
    return _MATCHES[key]


def _val_matches(data: "Dataset", splits: "Splits", threshold: float,
                 texts: Callable[[np.ndarray], list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``match_texts`` of the validation rows against the pool, as ``_test_matches``: one search a process that the
    report (``find_leakage``: its count) and the cut (``leaked_val_rows``: the rows dedupe drops) both read, so the
    count said is the rows dropped."""
    key = (data.hash, threshold, hashlib.sha256(b"val|" + _parts_bytes(splits)).digest())
    if key not in _MATCHES:
        if len(_MATCHES) >= 4:
            _MATCHES.clear()
        _MATCHES[key] = match_texts(texts(splits.pool), texts(splits.val), threshold)
    return _MATCHES[key]


def _read_cached(path: Path) -> LeakageReport | None:
    """The report kept at ``path``, or None (none kept, unreadable, or not a report of this shape)."""
    try:
        fields = json.loads(path.read_text())
        fields["examples"] = [(str(t), str(s), float(sim)) for t, s, sim in fields["examples"]]
        fields["conflict_examples"] = [(str(t), [str(x) for x in labels]) for t, labels in fields["conflict_examples"]]
        return LeakageReport(**fields)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write_cached(path: Path, report: LeakageReport) -> None:
    from headstart.atomic import write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(report)).encode())
    except OSError:  # a read-only or full cache costs the next train the search again, nothing more
        pass


def leaked_test_rows(data: "Dataset", splits: "Splits", *, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Sorted test rows that duplicate (exactly or nearly) a pool or validation row."""
    inputs, threshold = comparable(data, check_threshold(threshold))
    match, _, _ = _test_matches(data, splits, threshold, lambda rows: [normalize(inputs[i]) for i in rows])
    return np.sort(splits.test[match >= 0])


def leaked_val_rows(data: "Dataset", splits: "Splits", *, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Sorted validation rows that duplicate (exactly or nearly) a pool row: with them a checkpoint, a tuned rate or
    the recommendation would reward memorising what a deduplicated test split no longer rewards."""
    inputs, threshold = comparable(data, check_threshold(threshold))
    match, _, _ = _val_matches(data, splits, threshold, lambda rows: [normalize(inputs[i]) for i in rows])
    return np.sort(splits.val[match >= 0])


def comparable(data: "Dataset", threshold: float) -> tuple[list[Any], float]:
    """What is compared, and at which threshold: the texts; for images a digest of each image's shape and pixels,
    exact copies only (threshold 1.0: near-duplicate images need a perceptual measure, not word shingles)."""
    if data.modality != "image":
        return data.inputs, threshold
    from headstart.data.dataset import input_identity

    return [input_identity(image) for image in data.inputs], 1.0


def _shown(data: "Dataset", row: int) -> str:
    if data.modality == "image":
        shape = "x".join(str(d) for d in np.shape(data.inputs[row]))
        return f"{data.origins[row]} ({shape})" if data.origins is not None else f"image row {int(row)} ({shape})"
    return str(data.inputs[row])
