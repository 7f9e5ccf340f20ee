"""A user's own test rows: a column named like a split (``split``, ``fold``, ...) read as the split unless turned off.

It ends as ``Dataset.given_split`` (``files.read_table``), so a test row is never drawn into training or read by
a selection, and its leakage against the training and validation rows is searched as for any split
(``data.leakage``).
"""

from __future__ import annotations

from headstart.data.labels import missing_label

SPLIT_NAMES = {"train": 0, "training": 0, "validation": 1, "valid": 1, "val": 1, "dev": 1, "test": 2, "testing": 2}
SPLIT_COLUMN_NAMES = ("split", "fold", "subset", "partition")  # a column so named (any case) is read as the split
OFF = "none"  # --split-column none: no column is the split, every row is data for the tool's own split


def is_off(split_column: str | None) -> bool:
    """Whether ``split_column`` turns the split column off (``--split-column none``, any case)."""
    return isinstance(split_column, str) and split_column.strip().lower() == OFF


def default_split_column(frame: "pd.DataFrame", where: str, *, taken: set[str]) -> tuple[str | None, str | None]:  # noqa: F821
    """The column read as the split when none is named, and the note that says so (or says why a split-like column is
    not read); ``(None, None)`` for a table with no column named like a split (``SPLIT_COLUMN_NAMES``).

    A column so named is the split when every row holds a split name (``SPLIT_NAMES``, any case) and both train and
    test rows are there; else it is read as an ordinary column, and the note names the flag that would read it.

    Args:
        frame: the table as read.
        where: the file, for the note.
        taken: columns named as the text or label, never the split.
    """
    lowered = {str(c).strip().lower(): c for c in frame.columns if c not in taken}
    column = next((lowered[name] for name in SPLIT_COLUMN_NAMES if name in lowered), None)
    if column is None:
        return None, None
    cells = frame[column].tolist()
    names = [None if missing_label(v) else str(v).strip().lower() for v in cells]
    unknown = sorted({str(v).strip() for v, n in zip(cells, names) if n not in SPLIT_NAMES and n is not None})
    parts = {SPLIT_NAMES.get(n) for n in names}
    if not unknown and None not in names and {0, 2} <= parts:
        return column, (f"reading column {column!r} as the split (its test rows are the test split, never trained on or "
                        f"chosen by; validation {'rows are its own' if 1 in parts else 'is cut from its train rows'}); "
                        "--split-column none reads every row as data to split")
    why = (f"holds {unknown[:3]}" if unknown else "has empty cells" if None in names
           else f"has no {'test' if 2 not in parts else 'train'} rows")
    return None, (f"column {column!r} looks like a split but {why}, so it is read as an ordinary column and the tool cuts "
                  f"its own split; to use it as the split, give every row train, validation or test and pass "
                  f"--split-column {column}")

