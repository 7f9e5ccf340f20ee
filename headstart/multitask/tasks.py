"""The tasks of a multi-task run, one split they agree on, and the rows every run trains and is scored on.

``--tasks`` lists tasks separated by commas; each is a built-in dataset (``drug-reviews``), a data file (its label
column guessed), or ``FILE:COLUMN`` — one label column of a file, so ``reviews.csv:condition,reviews.csv:rating`` is
two tasks on the same texts. A task is classification or regression, scored by accuracy or RMSE.

Tasks may share inputs (drug-reviews, -sentiment and -rating are the same drugs.com reviews), so each task's own
split could put a review in one task's test split and another's training pool. The split here is cut once over the
union of the tasks' inputs, by input identity (a text's characters, an image's pixels), keeping each task's groups
whole: 20% of the distinct inputs (whole groups, seeded, ``SplitConfig``'s fractions) are test, the next 10%
validation, the rest the pool, for every task alike. Each task then keeps at most ``max_test`` of its test rows and
``max_val`` of its validation rows (a seeded draw); the rows over a cap are left out of that task, never moved to its
pool, where they would be another task's test or validation input. The cut reads no label, so it is not stratified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headstart.data import load_dataset, subsample
from headstart.data.builtin import REGISTRY as BUILTIN
from headstart.data.dataset import Dataset
from headstart.data.labels import task_fixes
from headstart.data.splits import SplitConfig, Splits, joint_splits
from headstart.errors import ColumnError, ConfigError, DataError
from headstart.arguments import check_once

KINDS = ("classification", "regression")
METRIC = {"classification": "accuracy", "regression": "rmse"}  # each task's test metric (the report's)


@dataclass(frozen=True)
class Task:
    """One task: its name as written in ``--tasks`` and its own dataset."""

    name: str
    data: Dataset

    @property
    def kind(self) -> str:
        return self.data.task

    @property
    def metric(self) -> str:
        return METRIC[self.data.task]

    def identity(self) -> list[str]:
        return [self.name, self.data.hash]


def split_tasks(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"a,b.csv:label"`` -> ``("a", "b.csv:label")``."""
    from headstart.errors import comma_entries

    if isinstance(text, str):
        return tuple(comma_entries(text, name="--tasks", noun="task"))
    return tuple(str(t).strip() for t in text if str(t).strip())


def load_task(item: str, *, text_column: str | None = None) -> Task:
    """The task ``item`` names: a built-in dataset, a file, or ``FILE:COLUMN``; a ``:classification`` or
    ``:regression`` after it says how to read the labels (numbers are read as a regression target otherwise).

    Raises:
        HeadstartError: an unknown dataset or missing file or column (the loaders' messages), or a multilabel task.
    """
    task = None
    given = item
    head, _, tail = item.rpartition(":")
    if head and tail in KINDS and item not in BUILTIN and not Path(item).exists():  # FILE:COLUMN:classification
        item, task = head, tail
    elif head.count(":") == 1 and Path(head.rpartition(":")[0]).is_file() and not Path(item).exists():
        raise ConfigError(f"task {given!r}: {tail!r} is no kind of task; end it with :{' or :'.join(KINDS)}, or drop it")
    if item not in BUILTIN and ":" in item and not Path(item).exists():
        path, _, column = item.rpartition(":")
        if not Path(path).is_file():
            raise DataError(f"task {item!r}: no file {path!r}; a task is a built-in dataset, a file, or FILE:COLUMN "
                            "(one label column of a file), e.g. reviews.csv:rating")
        if not column:
            raise ConfigError(f"task {item!r} names no column after ':'; write FILE:COLUMN, e.g. {path}:label")
    else:
        path, column = item, None

    def written(kind: str) -> str | None:  # multitask has no --task: the task's own :KIND says it (never multilabel)
        return f"write {path}:{column or 'COLUMN'}:{kind} in --tasks" if kind in KINDS else None

    try:
        with task_fixes(written):
            data = load_dataset(path, label_column=column, text_column=None if path in BUILTIN else text_column, task=task)
    except ColumnError as e:  # a task names its label column after the file, not with --label-column
        fix = f"name it in --tasks as {path}:COLUMN" if e.kind == "label" else "pass --text-column NAME"
        raise DataError(f"{e.problem}; {fix}") from None
    except DataError as e:  # multitask has no --task: the task's own :KIND said it
        if task is None or f"--task {task}" not in str(e):
            raise
        raise DataError(str(e).replace(f"drop --task {task}", f"drop :{task} from {given!r} in --tasks")) from None
    if data.task not in KINDS:
        raise ConfigError(f"task {item!r} is a {data.task} dataset; a multi-task run takes classification and regression "
                          "tasks (one label column each)")
    return Task(item, dataclasses.replace(data, name=item))  # messages about its rows name the task


def load_tasks(text: str | list[str] | tuple[str, ...], *, text_column: str | None = None) -> tuple[Task, ...]:
    """Every task of ``--tasks``.

    Raises:
        ConfigError: fewer than two tasks, a task named twice, or tasks that mix texts and images.
    """
    items = split_tasks(text)
    if len(items) < 2:
        raise ConfigError(f"--tasks needs two or more tasks, got {len(items)} ({','.join(items) or 'none'}); e.g. --tasks "
                          "drug-reviews,drug-reviews-sentiment,drug-reviews-rating")
    check_once("--tasks", items, "task")
    tasks = tuple(load_task(item, text_column=text_column) for item in items)
    modalities = {t.data.modality for t in tasks}
    if len(modalities) > 1:
        raise ConfigError(f"--tasks mixes {' and '.join(sorted(modalities))} tasks; one backbone reads one kind of input")
    return tasks


def shared_splits(tasks: tuple[Task, ...], config: SplitConfig) -> list[Splits]:
    """Each task's pool / validation / test rows (of its own data), cut once over the tasks' distinct inputs (module
    docstring, ``data.splits.joint_splits``): an input is on the same side for every task that has it."""
    return joint_splits([(t.name, t.data) for t in tasks], config)


@dataclass
class Layout:
    """The tasks' rows that runs read, laid end to end in one dataset (``data``: inputs, each row's task index as its
    target), so one ``recipe.Setup`` encodes them once.

    Attributes:
        splits: per task, its pool / validation / test rows of its own data.
        train: ``train[t][seed]``, task t's n training rows of its own data for that seed (the same rows whether it
            trains alone or with the others).
        own: per task, the own rows in ``data`` (sorted); task t's rows of ``data`` are ``offsets[t] + arange(len(own[t]))``.
    """

    tasks: tuple[Task, ...]
    splits: list[Splits]
    train: list[dict[int, np.ndarray]]
    data: Dataset
    own: list[np.ndarray]
    offsets: list[int]
    split_config: SplitConfig
    n: int | None

    @classmethod
    def build(cls, tasks: tuple[Task, ...], config: SplitConfig, *, n: int | None, seeds: range) -> "Layout":
        splits = shared_splits(tasks, config)
        train = [{seed: subsample(t.data, s.pool, n, seed) for seed in seeds} for t, s in zip(tasks, splits)]
        own = [np.unique(np.concatenate([*rows.values(), s.val, s.test])) for rows, s in zip(train, splits)]
        offsets = np.concatenate([[0], np.cumsum([len(o) for o in own])]).tolist()
        data = Dataset(name="+".join(t.name for t in tasks),
                       inputs=[t.data.inputs[r] for t, o in zip(tasks, own) for r in o],
                       targets=np.concatenate([np.full(len(o), i, dtype=np.int64) for i, o in enumerate(own)]),
                       task="classification", label_names=tuple(t.name for t in tasks), source={"name": "multitask"},
                       modality=tasks[0].data.modality)
        return cls(tasks, splits, train, data, own, offsets[:-1], config, n)

    def rows(self, t: int, own_rows: np.ndarray) -> np.ndarray:
        """Task ``t``'s own rows as rows of ``data``."""
        return self.offsets[t] + np.searchsorted(self.own[t], own_rows)

    def identity(self) -> dict:
        """What identifies the tasks and their split in a run key (not which seeds were asked for)."""
        return {"tasks": [t.identity() for t in self.tasks], "split": {k: getattr(self.split_config, k) for k in
                ("seed", "test_fraction", "val_fraction", "max_val", "max_test")}, "split_rule": "shared-inputs"}
