"""A user's own test rows: a column named like a split (``split``, ``fold``, ...) read as the split unless turned off,
and a separate test file (``--test-data``) joined to the training file as its test split.

Both end as ``Dataset.given_split`` (``files.read_table``), so a test row is never drawn into training or read by
a selection, and its leakage against the training and validation rows is searched as for any split
(``data.leakage``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.data.labels import missing_label
from headstart.errors import ConfigError, DataError

SPLIT_NAMES = {"train": 0, "training": 0, "validation": 1, "valid": 1, "val": 1, "dev": 1, "test": 2, "testing": 2}
SPLIT_COLUMN_NAMES = ("split", "fold", "subset", "partition")  # a column so named (any case) is read as the split
OFF = "none"  # --split-column none: no column is the split, every row is data for the tool's own split
TEST_FILE_COLUMN = "\x00test-data"  # the joined frame's split column: no user file has a column so named


def is_off(split_column: str | None) -> bool:
    """Whether ``split_column`` turns the split column off (``--split-column none``, any case)."""
    return isinstance(split_column, str) and split_column.strip().lower() == OFF


def check_test_data(test_data: Any, split_column: str | None) -> None:
    """Refuse ``--test-data`` beside ``--split-column``: each names the test rows.

    Raises:
        ConfigError: both given (``--split-column none`` is not a split: it may stand beside it).
    """
    if test_data is not None and split_column is not None and not is_off(split_column):
        raise ConfigError(f"--test-data {str(test_data)!r} and --split-column {split_column!r} both name the test rows; "
                          "drop one (--test-data: the file is the test split; --split-column: a column of train / test "
                          "values in --data)")


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


def with_test_file(frame: "pd.DataFrame", test_frame: "pd.DataFrame", where: str, test_where: str, *,  # noqa: F821
                   needed: list[str]) -> "pd.DataFrame":  # noqa: F821
    """``frame`` (the training file) and ``test_frame`` (``--test-data``) as one table, its ``TEST_FILE_COLUMN`` "train"
    on the first's rows and "test" on the second's; only ``needed`` columns (text, label, group) come from the test file.

    Raises:
        DataError: the test file lacks one of ``needed``.
    """
    import pandas as pd

    missing = [c for c in needed if c not in test_frame.columns]
    if missing:
        raise DataError(f"--test-data {test_where!r} has no column {', '.join(repr(c) for c in missing)}, which "
                        f"{Path(where).name!r} is read by; its columns: {', '.join(map(str, test_frame.columns))}; give it "
                        "the training file's columns")
    joined = pd.concat([frame.assign(**{TEST_FILE_COLUMN: "train"}),
                        test_frame[needed].assign(**{TEST_FILE_COLUMN: "test"})], ignore_index=True)
    return joined
