"""Data as Python users hold it: a pandas DataFrame, ``(texts, labels)``, or a Hugging Face ``datasets.Dataset`` or
``DatasetDict`` (its splits kept: ``train`` / ``validation`` / ``test`` become the given split, ``SPLIT_COLUMN``).

Everything downstream reads a dataset by name or path (run keys, worker processes, ``evaluate`` of a saved run), so an
in-memory table is written once as parquet under the headstart cache and read back like any user file, named by the
dataset's content hash (``$HEADSTART_CACHE/data/table-<Dataset.hash>.parquet``): the same rows and labels give the same
path, hash and run keys whatever the column order, dtypes or library versions, and nothing is pickled. A table of the
same data that the reading options read otherwise from the file already there (its columns named otherwise, its labels
'a|b' strings where the new one holds lists) is kept beside it as ``table-<Dataset.hash>-<its bytes' hash>.parquet``,
so each is read back as it was passed. Columns are found as for files (``--text-column`` / ``--label-column`` when the
names are not the usual ones).
"""

from __future__ import annotations

import functools
import hashlib
import contextlib
import contextvars
import io
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from headstart.data.shown import shown_name  # noqa: F401  (its callers read it here too)
from headstart.errors import ConfigError, HeadstartError
from headstart.python_checks import reword

SPLIT_COLUMN = "split"  # the column a DatasetDict's split names are written to (read back as --split-column)
_CACHED = re.compile(r"'(?:[^']*/)?table-[0-9a-f]+(?:-[0-9a-f]+)?\.parquet'")  # as_path's file, quoted by name or by path


# While as_path reads what it staged, the reading's notes are held back: the caller reads the cached table next and says
# them then, once, under the name the user knows (a note on '.staged-<hash>.parquet' named a file they never saw).
_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("headstart_staged_notes_held", default=False)
logging.getLogger("headstart.data.files").addFilter(lambda record: not _HOLDING.get())


@contextlib.contextmanager
def _notes_held() -> Iterator[None]:
    token = _HOLDING.set(True)
    try:
        yield
    finally:
        _HOLDING.reset(token)


def is_split_dict(data: Any) -> bool:
    """A ``datasets.DatasetDict``: several named splits of one table."""
    return type(data).__module__.startswith("datasets") and isinstance(getattr(data, "column_names", None), dict)


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
    if is_split_dict(data):
        return _splits_frame(data)
    if type(data).__module__.startswith("datasets") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, (tuple, list)) and data and all(isinstance(item, str) for item in data):  # ["a", "b"]: no labels
        texts = f"{len(data)} text{'s' if len(data) != 1 else ''}"
        raise ConfigError(f"data is a {type(data).__name__} of {texts} and no labels; pass (texts, labels), e.g. "
                          "(['a joy to watch', 'dull'], ['fresh', 'rotten']), or a DataFrame with a text and a label column")
    if (isinstance(data, (tuple, list)) and len(data) == 2
            and all(not isinstance(part, str) and (isinstance(part, (list, tuple)) or hasattr(part, "__len__")) for part in data)):
        texts, labels = (list(part) for part in data)
        if len(texts) != len(labels):
            raise ConfigError(f"(texts, labels) must be the same length, got {len(texts)} texts and {len(labels)} labels")
        return pd.DataFrame({"text": texts, "label": labels})
    raise ConfigError(f"data must be a dataset name, a file or folder path, a pandas DataFrame, a datasets.Dataset or "
                      f"(texts, labels); got {type(data).__name__}")


def _splits_frame(splits: Any) -> Any:
    """A DatasetDict's splits as one frame with their names in ``SPLIT_COLUMN`` (``files.SPLIT_NAMES`` reads them).

    Raises:
        ConfigError: a split name that is not train / validation / test (or a spelling of one), or a table that
            already has a column of that name.
    """
    import pandas as pd

    from headstart.data.files import SPLIT_NAMES

    unknown = [name for name in splits if str(name).strip().lower() not in SPLIT_NAMES]
    if unknown:
        raise ConfigError(f"the DatasetDict's split {unknown[0]!r} is not train, validation or test; pass a DatasetDict of "
                          "those (validation is cut from train when absent), or one split, e.g. data['train']")
    frames = []
    for name, part in splits.items():
        frame = part.to_pandas()
        if SPLIT_COLUMN in frame.columns:
            raise ConfigError(f"the DatasetDict's {name!r} split already has a {SPLIT_COLUMN!r} column; rename it, or "
                              "pass one split with --split-column")
        frames.append(frame.assign(**{SPLIT_COLUMN: str(name)}))
    return pd.concat(frames, ignore_index=True)


def as_path(data: Any, **reading: Any) -> str:
    """``data`` written to the cache as parquet, named by its dataset's content hash; the path, for ``load_dataset``.

    Args:
        reading: how to read the table (``specs.file_options``: text / label / group / split columns, task).

    Raises:
        ConfigError: a form it does not take, an empty table, or values parquet cannot hold (mixed types in a column).
        HeadstartError: the table cannot be read as a dataset (``load_dataset``'s errors, naming "the data passed").
    """
    import pyarrow

    from headstart.data import load_dataset
    from headstart.cache import cache_dir

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
    written = hashlib.sha256(buf.getvalue()).hexdigest()[:16]
    staged = _write(folder / f".staged-{written}.parquet", buf.getvalue())
    try:
        with _notes_held():
            data_hash = load_dataset(str(staged), **reading).hash
    except HeadstartError as e:  # the user passed data, not this file: name it so, and leave no left-over behind
        staged.unlink(missing_ok=True)
        reword(e, repr(str(staged)), "the data passed")
        raise
    path = folder / f"table-{data_hash}.parquet"
    if path.exists() and not _reads_as(path, buf.getvalue(), data_hash, reading):
        path = folder / f"table-{data_hash}-{written}.parquet"  # the same data, written so that it reads otherwise
    if path.exists():
        staged.unlink(missing_ok=True)
    else:
        os.replace(staged, path)
    return str(path)


def as_data(data: Any, *, split_column: str | None, **reading: Any) -> tuple[str, str | None]:
    """A dataset name or path as given, or in-memory data written to the cache (``as_path``); with the split column a
    DatasetDict's split names went to.

    Args:
        reading: how to read the table (text / label / group columns, task), as ``load_dataset`` takes them.

    Raises:
        ConfigError: a DatasetDict beside --split-column (its splits are the split already); as ``as_path``.
    """
    if not is_in_memory(data):
        return str(data), split_column
    if is_split_dict(data):
        if split_column is not None:
            raise ConfigError(f"a DatasetDict brings its own splits; drop split_column={split_column!r}")
        split_column = SPLIT_COLUMN
    options = {k: v for k, v in {**reading, "split_column": split_column}.items() if v is not None}  # those set
    return as_path(data, **options), split_column


def staged_eval_data(eval_data: Any, *, source: dict[str, Any] | None) -> Any:
    """``eval_data`` (one dataset, or a list of them) with each DataFrame or ``datasets.Dataset`` in it written to the
    cache (``as_path``) as its path, read by the run's text and label columns (``source``: its data source) where the
    frame has them; names and paths as given.

    Raises:
        ConfigError: as ``as_path``.
    """
    def staged(item: Any) -> Any:
        if not _is_table(item):
            return item
        columns = set(map(str, as_frame(item).columns))
        reading = {k: v for k in ("text_column", "label_column") if (v := (source or {}).get(k)) in columns}
        return as_path(item, **reading)

    return [staged(item) for item in eval_data] if isinstance(eval_data, (list, tuple)) else staged(eval_data)


def has_frames(eval_data: Any) -> bool:
    """Whether ``eval_data`` (one dataset or a list of them) holds in-memory data (``staged_eval_data`` writes it)."""
    items = eval_data if isinstance(eval_data, (list, tuple)) else [eval_data]
    return any(_is_table(item) for item in items)


def _is_table(item: Any) -> bool:
    """A pandas DataFrame or a ``datasets`` object: in-memory data that ``eval_data`` takes (a tuple there is a list
    of datasets, not ``(texts, labels)``)."""
    return type(item).__module__.split(".")[0] in ("pandas", "datasets")


def shown_path(path: str) -> str:
    """``path`` as reports show it: a table ``as_path`` wrote as ``shown_name`` names it, any other as it is."""
    shown = shown_name(Path(path).name)
    return shown if shown != Path(path).name else path


def check_staged_copy(source: dict[str, Any], where: str) -> None:
    """Refuse a run's data ``source`` that is a DataFrame's copy in the cache (``as_path``) which is no longer there
    (``clear_cache("data")``, or a run copied from another machine), saying so and how to write it back: the same
    data passed again to ``load_dataset`` with the run's reading options lands at the same path.

    Args:
        where: the run, for the message ("the run in 'runs/lp'").

    Raises:
        DataError: the copy is gone.
    """
    from headstart.errors import DataError

    path = Path(str(source.get("path", "")))
    if "path" not in source or shown_name(path.name) == path.name or path.exists():
        return
    given = {k: source.get(k) for k in ("text_column", "label_column", "group_column")} | {
        "task": source.get("task") if source.get("task") != "classification" else None,
        "split_column": source.get("split_column") if source.get("split_column") != SPLIT_COLUMN else None}
    arguments = "".join(f", {k}={v!r}" for k, v in given.items() if v is not None)
    raise DataError(f"{where} was fit on {shown_name(path.name)}, a DataFrame whose copy in the cache (in {str(path.parent)!r}) "
                    "is gone (cleared with clear_cache('data'), or the run came from another machine); write it back with "
                    f"headstart.load_dataset(df{arguments}) on the same DataFrame, then try again")


def _reads_as(path: Path, payload: bytes, data_hash: str, reading: dict[str, Any]) -> bool:
    """Whether the table already at ``path`` reads, with ``reading``, as the data just staged (``data_hash``): the same
    bytes, or a table of the same rows whose layout differs (column order, dtypes, a library's version) and that these
    options read the same. Not so for one whose columns are named otherwise, or whose labels are written so that these
    options read other labels ('a|b' strings beside lists, read without task='multilabel')."""
    from headstart.data import load_dataset

    if path.read_bytes() == payload:
        return True
    try:
        with _notes_held():
            return load_dataset(str(path), **reading).hash == data_hash
    except HeadstartError:
        return False


def _write(path: Path, payload: bytes) -> Path:
    """``payload`` at ``path``, written to a new temp file then renamed (``atomic.write_atomic``)."""
    from headstart.atomic import write_atomic

    write_atomic(path, payload)
    return path


def names_passed_data(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (one that takes in-memory data: fit, compare, rank_backbones) whose HeadstartError names the cached
    table ``as_path`` wrote for that data as "the data passed", as ``as_path``'s own reading errors do: the user passed a
    DataFrame, not ``'table-<hash>.parquet'`` ("n=1000 is larger than the training pool of the data passed")."""
    @functools.wraps(function)
    def named(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except HeadstartError as e:
            for cached in dict.fromkeys(_CACHED.findall(str(e))):
                reword(e, cached, "the data passed")
            raise

    return named
