"""Data as Python users hold it: a pandas DataFrame, ``(texts, labels)``, or a Hugging Face ``datasets.Dataset``.

Everything downstream reads a dataset by name or path (run keys, worker processes, ``evaluate`` of a saved run), so an
in-memory table is written once, content-addressed, as parquet under the headstart cache
(``$HEADSTART_CACHE/data/table-<sha256[:16]>.parquet``) and read back like any user file: the same table always gives
the same path, hash and run keys, and nothing is pickled. Columns are found as for files (``--text-column`` /
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


def as_path(data: Any) -> str:
    """``data`` written to the cache as parquet (once per content); the path, for ``load_dataset``."""
    from headstart.precision import cache_dir

    frame = as_frame(data)
    if frame.empty:
        raise ConfigError("the data holds no rows; pass a table with a text and a label column")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)  # into memory: the file is written below, whole, by rename
    payload = buf.getvalue()  # deterministic for the same table
    digest = hashlib.sha256(payload).hexdigest()[:16]
    folder = cache_dir() / "data"
    path = folder / f"table-{digest}.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(payload)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return str(path)
