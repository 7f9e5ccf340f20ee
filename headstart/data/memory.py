"""Data as Python users hold it: a pandas DataFrame, ``(texts, labels)``, or a Hugging Face ``datasets.Dataset`` or
``DatasetDict`` (its splits kept: ``train`` / ``validation`` / ``test`` become the given split, ``SPLIT_COLUMN``).

Everything downstream reads a dataset by name or path (run keys, worker processes, ``evaluate`` of a saved run), so an
in-memory table is written once as parquet under the headstart cache and read back like any user file, named by the
dataset's content hash and its layout, never by what the cache holds: a table with columns ``text`` and ``label`` that
reads the same with no options is ``$HEADSTART_CACHE/data/table-<Dataset.hash>.parquet``; any other layout (its columns
named otherwise, labels 'a|b' strings read with task='multilabel', a group or split column) is
``table-<Dataset.hash>-<its layout's hash>.parquet`` (``_layout``: the column names, the columns and task read, how the
labels are written), so each is read back as it was passed, and the same DataFrame passed again after
``clear_cache("data")`` lands at the same path. The same rows and labels in the same layout give the same path, hash and
run keys whatever the column order, dtypes or library versions, and nothing is pickled. Columns are found as for files
(``--text-column`` / ``--label-column`` when the names are not the usual ones).
"""

from __future__ import annotations

import functools
import hashlib
import contextlib
import contextvars
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from headstart.arguments import as_list
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
    """``data`` written to the cache as parquet, named by its dataset's content hash and its layout (the module's
    docstring); the path, for ``load_dataset``.

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
            read = load_dataset(str(staged), **reading)
    except HeadstartError as e:  # the user passed data, not this file: name it so, and leave no left-over behind
        staged.unlink(missing_ok=True)
        reword(e, repr(str(staged)), "the data passed")
        raise
    plain = _plain(staged, read, reading)
    path = folder / (f"table-{read.hash}.parquet" if plain else f"table-{read.hash}-{_layout(frame, read.source)}.parquet")
    if path.exists() and (not plain or path.read_bytes() == buf.getvalue() or _reads_plain(path, read)):
        staged.unlink(missing_ok=True)  # a table of the same data and layout: each reads the other's file alike
    else:  # absent, or a plain table written before the names were by layout, holding another layout: ours replaces it
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


def staged_names(value: Any, *, name: str) -> tuple[str, ...]:
    """A keyword that names datasets read beside the run's own (``retain``): one or a list, each a built-in name, a
    file path, or in-memory data (a DataFrame or ``datasets.Dataset``) written to the cache as ``data`` is
    (``as_path``, read with no options, as a named dataset is) and named by that path.

    Raises:
        ConfigError: anything else, in one line naming its type; as ``as_path``.
    """
    items = as_list(value)
    for item in items:
        if not isinstance(item, (str, os.PathLike)) and not _is_table(item):
            raise ConfigError(f"{name} must be a dataset name, a file path or a pandas DataFrame, or a list of them; "
                              f"got {_one_line(item)}, e.g. {name}='drug-reviews' or {name}=[df]")
    return tuple(as_path(item) if _is_table(item) else str(item) for item in items)


def staged_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """Objective terms (``{name: options}``) with each ``data=`` that is in-memory data (``replay[data=...]``: an
    earlier task as a DataFrame) written to the cache as ``data`` is (``as_path``) and named by that path.

    Raises:
        ConfigError: a ``data=`` that is neither a name, a path nor a table, in one line naming its type; as ``as_path``.
    """
    staged = {}
    for term, options in terms.items():
        given = (options or {}).get("data") if isinstance(options, dict) else None
        if given is None or isinstance(given, str):
            staged[term] = options
        elif isinstance(given, os.PathLike):
            staged[term] = {**options, "data": str(given)}
        elif _is_table(given):
            staged[term] = {**options, "data": as_path(given)}
        else:
            raise ConfigError(f"{term}'s data must be a dataset name, a file path or a pandas DataFrame; got "
                              f"{_one_line(given)}, e.g. terms={{{term!r}: {{'data': 'drug-reviews'}}}}")
    return staged


def _one_line(value: Any) -> str:
    """``value`` in a message: its repr where that is one short line, else its type's name."""
    shown = repr(value)
    return shown if "\n" not in shown and len(shown) <= 60 else f"a value of type {type(value).__name__}"


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


def check_staged_copy(source: dict[str, Any], where: str, *, task: str | None = None) -> None:
    """Refuse a run's data ``source`` that is a DataFrame's copy in the cache (``as_path``) which is no longer there
    (``clear_cache("data")``, or a run copied from another machine), saying so and how to write it back: the same
    data passed again to ``load_dataset`` with the run's reading options lands at the same path.

    Args:
        where: the run, for the message ("the run in 'runs/lp'").
        task: the task the run was told to read its labels as (``fit(task=...)``), None where it was inferred: named
            in the advice whatever it is, since labels such as 0.5 / 1.5 read as another task without it.

    Raises:
        DataError: the copy is gone.
    """
    from headstart.errors import DataError

    path = Path(str(source.get("path", "")))
    if "path" not in source or shown_name(path.name) == path.name or path.exists():
        return
    given = {k: source.get(k) for k in ("text_column", "label_column", "group_column")} | {
        "task": task or (source.get("task") if source.get("task") != "classification" else None)}
    arguments = "".join(f", {k}={v!r}" for k, v in given.items() if v is not None)
    split = source.get("split_column")
    call = f"headstart.load_dataset(df{arguments}{f', split_column={split!r}' if split else ''}) on the same DataFrame"
    if split == SPLIT_COLUMN:  # a DatasetDict's splits, or a DataFrame's own column of that name: the DatasetDict names none
        call += f", or headstart.load_dataset(splits{arguments}) on the same DatasetDict"
    raise DataError(f"{where} was fit on {shown_name(path.name)}, a DataFrame whose copy in the cache (in {str(path.parent)!r}) "
                    f"is gone (cleared with clear_cache('data'), or the run came from another machine); write it back with {call}, "
                    "then try again")


def _plain(path: Path, read: Any, reading: dict[str, Any]) -> bool:
    """Whether the table at ``path``, read with ``reading`` as ``read``, is in the layout the plain name
    ``table-<hash>.parquet`` holds: columns ``text`` and ``label``, no group or split column, read the same with no
    options at all (so the labels are written as their task is guessed). Every table of that layout reads every other's
    file alike with its own options, and so does the run's stored data source and the ``load_dataset(df, ...)`` that
    ``check_staged_copy`` advises: the one layout whose tables can share a name whichever of them was written first."""
    source = read.source
    if (source.get("text_column"), source.get("label_column")) != ("text", "label") or source.get("pair") \
            or source.get("group_column") or source.get("split_column"):
        return False
    return not reading or _reads_plain(path, read)


def _reads_plain(path: Path, read: Any) -> bool:
    """Whether the table at ``path``, read with no options, reads as ``read`` (a table in the plain layout) does."""
    from headstart.data import load_dataset

    try:
        with _notes_held():
            guessed = load_dataset(str(path))
    except HeadstartError:
        return False
    return guessed.hash == read.hash and _read_as(guessed.source) == _read_as(read.source)


def _layout(frame: Any, source: dict[str, Any]) -> str:
    """16 hex digits naming how a table not in the plain layout (``_plain``) is read: its column names, the columns and
    task its reading found (its data source, less the path) and how its labels are written (lists, numbers or values,
    so 'a|b' strings read with task='multilabel' and lists read without it part). Tables with the same data and layout
    read each other's file alike with their own options, and neither the column order, the dtypes' widths, a library's
    version nor what the cache holds changes it."""
    import pandas as pd

    label = source.get("label_column")
    labels = frame[label] if label in frame.columns else None
    written = (None if labels is None else "lists" if any(pd.api.types.is_list_like(v) for v in labels.dropna())
               else "numbers" if pd.api.types.is_numeric_dtype(labels) else "values")
    layout = {"columns": sorted(map(str, frame.columns)), "read": _read_as(source), "labels": written}
    return hashlib.sha256(json.dumps(layout, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_as(source: dict[str, Any]) -> dict[str, Any]:
    """A data source less its path: the columns and task a table was read with."""
    return {k: v for k, v in source.items() if k != "path"}


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
