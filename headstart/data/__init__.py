"""Datasets: built-ins shipped in packages, user files, fixed splits and nested stratified subsamples."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from headstart.data.builtin import REGISTRY, load_builtin
from headstart.data.dataset import TASKS, Dataset
from headstart.data.files import read_table
from headstart.data.inputs import read_image_inputs, read_input_rows, read_inputs, read_pair_rows
from headstart.data.images import read_image_folder
from headstart.data.own_split import is_off
from headstart.data.memory import as_data, is_in_memory, names_passed_data, shown_name
from headstart.data.splits import SplitConfig, Splits, split_dataset
from headstart.data.subsamples import subsample
from headstart.errors import ConfigError, DataError
from headstart.python_checks import python_named

__all__ = ["Dataset", "file_hash", "SplitConfig", "Splits", "load_dataset", "read_image_inputs", "read_input_rows", "read_inputs", "read_pair_rows", "split_dataset", "subsample", "REGISTRY"]


@functools.partial(python_named, inside=False)  # adapt and multitask rewrite its --flags in their own terms
def load_dataset(name_or_path: Any, *, text_column: str | None = None, label_column: str | None = None, task: str | None = None,
                 group_column: str | None = None, split_column: str | None = None, test_data: Any = None,
                 run_source: dict | None = None) -> Dataset:
    """Load a built-in dataset by name, a user file by path, a folder of class folders of images
    (see ``headstart datasets``), or in-memory data as ``fit`` takes it (a DataFrame, ``(texts, labels)``, a
    ``datasets.Dataset``: staged in the cache as ``fit`` stages it, and named "data passed from Python (<hash>)").
    ``run_source``: the data source of the run a file is read against (its columns are preferred where the file has
    them: ``files.read_table``); built-in datasets and folders have no columns to choose. ``split_column``: None reads a column named like a split
    (``split``, ``fold``) holding only train / validation / test as the split; "none" reads none. ``test_data``: a file
    (or in-memory data) with the same columns whose rows are the test split (``--test-data``)."""
    if task is not None and task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {task!r}; e.g. --task classification")
    if is_in_memory(name_or_path):
        return _in_memory(name_or_path, text_column=text_column, label_column=label_column, task=task,
                          group_column=group_column, split_column=split_column, test_data=test_data)
    # named as the CLI's flags with their values (``python_named`` writes them as the caller's arguments: text_column='x')
    reading = {"text-column": text_column, "label-column": label_column, "task": task, "group-column": group_column,
               "split-column": None if is_off(split_column) else split_column, "test-data": test_data}
    if Path(name_or_path).is_dir() and name_or_path not in REGISTRY and task == "classification":
        reading["task"] = None  # an image folder's task: the only one it has
    given = [f"--{flag} {value!r}" for flag, value in reading.items() if value]
    applies = f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to files, not to"
    drop = "drop it" if len(given) == 1 else "drop them"
    if name_or_path in REGISTRY:
        if given:
            raise DataError(f"{applies} the built-in dataset {name_or_path!r}, whose columns and task are fixed; {drop}")
        return load_builtin(name_or_path)
    if Path(name_or_path).is_dir():  # root/<class>/<image>: an image folder
        if given:
            raise DataError(f"{applies} {name_or_path!r}, a folder of class folders (images) whose labels are the folder "
                            f"names; {drop}")
        return read_image_folder(name_or_path)
    _refuse_brackets(name_or_path)
    looks_like_file = Path(name_or_path).suffix != "" or "/" in name_or_path or Path(name_or_path).exists()
    if looks_like_file:
        return read_table(name_or_path, text_column=text_column, label_column=label_column, task=task,
                          group_column=group_column, split_column=split_column, test_data=test_data, run_source=run_source)
    return load_builtin(name_or_path)  # raises "unknown dataset … did you mean"


@names_passed_data
def _in_memory(data: Any, *, split_column: str | None, test_data: Any, **reading: Any) -> Dataset:
    """In-memory data staged in the cache (``memory.as_data``) and read from there, named as the user passed it."""
    import dataclasses

    path, split_column = as_data(data, split_column=split_column, **reading)
    test_data = staged_test_data(test_data, **reading)
    dataset = load_dataset(path, **{k: v for k, v in {**reading, "split_column": split_column, "test_data": test_data}.items()
                                    if v is not None})
    return dataclasses.replace(dataset, name=shown_name(dataset.name))


def staged_test_data(test_data: Any, **reading: Any) -> str | None:
    """``test_data`` as a path: in-memory data (a DataFrame, ``(texts, labels)``) staged in the cache as ``fit`` stages
    its data, read by the same columns; a path or None as given."""
    if test_data is None or not is_in_memory(test_data):
        return None if test_data is None else str(test_data)
    columns = {k: v for k, v in reading.items() if k in ("text_column", "label_column") and v is not None}
    return as_data(test_data, split_column=None, **columns)[0]


def _refuse_brackets(name_or_path: str) -> None:
    """Refuse ``reviews.csv[mixed feelings=-]`` (no such file: a mapping in brackets after one), naming where brackets
    are read and how to drop or merge a training file's classes, where it said "data file not found"."""
    if not (name_or_path.endswith("]") and "[" in name_or_path) or Path(name_or_path).exists():
        return
    base = name_or_path[:name_or_path.index("[")].rstrip()
    if base in REGISTRY:
        raise DataError(f"{name_or_path!r}: brackets after a dataset (a label mapping, columns) are read on --eval-data "
                        f"only; the built-in dataset {base!r} is trained on as it is: drop the brackets")
    if Path(base).exists():
        raise DataError(f"{name_or_path!r}: brackets after a file (a label mapping, columns) are read on --eval-data only, "
                        f"not on training data; drop them, and to drop or merge classes edit {base!r} (in its label column, "
                        "delete a class's rows or give them another class's label); columns are named by --text-column "
                        "and --label-column")


def file_hash(name_or_path: str) -> str | None:
    """The content hash of a user file or image folder that a run reads beside its own data (``--retain``,
    ``replay[data=]``, ``ewc[data=]``), so that editing it changes the run's key; None for a built-in dataset (its name
    and pinned package identify it) and for a path that does not exist (loading it says so)."""
    state = file_state(name_or_path)
    return _folder_hash(str(Path(name_or_path).resolve()), state) if isinstance(state, tuple) else state


def file_state(name_or_path: str) -> str | tuple | None:
    """What changes when a user file or image folder does, read without loading it as data: a file's bytes hashed (its
    ``file_hash``), a folder's listing of (file, size, modification time); None for a built-in dataset (its name and
    pinned package identify it) and for a path that does not exist."""
    if name_or_path in REGISTRY or not Path(name_or_path).exists():
        return None
    path = Path(name_or_path).resolve()
    if path.is_file():  # the bytes: cheap next to training, and right however coarse the file system's clock
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*")) if p.is_file())


@functools.lru_cache(maxsize=8)
def _folder_hash(path: str, listing: tuple) -> str:  # a sweep resolves every cell: decode each image folder once
    return load_dataset(path).hash
