"""Tests of --split-column and --group-column: a user's own train / validation / test split and group ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_toy
from headstart.data import SplitConfig, load_dataset, split_dataset
from headstart.errors import DataError


@pytest.fixture
def table(tmp_path):
    data = make_toy(400, classes=2, seed=3)
    parts = np.array(["train"] * 250 + ["dev"] * 50 + ["test"] * 100)
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets], "part": parts,
                          "who": [f"p{i // 5}" for i in range(400)]})
    path = tmp_path / "given.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_the_users_split_is_kept_as_given(table):
    path, frame = table
    data = load_dataset(str(path), split_column="part")
    splits = split_dataset(data)
    assert np.array_equal(splits.pool, np.arange(250)) and np.array_equal(splits.val, np.arange(250, 300))
    assert np.array_equal(splits.test, np.arange(300, 400))
    assert data.hash != load_dataset(str(path)).hash, "another split, another identity"
    assert data.source["split_column"] == "part"


def test_without_validation_rows_validation_is_cut_from_train_and_max_test_subsamples_test(table, tmp_path):
    path, frame = table
    frame.loc[frame["part"] == "dev", "part"] = "train"
    other = tmp_path / "no-dev.csv"
    frame.to_csv(other, index=False)
    data = load_dataset(str(other), split_column="part", group_column="who")
    splits = split_dataset(data, SplitConfig(max_test=40))
    assert set(splits.val) < set(range(300)) and set(splits.pool) | set(splits.val) == set(range(300))
    assert 30 <= len(splits.val) <= 40, "val_fraction of the train rows, in whole groups of five"
    assert 40 <= len(splits.test) <= 50 and set(splits.test) < set(range(300, 400)), "part of the given test split (whole groups)"
    who = frame["who"].to_numpy()
    assert not set(who[splits.pool]) & set(who[splits.val]), "a group straddles pool and validation"


def test_group_ids_keep_a_group_on_one_side(table):
    path, frame = table
    data = load_dataset(str(path), group_column="who")
    splits = split_dataset(data)
    who = frame["who"].to_numpy()
    sides = [set(who[rows]) for rows in (splits.pool, splits.val, splits.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


@pytest.mark.parametrize("values, message", [(["train"] * 399 + ["holdout"], r"holds \['holdout'\]"),
                                             (["train"] * 400, "has no test rows")])
def test_bad_split_values_are_one_clear_error(table, tmp_path, values, message):
    _, frame = table
    path = tmp_path / "bad.csv"
    frame.assign(part=values).to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        load_dataset(str(path), split_column="part")
    with pytest.raises(DataError, match="split_column='nope' is not a column"):
        load_dataset(str(path), split_column="nope")
    with pytest.raises(DataError, match="applies to files, not to the built-in dataset"):
        load_dataset("rotten-tomatoes", split_column="part")


def test_train_and_evaluate_on_a_given_split(table, tiny_registry, tmp_path):
    import headstart
    from headstart.specs import TrainConfig

    path, frame = table
    run = headstart.fit(str(path), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", split_column="part",
                        config=TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32"))
    assert run.status == "done"
    scored = headstart.evaluate(tmp_path / "run")  # the saved run re-reads the file with its split column:
    assert scored["n"] == 100  # the file's 100 test rows, not a fresh 20% cut of its 400
    given = frame.loc[frame["part"] == "test", "label"].value_counts().to_dict()
    assert {name: c["support"] for name, c in scored["per_class"].items()} == given


def test_a_repeated_index_keeps_groups_and_split_aligned_by_position(table, tmp_path):
    """pd.concat([train, test]) keeps both indexes: rows must still be matched by position, not by index label."""
    _, frame = table
    doubled = pd.concat([frame.iloc[:300], frame.iloc[300:].reset_index(drop=True)])  # index 0..299 then 0..99 again
    path = tmp_path / "concat.parquet"
    doubled.to_parquet(path)
    data = load_dataset(str(path), split_column="part", group_column="who")
    assert len(data.groups) == len(data) == 400
    assert np.array_equal(split_dataset(data).test, np.arange(300, 400))


def test_a_group_across_the_given_split_or_without_an_id_is_refused(table, tmp_path):
    _, frame = table
    across = tmp_path / "across.csv"
    frame.assign(who="same").to_csv(across, index=False)
    with pytest.raises(DataError, match="groups of group_column='who' have rows in more than one part"):
        load_dataset(str(across), split_column="part", group_column="who")
    missing = tmp_path / "missing.csv"
    frame.assign(who=[None] * 10 + frame["who"].tolist()[10:]).to_csv(missing, index=False)
    with pytest.raises(DataError, match="group_column='who' of .* is empty in 10 rows"):
        load_dataset(str(missing), group_column="who")


def test_an_empty_split_cell_is_named_by_its_row(table, tmp_path):
    _, frame = table
    path = tmp_path / "holes.csv"
    parts = frame["part"].tolist()
    parts[2] = parts[6] = None  # empty cells: read as missing, once said as "holds ['nan']"
    frame.assign(part=parts).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"split_column='part' of .* is empty in 2 rows \(rows 3, 7, counting the first row "
                                        r"under the header as 1\); give every row train, validation or test"):
        load_dataset(str(path), split_column="part")
