"""User data as a Dataset, or as inputs to predict on: a file read by ``frames.read_frame`` (a table, or plain text: one
input per line), a table of image paths, or text on stdin.

Columns are given with ``text_column`` / ``label_column`` or guessed when the guess is unambiguous
(a column named like ``text`` / ``label``, else the only string column). The task follows from the
labels: lists -> multilabel, many distinct numbers -> regression, anything else -> classification.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.dataset import PAIR_SEP, Dataset
from headstart.data.frames import LABELLED_TABLE, decode_utf8, input_lines, read_frame
from headstart.data.labels import encode_labels, infer_task, missing_label, task_note
from headstart.errors import ColumnError, DataError, comma_entries

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "body", "comment", "query", "input")
LABEL_NAMES = ("label", "labels", "category", "class", "target", "y", "sentiment", "rating", "score")

log = logging.getLogger(__name__)  # rows dropped while reading; the CLI prints these as "note: ..." lines


def text_values(frame: "pd.DataFrame", column: str) -> "pd.Series":  # noqa: F821
    """The input text of every row: one column, or two joined as a pair (``"premise,hypothesis"``: ``PAIR_SEP`` between
    them, read by the text backbones as a sentence pair); "" where a part is missing."""
    def clean(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().replace(PAIR_SEP, " ")

    if column in frame.columns:
        return frame[column].map(clean)
    first, second = column.split(",")
    a, b = frame[first.strip()].map(clean), frame[second.strip()].map(clean)
    return ((a + PAIR_SEP + b).where((a != "") & (b != ""), "")).astype(str)


def pick_text_column(frame: "pd.DataFrame", requested: str | None, path: str) -> str:  # noqa: F821
    """The text column (``requested``, or guessed); ``"a,b"`` names a pair of columns (NLI-style premise, hypothesis).

    Raises:
        DataError: a named column that is not there, or no column to guess.
    """
    columns = list(frame.columns)
    if requested is not None and requested not in columns:  # "a,": a pair's column missing, not a column named "a,"
        comma_entries(requested, name="--text-column", noun="column")
    if requested is not None and requested not in columns and requested.count(",") == 1:
        parts = [p.strip() for p in requested.split(",")]
        missing = [p for p in parts if p not in columns]
        if missing or parts[0] == parts[1]:
            raise DataError(f"text columns {requested!r}: {missing[0] if missing else parts[0]!r} is not a second column of "
                            f"{path!r} (columns: {', '.join(columns)}); pass --text-column FIRST,SECOND for a pair")
        return ",".join(parts)
    if requested is not None:
        if requested not in columns:
            raise ColumnError(f"text column {requested!r} not found in {path!r} (columns: {', '.join(columns)})", "text")
        return requested
    lowered = {c.lower(): c for c in columns}
    for name in TEXT_NAMES:
        if name in lowered:
            return lowered[name]
    strings = [c for c in columns if frame[c].map(lambda v: isinstance(v, str)).mean() > 0.9]
    if len(strings) == 1 or (strings and len(frame.columns) == 1):
        return strings[0]
    raise ColumnError(f"cannot tell which column of {path!r} holds the text (columns: {', '.join(columns)})", "text")


def pick_label_column(frame: "pd.DataFrame", requested: str | None, text_column: str, path: str, *,  # noqa: F821
                      text_given: bool = False) -> str:
    """The label column: ``requested``, or guessed (a column named like a label, else the only column besides the text).
    ``text_given``: the text column was named by the user; a label named as a guessed text column is read on, and a
    column of texts is then refused as labels that look like free text, which names the fix (--label-column).

    Raises:
        ColumnError: a named column that is not there or is the named text column, or no column to guess.
    """
    columns = list(frame.columns)
    texts = set(text_column.split(",")) if text_column not in columns else {text_column}
    if requested is not None:
        if requested not in columns:
            raise ColumnError(f"label column {requested!r} not found in {path!r} (columns: {', '.join(columns)})", "label")
        if requested in texts and text_given:  # read on, each text would be a class: "labels look like free text"
            raise ColumnError(f"--text-column {text_column!r} and --label-column {requested!r} name the same column of "
                              f"{path!r}; the label needs a column of its own (columns: {', '.join(columns)})", "label")
        return requested
    lowered = {c.lower(): c for c in columns if c not in texts}
    for name in LABEL_NAMES:
        if name in lowered:
            return lowered[name]
    others = [c for c in columns if c not in texts]
    if len(others) == 1:
        return others[0]
    raise ColumnError(f"cannot tell which column of {path!r} holds the label (columns: {', '.join(columns)})", "label")


def guess_notes(text_col: str | None, label_col: str | None) -> list[str]:
    """What to say of the columns guessed as the only candidate rather than by their name (each None when it was named
    or not guessed): ``text,foo`` trains on ``foo`` as its labels, which the user should know before reading a score."""
    notes = []
    if text_col is not None and text_col.lower() not in TEXT_NAMES:
        notes.append(f"reading column {text_col!r} as the text, the only column of strings")
    if label_col is not None and label_col.lower() not in LABEL_NAMES:
        notes.append(f"reading column {label_col!r} as the label, the only column besides the text")
    return notes


def read_table(path: str | Path, *, text_column: str | None = None, label_column: str | None = None, task: str | None = None,
               group_column: str | None = None, split_column: str | None = None,
               run_source: dict[str, Any] | None = None) -> Dataset:
    """Load a labelled table file as a Dataset.

    Args:
        path: a table file (``frames.data_files``: csv, tsv, jsonl, json, parquet).
        text_column: column with the input text (guessed when None).
        label_column: column with the label (guessed when None); lists of labels make a multilabel task.
        task: force "classification", "multilabel" or "regression" (inferred when None).
        group_column: rows sharing a value stay on one side of every split (the movie of a review, a patient).
        split_column: the user's own split: train / validation / test per row (``SPLIT_NAMES``); validation is cut from
            train when absent.
        run_source: the data source of a run this file is read against (scored out of domain, an objective term's
            data): where a column is not given, the run's own text (or image) and label columns are read if the file
            has them, with the run's task; guessed otherwise, and the note says the run's column is missing. A file
            holding ``review`` and ``sentence`` is read by the run's ``review``, not by name order.

    Raises:
        DataError: unreadable file, missing column, no usable rows, a single class, an unknown split name.
    """
    frame = read_frame(path)
    where = str(path)
    missing_run_columns = []
    if run_source:
        trained_text, trained_label = run_source.get("text_column"), run_source.get("label_column")
        if text_column is None:
            text_column = _run_column(frame, trained_text)
            if text_column is None and trained_text:
                missing_run_columns.append(f"the run's own text column {trained_text!r} is not in it")
        if label_column is None:
            label_column = trained_label if trained_label in frame.columns else None
            if label_column is None and trained_label:
                missing_run_columns.append(f"the run's own label column {trained_label!r} is not in it")
            elif task is None:
                task = run_source.get("task")
    if Path(path).suffix.lower() == ".txt":  # one input a line: nothing to learn from or score against
        raise DataError(f"{where!r} holds unlabelled inputs, one per line, which is what predict reads (headstart predict "
                        f"RUN {where}); to train or score, give {LABELLED_TABLE}")
    for flag, column in (("--group-column", group_column), ("--split-column", split_column)):
        if column is not None and column not in frame.columns:
            raise DataError(f"{flag} {column!r} is not a column of {where!r}; its columns: {', '.join(map(str, frame.columns))}")
    if group_column is not None or split_column is not None:
        dataset = read_table(path, text_column=text_column, label_column=label_column, task=task)
        if dataset.modality != "text":
            raise DataError(f"--group-column and --split-column apply to tables of texts; {where!r} lists images")
        kept = _kept_rows(frame, dataset)  # by position: a file's index may repeat (concatenated splits)
        groups = given = None
        if group_column is not None:
            ids = frame[group_column].to_numpy()[kept]
            missing = [i for i, v in enumerate(ids) if missing_label(v)]
            if missing:
                raise DataError(f"--group-column {group_column!r} of {where!r} is empty in {len(missing)} rows; give every row a "
                                "group id (its own value for a row that shares none)")
            groups = np.unique(np.asarray([str(v) for v in ids]), return_inverse=True)[1].astype(np.int64)
        if split_column is not None:
            given = split_parts(frame[split_column].to_numpy()[kept].tolist(), split_column, where)
        if groups is not None and given is not None:
            spans = [g for g in np.unique(groups) if len(np.unique(given[groups == g])) > 1]
            if spans:
                example = str(frame[group_column].to_numpy()[kept][np.flatnonzero(groups == spans[0])[0]])
                raise DataError(f"{len(spans)} groups of --group-column {group_column!r} have rows in more than one part of "
                                f"--split-column {split_column!r} (e.g. {example!r}); a group must stay on one side")
        source = {**dataset.source, **({"group_column": group_column} if group_column else {}),
                  **({"split_column": split_column} if split_column else {})}
        return dataclasses.replace(dataset, groups=groups, given_split=given, source=source)
    image_col = pick_image_column(frame, text_column, where)
    if image_col is not None:
        return read_image_table(frame, path, image_col, label_column=label_column, task=task)
    if len(frame.columns) == 1:  # no label column to name: --label-column cannot help
        header = frame.columns[0]
        raise DataError(f"{where!r} was read as one column ({header!r}); "
                        + (_separator_fix(where, header, frame[header]) or f"to train or score, give {LABELLED_TABLE}"))
    text_col = pick_text_column(frame, text_column, where)
    label_col = pick_label_column(frame, label_column, text_col, where, text_given=text_column is not None)
    for note in guess_notes(None if text_column else text_col, None if label_column else label_col):
        log.info("%s: %s", Path(where).name, note)
    if missing_run_columns:  # read against a run, by other columns than its own: said, as predict says it
        log.info("%s: reading column %r as the text and %r as the label (%s)", Path(where).name, text_col, label_col,
                 "; ".join(missing_run_columns))
    notes = []
    if text_column is None or label_column is None:
        notes.append(f"using column {text_col!r} as text and {label_col!r} as label"
                     + (f" ({'; '.join(missing_run_columns)})" if missing_run_columns else ""))
    texts = text_values(frame, text_col)
    empty = texts == ""
    missing = frame[label_col].map(missing_label)
    if empty.any():
        notes.append(f"dropped {int(empty.sum())} rows with empty text")
    if (missing & ~empty).any():
        notes.append(f"dropped {int((missing & ~empty).sum())} rows with no label")
    for note in notes:
        if note.startswith("dropped"):
            log.info("%s: %s", Path(where).name, note)
    keep = ~(empty | missing)
    if keep.sum() == 0:
        raise DataError(f"{where!r} has no rows with both text ({text_col!r}) and label ({label_col!r})")
    texts = texts[keep].tolist()
    labels = frame.loc[keep, label_col].tolist()
    given, task = task, task or infer_task(labels)
    source = {"path": str(Path(path).resolve()), "text_column": text_col, "label_column": label_col, "task": task}
    targets, names, label_notes = encode_labels(labels, task, where, label_col)
    notes += [n for n in (task_note(labels, task, given), *label_notes) if n]
    for note in notes[-1 - len(label_notes):]:
        if not note.startswith(("dropped", "using column")):
            log.info("%s: %s", Path(where).name, note)
    return Dataset(name=Path(path).name, inputs=texts, targets=targets, task=task, label_names=names, source=source, notes=tuple(notes))


def _separator_fix(path: str, header: str, values: "pd.Series") -> str | None:  # noqa: F821
    """What to do with a .csv / .tsv whose one column reads as several space-separated ones, else None: its header and
    every row split at spaces into as many fields (a header "review text" over reviews of any length is one column)."""
    suffix, names = Path(path).suffix.lower(), header.split()
    if suffix not in (".csv", ".tsv") or len(names) < 2 or values.empty or any(len(str(v).split()) != len(names) for v in values):
        return None
    read = "a tab" if suffix == ".tsv" else "a comma, semicolon, tab or pipe"
    return (f"it looks space-separated, and a {suffix} is split at {read}: re-save it comma-separated as a .csv "
            f"(header {','.join(names)})")


SPLIT_NAMES = {"train": 0, "training": 0, "validation": 1, "valid": 1, "val": 1, "dev": 1, "test": 2, "testing": 2}


def split_parts(values: list, column: str, where: str) -> np.ndarray:
    """(N,) 0 train / 1 validation / 2 test from a split column's values (case and spaces ignored).

    Raises:
        DataError: a value that names no split, or no train or no test rows.
    """
    names = [str(v).strip().lower() for v in values]
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(f"--split-column {column!r} of {where!r} holds {unknown[:3]}; its values must be train, validation "
                        "(or val, dev) and test")
    parts = np.asarray([SPLIT_NAMES[n] for n in names], dtype=np.int64)
    for part, name in ((0, "train"), (2, "test")):
        if not (parts == part).any():
            raise DataError(f"--split-column {column!r} of {where!r} has no {name} rows; it needs train and test (validation is optional)")
    return parts


def _kept_rows(frame: "pd.DataFrame", dataset: Dataset) -> np.ndarray:  # noqa: F821
    """Which of ``frame``'s rows ``read_table`` kept (it drops rows with empty text or no label), as a boolean mask."""
    text_col, label_col = dataset.source["text_column"], dataset.source["label_column"]
    return ((text_values(frame, text_col) != "") & ~frame[label_col].map(missing_label)).to_numpy()


def pick_image_column(frame: "pd.DataFrame", requested: str | None, path: str) -> str | None:  # noqa: F821
    """The column naming image files (``requested``, or the only such column), or None for a table of texts.

    Raises:
        DataError: several columns name image files and none was chosen.
    """
    from headstart.data.images import looks_like_image_paths

    if requested is not None:
        return requested if requested in frame.columns and looks_like_image_paths(frame[requested].tolist()) else None
    found = [c for c in frame.columns if looks_like_image_paths(frame[c].tolist())]
    if len(found) > 1:
        raise DataError(f"columns {found} of {path!r} all name image files; pass --text-column NAME for the input images")
    return found[0] if found else None


def read_image_table(frame: "pd.DataFrame", path: str | Path, image_col: str, *, label_column: str | None,  # noqa: F821
                     task: str | None) -> Dataset:
    """A table of image paths (relative to the table's folder) and labels as an image Dataset.

    Raises:
        DataError: no usable rows, a missing or unreadable image, a single class.
    """
    from headstart.data.images import resolve_image_paths

    where = str(path)
    label_col = pick_label_column(frame, label_column, image_col, where)
    for note in guess_notes(None, None if label_column else label_col):
        log.info("%s: %s", Path(where).name, note.replace("besides the text", "besides the images"))
    empty = frame[image_col].map(lambda v: not isinstance(v, str) or not v.strip())
    missing = frame[label_col].map(missing_label)
    notes = [f"using column {image_col!r} as images and {label_col!r} as label"] if label_column is None else []
    if empty.any():
        notes.append(f"dropped {int(empty.sum())} rows with no image path")
    if (missing & ~empty).any():
        notes.append(f"dropped {int((missing & ~empty).sum())} rows with no label")
    keep = ~(empty | missing)
    if keep.sum() == 0:
        raise DataError(f"{where!r} has no rows with both an image ({image_col!r}) and a label ({label_col!r})")
    labels = frame.loc[keep, label_col].tolist()
    given, task = task, task or infer_task(labels)
    targets, names, label_notes = encode_labels(labels, task, where, label_col)
    notes += [n for n in (task_note(labels, task, given), *label_notes) if n]
    named = frame.loc[keep, image_col].tolist()
    images = resolve_image_paths(named, Path(path))
    source = {"path": str(Path(path).resolve()), "text_column": image_col, "label_column": label_col, "task": task}
    return Dataset(name=Path(path).name, inputs=images, targets=targets, task=task, label_names=names, source=source,
                   notes=tuple(notes), modality="image", origins=tuple(str(p).strip() for p in named))


def read_inputs(path: str | Path, *, text_column: str | None = None, run_column: str | None = None) -> list[str]:
    """Read raw inputs for prediction: a table (its text column: ``text_column``, else the run's ``run_column`` where
    the table has it, else guessed), a .txt file, or '-' for stdin."""
    return read_input_rows(path, text_column=text_column, run_column=run_column)[0]


def _run_column(frame: "pd.DataFrame", run_column: str | None) -> str | None:  # noqa: F821
    """``run_column`` (the column, or ``"a,b"`` pair, a run was trained on) where ``frame`` holds all of it, else None."""
    if not run_column:
        return None
    parts = [p.strip() for p in str(run_column).split(",")] if run_column not in frame.columns else [run_column]
    return ",".join(parts) if all(p in frame.columns for p in parts) else None


def read_input_rows(path: str | Path, *, text_column: str | None = None,
                    run_column: str | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The inputs to predict on (as ``read_inputs``) and each one's other columns, which prediction does not read but
    carries into its output (an id, a date, the answers): JSON-ready, a missing value as None; none for stdin or .txt.

    Args:
        text_column: the table's text column (``"a,b"``: a pair), as given; it wins.
        run_column: the column the run was trained on (its spec's ``data_source``): read where the table has it, so
            a table holding both ``review`` and ``sentence`` is read by the run's ``review``, not by name order.
    """
    if str(path) == "-":
        import pandas as pd

        lines = text_values(pd.DataFrame({"text": stdin_lines()}), "text").tolist()  # as a .txt of this text reads
        if not lines:
            raise DataError("standard input holds no text to predict on; give one input per line")
        return lines, [{} for _ in lines]
    frame = read_frame(path, labelled=False)
    trained = _run_column(frame, run_column) if text_column is None else None
    column = trained or pick_text_column(frame, text_column, str(path))
    if text_column is None and trained is None and column != "text" and len(frame.columns) > 1:  # a guess: said
        missing = f" (the run's own text column {run_column!r} is not in it)" if run_column else ""
        log.info("%s: reading column %r as the text to predict on%s; --text-column NAME picks another", Path(path).name,
                 column, missing)
    texts = text_values(frame, column).tolist()
    if not texts:
        raise DataError(f"{str(path)!r} has no rows to predict on (only its header); add one input per row")
    used = {column} if column in frame.columns else {part.strip() for part in column.split(",")}
    labels = [c for c in frame.columns if c not in used and str(c).lower() in LABEL_NAMES]
    if labels:  # prediction reads the text only: say so where the file also holds answers, and what scores them
        log.info("%s: its column %r is carried into the output but not read; to score the run on these labels: headstart "
                 "evaluate RUN --eval-data %s (it scores a seeded test split of the file, a fifth of its rows by default, "
                 "as every --eval-data dataset is cut)", Path(path).name, labels[0], path)
    return texts, other_columns(frame, used)


def stdin_lines() -> list[str]:
    """The non-blank lines of standard input, split as a .txt file's are (``input_lines``: at "\\n" only, so a lone
    "\\r" stays inside its line) after a UTF-8 byte-order mark is dropped.

    Raises:
        DataError: input that is not UTF-8.
    """
    import sys

    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    return input_lines(decode_utf8(raw, "standard input"), "standard input")


def other_columns(frame: "pd.DataFrame", used: set[str]) -> list[dict[str, Any]]:  # noqa: F821
    """Each row's columns outside ``used``, in the table's order, as JSON-ready values (NaN / NaT as None, dates as
    ISO text, numpy scalars as Python's)."""
    import pandas as pd

    rest = [c for c in frame.columns if c not in used]
    if not rest:
        return [{} for _ in range(len(frame))]

    def plain(v: Any) -> Any:
        if v is None or (not isinstance(v, (list, dict, np.ndarray)) and bool(pd.isna(v))):
            return None
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v if isinstance(v, (str, int, float, bool, list, dict)) else str(v)

    return [{c: plain(v) for c, v in zip(rest, values)} for values in frame[rest].itertuples(index=False, name=None)]


def read_image_inputs(path: str | Path, *, column: str | None = None,
                      run_column: str | None = None) -> tuple[list[str], list[np.ndarray], list[dict[str, Any]]]:
    """Images to predict on, with their file names and each one's other columns (as ``read_input_rows``; none for a
    file or folder): one image file, a folder of them (searched recursively), a table whose ``column`` (else the
    run's ``run_column`` where the table has it, else its only image column) names them, or ``-``: one path per line
    on stdin.

    Raises:
        DataError: nothing to read, or an unreadable image.
    """
    from headstart.data.images import IMAGE_SUFFIXES, read_image, resolve_image_paths

    if str(path) == "-":  # stdin: one image path per line, split as text inputs are
        names = [line.strip() for line in stdin_lines()]
        if not names:
            raise DataError("no image paths on stdin; give one path per line, or an image, a folder or a table of them")
        return names, [read_image(Path(n)) for n in names], [{} for _ in names]
    path = Path(path)
    if not path.exists():
        raise DataError(f"{str(path)!r} not found; give an image, a folder of images, a table naming them, or - for "
                        "paths on stdin")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return [str(p) for p in files], [read_image(p) for p in files], [{} for _ in files]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [str(path)], [read_image(path)], [{}]
    frame = read_frame(path, labelled=False)
    found = (None if column is not None else _run_column(frame, run_column)) or pick_image_column(frame, column, str(path))
    if found is None:
        raise DataError(f"no column of {str(path)!r} names image files; pass --text-column NAME, or give an image or a folder")
    names = [str(v) for v in frame[found].tolist()]
    return names, resolve_image_paths(names, path), other_columns(frame, {found})
