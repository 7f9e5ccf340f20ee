"""Tests of headstart/data/own_split.py: a column named like a split read as the split by default (``--split-column none``
turns it off), on rotten-tomatoes written to a CSV file as a user's own data would be."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from headstart.data import load_dataset, split_dataset


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    """600 rotten-tomatoes reviews as a user's table: 400 train rows, then 200 test rows, 40 of them copies of train rows
    (as a user's test file may share rows with their training file)."""
    data = load_dataset("rotten-tomatoes")
    rows = np.random.default_rng(0).permutation(len(data))[:560]
    frame = pd.DataFrame({"id": rows, "review": [data.inputs[i] for i in rows],
                          "sentiment": [data.label_names[data.targets[i]] for i in rows]})
    test = pd.concat([frame.iloc[400:], frame.iloc[:40]], ignore_index=True)  # a user's test file sharing 40 rows
    return pd.concat([frame.iloc[:400].assign(split="train"), test.assign(split="test")], ignore_index=True)


def test_a_column_named_split_is_the_split_by_default(reviews, tmp_path):
    path = tmp_path / "with_split.csv"
    reviews.assign(split=reviews["split"].str.upper()).to_csv(path, index=False)  # TRAIN / TEST: any case
    data = load_dataset(str(path))
    assert np.array_equal(split_dataset(data).test, np.arange(400, 600)), "the user's test rows are the test split"
    assert set(split_dataset(data).pool) | set(split_dataset(data).val) == set(range(400))
    said = [n for n in data.notes if "as the split" in n]
    assert said == ["reading column 'split' as the split (its test rows are the test split, never trained on or chosen "
                    "by; validation is cut from its train rows); --split-column none reads every row as data to split"]
    assert data.hash == load_dataset(str(path), split_column="split").hash, "as if --split-column split were given"
    off = load_dataset(str(path), split_column="none")
    assert off.given_split is None and not any("split" in n for n in off.notes)
    assert 118 <= len(split_dataset(off).test) <= 122, "off: the tool's own 20% cut of every row (stratified, rounded)"


def test_a_fold_column_with_val_rows_keeps_them(reviews, tmp_path):
    path = tmp_path / "fold.csv"
    fold = np.where(np.arange(600) < 350, "train", np.where(np.arange(600) < 400, "val", "test"))
    reviews.drop(columns="split").assign(Fold=fold).to_csv(path, index=False)
    splits = split_dataset(load_dataset(str(path)))
    assert np.array_equal(splits.val, np.arange(350, 400)) and np.array_equal(splits.test, np.arange(400, 600))


@pytest.mark.parametrize("values, why", [(["a", "b", "c"] * 200, "holds ['a', 'b', 'c']"),
                                         (["train"] * 600, "has no test rows")])
def test_a_split_column_of_other_values_is_said_and_not_read(reviews, tmp_path, values, why):
    path = tmp_path / "other.csv"
    reviews.assign(split=values).to_csv(path, index=False)
    data = load_dataset(str(path))
    assert data.given_split is None
    assert f"column 'split' looks like a split but {why}, so it is read as an ordinary column" in " ".join(data.notes)
    assert "pass --split-column split" in " ".join(data.notes)

