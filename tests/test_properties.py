"""Properties over generated inputs: splits, nested subsamples, --n / --sizes parsing, dedupe.

Each property runs a few dozen examples (deadline off: the 2-core CI machine is shared), so the file stays fast.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig, split_dataset
from headstart.data.subsamples import subsample
from headstart.errors import ConfigError, DataError
from headstart.data.leakage import leaked_test_rows
from headstart.arguments import parse_n
from headstart.sweep_spec import parse_sizes

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def datasets(draw, *, tasks: tuple[str, ...] = ("classification", "regression", "multilabel")) -> Dataset:
    """A labelled dataset of 30-300 rows: 2-4 classes of >= 3 examples (or real-valued / multi-hot targets),
    with or without groups (1-12 rows each)."""
    task = draw(st.sampled_from(tasks))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    if task == "classification":
        counts = draw(st.lists(st.integers(3, 80), min_size=2, max_size=4))
        targets = rng.permutation(np.concatenate([np.full(c, i, dtype=np.int64) for i, c in enumerate(counts)]))
        names = tuple(f"c{i}" for i in range(len(counts)))
    else:
        size = draw(st.integers(30, 300))
        if task == "regression":
            targets, names = rng.normal(size=size).astype(np.float32), ()
        else:
            targets = (rng.random((size, 3)) < 0.5).astype(np.float32)
            targets[np.arange(size), rng.integers(0, 3, size=size)] = 1.0  # at least one label per row
            names = ("x", "y", "z")
    groups = None
    if draw(st.booleans()):
        groups = rng.integers(0, max(2, len(targets) // draw(st.integers(1, 12))), size=len(targets)).astype(np.int64)
    texts = [f"example {i} of {seed}" for i in range(len(targets))]
    return Dataset(name="generated", inputs=texts, targets=targets, task=task, label_names=names, groups=groups)


split_configs = st.builds(
    SplitConfig,
    seed=st.integers(0, 1000),
    test_fraction=st.floats(0.05, 0.45),
    val_fraction=st.floats(0.05, 0.45),
    max_val=st.integers(1, 400),
    max_test=st.one_of(st.none(), st.integers(1, 400)),
)

KNOWN_REFUSALS = re.compile(r"split of .* is empty|not in the training pool")


def split_or_refuse(data: Dataset, config: SplitConfig):
    """The split, or None when the data cannot be cut that way (too few groups for a part): a DataError, never a bug."""
    try:
        return split_dataset(data, config)
    except DataError as e:
        assert KNOWN_REFUSALS.search(str(e)), str(e)
        return None


@given(data=datasets(), config=split_configs)
@FAST
def test_split_parts_are_disjoint_sorted_and_cover_every_row(data, config):
    splits = split_or_refuse(data, config)
    assume(splits is not None)
    parts = [splits.pool, splits.val, splits.test]
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)) == len(data)
    assert all(len(p) > 0 and np.all(np.diff(p) > 0) and p.dtype == np.int64 for p in parts)
    if config.max_test is not None:
        largest_group = 1 if data.groups is None else int(np.bincount(data.groups).max())
        assert len(splits.test) <= config.max_test + largest_group * len(np.unique(data.stratify_labels()))


@given(data=datasets(), config=split_configs)
@FAST
def test_no_group_spans_two_parts(data, config):
    assume(data.groups is not None)
    splits = split_or_refuse(data, config)
    assume(splits is not None)
    sides = [set(data.groups[p].tolist()) for p in (splits.pool, splits.val, splits.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


@given(data=datasets(), config=split_configs)
@FAST
def test_split_is_deterministic_for_a_seed(data, config):
    first = split_or_refuse(data, config)
    assume(first is not None)
    again = split_dataset(data, dataclasses.replace(config))
    assert all(np.array_equal(first.part(p), again.part(p)) for p in ("pool", "val", "test"))


@given(data=datasets(tasks=("classification",)), config=split_configs)
@FAST
def test_every_class_is_in_the_pool(data, config):
    splits = split_or_refuse(data, config)
    assume(splits is not None)
    assert set(np.unique(data.targets[splits.pool]).tolist()) == set(range(data.num_classes))


@given(data=datasets(tasks=("classification",)), config=split_configs, copies=st.integers(1, 20), seed=st.integers(0, 1000))
@FAST
def test_dedupe_only_removes_rows_that_duplicate_training_rows(data, config, copies, seed):
    rng = np.random.default_rng(seed)
    texts = [" ".join(f"w{k}" for k in rng.integers(0, 5000, size=8)) for _ in range(len(data))]
    for target, source in zip(rng.integers(0, len(texts), size=copies), rng.integers(0, len(texts), size=copies)):
        texts[target] = texts[source]
    data = dataclasses.replace(data, inputs=texts)
    plain = split_or_refuse(data, config)
    assume(plain is not None)
    try:
        deduped = split_dataset(data, dataclasses.replace(config, dedupe=True))
    except DataError as e:
        assert "dedupe leaves no test split" in str(e) or "dedupe leaves no validation split" in str(e)
        return
    assert np.array_equal(deduped.pool, plain.pool)
    assert np.array_equal(deduped.test, np.setdiff1d(plain.test, leaked_test_rows(data, plain)))
    seen = {texts[i] for i in np.concatenate([plain.pool, plain.val])}
    assert {int(i) for i in plain.test if texts[i] in seen} == set(plain.test.tolist()) - set(deduped.test.tolist())
    pooled = {texts[i] for i in plain.pool}  # validation loses exactly its copies of pool rows
    assert {int(i) for i in plain.val if texts[i] in pooled} == set(plain.val.tolist()) - set(deduped.val.tolist())


# ---- subsamples ----------------------------------------------------------------------------------------

@given(data=datasets(tasks=("classification",)), seed=st.integers(0, 2**31), fractions=st.lists(st.floats(0, 1), min_size=2, max_size=5))
@FAST
def test_subsamples_are_nested_exact_and_hold_every_class(data, seed, fractions):
    splits = split_or_refuse(data, SplitConfig())
    assume(splits is not None)
    pool = splits.pool
    classes = data.num_classes
    sizes = sorted({classes + int(f * (len(pool) - classes)) for f in fractions})
    previous: list[int] = []
    for n in sizes:
        rows = subsample(data, pool, n, seed)
        assert len(rows) == n == len(np.unique(rows))
        assert set(rows.tolist()) <= set(pool.tolist())
        assert (np.bincount(data.targets[rows], minlength=classes) >= 1).all()
        assert rows[: len(previous)].tolist() == previous  # nested: a smaller size is a prefix of a larger one
        previous = rows.tolist()
    assert np.array_equal(subsample(data, pool, sizes[-1], seed), np.asarray(previous))  # same seed, same sample


@given(data=datasets(tasks=("classification",)), seed=st.integers(0, 1000), n=st.integers(-5, 1000))
@FAST
def test_subsample_size_out_of_range_is_a_data_error(data, seed, n):
    pool = np.arange(len(data))
    assume(n != 0 and (n < data.num_classes or n > len(pool)))  # n = 0 draws no rows (zero-shot)
    with pytest.raises(DataError, match=rf"--n {n}|--n must be >= 0"):
        subsample(data, pool, n, seed)


# ---- --n and --sizes -----------------------------------------------------------------------------------

sizes_lists = st.lists(st.one_of(st.integers(1, 10**6), st.just(None)), min_size=1, max_size=8)
spaces = st.sampled_from(["", " ", "  ", "\t"])


def format_sizes(sizes: list[int | None], pad: list[str]) -> str:
    return ",".join(f"{pad[i % len(pad)]}{'all' if n is None else n}{pad[(i + 1) % len(pad)]}" for i, n in enumerate(sizes))


@given(sizes=sizes_lists, pad=st.lists(spaces, min_size=1, max_size=3))
@FAST
def test_sizes_round_trip(sizes, pad):
    if len(set(sizes)) < len(sizes):  # a size given twice is refused, naming the list, never silently dropped
        with pytest.raises(ConfigError, match="^sizes lists a size twice"):
            parse_sizes(format_sizes(sizes, pad))
        return
    parsed = parse_sizes(format_sizes(sizes, pad))
    expected = sorted(n for n in sizes if n is not None) + ([None] if None in sizes else [])
    assert list(parsed) == expected
    assert parse_sizes(format_sizes(list(parsed), [""])) == parsed  # canonical form parses to itself


@given(n=st.integers(1, 10**9), case=st.sampled_from(["all", "ALL", " All "]))
@FAST
def test_parse_n_round_trips(n, case):
    assert parse_n(str(n)) == n and parse_n(n) == n and parse_n(f" {n} ") == n
    assert parse_n(case) is None and parse_n(None) is None


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Nd",)), min_size=1, max_size=12))
@FAST
def test_parse_n_rejects_text_without_digits(text):
    assume(text.strip().lower() != "all")
    with pytest.raises(ConfigError, match=re.escape(repr(text))):
        parse_n(text)


@given(n=st.one_of(st.integers(-10**6, -1), st.floats(allow_nan=True, allow_infinity=True).map(str)))
@FAST
def test_parse_n_rejects_negative_and_fractional(n):
    assume(not (isinstance(n, str) and re.fullmatch(r"\d+", n)))
    with pytest.raises(ConfigError, match="--n must be a non-negative integer or 'all'"):
        parse_n(str(n))


@given(text=st.text(max_size=30))
@FAST
def test_parse_sizes_never_fails_with_anything_but_a_config_error(text):
    try:
        sizes = parse_sizes(text)
    except ConfigError as e:
        assert str(e).startswith("sizes")  # called from Python: the argument, not the flag
        return
    assert sizes and all(n is None or (isinstance(n, int) and n >= 1) for n in sizes)
    assert list(sizes) == sorted(sizes, key=lambda n: float("inf") if n is None else n)


@given(good=sizes_lists, bad=st.text(alphabet="abcxyz-.%", min_size=1, max_size=6), at=st.integers(0, 8))
@FAST
def test_parse_sizes_names_the_bad_entry(good, bad, at):
    entries = ["all" if n is None else str(n) for n in good]
    entries.insert(min(at, len(entries)), bad)
    assume(bad.strip().lower() != "all")
    with pytest.raises(ConfigError, match="^" + re.escape(f"sizes entry {bad.strip()!r}")):
        parse_sizes(",".join(entries))
