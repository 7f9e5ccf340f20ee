"""Which columns of a user's table hold the input (a text, a text pair, image paths) and the label: given, or guessed."""

from __future__ import annotations

from typing import Any

from headstart.data.dataset import PAIR_SEP
from headstart.data.frames import nested_paths
from headstart.data.labels import is_null
from headstart.errors import ColumnError, DataError, comma_entries

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "body", "comment", "query", "input")
LABEL_NAMES = ("label", "labels", "category", "class", "target", "y", "sentiment", "rating", "score")


def text_values(frame: "pd.DataFrame", column: str) -> "pd.Series":  # noqa: F821
    """The input text of every row: one column, or two joined as a pair (``"premise,hypothesis"``: ``PAIR_SEP`` between
    them, read by the text backbones as a sentence pair); "" where a part is missing (``labels.is_null``: None, NaN,
    pandas' NA)."""
    def clean(v: Any) -> str:
        return "" if is_null(v) else str(v).strip().replace(PAIR_SEP, " ")

    if column in frame.columns:
        return frame[column].map(clean)
    first, second = column.split(",")
    a, b = frame[first.strip()].map(clean), frame[second.strip()].map(clean)
    return ((a + PAIR_SEP + b).where((a != "") & (b != ""), "")).astype(str)


def pick_text_column(frame: "pd.DataFrame", requested: str | None, path: str, *,  # noqa: F821
                     label_column: str | None = None) -> str:
    """The text column (``requested``, or guessed); ``"a,b"`` names a pair of columns (NLI-style premise, hypothesis).

    A column is guessed by its name (``TEXT_NAMES``), else as the only column of strings besides the label's: one
    named like a label (``LABEL_NAMES``: class names are strings too) or named by ``label_column`` is never the guess,
    so ``tweet`` beside ``label`` is the text (``label_aside`` names what was set aside, for the note), and a table
    whose strings are all labels has no text column. Beside a label, a column whose strings all read as numbers (an
    ``id`` of "1", "2": predict reads a CSV's numbers as strings) is no guess.

    Raises:
        DataError: a named column that is not there, or no column to guess (several candidates: named).
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
            nested_refusal(columns, requested, path, "text")
            raise ColumnError(f"text column {requested!r} not found in {path!r} (columns: {', '.join(columns)})", "text")
        return requested
    lowered = {c.lower(): c for c in columns}
    for name in TEXT_NAMES:
        if name in lowered:
            return lowered[name]
    strings = string_columns(frame)
    labels = label_aside(strings, label_column)  # class names are strings too: never read as the text
    if strings == labels:
        named = f"; {', '.join(repr(c) for c in labels)} is named as a label, not read as the text" if labels else ""
        raise ColumnError(f"no text column in {path!r} (columns: {', '.join(map(str, columns))}{named})", "text")
    texts = [c for c in strings if c not in labels]
    if len(strings) == 1 or (len(texts) == 1 and not _numbers_as_text(frame[texts[0]])):
        return texts[0]
    could = f", {' or '.join(repr(c) for c in texts)}" if 1 < len(texts) < len(columns) else ""  # the others are no text
    raise ColumnError(f"cannot tell which column of {path!r} holds the text{could} (columns: {', '.join(columns)})", "text")


def string_columns(frame: "pd.DataFrame") -> list[str]:  # noqa: F821
    """The columns of strings (more than 90% of their values), in the frame's order: those a text is guessed among."""
    return [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).mean() > 0.9]


def label_aside(strings: list[str], label_column: str | None) -> list[str]:
    """The columns of ``strings`` not read as the text for being the label's: ``label_column``, or named like a label."""
    return [c for c in strings if c == label_column or str(c).lower() in LABEL_NAMES]


def _numbers_as_text(values: "pd.Series") -> bool:  # noqa: F821
    """Every value present reads as a number ("1", " 2.5"): a CSV's ids or scores read as strings, not a text."""
    import pandas as pd

    present = values.dropna().astype(str).str.strip()
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all())


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
            nested_refusal(columns, requested, path, "label")
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


def nested_refusal(columns: list[str], requested: str, path: str, kind: str) -> None:
    """Refuse ``requested`` where it names a field of JSON objects (``frames.nested_fields`` read each of its fields as a
    column, named by its dotted path), naming those paths; return where it names none.

    Raises:
        DataError: ``--text-column data`` where ``data`` holds objects such as {"review": ...}.
    """
    paths = nested_paths(columns, requested)
    if paths:
        shown = ", ".join(paths[:6]) + (", …" if len(paths) > 6 else "")
        raise DataError(f"--{kind}-column {requested!r} of {path!r} holds JSON objects, not {'text' if kind == 'text' else 'a label'}; "
                        f"name one of its fields by its dotted path, e.g. --{kind}-column {paths[0]} (its fields: {shown})")


def guess_notes(text_col: str | None, label_col: str | None, *, aside: list[str] | None = None) -> list[str]:
    """What to say of the columns guessed as the only candidate rather than by their name (each None when it was named
    or not guessed): ``text,foo`` trains on ``foo`` as its labels, which the user should know before reading a score.
    ``aside``: the columns of strings the text was guessed beside, as labels (``label_aside``)."""
    notes = []
    if text_col is not None and text_col.lower() not in TEXT_NAMES and aside:
        labels = f"the label {aside[0]!r}" if len(aside) == 1 else f"{' and '.join(map(repr, aside))}, named as labels"
        notes.append(f"reading column {text_col!r} as the text, the only column of strings besides {labels}; "
                     "--text-column NAME picks another")
    elif text_col is not None and text_col.lower() not in TEXT_NAMES:
        notes.append(f"reading column {text_col!r} as the text, the only column of strings")
    if label_col is not None and label_col.lower() not in LABEL_NAMES:
        notes.append(f"reading column {label_col!r} as the label, the only column besides the text")
    return notes


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


def pair_columns(text_column: str | None) -> tuple[str, str] | None:
    """The two columns of a text pair (``"premise,hypothesis"``, as a run's ``data_source`` keeps it), else None."""
    parts = [p.strip() for p in str(text_column or "").split(",")]
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def run_pair(source: dict[str, Any] | None) -> tuple[str, str] | None:
    """The two columns a run read as a text pair, from its ``data_source``, else None. ``pair`` says it (a table's own
    column named "review, text" is one column, not a pair); a run saved before it did: its text column split at a comma."""
    source = source or {}
    return None if source.get("pair") is False else pair_columns(source.get("text_column"))


def find_run_column(frame: "pd.DataFrame", run_column: str | None) -> str | None:  # noqa: F821
    """``run_column`` (the column, or ``"a,b"`` pair, a run was trained on) where ``frame`` holds all of it, else None."""
    if not run_column:
        return None
    parts = [p.strip() for p in str(run_column).split(",")] if run_column not in frame.columns else [run_column]
    return ",".join(parts) if all(p in frame.columns for p in parts) else None
