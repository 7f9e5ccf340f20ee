"""Labels as read from a file: which task they make, and one identity per class whatever its spelling.

A class label is the same in every process and file format (``canonical_label``), classes come in one total order
(``label_order``), and ``encode_labels`` turns a label column into targets, class names and notes on what was merged.
"""

from __future__ import annotations

import ast
import contextvars
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from headstart.errors import DataError

# Label cells that are a serialised missing value, not a class: pandas' default NA strings (numpy, SQL, Excel, C runtime
# spellings), case ignored. Not "none" or "na": those can be real class names ("no toxicity", "North America"), so they
# stay classes and a note says so (``kept_as_class_note``).
MISSING_LABELS = ("nan", "-nan", "null", "<na>", "n/a", "#n/a", "#n/a n/a", "#na", "1.#ind", "-1.#ind", "1.#qnan", "-1.#qnan")
AMBIGUOUS_LABELS = ("na", "none")  # pandas' other NA strings: kept as classes

MAX_CLASS_IDS = 20  # more distinct whole-number labels than this are read as a regression target (said in a note)


def as_list(value: Any) -> list | None:
    """A label that is a collection (list, tuple, or a numpy array as parquet gives lists) as a list, else None; a
    string that spells a list (``["acting", "music"]`` as JSON, ``['acting', 'music']`` as pandas writes a list column
    into a text table) is one too, so a table of text holds multi-label rows as a format that keeps lists does."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        return _spelled_list(value.strip())
    return None


def single_items(labels: list[Any]) -> list | None:
    """Each label's one element when every label is a one-element list (``[0]``, ``["pos"]``: one label a row, written
    as a list, as a tool that writes every label column as lists does), else None. Such a column is read as the
    classes (or numbers) its elements are; ``--task multilabel`` reads it as tags."""
    items = []
    for v in labels:
        got = as_list(v)
        if got is None or len(got) != 1:
            return None
        items.append(got[0])
    return items or None


def _spelled_list(text: str) -> list | None:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if isinstance(value, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in value):
        return list(value)
    return None


def decimal_comma(labels: list[Any]) -> str | None:
    """The first label written with a decimal comma (``1,5``, as a European spreadsheet saves numbers) when every
    label reads as a number once its comma is a point, else None. Never read as numbers: ``1,500`` may be fifteen
    hundred, so the user says which by writing the file with points."""
    first, grouped = None, True
    for v in labels:
        text = str(v).strip()
        if text.count(",") == 1 and first is None:
            first = text
        if "," in text:  # 1,000 and 10,000 (thousands grouped) are no decimal commas: left as the classes they were
            grouped = grouped and re.fullmatch(r"-?\d{1,3}(,\d{3})+", text) is not None
        try:
            float(text.replace(",", ".", 1) if text.count(",") == 1 and "." not in text else text)
        except ValueError:
            return None
    return None if grouped else first


def decimal_comma_fix(example: str) -> str:
    """What to do about labels like ``example`` (``decimal_comma``), for a message."""
    return (f"its values use a decimal comma ({example!r}): write {example.replace(',', '.')} (in a spreadsheet, save with '.' "
            "as the decimal separator)")


def infer_task(labels: list[Any]) -> str:
    """``multilabel`` when a label is a collection (unless every label is a one-element list: the task of those elements,
    ``single_items``); ``regression`` for numbers that are not all whole or take more than ``MAX_CLASS_IDS`` values;
    else ``classification``. The same data gives the same task in every file format."""
    single = single_items(labels)
    if single is not None:
        return infer_task(single)
    if any(as_list(v) is not None for v in labels):
        return "multilabel"
    numbers = []
    for v in labels:
        try:
            numbers.append(float(str(v).strip()) if isinstance(v, str) else float(v))
        except (TypeError, ValueError):
            return "classification"
    distinct = set(numbers)
    if len(distinct) > MAX_CLASS_IDS or any(not x.is_integer() for x in distinct):
        return "regression"
    return "classification"


# How the command reading the labels takes a task (``task_fix``): --task for train and compare (Python: task=...).
_TASK_FIX: contextvars.ContextVar[Callable[[str], str | None]] = contextvars.ContextVar(
    "headstart_task_fix", default=lambda kind: f"pass --task {kind}")


@contextmanager
def task_fixes(fix: Callable[[str], str | None]) -> Iterator[None]:
    """Labels read in this block name ``fix(kind)`` as the way to read them as ``kind`` (classification, regression,
    multilabel): multitask's ``FILE:COLUMN:regression``; ``no_task_fix`` for none (the notes then say how the labels
    were read, and no fix the command cannot take)."""
    token = _TASK_FIX.set(fix)
    try:
        yield
    finally:
        _TASK_FIX.reset(token)


@contextmanager
def no_task_fix() -> Iterator[None]:
    """Labels read in this block name no way to read them otherwise (``task_fixes`` with none): the command takes no
    --task (adapt's source, continual), the file is scored by a run whose task reads it (evaluate, train and compare
    --eval-data, adapt --target: ``ood.read_elsewhere``), or it is read beside the run's own data, whose task --task
    sets (--retain FILE, a term's data=FILE)."""
    with task_fixes(lambda kind: None):
        yield


def task_fix(kind: str) -> str | None:
    """The words that read labels as ``kind`` in the command at hand (``task_fixes``), None where it takes no task."""
    return _TASK_FIX.get()(kind)


def task_note(labels: list[Any], task: str, given: str | None) -> str | None:
    """The line that says which task the labels were read as, when it was inferred and not obvious: a regression
    target, or classes that are three or more whole numbers (star ratings: classes or a scale, the user's call)."""
    if given is not None or task not in ("regression", "classification"):
        return None
    single = single_items(labels)
    if single is not None:  # [0] / [1]: one label a row, whatever the spelling
        written = f"labels written as one-element lists ({str(labels[0]).strip()!r:.40})"
        as_tags = task_fix("multilabel")
        tags = f"{as_tags} to read each row as a set of tags" if as_tags else ""
        value = task_note(single, task, given)  # a regression target, or star ratings: said of the elements
        if value:
            return f"{written}, one label a row: {value}" + (f"; or {tags}" if tags else "")
        names = sorted({canonical_label(v) for v in single}, key=label_order)
        shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        return f"{written} read as {len(names)} classes ({shown}), one label a row" + (f"; {tags}" if tags else "")
    distinct = {str(v).strip() for v in labels}
    if task == "regression":
        fix = task_fix("classification")
        return (f"labels read as a regression target ({len(distinct)} distinct numeric values)"
                + (f"; {fix} to treat them as classes" if fix else ""))
    numbers = set()
    for v in distinct:
        try:
            numbers.add(float(v))
        except ValueError:
            return None  # names, not numbers: classes, as meant
    if len(numbers) < 3:
        return None  # 0 / 1: classes, as meant
    shown = ", ".join(f"{x:g}" for x in sorted(numbers)[:6]) + (", …" if len(numbers) > 6 else "")
    fix = task_fix("regression")
    return f"labels read as {len(numbers)} classes ({shown}), not as a scale" + (f"; {fix} to predict them as numbers" if fix else "")


def is_null(value: Any) -> bool:
    """Whether a cell holds no value at all: None, a NaN (Python's or numpy's), or pandas' NA or NaT (the empty cell of
    a nullable column, as ``DataFrame.convert_dtypes`` makes), each alike; a list of labels is a value."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set, np.ndarray)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an object whose isna is not one truth value: a value
        return False


def missing_label(value: Any) -> bool:
    """Whether a label cell holds no label: empty, null (``is_null``), or a spelling of a missing value
    (``MISSING_LABELS``)."""
    if is_null(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", *MISSING_LABELS)


def _spellings(values: list[Any]) -> str:
    """``values`` counted by spelling, most first: ``7 'N/A', 6 'NaN'`` (empty cells and nulls as ``empty``)."""
    counts: dict[str, int] = {}
    for v in values:
        key = v.strip() if isinstance(v, str) and v.strip() else "empty"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k if k == 'empty' else repr(k)}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def dropped_note(values: list[Any]) -> str:
    """The note on rows dropped for their label cells ``values`` (each ``missing_label``): how many, and the spellings
    when a cell spells a missing value (``dropped 13 rows with no label (7 'N/A', 6 'NaN')``), so a class that
    happens to be spelled so is seen dropped."""
    count = f"{len(values)} row{'' if len(values) == 1 else 's'}"
    spelled = any(isinstance(v, str) and v.strip() for v in values)
    return f"dropped {count} with no label" + (f" ({_spellings(values)})" if spelled else "")


def kept_as_class_note(labels: list[Any]) -> str | None:
    """A note when a label is ``NA`` or ``None`` (any case), which pandas and other tools read as missing: headstart
    keeps it as a class (it may be one: North America), and the note says how to drop those rows instead."""
    kept = [v for v in labels if isinstance(v, str) and v.strip().lower() in AMBIGUOUS_LABELS]
    if not kept:
        return None
    one = len(kept) == 1
    classes = "a class" if len({v.strip() for v in kept}) == 1 else "classes"
    return (f"read {_spellings(kept)} as {classes}, not as missing labels; to drop {'that row' if one else 'those rows'}, "
            f"empty {'its label cell' if one else 'their label cells'}")


def canonical_label(value: Any) -> str:
    """A class label's identity, the same in every process and file format: surrounding whitespace stripped, and
    numbers written one way (``1``, ``1.0``, `` 1`` and ``1.00`` are all ``"1"``; ``0.5`` is ``"0.5"``)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def label_order(name: str) -> tuple:
    """Total order of class names: numbers by value first, then text; ties (none after ``canonical_label``) by name."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def encode_labels(labels: list[Any], task: str, where: str, column: str) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    """Targets, class names and notes on what was merged. Class order is a pure function of the labels.

    Raises:
        DataError: a regression target that is not numeric; a single class.
    """
    single = single_items(labels) if task != "multilabel" else None
    if single is not None:  # [0] / [1] read as classes (or numbers): each row's one element
        labels = single
    if task == "regression":
        try:
            values = np.asarray([float(v) for v in labels], dtype=np.float64)
        except (TypeError, ValueError):
            comma = decimal_comma(labels)
            if comma:
                raise DataError(f"label column {column!r} of {where!r} is not numeric as written: {decimal_comma_fix(comma)}, "
                                "to predict it as a regression target") from None
            # --task regression given (train), or a regression run's task read into a file it is scored on (no --task)
            fix = ("drop --task regression" if task_fix("classification")
                   else "a regression run is scored on numbers: name a file (or a [label=COLUMN]) that holds them")
            raise DataError(f"label column {column!r} of {where!r} is not numeric, so it cannot be a regression target; {fix}") from None
        bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > np.finfo(np.float32).max))
        if len(bad):  # training on it would diverge and blame the learning rate
            raise DataError(f"label column {column!r} of {where!r} has {len(bad)} non-finite value(s) (first: {labels[bad[0]]!r}, "
                            f"labelled row {bad[0] + 1}); fix or drop those rows")
        return values.astype(np.float32), (), []
    if task == "multilabel":
        lists = [as_list(v) for v in labels]
        _check_joined(labels, lists, where, column)
        sets = [[canonical_label(x) for x in (got if got is not None else str(v).split("|"))] for v, got in zip(labels, lists)]
        names = tuple(sorted({x for s in sets for x in s}, key=label_order))
        index = {n: i for i, n in enumerate(names)}
        multi_hot = np.zeros((len(sets), len(names)), dtype=np.float32)
        for row, s in enumerate(sets):
            multi_hot[row, [index[x] for x in s]] = 1.0
        spelled = [v for v, got in zip(labels, lists) if got is not None and isinstance(v, str)]
        spelled = next((v for v, got in zip(labels, lists) if isinstance(v, str) and got and len(got) > 1),
                       spelled[0] if spelled else None)
        return multi_hot, names, [f"labels written as lists ({spelled!r:.40}) read as {len(names)} tags"] if spelled else []
    as_text = [canonical_label(v) for v in labels]
    raw = [v if isinstance(v, str) else c for v, c in zip(labels, as_text)]  # a float column's 1.0 is how pandas reads 1
    names = tuple(sorted(set(as_text), key=label_order))
    if len(names) < 2:
        raise DataError(f"label column {column!r} of {where!r} has a single class ({names[0]!r}); classification needs at least two")
    spellings: dict[str, set[str]] = {}
    for r, c in zip(raw, as_text):
        spellings.setdefault(c, set()).add(r)
    merged = sorted((r, c) for c, rs in spellings.items() if len(rs) > 1 for r in rs if r != c)
    notes = []
    if merged:
        shown = ", ".join(f"{r!r} as {c!r}" for r, c in merged[:3]) + (f" and {len(merged) - 3} more" if len(merged) > 3 else "")
        notes.append(f"labels written differently were read as one class: {shown}")
    by_case: dict[str, list[str]] = {}
    for name in names:
        by_case.setdefault(name.casefold(), []).append(name)
    cased = [group for group in by_case.values() if len(group) > 1]
    if cased:  # NEG and neg: most likely one class, but a file may mean two; said, not guessed, with each one's rows
        rows = Counter(as_text)
        shown = ", ".join(" / ".join(f"{n!r} ({rows[n]} row{'' if rows[n] == 1 else 's'})" for n in group)
                          for group in cased[:3]) + (f" and {len(cased) - 3} more" if len(cased) > 3 else "")
        common = max(cased[0], key=lambda n: (rows[n], n))
        notes.append(f"labels that differ only in case are read as different classes: {shown}; if each is one class, write "
                     f"it one way in the file (e.g. each {cased[0][0] if cased[0][0] != common else cased[0][1]!r} as "
                     f"{common!r}, its most common spelling)")
    joined = _pipe_note(names) or _pipe_note(names, joiner=",")
    if joined:
        notes.append(joined)
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[v] for v in as_text], dtype=np.int64), names, notes


def _pipe_note(names: tuple[str, ...], *, joiner: str = "|") -> str | None:
    """The line that says classes look like multi-label rows read as combined classes: most classes holding a "|"
    (``joiner``: or a ",", which multilabel refuses, ``_check_joined``) split into labels that are classes of their own
    or appear in another combination (``acting|music`` beside ``acting`` and ``music|plot``)."""
    joined = [n for n in names if joiner in n]
    if not joined:
        return None
    seen: dict[str, int] = {}
    for name in joined:
        for part in {p.strip() for p in name.split(joiner)}:
            seen[part] = seen.get(part, 0) + 1
    single = set(names)
    known = [n for n in joined if all(p.strip() in single or seen[p.strip()] > 1 for p in n.split(joiner))]
    if len(known) * 2 <= len(joined):
        return None
    tags = sorted(single - set(joined) | set(seen), key=label_order)
    shown = ", ".join(tags[:5]) + (", …" if len(tags) > 5 else "")
    fix = task_fix("multilabel")
    said = (f"{len(joined)} of {len(names)} classes join labels with {joiner!r} (e.g. {joined[0]!r}), read as classes of "
            "their own")
    if not fix:
        return said
    how = fix if joiner == "|" else f"join them with '|' and {fix}"
    return f"{said}; if a row can have several labels, {how} to learn each of the {len(tags)} ({shown}) on its own"


def _check_joined(labels: list[Any], lists: list[list | None], where: str, column: str) -> None:
    """Multi-label rows joined by commas (``acting, music``) would each read as one tag: refused, naming the forms read.

    Raises:
        DataError: no row is a list or holds a "|", and some hold a comma.
    """
    texts = [v for v, got in zip(labels, lists) if got is None]
    if len(texts) < len(labels) or any("|" in str(v) for v in texts):
        return
    comma = next((v for v in texts if "," in str(v)), None)
    if comma is not None:
        fix = "|".join(p.strip() for p in str(comma).split(","))
        raise DataError(f"label column {column!r} of {where!r} joins labels with commas ({comma!r}), which multilabel would "
                        f"read as one tag; join them with '|' ({fix!r}) or write a list ({json.dumps(fix.split('|'))})")
