"""Task streams: the datasets a continual run learns one after another, and the label space they share.

A stream is an ordered list of tasks, each a classification ``Dataset`` of its own (split, subsampled and scored like
any run's data). Built in:

- ``split-fashion-mnist``: Fashion-MNIST cut into 5 tasks of 2 classes each (T-shirt/top + trouser, ...).
- ``permuted-mnist``: MNIST-5k under 5 fixed pixel permutations (the first the identity), drawn from seed 0; every
  task has the same 10 digits.
- ``text``: rotten-tomatoes → drug-reviews-sentiment → drug-reviews (the condition a patient reviewed a drug for).

or a TOML file ``tasks = ["data-a", "data-b.csv", ...]`` (built-in names or files, each with its own labels).

Labels: in the class-incremental scenario (one head, no task id at test) a label is a class of the whole stream,
named as the task names it: two tasks with a label of the same name share it (permuted-mnist's digits). In the
task-incremental scenario (the task id given) every task's labels are its own ("task 2: negative").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from headstart.data import load_dataset
from headstart.data.dataset import Dataset
from headstart.errors import ConfigError, closest

SCENARIOS = ("class", "task")
PERMUTATIONS = 5  # permuted-mnist's tasks
PERMUTATION_SEED = 0
SHARED = 0.01  # tasks sharing more than this share of the smaller one's inputs are cut together (a stray duplicate is not)


@dataclass(frozen=True)
class Task:
    """One task of a stream.

    Attributes:
        name: what the report calls it.
        data: the task's own dataset (its label ids, for splitting and subsampling).
        classes: (C_task,) the stream-wide class id of each of the task's labels.
    """

    name: str
    data: Dataset
    classes: np.ndarray


@dataclass(frozen=True)
class Stream:
    """An ordered list of tasks over a stream-wide label space (``labels``), for one scenario."""

    name: str
    scenario: str
    tasks: tuple[Task, ...]
    labels: tuple[str, ...]

    def identity(self) -> dict:
        """What identifies the stream in a run key: its name, scenario and each task's data hash; and, where tasks share
        inputs, which are split together (``linked``: runs made when each task was cut alone stop matching)."""
        linked = [group for group in self.linked() if len(group) > 1]
        return {"name": self.name, "scenario": self.scenario, "tasks": [[t.name, t.data.hash] for t in self.tasks],
                **({"cut_together": linked} if linked else {})}

    @cached_property
    def _linked(self) -> tuple[tuple[int, ...], ...]:
        from headstart.data.dataset import input_identity

        ids = [{input_identity(x) for x in task.data.inputs} for task in self.tasks]
        component = list(range(len(ids)))  # tasks linked by a shared input, transitively
        for i in range(len(ids)):
            for j in range(i):
                shared = len(ids[i] & ids[j]) if component[i] != component[j] else 0
                if shared > SHARED * min(len(ids[i]), len(ids[j])):
                    old, new = component[i], component[j]
                    component = [new if c == old else c for c in component]
        return tuple(tuple(k for k in range(len(ids)) if component[k] == c) for c in sorted(set(component)))

    def linked(self) -> list[list[int]]:
        """The task indices in groups of tasks that share inputs (transitively; over ``SHARED`` of the smaller task's),
        each task in one group; a task that shares none with another, or a stray duplicate, stands alone
        (drug-reviews and drug-reviews-sentiment are the same reviews: 494 of 495)."""
        return [list(group) for group in self._linked]


def _subset(data: Dataset, rows: np.ndarray, labels: list[int], name: str) -> Dataset:
    """The rows of ``data`` whose label is one of ``labels``, relabelled 0..len(labels)-1 in that order."""
    keep = rows[np.isin(data.targets[rows], labels)]
    remap = {old: new for new, old in enumerate(labels)}
    return Dataset(name=name, inputs=[data.inputs[r] for r in keep], targets=np.asarray([remap[int(y)] for y in data.targets[keep]]),
                   task="classification", label_names=tuple(data.label_names[i] for i in labels),
                   groups=None if data.groups is None else data.groups[keep], source={"name": name}, modality=data.modality)


def _split_fashion_mnist() -> list[Dataset]:
    data = load_dataset("fashion-mnist")
    rows = np.arange(len(data))
    return [_subset(data, rows, [2 * t, 2 * t + 1], f"fashion-mnist[{data.label_names[2 * t]}, {data.label_names[2 * t + 1]}]")
            for t in range(len(data.label_names) // 2)]


def permuted(data: Dataset, permutation: np.ndarray, name: str) -> Dataset:
    """``data`` with every image's pixels reordered by ``permutation`` (over H·W; the same for every image)."""
    def shuffle(image: np.ndarray) -> np.ndarray:
        flat = image.reshape(-1, *image.shape[2:]) if image.ndim == 3 else image.reshape(-1)
        return np.ascontiguousarray(flat[permutation].reshape(image.shape))

    return Dataset(name=name, inputs=[shuffle(np.asarray(x)) for x in data.inputs], targets=data.targets, task=data.task,
                   label_names=data.label_names, groups=data.groups, source={"name": name}, modality=data.modality)


def _permuted_mnist() -> list[Dataset]:
    data = load_dataset("mnist-5k")
    pixels = int(np.asarray(data.inputs[0]).shape[0] * np.asarray(data.inputs[0]).shape[1])
    rng = np.random.default_rng(PERMUTATION_SEED)
    orders = [np.arange(pixels)] + [rng.permutation(pixels) for _ in range(PERMUTATIONS - 1)]
    return [permuted(data, order, f"mnist-5k[permutation {i}]") for i, order in enumerate(orders)]


def _text() -> list[Dataset]:
    return [load_dataset(name) for name in ("rotten-tomatoes", "drug-reviews-sentiment", "drug-reviews")]


BUILTIN = {
    "split-fashion-mnist": (_split_fashion_mnist, "Fashion-MNIST in 5 tasks of 2 classes"),
    "permuted-mnist": (_permuted_mnist, f"MNIST-5k under {PERMUTATIONS} fixed pixel permutations (the first the identity)"),
    "text": (_text, "rotten-tomatoes → drug-reviews-sentiment → drug-reviews (condition)"),
}


def _from_file(path: Path) -> list[Dataset]:
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the stream file {str(path)!r}: {e}; it holds tasks = [\"data-a\", \"data-b.csv\"]") from None
    # first: a misspelt tasks would otherwise read as no tasks ("got None"); the key that looks like it is named first
    unknown = sorted(set(config) - {"tasks"}, key=lambda key: (not closest(key, ("tasks",)), key))
    if unknown:
        others = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
        raise ConfigError(f"unknown key {unknown[0]!r}{others} in the stream file {str(path)!r}"
                          f"{closest(unknown[0], ('tasks',))} (known: tasks); write tasks = [\"data-a\", \"data-b.csv\"]")
    tasks = config.get("tasks")
    if not isinstance(tasks, list) or len(tasks) < 2 or not all(isinstance(t, str) and t for t in tasks):
        raise ConfigError(f"{str(path)!r} must hold tasks = [\"data-a\", \"data-b.csv\", ...] (two or more datasets), got "
                          f"{tasks!r}")
    from headstart.data.labels import no_task_fix

    with no_task_fix():  # continual has no --task: a task file's label notes name no fix it lacks
        return [load_dataset(t if Path(t).is_absolute() or not (path.parent / t).exists() else str(path.parent / t))
                for t in tasks]


def load_stream(name: str, scenario: str = "class") -> Stream:
    """The built-in stream ``name`` or the TOML file at ``name``, for ``scenario`` ("class" or "task").

    Raises:
        ConfigError: an unknown stream or scenario, a task that is not classification, or one task's data twice.
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"--scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}; class-incremental (one head, "
                          "no task id) is where methods differ most")
    if name in BUILTIN:
        datasets = BUILTIN[name][0]()
    elif Path(name).suffix == ".toml" or Path(name).is_file():
        datasets = _from_file(Path(name))
    else:
        raise ConfigError(f"unknown stream {name!r}{closest(name, tuple(BUILTIN))} (built-in: {', '.join(BUILTIN)}; or a TOML "
                          "file with tasks = [\"data-a\", \"data-b.csv\"])")
    for d in datasets:
        if d.task != "classification":
            raise ConfigError(f"task {d.name!r} is a {d.task} dataset; a stream's tasks are classification datasets")
    if len({d.modality for d in datasets}) > 1:
        raise ConfigError(f"stream {name!r} mixes text and image tasks; one backbone reads one kind of input")
    hashes = [d.hash for d in datasets]
    if len(set(hashes)) < len(hashes):
        raise ConfigError(f"stream {name!r} holds the same dataset twice; each task is another dataset")
    labels: dict[str, int] = {}
    tasks = []
    for i, d in enumerate(datasets):
        names = [name_ if scenario == "class" else f"task {i}: {name_}" for name_ in d.label_names]
        tasks.append(Task(d.name, d, np.asarray([labels.setdefault(n, len(labels)) for n in names], dtype=np.int64)))
    return Stream(name, scenario, tuple(tasks), tuple(labels))
