"""How a dataset's name is shown: the table ``memory.as_path`` writes for data passed from Python has a file name the
user never chose, said as "data passed from Python (<hash>)". A floor below every reader that names its data (files,
leakage, split notes) and below ``memory`` itself, which writes those tables."""

from __future__ import annotations

import re

TABLE = re.compile(r"table-([0-9a-f]+)(?:-[0-9a-f]+)?\.parquet")  # memory.as_path's file name


def shown_name(name: str) -> str:
    """A dataset's name as reports show it: the table ``as_path`` wrote for data passed from Python as "data passed from
    Python (<its hash's first 8>)", since the user never named that file; any other name as it is."""
    match = TABLE.fullmatch(name)
    return f"data passed from Python ({match.group(1)[:8]})" if match else name
