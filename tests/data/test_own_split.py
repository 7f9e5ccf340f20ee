"""Tests of headstart/data/own_split.py: a column named like a split read as the split by default (``--split-column none``
turns it off), and a separate test file (``--test-data``) read as the test split, on rotten-tomatoes written to CSV
files as a user's own data would be."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from headstart.data import SplitConfig, load_dataset, split_dataset
from headstart.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    """600 rotten-tomatoes reviews as a user's table: 400 train rows, then 200 test rows, 40 of them copies of train rows."""
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


def _files(reviews: pd.DataFrame, tmp_path) -> tuple[str, str]:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    reviews[reviews["split"] == "train"].drop(columns="split").to_csv(train, index=False)
    reviews[reviews["split"] == "test"].drop(columns=["split", "id"]).to_csv(test, index=False)  # no id: not read
    return str(train), str(test)


def test_a_test_file_is_the_whole_test_split_and_its_leakage_is_found(reviews, tmp_path, caplog, monkeypatch):
    from headstart.data import split_notes
    from headstart.data.leakage import split_leakage

    monkeypatch.setattr(split_notes, "_OVERSHOT", set())  # notes said once a process: none said yet
    train, test = _files(reviews, tmp_path)
    with caplog.at_level(logging.INFO, logger="headstart"):
        data = load_dataset(train, test_data=test)
        splits = split_dataset(data)
    assert len(data) == 600 and np.array_equal(splits.test, np.arange(400, 600)), "every row of the file, no cap"
    assert set(splits.pool) | set(splits.val) == set(range(400)), "validation is cut from the training file only"
    assert "test split: 200 rows from test.csv (your file)" in caplog.messages
    assert data.source["test_data"] == str((tmp_path / "test.csv").resolve()) and "split_column" not in data.source
    leak = split_leakage(data, SplitConfig())
    assert leak.n_test == 200 and leak.exact >= 40, "the 40 shared reviews are found as the tool's own split's are"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        capped = split_dataset(data, SplitConfig(max_test=50, seed=1))
    assert 50 <= len(capped.test) <= 52 and set(capped.test) < set(range(400, 600))
    assert f"test split: {len(capped.test)} rows from test.csv (your file; --max-test 50 keeps them of its 200)" in caplog.messages


def test_a_test_file_beside_a_split_column_or_lacking_a_column_is_refused(reviews, tmp_path):
    train, test = _files(reviews, tmp_path)
    with pytest.raises(ConfigError, match="test_data='.*test.csv' and split_column='split' both name the test rows; drop one"):
        load_dataset(train, test_data=test, split_column="split")
    assert load_dataset(train, test_data=test, split_column="none").given_split is not None, "none is no split column"
    lacking = tmp_path / "lacking.csv"
    reviews[["review"]].to_csv(lacking, index=False)
    with pytest.raises(DataError, match="lacking.csv' has no column 'sentiment', which 'train.csv' is read by"):
        load_dataset(train, test_data=str(lacking))


def test_a_test_file_is_read_by_the_columns_and_checks_of_a_file_without_one(tmp_path):
    """With test_data, the training file's columns were guessed by another path: a label given by name
    (label_column="verdict") beside a column of tweets raised "cannot tell which column holds the text", and a file
    with no header row was read with its first row as the header. The columns are decided as without test_data."""
    rows = [(f"film was {'great fun' if i % 3 else 'dull bad'} {i}", "pos" if i % 3 else "neg") for i in range(60)]
    frame = pd.DataFrame(rows, columns=["tweet", "verdict"])
    frame.iloc[:40].to_csv(tmp_path / "tw.csv", index=False)
    frame.iloc[40:].to_csv(tmp_path / "tw_test.csv", index=False)
    alone = load_dataset(str(tmp_path / "tw.csv"), label_column="verdict")
    data = load_dataset(str(tmp_path / "tw.csv"), label_column="verdict", test_data=str(tmp_path / "tw_test.csv"))
    assert (data.source["text_column"], data.source["label_column"]) == (alone.source["text_column"], "verdict") == ("tweet", "verdict")
    assert len(data) == 60 and (data.given_split == 2).sum() == 20
    frame.iloc[:40].to_csv(tmp_path / "bare.csv", index=False, header=False)
    with pytest.raises(DataError, match="bare.csv' seems to have no header row"):
        load_dataset(str(tmp_path / "bare.csv"), test_data=str(tmp_path / "tw_test.csv"))


def test_fit_and_evaluate_read_the_test_file_and_the_spec_keeps_it(tiny_registry, tmp_path):
    import headstart
    from conftest import make_toy
    from headstart.specs import TrainConfig

    data = make_toy(300, classes=2, seed=4)
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})
    frame.iloc[:230].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[230:].to_csv(tmp_path / "test.csv", index=False)
    run = headstart.fit(str(tmp_path / "train.csv"), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run",
                        test_data=str(tmp_path / "test.csv"),
                        config=TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32"))
    assert run.status == "done"
    assert json.loads((tmp_path / "run" / "spec.json").read_text())["spec"]["test_data"] == str(tmp_path / "test.csv")
    assert headstart.evaluate(tmp_path / "run")["n"] == 70, "the saved run re-reads its test file: all 70 rows"



def test_compare_scores_every_row_of_a_test_file_and_says_its_leakage(reviews, tiny_registry, tmp_path, monkeypatch, capsys):
    """compare --eval-data test.csv scored a fifth of the file, as out of domain, and searched no leakage in it."""
    from conftest import run_cli
    from headstart.data import split_notes

    monkeypatch.setattr(split_notes, "_OVERSHOT", set())  # notes said once a process: none said yet
    train, test = _files(reviews, tmp_path)
    code, out, err = run_cli(["compare", "--data", train, "--test-data", test, "--backbone", "tiny", "--strategies",
                              "tfidf-logreg,embed-knn", "--sizes", "64", "--seeds", "1", "--out", str(tmp_path / "cmp"),
                              "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    assert "note: test split: 200 rows from test.csv (your file)" in err
    assert "leakage: 40 of 200 test examples (20.00%) duplicate pool/validation examples" in out + err
