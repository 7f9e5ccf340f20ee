"""Data as Python users hold it: a pandas DataFrame, ``(texts, labels)``, or a Hugging Face ``datasets.Dataset``.

Everything downstream reads a dataset by name or path (run keys, worker processes, ``evaluate`` of a saved run), so an
in-memory table is written once as parquet under the headstart cache and read back like any user file, named by the
dataset's content hash (``$HEADSTART_CACHE/data/table-<Dataset.hash>.parquet``): the same rows and labels give the same
path, hash and run keys whatever the column order, dtypes or library versions, and nothing is pickled. Columns are found as for files (``--text-column`` /
``--label-column`` when the names are not the usual ones).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError


def is_in_memory(data: Any) -> bool:
    """True for the in-memory forms ``as_path`` accepts (a path or a name is a ``str`` / ``Path``)."""
    return not isinstance(data, (str, Path))


def as_frame(data: Any) -> Any:
    """A pandas DataFrame of ``data``.

    Raises:
        ConfigError: a form it does not take, or ``(texts, labels)`` of different lengths.
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if type(data).__module__.startswith("datasets") and hasattr(data, "to_pandas"):
        if not hasattr(data, "column_names") or isinstance(data.column_names, dict):
            raise ConfigError("a DatasetDict holds several splits; pass one split (e.g. data['train']), or concatenate them "
                              "with a split column")
        return data.to_pandas()
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(part, (list, tuple)) or hasattr(part, "__len__") for part in data):
        texts, labels = (list(part) for part in data)
        if len(texts) != len(labels):
            raise ConfigError(f"(texts, labels) must be the same length, got {len(texts)} texts and {len(labels)} labels")
        return pd.DataFrame({"text": texts, "label": labels})
    raise ConfigError(f"data must be a dataset name, a file or folder path, a pandas DataFrame, a datasets.Dataset or "
                      f"(texts, labels); got {type(data).__name__}")


def as_path(data: Any, **reading: Any) -> str:
    """``data`` written to the cache as parquet, named by its dataset's content hash; the path, for ``load_dataset``.

    Args:
        reading: how to read the table (``specs.file_options``: text / label / group / split columns, task).

    Raises:
        ConfigError: a form it does not take, an empty table, or values parquet cannot hold (mixed types in a column).
    """
    import pyarrow

    from headstart.data import load_dataset
    from headstart.precision import cache_dir

    frame = as_frame(data)
    if frame.empty:
        raise ConfigError("the data holds no rows; pass a table with a text and a label column")
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)  # into memory: the file is written below, whole, by rename
    except (pyarrow.ArrowException, ValueError, TypeError) as e:
        raise ConfigError(f"the data cannot be stored as a table ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                          "give each column one type (texts as str, labels all str or all numbers)") from None
    folder = cache_dir() / "data"
    folder.mkdir(parents=True, exist_ok=True)
    staged = _write(folder / f".staged-{hashlib.sha256(buf.getvalue()).hexdigest()[:16]}.parquet", buf.getvalue())
    path = folder / f"table-{load_dataset(str(staged), **reading).hash}.parquet"
    if path.exists():
        staged.unlink(missing_ok=True)
    else:
        os.replace(staged, path)
    return str(path)


def _write(path: Path, payload: bytes) -> Path:
    """``payload`` at ``path``, written to a temp file then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
