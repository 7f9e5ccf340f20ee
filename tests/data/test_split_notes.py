"""Tests of headstart/data/split_notes.py: what a split says about itself."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig, split_dataset


def _data(counts: list[int], name: str) -> Dataset:
    targets = np.repeat(np.arange(len(counts)), counts)
    return Dataset(name=name, inputs=[f"row {i}" for i in range(len(targets))], targets=targets, task="classification",
                   label_names=tuple(f"c{i}" for i in range(len(counts))), source={"path": f"/data/{name}"})


def test_a_class_with_a_few_test_rows_is_named_with_where_its_rows_landed(caplog):
    """A class of 3 rows in 1,200 had its F1 (one test row: 0 or 1) weigh as much in macro-F1 as any other class's,
    with no word said; the note names it, its rows in each part, and what to do in the file."""
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        split_dataset(_data([600, 597, 3], "few.csv"), SplitConfig())
        split_dataset(_data([600, 597, 3], "few.csv"), SplitConfig())  # a sweep's next run: said once
    said = [r.getMessage() for r in caplog.records if "fewer than" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith("few.csv: a class has fewer than 5 rows in the test split (or 2 in validation): 'c2' (3 rows: ")
    assert "in the training pool, " in said[0] and said[0].endswith(
        "its score there is noise, yet weighs in macro-F1 as much as any other class's; merge it into a related class, "
        "drop its rows in the file, or label more")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        split_dataset(_data([600, 600], "even.csv"), SplitConfig())
        split_dataset(_data([10, 10, 10], "tiny.csv"), SplitConfig())  # every class few: the interval says it already
        builtin = _data([600, 597, 3], "shipped")
        split_dataset(dataclasses.replace(builtin, source={"name": "shipped"}), SplitConfig())  # no file to edit
    assert not [r for r in caplog.records if "fewer than" in r.getMessage()]
