"""``check_leakage`` mirrors ``headstart check-leakage``: the test (and validation) rows that duplicate training rows,
in the split a run is cut into, from the split flags ``train`` and ``compare`` take (``--max-test``, ``--max-val``,
``--dedupe``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from headstart.data.leakage import DEFAULT_THRESHOLD
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError
from headstart.python_checks import python_named

if TYPE_CHECKING:
    from headstart.data.leakage import LeakageReport

DEFAULT_DATA = "rotten-tomatoes"


@python_named
def check_leakage(data: str | None = None, *, text_column: str | None = None, label_column: str | None = None,
                  task: str | None = None, group_column: str | None = None, split_column: str | None = None,
                  max_test: int | str | None = None, max_val: int | str | None = None, dedupe: bool = False,
                  threshold: float = DEFAULT_THRESHOLD, examples: int = 5) -> LeakageReport:
    """Count the test examples of a split (as ``fit`` and ``compare`` cut it) that duplicate, exactly or nearly, an
    example of the pool or validation split, and the validation examples that duplicate a pool example.

    Args:
        data: a built-in dataset or a data file (default: rotten-tomatoes); the column options read a file as
            ``load_dataset`` does.
        task: read a file's labels as this task, as ``fit(task=...)`` does (inferred when None): the split is
            stratified by them, so a ``task="regression"`` run on whole-number ratings is split as that run was.
        max_test / max_val / dedupe: the split settings of ``fit`` and ``compare``, read as theirs: the split checked
            is the one a run given them trains and is scored on. A test split of over 2,000 images keeps 2,000 where
            ``max_test`` is not given, as a run's does (``headstart.data_defaults``). Under ``dedupe`` the counts are
            of the cut before it: the rows it removes.
        threshold: word-3-shingle Jaccard similarity at or above which a pair is a near-duplicate, in (0, 1].
        examples: duplicate pairs to keep in the report.

    Raises:
        HeadstartError: a bad threshold or split setting (checked before the data loads), unreadable data, or a bad
            column.
    """
    return checked_split(data, text_column=text_column, label_column=label_column, task=task, group_column=group_column,
                         split_column=split_column, max_test=max_test, max_val=max_val, dedupe=dedupe,
                         threshold=threshold, examples=examples)[0]


def checked_split(data: str | None, *, text_column: str | None, label_column: str | None, task: str | None,
                  group_column: str | None, split_column: str | None, max_test: Any, max_val: Any, dedupe: bool,
                  threshold: float, examples: int) -> tuple[LeakageReport, SplitConfig]:
    """``check_leakage``'s report and the split it counted (the CLI prints both). Raises as ``check_leakage``."""
    from headstart.data import load_dataset, split_dataset
    from headstart.data.leakage import check_threshold, find_leakage
    from headstart.data.splits import split_caps
    from headstart.data_defaults import IMAGE_MAX_TEST, test_capped

    check_threshold(threshold)
    split = split_caps(SplitConfig(), max_test=max_test, max_val=max_val, dedupe=dedupe)  # a bad cap before any data loads
    reading = {"text_column": text_column, "label_column": label_column, "task": task, "group_column": group_column,
               "split_column": split_column}
    dataset = load_dataset(DEFAULT_DATA if data is None else data, **reading)
    if split.max_test is None and test_capped(dataset, split):  # as fit and compare fill it in
        split = dataclasses.replace(split, max_test=IMAGE_MAX_TEST)
    if dataset.modality == "image" and threshold != DEFAULT_THRESHOLD:
        raise ConfigError(f"--threshold {threshold:g} is the word-shingle similarity of near-duplicate texts; {dataset.name!r} "
                          "holds images, which are compared pixel for pixel (exact copies only): drop --threshold")
    if split.dedupe and threshold != DEFAULT_THRESHOLD:
        raise ConfigError(f"--threshold {threshold:g}: --dedupe drops the copies at Jaccard >= {DEFAULT_THRESHOLD:g}, so counts at "
                          f"another threshold would not be the rows it removes; drop --threshold")
    # under dedupe, the cut before it: the copies counted are the rows it removes (as train and compare say them)
    splits = split_dataset(dataset, dataclasses.replace(split, dedupe=False))
    return find_leakage(dataset, splits, threshold=threshold, examples=examples), split
