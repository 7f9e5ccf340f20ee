"""The tasks of a multi-task run: ``--tasks`` syntax, one split the tasks agree on (no task's test or validation input
is another's training input), whole groups, per-task caps, and the same training rows alone and together."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_toy
from headstart.data import split_dataset
from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError, DataError
from headstart.multitask.tasks import Layout, Task, load_tasks, shared_splits
from mt_fixtures import job_for, tasks_of, write_tasks


def _task(name: str, texts: list[str], targets: np.ndarray, *, groups: np.ndarray | None = None) -> Task:
    kind = "regression" if targets.dtype.kind == "f" else "classification"
    names = () if kind == "regression" else tuple(f"c{i}" for i in range(int(targets.max()) + 1))
    return Task(name, Dataset(name=name, inputs=texts, targets=targets, task=kind, label_names=names, groups=groups))


def _overlapping() -> tuple[Task, ...]:
    """Three tasks over overlapping, reordered texts (as drug-reviews, -sentiment and -rating are)."""
    texts = make_toy(400, seed=5).inputs
    rng = np.random.default_rng(0)
    a = _task("a", texts[:300], rng.integers(0, 2, 300))
    b_rows = rng.permutation(np.arange(100, 400))
    b = _task("b", [texts[i] for i in b_rows], rng.integers(0, 3, 300))
    c = _task("c", texts[::2], rng.normal(size=200).astype(np.float32))
    return a, b, c


def _sides(task: Task, splits) -> dict[str, int]:
    return {task.data.inputs[r]: side for side, part in enumerate((splits.pool, splits.val, splits.test)) for r in part}


def test_tasks_sharing_inputs_put_each_input_on_the_same_side_for_every_task():
    tasks = _overlapping()
    leaks = 0
    for x in tasks:  # what each task's own split would do: a text in one task's test split, in another's pool
        for y in tasks:
            own_x, own_y = split_dataset(x.data, SplitConfig()), split_dataset(y.data, SplitConfig())
            held = {x.data.inputs[r] for r in np.concatenate([own_x.val, own_x.test])}
            leaks += len(held & {y.data.inputs[r] for r in own_y.pool}) if x is not y else 0
    assert leaks > 50, "the test is meaningful: separate splits would leak"
    splits = shared_splits(tasks, SplitConfig())
    sides = [_sides(t, s) for t, s in zip(tasks, splits)]
    for i, x in enumerate(sides):
        for j, y in enumerate(sides):
            assert all(y[text] == side for text, side in x.items() if text in y), (i, j)
            held = {text for text, side in x.items() if side > 0}
            assert not held & {text for text, side in y.items() if side == 0}, "a held-out input in another task's pool"
    for task, s in zip(tasks, splits):
        assert 0.12 < len(s.test) / len(task.data) < 0.28 and len(s.val) > 0 and len(s.pool) > 0.6 * len(task.data)


def test_caps_leave_the_rows_over_them_out_and_groups_stay_whole_across_tasks():
    tasks = _overlapping()
    splits = shared_splits(tasks, SplitConfig(max_test=20, max_val=10))
    uncapped = shared_splits(tasks, SplitConfig())
    for task, s, u in zip(tasks, splits, uncapped):
        assert len(s.test) == 20 and len(s.val) == 10
        assert set(s.test) <= set(u.test) and np.array_equal(s.pool, u.pool), "rows over a cap leave the task, not to its pool"
    texts = make_toy(120, seed=8).inputs
    groups = np.arange(120) // 6  # task a's groups of six; task b has the texts but no groups
    a = _task("a", texts, np.arange(120) % 2, groups=groups)
    b = _task("b", texts[::-1], np.arange(120) % 3)
    s_a, s_b = shared_splits((a, b), SplitConfig())
    side_a, side_b = _sides(a, s_a), _sides(b, s_b)
    for g in range(20):
        assert len({side_a[texts[i]] for i in range(6 * g, 6 * g + 6)}) == 1
    assert side_a == side_b


def test_a_task_has_the_same_training_rows_alone_and_with_the_others(tmp_path):
    from headstart.multitask.run import Plan, prepare

    job = job_for(write_tasks(tmp_path / "tasks.csv"), seeds=2)
    together = prepare(job, Plan((0, 1, 2), "equal", 1))
    rows = np.split(together.data.train_rows, 3)
    for t in range(3):
        alone = prepare(job, Plan((t,), "equal", 1))
        assert np.array_equal(alone.data.train_rows, rows[t])
        assert len(alone.data.train_rows) == 64
        assert np.array_equal(alone.model.head.heads[0].weight.detach(), together.model.head.heads[t].weight.detach()), \
            "the head starts the same"
    assert not np.array_equal(job.layout.train[0][0], job.layout.train[0][1]), "another seed, other rows"
    batch = together.data.batches(np.random.default_rng(0))[0]
    task_of = together.data.targets[together.data.train_rows[batch], 0]
    assert [int((task_of == t).sum()) for t in range(3)] == [8, 8, 8], "a step draws a batch of every task"


def test_a_file_column_is_a_task_and_bad_task_lists_are_refused(tmp_path):
    path = write_tasks(tmp_path / "tasks.csv", n=60)
    tasks = load_tasks(tasks_of(path, "label", "score"))
    assert [t.kind for t in tasks] == ["classification", "regression"] and [t.metric for t in tasks] == ["accuracy", "rmse"]
    assert tasks[0].data.inputs == tasks[1].data.inputs
    unnamed = tmp_path / "unnamed.csv"  # two columns beside the text, neither named like a label
    unnamed.write_text("text,stars,votes\n" + "".join(f"review {i},{i % 5},{i % 3}\n" for i in range(40)))
    for text, error, message in [
        (str(path) + ":label", ConfigError, "--tasks needs two or more tasks, got 1"),
        (f"{path}:label,{path}:label", ConfigError, r"--tasks lists a task twice \(.*tasks.csv:label, "),
        (f"{path}:label,{tmp_path}/missing.csv:label", DataError, "no file '.*missing.csv'; a task is a built-in dataset, a file, or FILE:COLUMN"),
        (f"{path}:label,{path}:", ConfigError, "names no column after ':'; write FILE:COLUMN"),
        (f"{path}:label,{path}:nope", DataError, r"label column 'nope' not found in .*; name it in --tasks as .*tasks.csv:COLUMN$"),
        (f"{path}:label,{unnamed}", DataError, r"cannot tell which column .* holds the label .*; name it in --tasks as .*unnamed.csv:COLUMN$"),
        ("drug-reviws,drug-reviews-sentiment", DataError, "did you mean 'drug-reviews'"),
        (f"{path}:label,{path}:score:bogus", ConfigError, r"task .*tasks.csv:score:bogus': 'bogus' is no kind of task; "
                                                          r"end it with :classification or :regression, or drop it"),
        (f"{path}:label:regression,{path}:score", DataError, r"drop :regression from .*tasks.csv:label:regression' in --tasks"),
    ]:
        with pytest.raises(error, match=message):
            load_tasks(text)


def test_the_layout_encodes_only_the_rows_runs_read(tmp_path):
    path = write_tasks(tmp_path / "tasks.csv")
    tasks = load_tasks(tasks_of(path))
    layout = Layout.build(tasks, SplitConfig(), n=32, seeds=range(2))
    for t, task in enumerate(tasks):
        needed = np.unique(np.concatenate([*layout.train[t].values(), layout.splits[t].val, layout.splits[t].test]))
        assert np.array_equal(layout.own[t], needed)
        back = [layout.data.inputs[i] for i in layout.rows(t, needed)]
        assert back == [task.data.inputs[r] for r in needed] and set(layout.data.targets[layout.rows(t, needed)]) == {t}
    assert len(layout.data) < sum(len(t.data) for t in tasks)


def test_a_numeric_column_is_read_as_classes_when_its_task_says_so_and_the_note_says_how(tmp_path):
    """Scores in quarter steps are numbers: read as a regression target, with a note naming the multitask way to read them as
    classes (FILE:COLUMN:classification, not a --task flag multitask does not have); written so, they are classes."""
    path = tmp_path / "stars.csv"
    path.write_text("text,stars,label\n" + "".join(f"review {i} {'good' if i % 2 else 'bad'},{1 + (i % 30) / 4},{'pos' if i % 2 else 'neg'}\n"
                                                    for i in range(60)))
    tasks = load_tasks(f"{path}:label,{path}:stars")
    assert tasks[1].kind == "regression"
    (note,) = [n for n in tasks[1].data.notes if "regression target" in n]
    assert f"write {path}:stars:classification in --tasks" in note and "--task classification" not in note
    tasks = load_tasks(f"{path}:label,{path}:stars:classification")
    assert tasks[1].kind == "classification" and tasks[1].name == f"{path}:stars"


def test_the_printed_note_on_star_ratings_names_the_tasks_way_to_read_them_as_numbers(tmp_path, caplog):
    """The note printed while a task's file was read said "pass --task regression", which multitask refuses (No such
    option: --task); only the copy kept in the task's notes was rewritten. Both name FILE:COLUMN:regression."""
    path = tmp_path / "reviews.csv"
    path.write_text("review,condition,rating\n" + "".join(f"review {i},{['pain', 'acne', 'flu'][i % 3]},{i % 3 - 1}\n"
                                                           for i in range(60)))
    with caplog.at_level("INFO", logger="headstart"):
        tasks = load_tasks(f"{path}:condition,{path}:rating")
    printed = [r.getMessage() for r in caplog.records if "not as a scale" in r.getMessage()]
    fix = f"not as a scale; write {path}:rating:regression in --tasks to predict them as numbers"
    assert len(printed) == 1 and fix in printed[0] and "--task " not in printed[0], printed
    assert any(fix in n for n in tasks[1].data.notes)
