"""A user's labelled table as a Dataset: a file read by ``frames.read_frame`` of texts (or text pairs) or image paths.

Columns are given with ``text_column`` / ``label_column`` or guessed when the guess is unambiguous
(a column named like ``text`` / ``label``, else the only string column, a CSV's column of numbers counting as numbers,
as in the same table's parquet). The task follows from the labels: lists (or strings that spell them) -> multilabel,
many distinct numbers -> regression, anything else -> classification.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.columns import (LABEL_NAMES, TEXT_NAMES, find_run_column, guess_notes, label_aside, pick_image_column,
                                    pick_label_column, pick_text_column, string_columns, text_values)
from headstart.data.dataset import Dataset
from headstart.data.frames import LABELLED_TABLE, read_frame
from headstart.data.labels import (decimal_comma, decimal_comma_fix, dropped_note, encode_labels, infer_task, kept_as_class_note,
                                    missing_label, task_fix, task_note)
from headstart.data.own_split import (OFF, SPLIT_NAMES, TEST_FILE_COLUMN, check_test_data, default_split_column, is_off,
                                      with_test_file)
from headstart.data.shown import shown_name
from headstart.errors import ColumnError, DataError

log = logging.getLogger(__name__)  # rows dropped while reading; the CLI prints these as "note: ..." lines


def read_table(path: str | Path, *, text_column: str | None = None, label_column: str | None = None, task: str | None = None,
               group_column: str | None = None, split_column: str | None = None, test_data: str | Path | None = None,
               run_source: dict[str, Any] | None = None) -> Dataset:
    """Load a labelled table file as a Dataset.

    Args:
        path: a table file (``frames.data_files``: csv, tsv, jsonl, json, parquet).
        text_column: column with the input text (guessed when None).
        label_column: column with the label (guessed when None); lists of labels make a multilabel task.
        task: force "classification", "multilabel" or "regression" (inferred when None).
        group_column: rows sharing a value stay on one side of every split (the movie of a review, a patient).
        split_column: the user's own split: train / validation / test per row (``SPLIT_NAMES``); validation is cut from
            train when absent. None: a column named like a split (``own_split.SPLIT_COLUMN_NAMES``) holding only split
            names is read as it, with a note; "none": no column is.
        test_data: a second table with the same columns, every row of it the test split (``--test-data``); this
            file's rows are the pool and validation (refused where a column of it would be read as its split, unless
            ``split_column`` is "none").
        run_source: the data source of a run this file is read against (scored out of domain, an objective term's
            data): where a column is not given, the run's own text (or image) and label columns are read if the file
            has them, with the run's task; guessed otherwise, and the note says the run's column is missing. A file
            holding ``review`` and ``sentence`` is read by the run's ``review``, not by name order.

    Raises:
        DataError: unreadable file, missing column, no usable rows, a single class, an unknown split name.
    """
    check_test_data(test_data, split_column)
    frame = read_frame(path)
    if test_data is not None:
        return _with_test_data(frame, path, Path(test_data), text_column=text_column, label_column=label_column, task=task,
                               group_column=group_column, split_column=split_column)
    return _read(frame, path, text_column=text_column, label_column=label_column, task=task, group_column=group_column,
                 split_column=split_column, run_source=run_source)


def _with_test_data(frame: "pd.DataFrame", path: str | Path, test_data: Path, *, text_column: str | None,  # noqa: F821
                    label_column: str | None, task: str | None, group_column: str | None,
                    split_column: str | None) -> Dataset:
    """``read_table`` of ``path`` with ``test_data`` as its test split: the two tables joined
    (``own_split.with_test_file``), read by the training file's columns, the test file named in the data source.

    Raises:
        DataError: the training file has a column read as its split by default (its test rows would be trained on)
            and ``split_column`` is not "none".
    """
    where = str(path)
    if pick_image_column(frame, text_column, where) is not None:
        raise DataError(f"--test-data applies to tables of texts; {where!r} lists images: put the test images in a table "
                        "with a split column (--split-column)")
    text_col, label_col = _columns(frame, where, text_column=text_column, label_column=label_column)
    own = None if is_off(split_column) else default_split_column(frame, where, taken={text_col, label_col, group_column})[0]
    if own is not None:
        raise DataError(f"--test-data {str(test_data)!r} and column {own!r} of {where!r} both name test rows; pass "
                        f"--split-column none to train on every row of {Path(where).name!r}, or drop --test-data to "
                        f"read {own!r} as the split")
    needed = [*text_col.split(",")] if text_col not in frame.columns else [text_col]
    needed = list(dict.fromkeys([*needed, label_col, *([group_column] if group_column else [])]))
    joined = with_test_file(frame, read_frame(test_data), where, str(test_data), needed=needed)
    dataset = _read(joined, path, text_column=text_column, label_column=label_column, task=task, group_column=group_column,
                    split_column=TEST_FILE_COLUMN, run_source=None)
    source = {k: v for k, v in dataset.source.items() if k != "split_column"}
    return dataclasses.replace(dataset, source={**source, "test_data": str(test_data.resolve())})


def _read(frame: "pd.DataFrame", path: str | Path, *, text_column: str | None, label_column: str | None,  # noqa: F821
          task: str | None, group_column: str | None, split_column: str | None,
          run_source: dict[str, Any] | None) -> Dataset:
    """``read_table`` of ``frame``, read from ``path``."""
    where = str(path)
    split_note = None
    if is_off(split_column):
        split_column = None
    elif split_column is None and run_source is None:  # a file scored against a run is scored whole
        split_column, split_note = default_split_column(frame, where, taken={text_column, label_column, group_column})
        if split_note:
            _said(where, [split_note])
    missing_run_columns = []
    if run_source:
        trained_text, trained_label = run_source.get("text_column"), run_source.get("label_column")
        if text_column is None:
            text_column = find_run_column(frame, trained_text)
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
        own = frame.drop(columns=[split_column]) if split_column is not None and split_column not in (
            text_column, label_column) else frame  # the split is never the guessed text or label
        dataset = _read(own, path, text_column=text_column, label_column=label_column, task=task, group_column=None,
                        split_column=OFF, run_source=None)
        if dataset.modality != "text":
            raise DataError(f"--group-column and --split-column apply to tables of texts; {where!r} lists images")
        kept = _kept_rows(frame, dataset)  # by position: a file's index may repeat (concatenated splits)
        groups = given = None
        for flag, column in (("--group-column", group_column), ("--split-column", split_column)):
            cells = None if column is None else frame[column].to_numpy()
            empty = [] if cells is None else [i for i in np.flatnonzero(kept) if missing_label(cells[i])]
            if empty:
                rows = ", ".join(str(i + 1) for i in empty[:5]) + (", …" if len(empty) > 5 else "")
                fix = ("a group id (its own value for a row that shares none)" if flag == "--group-column"
                       else "train, validation or test")
                raise DataError(f"{flag} {column!r} of {where!r} is empty in {_rows(len(empty))} (row{'s' if len(empty) > 1 else ''} "
                                f"{rows}, counting the first row under the header as 1); give every row {fix}")
        if group_column is not None:
            ids = frame[group_column].to_numpy()[kept]
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
        notes = (*dataset.notes, *([split_note] if split_note else []))
        return dataclasses.replace(dataset, groups=groups, given_split=given, source=source, notes=notes)
    image_col = pick_image_column(frame, text_column, where)
    if image_col is not None:
        return read_image_table(frame, path, image_col, label_column=label_column, task=task)
    text_col, label_col = _columns(frame, where, text_column=text_column, label_column=label_column)
    guessed = frame if text_column else _numbers_read(frame)
    guessed_beside = text_column is None and text_col.lower() not in TEXT_NAMES
    aside = label_aside(string_columns(guessed), label_col) if guessed_beside else None  # the label(s) it was guessed beside
    for note in guess_notes(None if text_column else text_col, None if label_column else label_col, aside=aside):
        log.info("%s: %s", shown_name(Path(where).name), note)
    if missing_run_columns:  # read against a run, by other columns than its own: said, as predict says it
        log.info("%s: reading column %r as the text and %r as the label (%s)", shown_name(Path(where).name), text_col, label_col,
                 "; ".join(missing_run_columns))
    notes = [split_note] if split_note else []  # a column that looks like a split and is not read as one
    if text_column is None or label_column is None:
        notes.append(f"using column {text_col!r} as text and {label_col!r} as label"
                     + (f" ({'; '.join(missing_run_columns)})" if missing_run_columns else ""))
    for column in text_col.split(",") if text_col not in frame.columns else [text_col]:
        _refuse_structured(frame, column.strip(), where)
    texts = text_values(frame, text_col)
    empty = texts == ""
    missing = frame[label_col].map(missing_label)
    dropped = [*([f"dropped {_rows(int(empty.sum()))} with empty text"] if empty.any() else []),
               *([dropped_note(frame.loc[missing & ~empty, label_col].tolist())] if (missing & ~empty).any() else [])]
    notes += _said(where, dropped)
    keep = ~(empty | missing)
    if keep.sum() == 0:
        raise DataError(f"{where!r} has no rows with both text ({text_col!r}) and label ({label_col!r})")
    texts = texts[keep].tolist()
    labels = frame.loc[keep, label_col].tolist()
    comma = None if task else decimal_comma(labels)
    if comma:  # read as a class per value, or as free text: neither is what a column of numbers means
        as_classes = task_fix("classification")
        raise DataError(f"label column {label_col!r} of {where!r} looks numeric, but {decimal_comma_fix(comma)} to predict "
                        "numbers" + (f"; or {as_classes} to read each value as a class" if as_classes else ""))
    given, task = task, task or infer_task(labels)
    source = {"path": str(Path(path).resolve()), "text_column": text_col, "label_column": label_col, "task": task,
              "pair": text_col not in frame.columns}  # "a,b" two columns read as a pair; a column so named is one
    targets, names, label_notes = encode_labels(labels, task, where, label_col)
    notes += _said(where, [n for n in (task_note(labels, task, given),
                                       kept_as_class_note(labels) if task == "classification" else None, *label_notes) if n])
    return Dataset(name=Path(path).name, inputs=texts, targets=targets, task=task, label_names=names, source=source, notes=tuple(notes))


def _columns(frame: "pd.DataFrame", where: str, *, text_column: str | None,  # noqa: F821
             label_column: str | None) -> tuple[str, str]:
    """The text and label columns of a table of texts: as given, else guessed (``columns.pick_text_column`` /
    ``pick_label_column``); the one place a training file's columns are decided, with or without ``--test-data``.

    Raises:
        DataError: a file read as one column, one with no header row, a column given that is not there or none to
            guess.
    """
    if len(frame.columns) == 1:  # no label column to name: --label-column cannot help
        header = frame.columns[0]
        raise DataError(f"{where!r} was read as one column ({header!r}); "
                        + (_separator_fix(where, header, frame[header]) or f"to train or score, give {LABELLED_TABLE}"))
    headerless = _no_header_fix(frame, where) if text_column is None or label_column is None else None
    if headerless and headerless[0]:  # a header that is a value of its own column: the guess would train without that row
        raise DataError(headerless[1])
    try:
        text_col = pick_text_column(frame if text_column else _numbers_read(frame), text_column, where,
                                    label_column=label_column)
        return text_col, pick_label_column(frame, label_column, text_col, where, text_given=text_column is not None)
    except ColumnError:
        if headerless:  # column names that read as a text: "cannot tell which column" would be no help
            raise DataError(headerless[1]) from None
        raise


def _refuse_structured(frame: "pd.DataFrame", column: str, where: str) -> None:  # noqa: F821
    """Refuse a text column holding JSON objects or arrays in some rows (a column of objects in every row is read field
    by field: ``frames.nested_fields``): their Python text is no input to learn from.

    Raises:
        DataError: naming the column and its first such row.
    """
    structured = [i for i, v in enumerate(frame[column].tolist()) if isinstance(v, (dict, list))]
    if structured:
        value = frame[column].tolist()[structured[0]]
        raise DataError(f"text column {column!r} of {where!r} holds a JSON {'object' if isinstance(value, dict) else 'array'}, "
                        f"not text, in {_rows(len(structured))} (row {structured[0] + 1}: {json.dumps(value, default=str)[:60]}); "
                        "write each row's text as a string")


LONG_HEADER = 6  # words in a column name that reads as a row's text, not a header (a survey's question may be as long)


def _no_header_fix(frame: "pd.DataFrame", where: str) -> tuple[bool, str] | None:  # noqa: F821
    """(sure, message) where a .csv / .tsv's column names read as a row of data, else None: sure where a name is also
    a value of its own column (a label, ``rotten``), unsure where a name is only long text (used where no column can be
    guessed); never where a name is a column name headstart knows (``text``, ``label``: ``TEXT_NAMES``, ``LABEL_NAMES``). The message says the file seems to have no header row and gives the line to add."""
    if Path(where).suffix.lower() not in (".csv", ".tsv") or len(frame.columns) < 2:
        return None
    if any(str(c).strip().lower() in TEXT_NAMES + LABEL_NAMES for c in frame.columns):
        return None  # a header ("text,label"), though the rows repeat it (files concatenated with theirs) or add a column
    values = {c: {str(v).strip() for v in frame[c].dropna().tolist()} for c in frame.columns}
    repeated = [c for c in frame.columns if str(c).strip() in values[c]]
    long = [c for c in frame.columns if len(str(c).split()) >= LONG_HEADER]
    if not repeated and not long:
        return None
    names, taken = [], set()
    for i, column in enumerate(frame.columns, start=1):
        role = "text" if column in long else "label" if column in repeated else f"column{i}"
        names.append(role if role not in taken else f"{role}{i}")
        taken.add(role)
    shown = ", ".join(repr(str(c) if len(str(c)) <= 40 else str(c)[:37] + "...") for c in frame.columns)
    why = (f"{repeated[0]!r} is also a value of its own column" if repeated
           else f"{str(long[0])[:37] + '...' if len(str(long[0])) > 40 else long[0]!r} reads as a text")
    sep = "\t" if Path(where).suffix.lower() == ".tsv" else ","
    return bool(repeated), (f"{where!r} seems to have no header row: its first line ({shown}) reads as data ({why}); add a "
                            f"header line naming the columns as its first line, e.g. sed -i '1i {sep.join(names)}' "
                            f"{Path(where).name}")


def _said(where: str, notes: list[str]) -> list[str]:
    """``notes`` (rows dropped, how the labels were read), each logged as "FILE: note" (the CLI prints it as a "note: ..."
    line) as it is made: a text table and a table of image paths say them alike."""
    for note in notes:
        log.info("%s: %s", shown_name(Path(where).name), note)
    return notes


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def _numbers_read(frame: "pd.DataFrame") -> "pd.DataFrame":  # noqa: F821
    """``frame`` with each column of strings that all read as numbers (a CSV's ``0`` / ``1``, read as text so that labels
    keep their spelling) as numbers: which column holds the text is then guessed as in the parquet or JSONL of the
    same table, where those are numbers. For the guess only; the data is read from ``frame`` itself."""
    import pandas as pd

    numeric = {}
    for column in frame.columns:
        present = frame[column].dropna()  # a CSV's empty cell is NaN, not a string
        if len(present) and present.dtype == object and present.map(lambda v: isinstance(v, str)).all():
            if pd.to_numeric(present.str.strip(), errors="coerce").notna().all():
                numeric[column] = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    return frame.assign(**numeric) if numeric else frame


def _separator_fix(path: str, header: str, values: "pd.Series") -> str | None:  # noqa: F821
    """What to do with a .csv / .tsv whose one column reads as several space-separated ones, else None: its header and
    every row split at spaces into as many fields (a header "review text" over reviews of any length is one column)."""
    suffix, names = Path(path).suffix.lower(), header.split()
    if suffix not in (".csv", ".tsv") or len(names) < 2 or values.empty or any(len(str(v).split()) != len(names) for v in values):
        return None
    read = "a tab" if suffix == ".tsv" else "a comma, semicolon, tab or pipe"
    return (f"it looks space-separated, and a {suffix} is split at {read}: re-save it comma-separated as a .csv "
            f"(header {','.join(names)})")


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
        log.info("%s: %s", shown_name(Path(where).name), note.replace("besides the text", "besides the images"))
    empty = frame[image_col].map(lambda v: not isinstance(v, str) or not v.strip())
    missing = frame[label_col].map(missing_label)
    notes = [f"using column {image_col!r} as images and {label_col!r} as label"] if label_column is None else []
    dropped = [*([f"dropped {_rows(int(empty.sum()))} with no image path"] if empty.any() else []),
               *([dropped_note(frame.loc[missing & ~empty, label_col].tolist())] if (missing & ~empty).any() else [])]
    notes += _said(where, dropped)
    keep = ~(empty | missing)
    if keep.sum() == 0:
        raise DataError(f"{where!r} has no rows with both an image ({image_col!r}) and a label ({label_col!r})")
    labels = frame.loc[keep, label_col].tolist()
    given, task = task, task or infer_task(labels)
    targets, names, label_notes = encode_labels(labels, task, where, label_col)
    notes += _said(where, [n for n in (task_note(labels, task, given),
                                       kept_as_class_note(labels) if task == "classification" else None, *label_notes) if n])
    named = frame.loc[keep, image_col].tolist()
    images = resolve_image_paths(named, Path(path))
    source = {"path": str(Path(path).resolve()), "text_column": image_col, "label_column": label_col, "task": task}
    return Dataset(name=Path(path).name, inputs=images, targets=targets, task=task, label_names=names, source=source,
                   notes=tuple(notes), modality="image", origins=tuple(str(p).strip() for p in named))
