"""Inputs to predict on: a table's text or image column (or a pair of text columns), a .txt of one input a line, image
files or folders, or stdin."""

from __future__ import annotations

import functools
import logging
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.columns import (LABEL_NAMES, find_run_column, pair_columns, pick_image_column, pick_text_column,
                                    text_values)
from headstart.data.frames import decode_utf8, input_lines, nested_fields, read_frame
from headstart.errors import DataError
from headstart.python_checks import python_named
from headstart.surface import on_cli

log = logging.getLogger("headstart.data.files")  # as files.py's notes: the CLI prints them as "note: ..." lines


@functools.partial(python_named, inside=False)  # headstart predict reads through it, its notes naming flags
def read_inputs(path: str | Path, *, text_column: str | None = None, run_column: str | None = None) -> list[str]:
    """Read raw inputs for prediction: a table (its text column: ``text_column``, else the run's ``run_column`` where
    the table has it, else guessed), a .txt file, or '-' for stdin. A row with empty text (a blank line) has nothing to
    predict from: it is dropped, said in a note on stderr, so the texts after it move up a place; ``read_input_rows``
    gives each text its row's other columns (an id) to match predictions back to rows."""
    return read_input_rows(path, text_column=text_column, run_column=run_column)[0]


@functools.partial(python_named, inside=False)
def read_input_rows(path: str | Path, *, text_column: str | None = None, run_column: str | None = None,
                    run_file: str | None = None, run: str | Path | None = None,
                    eval_refusal: Callable[[], str | None] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The inputs to predict on (as ``read_inputs``) and each one's other columns, which prediction does not read but
    carries into its output (an id, a date, the answers): JSON-ready, a missing value as None; none for stdin or .txt.
    A row dropped for its empty text drops its columns too, so ``zip(predict(run, texts), columns)`` pairs each
    prediction with its own row.

    Args:
        text_column: the table's text column (``"a,b"``: a pair), as given; it wins.
        run_column: the column the run was trained on (its spec's ``data_source``): read where the table has it, so
            a table holding both ``review`` and ``sentence`` is read by the run's ``review``, not by name order.
        run_file: the file the run trained on (its spec's ``data_source`` path): a table that is it, or a copy, is
            scored by ``headstart evaluate RUN`` (its test split), which the note on its label column names instead of
            ``--eval-data``, which refuses the run's own data.
        eval_refusal: what ``headstart evaluate RUN --eval-data PATH --eval-rows all`` refuses of this table (its
            message), None where it scores it; asked only of a table holding a label column, so the note names that
            command only where it is accepted (labels the run has), and says why not otherwise.
    """
    if str(path) == "-":
        import pandas as pd

        lines = text_values(pd.DataFrame({"text": stdin_lines()}), "text").tolist()  # as a .txt of this text reads
        if not lines:
            raise DataError("standard input holds no text to predict on; give one input per line")
        return lines, [{} for _ in lines]
    frame, fields = _read_inputs(path)
    trained = find_run_column(fields, run_column) if text_column is None else None
    column = trained or pick_text_column(fields, text_column, str(path))
    if text_column is None and trained is None and column != "text" and len(fields.columns) > 1:  # a guess: said
        missing = f" (the run's own text column {run_column!r} is not in it)" if run_column else ""
        log.info("%s: reading column %r as the text to predict on%s; --text-column NAME picks another", Path(path).name,
                 column, missing)
    texts = text_values(fields, column)
    if not len(texts):
        raise DataError(f"{str(path)!r} has no rows to predict on (only its header); add one input per row")
    used = {column} if column in frame.columns else {part.strip() for part in column.split(",")}
    empty = (texts == "").to_numpy()
    if empty.all():
        raise DataError(f"{str(path)!r} has no text to predict on: column {column!r} is empty in every row; "
                        "--text-column NAME picks another")
    if empty.any():  # no input to predict on, as a .txt's blank line: dropped, and said where, as evaluate drops them
        _say_dropped(path, empty, "with empty text", "row with text",
                     "headstart.data.read_input_rows(path) gives each input its row's other columns (an id)")
        frame, texts = frame[~empty], texts[~empty]
    texts = texts.tolist()
    labels = [c for c in frame.columns if c not in used and str(c).lower() in LABEL_NAMES]
    named = shlex.quote(str(run)) if run is not None else "RUN"  # the command to copy, for the run predicting
    if labels and _same_file(path, run_file):  # --eval-data refuses the run's own data: its test split is the score
        log.info("%s: its column %r is carried into the output but not read; this is the run's own data: headstart "
                 "evaluate %s scores the run on its test split (the rows it never trained or chose on)",
                 Path(path).name, labels[0], named)
    elif labels and (refused := eval_refusal() if eval_refusal else None):  # e.g. -1/0/1 for a rotten/fresh run
        log.info("%s: its column %r is carried into the output but not read; evaluate cannot score the run on "
                 "this file as it is: %s", Path(path).name, labels[0], refused)
    elif labels:  # prediction reads the text only: say so where the file also holds answers, and what scores them
        log.info("%s: its column %r is carried into the output but not read; to score the run on these labels: headstart "
                 "evaluate %s --eval-data %s --eval-rows all (every row of the file; without --eval-rows all it scores a "
                 "seeded test split, a fifth of its rows, as every --eval-data dataset is cut)",
                 Path(path).name, labels[0], named, shlex.quote(str(path)))
    return texts, other_columns(frame, used, as_text=_delimited(path))


@functools.partial(python_named, inside=False)  # headstart predict reads through it, its notes naming flags
def read_pair_rows(path: str | Path, *, pair: tuple[str, str],
                   text_column: str | None = None) -> tuple[list[tuple[str, str]], tuple[str, str], list[dict[str, Any]]]:
    """The text pairs to predict on for a run trained on the columns ``pair``, the two columns they came from, and each
    row's other columns (as ``read_input_rows``). A table is read by ``text_column`` ("FIRST,SECOND"), else by the run's
    two columns; stdin ('-') and a .txt hold one pair a line, the two texts split by a tab (their names: ``pair``).

    Raises:
        DataError: a single text where a pair is read: a line without its tab, a table without both columns, or a
            ``text_column`` naming one column.
    """
    trained = ",".join(pair)
    if str(path) == "-" or Path(path).suffix.lower() == ".txt":
        where = "standard input" if str(path) == "-" else repr(str(path))
        lines = stdin_lines() if str(path) == "-" else read_frame(path, labelled=False)["text"].astype(str).tolist()
        if not lines:
            raise DataError(f"{where} holds no text to predict on; give one pair a line: {pair[0]}<TAB>{pair[1]}")
        bad = next((i for i, line in enumerate(lines) if line.count("\t") != 1), None)
        if bad is not None:
            tabs = lines[bad].count("\t")
            raise DataError(f"line {bad + 1} of {where} holds {'no tab' if not tabs else f'{tabs} tabs'}: this run reads text "
                            f"pairs ({trained}), one a line as {pair[0]}<TAB>{pair[1]}, e.g. printf 'a film about x\\ta "
                            "film\\n' | headstart predict RUN -")
        halves = [line.split("\t") for line in lines]
        pairs = [(a.strip(), b.strip()) for a, b in halves]
        empty = next((i for i, (a, b) in enumerate(pairs) if not a or not b), None)
        if empty is not None:
            raise DataError(f"line {empty + 1} of {where} has an empty text on one side of its tab; a pair needs both: "
                            f"{pair[0]}<TAB>{pair[1]}")
        return pairs, pair, [{} for _ in pairs]
    frame, fields = _read_inputs(path)
    columns = ", ".join(map(str, fields.columns))
    if text_column is not None:
        given = pair_columns(text_column) if text_column not in fields.columns else None
        if given is None:
            raise DataError(f"--text-column {text_column!r} names one column, but this run reads text pairs (trained on "
                            f"{trained}); name two columns of {str(path)!r}: --text-column FIRST,SECOND (columns: "
                            f"{columns})")
        column = pick_text_column(fields, ",".join(given), str(path))
    else:
        column = find_run_column(fields, trained)
        if column is None:
            missing = [c for c in pair if c not in fields.columns]
            raise DataError(f"{str(path)!r} lacks {', '.join(map(repr, missing))}: this run reads text pairs (trained on "
                            f"{trained}; columns here: {columns}); give a table with both, or name its two columns: "
                            "--text-column FIRST,SECOND")
    names = pair_columns(column)
    texts = text_values(fields, column)
    if not len(texts):
        raise DataError(f"{str(path)!r} has no rows to predict on (only its header); add one pair per row")
    empty = (texts == "").to_numpy()
    if empty.all():
        raise DataError(f"{str(path)!r} has no pair to predict on: {names[0]!r} or {names[1]!r} is empty in every row")
    if empty.any():  # as read_input_rows drops a row with empty text
        _say_dropped(path, empty, "missing a text of the pair", "full pair",
                     "the third value read_pair_rows returns holds each pair's other columns (an id)")
        frame, fields = frame[~empty], fields[~empty]
    pairs = list(zip(text_values(fields, names[0]).tolist(), text_values(fields, names[1]).tolist()))
    return pairs, names, other_columns(frame, set(names), as_text=_delimited(path))


def _read_inputs(path: str | Path) -> tuple["pd.DataFrame", "pd.DataFrame"]:  # noqa: F821
    """A table of inputs as read (each JSON object whole in its column: carried into the output as it is) and the
    same rows with those objects read field by field (``frames.nested_fields``), where the text column is chosen:
    ``--text-column data.review`` names a field as a training table's flag does."""
    frame = read_frame(path, labelled=False, fields=False)
    return frame, nested_fields(frame)


def _say_dropped(path: str | Path, empty: np.ndarray, why: str, kept: str, columns: str) -> None:
    """The note for table rows dropped before predicting (``empty``: (rows,) bool), naming the first of them;
    ``columns``: where a Python caller finds each kept row's other columns."""
    rows = [str(i + 1) for i in np.flatnonzero(empty)]
    shown = ", ".join(rows[:5]) + (", …" if len(rows) > 5 else "")
    if on_cli():
        after = f"the output has a row per {kept}, each with its other columns, so its row numbers are not the input's"
    else:  # a Python caller zips predictions with rows: the list is shorter than the file
        after = f"the inputs after {'it' if len(rows) == 1 else 'them'} move up; {columns} to match predictions back to rows"
    log.info("%s: dropped %d row%s %s (data row %s): %s", Path(path).name, len(rows), "" if len(rows) == 1 else "s", why,
             shown, after)


def _same_file(path: str | Path, other: str | None) -> bool:
    """``path`` is the file ``other`` names, or a byte-for-byte copy of it."""
    import filecmp

    try:
        return other is not None and (Path(path).resolve() == Path(other).resolve()
                                      or filecmp.cmp(path, other, shallow=False))
    except OSError:  # the run's file moved or went: nothing to compare with
        return False


def stdin_lines() -> list[str]:
    """The non-blank lines of standard input, split as a .txt file's are (``input_lines``: at "\\n" only, so a lone
    "\\r" stays inside its line) after a UTF-8 byte-order mark is dropped.

    Raises:
        DataError: input that is not UTF-8.
    """
    import sys

    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    return input_lines(decode_utf8(raw, "standard input"), "standard input")


def other_columns(frame: "pd.DataFrame", used: set[str], *, as_text: bool = False) -> list[dict[str, Any]]:  # noqa: F821
    """Each row's columns outside ``used``, in the table's order, as JSON-ready values (NaN / NaT as None, dates as
    ISO text, numpy scalars as Python's). ``as_text``: the frame is a CSV / TSV's, every cell read as text; a column
    whose every value spells a number (an id) is carried as numbers, as the same table's JSONL or parquet carries it."""
    import pandas as pd

    rest = [c for c in frame.columns if c not in used]
    if not rest:
        return [{} for _ in range(len(frame))]
    if as_text:
        frame = frame[rest].assign(**{c: frame[c].map(_number) for c in rest if _spelled_numbers(frame[c])})

    def plain(v: Any) -> Any:
        if v is None or (not isinstance(v, (list, dict, np.ndarray)) and bool(pd.isna(v))):
            return None
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v if isinstance(v, (str, int, float, bool, list, dict)) else str(v)

    return [{c: plain(v) for c, v in zip(rest, values)} for values in frame[rest].itertuples(index=False, name=None)]


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")  # as JSON writes a number back: no "007", "1.50" or "1e3"


def _delimited(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".csv", ".tsv")


def _spelled_numbers(values: "pd.Series") -> bool:  # noqa: F821
    """Whether every present value of a column is a string that spells a number as JSON writes it (a CSV's id column,
    read as text so that labels keep their spelling): carried as numbers, as a JSONL's or parquet's ids are. A column
    with one other value (``A7``, ``007``) stays text, each value as the file spells it."""
    present = [v for v in values.tolist() if v is not None and not (isinstance(v, float) and v != v)]
    return bool(present) and all(isinstance(v, str) and _NUMBER.fullmatch(v) for v in present)


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return float(value) if "." in value else int(value)


@functools.partial(python_named, inside=False)  # headstart predict reads an image run's inputs through it
def read_image_inputs(path: str | Path, *, text_column: str | None = None,
                      run_column: str | None = None) -> tuple[list[str], list[np.ndarray], list[dict[str, Any]]]:
    """Images to predict on, with their file names and each one's other columns (as ``read_input_rows``; none for a
    file or folder): one image file, a folder of them (searched recursively), a table whose ``text_column`` (the
    column of image paths, as ``--text-column`` names it for an image run; else the run's ``run_column`` where the
    table has it, else its only image column) names them, relative to the table, or ``-``: one path per line on
    stdin. ``predict(run, images)`` scores the images; zip its rows with the names and columns.

    Raises:
        DataError: nothing to read, a column that is not the table's or names no image files, or an unreadable image.
    """
    from headstart.data.images import IMAGE_SUFFIXES, read_image

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
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        files = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise DataError(f"{str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if len(files) < len(found):  # a README among the images: said, as a table's dropped rows are
            others = [p.name for p in found if p.suffix.lower() not in IMAGE_SUFFIXES]
            log.info("%s: skipped %d file%s that %s no image (%s%s); only %s are read", path.name, len(others),
                     "" if len(others) == 1 else "s", "is" if len(others) == 1 else "are", ", ".join(others[:3]),
                     ", …" if len(others) > 3 else "", ", ".join(IMAGE_SUFFIXES))
        return [str(p) for p in files], [read_image(p) for p in files], [{} for _ in files]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [str(path)], [read_image(path)], [{}]
    return image_rows(read_frame(path, labelled=False), path, text_column=text_column, run_column=run_column)


def image_rows(frame: "pd.DataFrame", table: Path | None, *, text_column: str | None = None,  # noqa: F821
               run_column: str | None = None) -> tuple[list[str], list[np.ndarray], list[dict[str, Any]]]:
    """A table's images to predict on, as ``read_image_inputs`` reads a table file's: its ``text_column``, else the
    run's ``run_column`` where the table has it, else its only column of image paths; the paths relative to the
    ``table`` file's folder, or to the working directory for a DataFrame (``table`` None, ``predict(run, frame)``).

    Raises:
        DataError: a column that is not the table's or names no image files, no such column, or an unreadable image.
    """
    from headstart.data.images import looks_like_image_paths, resolve_image_paths

    shown = repr(str(table)) if table is not None else "the DataFrame"
    found = (None if text_column is not None else find_run_column(frame, run_column)) or pick_image_column(
        frame, text_column, str(table) if table is not None else "the DataFrame")
    if found is None:
        columns = ", ".join(map(str, frame.columns))
        if text_column is None:
            raise DataError(f"no column of {shown} names image files (columns: {columns}); name the column of "
                            "image paths with --text-column NAME" + (", or give an image or a folder" if table else ""))
        if text_column not in frame.columns:
            raise DataError(f"--text-column {text_column!r} is not a column of {shown} (columns: {columns}); name "
                            "its column of image paths")
        others = [str(c) for c in frame.columns if c != text_column and looks_like_image_paths(frame[c].tolist())]
        example = next((str(v) for v in frame[text_column].tolist() if str(v).strip()), "")
        raise DataError(f"--text-column {text_column!r} names a column of {shown} that holds no image files (e.g. "
                        f"{example[:40]!r}); name its column of image paths"
                        + (f", e.g. --text-column {others[0]}" if others else f" (columns: {columns})"))
    names = [str(v) for v in frame[found].tolist()]
    return names, resolve_image_paths(names, table), other_columns(frame, {found}, as_text=table is not None and _delimited(table))
