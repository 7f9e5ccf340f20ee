"""Splits (pool / val / test: disjoint, covering, group-aware) and nested stratified subsamples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig, split_dataset
from headstart.data.subsamples import subsample, subsample_order
from headstart.errors import ConfigError, DataError


def labelled(counts: list[int], *, groups: np.ndarray | None = None, name: str = "synthetic") -> Dataset:
    targets = np.concatenate([np.full(c, i, dtype=np.int64) for i, c in enumerate(counts)])
    return Dataset(name=name, inputs=[f"text {i}" for i in range(len(targets))], targets=targets, task="classification",
                   label_names=tuple(f"c{i}" for i in range(len(counts))), groups=groups)


# ---- subsamples ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 10, 16, 32, 50, 100])
def test_subsample_is_stratified(n):
    data = labelled([300, 120, 60])  # 62.5% / 25% / 12.5%
    pool = np.arange(len(data))
    rows = subsample(data, pool, n, seed=0)
    counts = np.bincount(data.targets[rows], minlength=3)
    share = np.bincount(data.targets, minlength=3) / len(data)
    assert counts.sum() == n and len(set(rows.tolist())) == n
    assert (counts >= 1).all()
    assert np.all(np.abs(counts - np.maximum(share * n, 1)) <= 1), (counts, share * n)


@given(
    counts=st.lists(st.integers(1, 60), min_size=2, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_subsample_order_invariants(counts, seed):
    strata = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    order = subsample_order(strata, seed)
    assert sorted(order.tolist()) == list(range(len(strata)))  # a permutation: every prefix is a sample
    for length in (1, len(counts), len(strata) // 2, len(strata)):  # a short order is exactly the full one's prefix
        assert subsample_order(strata, seed, length).tolist() == order[: max(length, len(counts))].tolist()
    classes = len(counts)
    assert sorted(strata[order[:classes]].tolist()) == list(range(classes))  # one of each class first
    share = np.asarray(counts) / len(strata)
    for n in range(classes, len(strata) + 1):
        taken = np.bincount(strata[order[:n]], minlength=classes)
        if (share * n >= 1).all():  # once every class's share is at least one example, about +-1 of it
            # Not exactly 1: the one-per-class prefix over-represents tiny classes, which can push a large class to
            # 1.03 below its share (counts [2,2,18,18,18,18], n=55) or 1.12 (counts [2,2,2,39,39,39], n=95).
            assert np.all(np.abs(taken - share * n) < 1.5), (n, taken, share * n)


@given(seed=st.integers(0, 10_000), small=st.integers(2, 40), extra=st.integers(0, 80))
@settings(max_examples=60, deadline=None)
def test_subsamples_are_nested(seed, small, extra):
    data = labelled([70, 50, 30])
    pool = np.arange(0, len(data), 1)
    n_small = max(3, small)
    a = subsample(data, pool, n_small, seed)
    b = subsample(data, pool, min(len(pool), n_small + extra), seed)
    assert set(a.tolist()) <= set(b.tolist())


def test_16_inside_32_on_a_real_pool():
    data = labelled([90, 60])
    splits = split_dataset(data)
    assert set(subsample(data, splits.pool, 16, 5).tolist()) <= set(subsample(data, splits.pool, 32, 5).tolist())


def test_seed_changes_the_sample():
    data = labelled([100, 100])
    pool = np.arange(len(data))
    samples = {tuple(sorted(subsample(data, pool, 20, seed).tolist())) for seed in range(5)}
    assert len(samples) == 5
    assert np.array_equal(subsample(data, pool, 20, 3), subsample(data, pool, 20, 3))


def test_subsample_rows_come_from_the_pool():
    data = labelled([100, 100])
    splits = split_dataset(data)
    assert set(subsample(data, splits.pool, 50, 0).tolist()) <= set(splits.pool.tolist())
    assert np.array_equal(subsample(data, splits.pool, None, 0), splits.pool)


def test_n_larger_than_pool():
    data = labelled([50, 50])
    with pytest.raises(DataError, match=r"--n 101 is larger than the training pool .*\(100 examples\); use --n 100"):
        subsample(data, np.arange(100), 101, 0)


def test_n_smaller_than_classes():
    data = labelled([20, 20, 20])
    with pytest.raises(DataError, match=r"--n 2 is smaller than the number of classes \(3\)"):
        subsample(data, np.arange(60), 2, 0)


# ---- splits --------------------------------------------------------------------------------------------

def test_split_disjoint_and_covering():
    data = labelled([400, 250, 100])
    splits = split_dataset(data)
    parts = [splits.pool, splits.val, splits.test]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(data)
    for part in parts:
        assert np.all(np.diff(part) > 0)  # sorted
        assert set(data.targets[part].tolist()) == {0, 1, 2}  # every class in every part
    assert abs(len(splits.test) - 0.2 * len(data)) <= 3
    assert abs(len(splits.val) - 0.1 * len(data)) <= 3


def test_val_is_capped():
    data = labelled([3000, 3000])
    assert abs(len(split_dataset(data, SplitConfig(max_val=100)).val) - 100) <= 2


def test_split_is_a_function_of_the_split_seed_only():
    data = labelled([100, 100])
    a, b = split_dataset(data), split_dataset(data)
    assert all(np.array_equal(a.part(p), b.part(p)) for p in ("pool", "val", "test"))
    c = split_dataset(data, SplitConfig(seed=1))
    assert not np.array_equal(a.test, c.test)


@given(seed=st.integers(0, 1000), groups=st.integers(30, 80))
@settings(max_examples=30, deadline=None)
def test_groups_never_straddle(seed, groups):
    # Groups of ~4-10 rows: small enough that every part can be filled with whole groups.
    rng = np.random.default_rng(seed)
    data = labelled([150, 150], groups=rng.integers(0, groups, size=300))
    splits = split_dataset(data, SplitConfig(seed=seed))
    sides = [set(data.groups[splits.part(p)].tolist()) for p in ("pool", "val", "test")]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]


def test_rotten_tomatoes_movies_stay_on_one_side():
    from headstart.data import load_dataset

    data = load_dataset("rotten-tomatoes")
    splits = split_dataset(data)
    movies = [set(data.groups[splits.part(p)].tolist()) for p in ("pool", "val", "test")]
    assert not movies[0] & movies[1] and not movies[0] & movies[2] and not movies[1] & movies[2]
    assert sum(len(splits.part(p)) for p in ("pool", "val", "test")) == len(data)


def test_single_class_is_an_error():
    data = Dataset(name="one", inputs=["a"] * 10, targets=np.zeros(10, dtype=np.int64), task="classification", label_names=("x", "y"))
    with pytest.raises(DataError, match="single class \\('x'\\)"):
        split_dataset(data)


def test_class_too_small_is_an_error():
    with pytest.raises(DataError, match=r"classes \['c1'\] .* fewer than 3 examples"):
        split_dataset(labelled([50, 2]))


def test_class_too_small_says_how_many_rows_to_drop_or_relabel():
    """It said "remove them or merge them into another class", with no way named to do either (--data takes no mapping)."""
    data = labelled([50, 50, 2])
    with pytest.raises(DataError, match=r"drop their 2 rows from the data or give them another class's label"):
        split_dataset(data)
    data = dataclasses.replace(data, source={"path": "/x/d.csv", "label_column": "stars"})
    with pytest.raises(DataError, match=r"edit the file: in its label column 'stars', delete their 2 rows"):
        split_dataset(data)


def test_bad_split_config():
    with pytest.raises(ConfigError, match="test_fraction must be in \\(0, 0.5\\), got 0.7"):
        SplitConfig(test_fraction=0.7)
    with pytest.raises(ConfigError, match="max_val must be a positive integer .*got 0"):
        SplitConfig(max_val=0)
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        split_dataset(labelled([20, 20])).part("train")


@pytest.mark.parametrize("field, value, python, cli", [
    ("test_fraction", 1.5, "got 1.5; e.g. test_fraction=0.2", "got 1.5; e.g. test_fraction = 0.2"),
    ("val_fraction", 0, "got 0; e.g. val_fraction=0.1", "got 0; e.g. val_fraction = 0.1"),
    ("max_val", 0, "got 0; try max_val=300", "got 0; try --max-val 300"),
    ("max_test", 0, "got 0; try max_test=1000", "got 0; try --max-test 1000"),
])
def test_a_split_setting_out_of_range_names_the_field_from_python_and_the_toml_key_from_the_cli(field, value, python, cli,
                                                                                                 monkeypatch):
    """The fractions have no flag: Python is told the keyword, the CLI the line of a TOML's [split]; max_test and
    max_val have one (--max-test, --max-val), which the CLI names."""
    from headstart.surface import SURFACE_ENV

    with pytest.raises(ConfigError) as e:
        SplitConfig(**{field: value})
    assert str(e.value).startswith(field) and str(e.value).endswith(python)
    monkeypatch.setenv(SURFACE_ENV, "cli")
    with pytest.raises(ConfigError) as e:
        SplitConfig(**{field: value})
    flagged = f"--{field.replace('_', '-')}" if field in ("max_test", "max_val") else field
    assert str(e.value).startswith(flagged) and str(e.value).endswith(cli)  # a flag


def test_max_test_caps_the_test_split_and_grows_the_pool():
    from headstart.data import load_dataset

    data = load_dataset("rotten-tomatoes")
    full = split_dataset(data, SplitConfig())
    capped = split_dataset(data, SplitConfig(max_test=1000))
    assert 950 <= len(capped.test) <= 1050 < len(full.test)
    assert len(capped.pool) > len(full.pool)
    assert not set(data.groups[capped.test]) & set(data.groups[capped.pool])  # movies still on one side
    with pytest.raises(ConfigError, match="max_test"):
        SplitConfig(max_test=0)


def _movies(big: int, small: int, rows: int = 600) -> Dataset:
    """``rows`` rows, class 0 in groups of ``big`` rows, class 1 in groups of ``small`` (a movie's reviews)."""
    half = rows // 2
    groups = np.concatenate([np.arange(half) // big, half + np.arange(half) // small]).astype(np.int64)
    return labelled([half, half], groups=groups)


@pytest.mark.parametrize("max_test, max_val", [(20, 20), (20, 5), (50, 20), (None, 10)])
def test_validation_takes_its_share_after_test_where_whole_groups_push_test_past_both_targets(max_test, max_val):
    """rotten-tomatoes at --max-test 20 --max-val 20: a 34-review movie pushes test past test's and validation's joint
    target, and validation got nothing (the run stopped on an empty split); it now takes its share after test's last
    group, in every class, and the test rows are those the same --max-test always gives."""
    data = _movies(30, 30)
    splits = split_dataset(data, SplitConfig(max_test=max_test, max_val=max_val))
    assert set(data.targets[splits.val].tolist()) == {0, 1}
    assert len(splits.val) <= max_val + 2 * 30  # about the cap: at most a whole group past each class's share
    assert splits.test.tolist() == split_dataset(data, SplitConfig(max_test=max_test)).test.tolist()
    assert not set(data.groups[splits.val]) & (set(data.groups[splits.pool]) | set(data.groups[splits.test]))


def test_a_split_that_gave_validation_rows_keeps_them_so_stored_runs_resume_on_the_same_rows():
    """Class 0's 30-row groups swallow its validation share at --max-val 20; class 1's single rows do not. That split
    ran before (runs are stored under it, keyed by the same settings), so it stays as it was: only a cut that left
    validation no row at all, which stopped every run, moves validation after test."""
    data = _movies(30, 1)
    splits = split_dataset(data, SplitConfig(max_test=20, max_val=20))
    assert np.bincount(data.targets[splits.val], minlength=2).tolist()[0] == 0 and len(splits.val) > 0


def test_a_validation_cap_that_leaves_no_row_names_the_flag_and_the_fix():
    from headstart.data.splits import EmptySplit

    data = labelled([1000, 1000])
    with pytest.raises(EmptySplit, match=r"empty \(2000 examples\); --max-val 1 gives validation a share that rounds to "
                                         r"no row; raise it, e.g. --max-val 100, or leave it out") as e:
        split_dataset(data, SplitConfig(max_val=1, max_test=333))
    assert e.value.part == "val" and "larger dataset" not in str(e.value)


def test_rows_to_split_is_the_size_from_which_every_dataset_cuts_into_three_parts():
    """evaluate --eval-data on a tiny file says how many rows it needs: the count must be the one the cut obeys (6 rows
    leave validation empty, 4 and 5 do not)."""
    from conftest import make_toy
    from headstart.data.splits import EmptySplit, rows_to_split

    config = SplitConfig()
    cut = {}
    for rows in range(2, 40):
        try:
            split_dataset(make_toy(rows, classes=2), config, by_label=False)
            cut[rows] = True
        except EmptySplit as e:
            assert e.rows == rows and e.part in ("pool", "val", "test")
            cut[rows] = False
    assert rows_to_split(config) == 7 == max(r for r, ok in cut.items() if not ok) + 1
    assert cut[4] and cut[5] and not cut[6]
    for other in (SplitConfig(val_fraction=0.25, test_fraction=0.25), SplitConfig(val_fraction=0.05, test_fraction=0.3)):
        cuts = {r: _cuts(make_toy(r, classes=2), other) for r in range(2, 60)}
        assert rows_to_split(other) == max(r for r, ok in cuts.items() if not ok) + 1, cuts


def _cuts(data, config) -> bool:
    from headstart.data.splits import EmptySplit

    try:
        split_dataset(data, config, by_label=False)
        return True
    except EmptySplit:
        return False


def _grouped(sizes: list[int], name: str) -> Dataset:
    """300 rows, two classes alternating; the first groups of ``sizes``, then a group per row."""
    groups = np.concatenate([np.full(size, g) for g, size in enumerate(sizes)]
                            + [np.arange(len(sizes), len(sizes) + 300 - sum(sizes))]).astype(np.int64)
    return Dataset(name=name, inputs=[f"text {i}" for i in range(300)], targets=np.arange(300) % 2, task="classification",
                   label_names=("a", "b"), groups=groups, source={"group_column": "critic"})


def test_a_group_far_past_its_part_is_noted_once(caplog):
    data = _grouped([150], "biggrp")
    with caplog.at_level("INFO", logger="headstart"):
        splits = split_dataset(data)
        split_dataset(data)  # a sweep re-splits each run: said once
    big = max(len(splits.val), len(splits.test))
    notes = [r.getMessage() for r in caplog.records if "against a target" in r.getMessage()]
    assert big > 150 and len(notes) == 1
    assert f"holds {big} rows against a target of" in notes[0] and "--group-column 'critic'" in notes[0]
    assert "150 rows" in notes[0] and f"keeps {len(splits.pool)} of 300 rows" in notes[0]


def test_a_split_near_its_targets_is_not_noted(caplog):
    with caplog.at_level("INFO", logger="headstart"):
        split_dataset(_grouped([3, 3, 3], "smallgrp"))
        split_dataset(labelled([150, 150], name="ungrouped"))
    assert not [r for r in caplog.records if "against a target" in r.getMessage()]


def test_a_split_pushed_past_its_target_by_several_big_groups_names_them_as_groups(caplog):
    """The note read 'the largest group in it has 34 rows (the first: ...), 32 rows (the first: ...)': several groups
    said as one."""
    import logging
    from types import SimpleNamespace

    import numpy as np

    from headstart.data import split_notes

    groups = np.array([0] * 34 + [1] * 32 + list(range(2, 202)))
    part = np.array([2] * 66 + [0] * 200)
    data = SimpleNamespace(hash="overshoot-two", groups=groups, source={}, name="d",
                           inputs=[f"row {i}" for i in range(len(groups))])
    from collections import namedtuple

    config = namedtuple("Config", "test_fraction val_fraction")(0.2, 0.1)
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        split_notes.note_group_overshoot(_Sized(data, len(groups)), config, part, {"test": 40.0, "validation": 0.0})
    said = caplog.text
    assert "the test split holds 66 rows against a target of 40" in said, said
    assert "its largest groups have 34 rows (the first: 'row 0'), 32 rows (the first: 'row 34')" in said, said
    assert "the largest group in it has 34 rows (the first: 'row 0'), 32" not in said


class _Sized:
    """A stand-in dataset: ``data``'s attributes with a length."""

    def __init__(self, data, n):
        self.__dict__.update(vars(data))
        self._n = n

    def __len__(self):
        return self._n


@pytest.mark.parametrize("column, test_cap, advice", [
    (None, None, None),  # a built-in dataset's groups are not the user's to split
    ("movie", None, "To come nearer the usual shares (20% test, 10% validation), split such a group of 'movie' into smaller ones"),
    ("movie", 30, "To come nearer the target, split such a group of 'movie' into smaller ones"),  # --max-test set it
])
def test_the_overshoot_advice_is_given_only_for_a_users_groups_and_names_what_set_the_target(column, test_cap, advice, caplog):
    """The note told every user "to keep the usual shares (20% test, 10% validation), split such a group": a built-in
    dataset's groups cannot be split by its user, and under --max-test the target was the cap, not the share."""
    import logging
    from collections import namedtuple
    from types import SimpleNamespace

    import numpy as np

    from headstart.data import split_notes

    groups = np.array([0] * 90 + list(range(1, 201)))
    part = np.array([2] * 90 + [0] * 200)
    data = SimpleNamespace(hash=f"advice-{column}-{test_cap}", groups=groups, source={"group_column": column} if column else {},
                           name="d", inputs=[f"row {i}" for i in range(len(groups))])
    config = namedtuple("Config", "test_fraction val_fraction test_cap max_val")(0.2, 0.1, test_cap, 10_000)
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        split_notes.note_group_overshoot(_Sized(data, len(groups)), config, part, {"test": float(test_cap or 40), "validation": 0.0})
    said = caplog.text
    assert "the test split holds 90 rows against a target of" in said, said
    if advice is None:
        assert "split such a group" not in said and "usual shares" not in said, said
    else:
        assert advice in said, said


def test_the_uncapped_split_a_test_cap_is_measured_against_says_nothing_of_its_parts(caplog, monkeypatch):
    """compare --max-test 300 --max-val 50 on rotten-tomatoes said "the validation split holds 80 rows against a target
    of 50": the rows of the uncapped split that scoring cuts only to count the test rows the cap left out, not the 65
    the runs validated on. That split now says nothing; the run's own still notes an overshoot."""
    import dataclasses
    import logging

    import headstart.data.split_notes as split_notes
    import headstart.data.splits as splits
    from headstart.data import load_dataset
    from headstart.data.splits import uncapped_test_rows

    monkeypatch.setattr(split_notes, "_OVERSHOT", set())  # notes said once a process: none said yet
    monkeypatch.setattr(splits, "_UNCAPPED", {})
    data = load_dataset("rotten-tomatoes")
    config = SplitConfig(max_test=300, max_val=50)
    with caplog.at_level(logging.INFO, logger="headstart"):
        used = split_dataset(data, config)
        caplog.clear()
        rows = uncapped_test_rows(data, config)
        assert not [r for r in caplog.records if "validation split holds" in r.getMessage()], caplog.text
        uncapped = split_dataset(data, dataclasses.replace(config, max_test=None))
    assert rows == len(uncapped.test) > len(used.test)
    assert len(uncapped.val) > 1.5 * 50 >= len(used.val), "the uncapped split overshoots its target, the run's does not"
    assert "the validation split holds 80 rows against a target of 50" in caplog.text, "a split that is used says so"


@pytest.mark.parametrize("config, said", [
    (SplitConfig(max_test=50), "the test split holds 66 rows against a target of 50 set by --max-test: groups stay whole"),
    (SplitConfig(max_test=50, max_val=60),
     "the validation split holds 70 rows against a target of 60 set by --max-val: groups stay whole"),
])
def test_a_cap_the_user_set_is_said_whenever_whole_groups_carry_a_part_past_it(config, said, caplog, monkeypatch):
    """rotten-tomatoes at --max-test 50 kept 66 test rows (whole movies) and said nothing: the note came only at 1.5
    times the target, so --max-val 50's 80 rows were said and --max-test 50's 66 were not. A cap the user set is now
    said whenever a part passes it, with the rows kept and why; the rows are the same (stored runs keep their split)."""
    import logging

    import headstart.data.split_notes as split_notes
    from headstart.data import load_dataset

    monkeypatch.setattr(split_notes, "_OVERSHOT", set())
    with caplog.at_level(logging.INFO, logger="headstart"):
        splits = split_dataset(load_dataset("rotten-tomatoes"), config)
    assert (len(splits.test), len(splits.val)) == ((66, 320) if config.max_val == 300 else (66, 70))
    assert said in caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        split_dataset(load_dataset("rotten-tomatoes"))
    assert "against a target" not in caplog.text, "the default split is near its shares and its caps are not the user's"


@pytest.mark.parametrize("config, part, rows, said", [
    (SplitConfig(max_val=10), "val", 40, "the validation split holds 40 rows against a target of 10 set by --max-val: the split "
     "is stratified, and each of the 40 classes in it rounds its share up to a whole row (no cap below 40 can be met)"),
    (SplitConfig(max_test=25), "test", 40, "the test split holds 40 rows against a target of 25 set by --max-test"),
])
def test_a_cap_below_the_classes_is_said_with_the_rows_kept_and_why(config, part, rows, said, caplog):
    """40 classes at --max-val 10 kept 40 validation rows (each class takes its first row) and said nothing, as
    --max-test below the classes did: now a note says the rows kept and why, as whole groups' overshoot is said."""
    import logging

    n, k = 2000, 40
    data = Dataset(name=f"many-{part}", inputs=[f"text {i}" for i in range(n)], targets=np.arange(n) % k,
                   task="classification", label_names=tuple(f"c{i}" for i in range(k)))
    with caplog.at_level(logging.INFO, logger="headstart"):
        splits = split_dataset(data, config)
    assert len(splits.part(part)) == rows and said in caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        split_dataset(data, SplitConfig(max_val=200))
    assert "against a target" not in caplog.text, "a cap the split meets is not said"


def test_the_image_test_splits_default_cap_is_said_as_a_default_not_as_set_by_the_flag(caplog, monkeypatch):
    """An image test split over 2,000 rows keeps 2,000 by default (``data_defaults``); a part that its classes carried
    past that cap was said "against a target of 2000 set by --max-test", a flag the user never passed."""
    import logging

    import headstart.data.split_notes as split_notes
    import headstart.data_defaults

    monkeypatch.setattr(headstart.data_defaults, "IMAGE_MAX_TEST", 25)  # the default cap, at this data's scale
    monkeypatch.setattr(split_notes, "IMAGE_MAX_TEST", 25)  # where the split's notes read it
    monkeypatch.setattr(split_notes, "_OVERSHOT", set())
    n, k = 2000, 40
    data = Dataset(name="many-images", inputs=[np.full((2, 2), i % 256, dtype=np.uint8) for i in range(n)],
                   targets=np.arange(n) % k, task="classification", label_names=tuple(f"c{i}" for i in range(k)),
                   modality="image")
    with caplog.at_level(logging.INFO, logger="headstart"):
        split_dataset(data, SplitConfig(max_test=25))
    assert ("the test split holds 40 rows against the default cap of 25 for a large image test split (max_test=N sets "
            "another): the split is stratified") in caplog.text, caplog.text  # to a Python caller; the CLI's: --max-test N
    assert "set by --max-test" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        split_dataset(data, SplitConfig(max_test=20))
    assert "the test split holds 40 rows against a target of 20 set by --max-test" in caplog.text, caplog.text


def test_a_cap_passed_by_a_row_of_rounding_is_not_said(caplog):
    """Two classes at --max-test 50 keep 51 rows (each class rounds its 25.x up): a note on nearly every capped run
    said a row of rounding as if it mattered. A part past its cap by more than a tenth of it is still said."""
    import logging

    n = 600
    data = Dataset(name="two-classes", inputs=[f"text {i}" for i in range(n)], targets=(np.arange(n) % 7 < 3).astype(np.int64),
                   task="classification", label_names=("a", "b"))
    with caplog.at_level(logging.INFO, logger="headstart"):
        splits = split_dataset(data, SplitConfig(max_test=50))
    assert 50 < len(splits.test) <= 55 and "against a target" not in caplog.text, (len(splits.test), caplog.text)
