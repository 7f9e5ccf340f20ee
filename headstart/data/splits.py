"""Fixed, seeded, stratified, group-aware splits of a dataset into pool / validation / test.

The split is a function of the dataset and a split seed only (never of the run seed), so every run on a dataset sees
the same test set. Groups (e.g. the movie a review is about) are kept whole on one side. A run's labelled rows are then
drawn from the pool as nested stratified subsamples (``data.subsamples``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.data.dataset import Dataset, Splits, input_identity
from headstart.data.split_notes import note_group_overshoot, note_small_classes, note_test_file
from headstart.errors import ConfigError, DataError
from headstart.python_checks import settings_class
from headstart.surface import setting_text, spoken


def means_all(value: Any) -> bool:
    """Whether a ``max_test`` as given is "all" (any case, spaces around): every test row, "all" in a SplitConfig. The
    one reading of it, for ``--max-test``, a keyword argument, a TOML's ``[split]`` and ``compare(split={...})``."""
    return isinstance(value, str) and value.strip().lower() == "all"


def split_given(split: Any) -> Any:
    """A ``[split]`` table (a TOML's) or ``split`` dict (``compare``'s) with a ``max_test`` of "all" spelt one way, every
    test row, as ``--max-test all`` reads it; anything else as given, for the settings' own checks."""
    if isinstance(split, dict) and means_all(split.get("max_test")):
        return {**split, "max_test": "all"}
    return split


def max_test_rows(value: Any) -> int | str | None:
    """A ``max_test`` argument (``fit``, ``compare``, ``adapt``, ``continual``, ``multitask``) or ``--max-test`` text as
    read: a whole number >= 1; "all": every test row, asked for, so no default caps it (``SplitConfig.max_test``); None:
    no cap of the caller's, so the data's default holds — every test row, but 2,000 of an image test split over 2,000
    where ``data_defaults`` fills the split.

    Raises:
        ConfigError: anything else, named with an example.
    """
    if value is None:
        return None
    if means_all(value):
        return "all"
    given = value
    if isinstance(value, str):  # the CLI's text: int() reads "1000", "+5", "1_000"; not "²", which isdigit() calls a digit
        try:
            value = int(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"--max-test must be a positive integer or {spoken('all', repr('all'))}, got {given!r}; "
                          "e.g. --max-test 1000")
    return value


def max_val_rows(value: Any) -> int | None:
    """A ``max_val`` argument (``fit``, ``compare``) or ``--max-val`` text as read: a whole number >= 1, the most
    validation rows a split keeps (``SplitConfig.max_val``); None: no cap of the caller's, so the split's own (300, or a
    sweep file's ``[split] max_val``) holds.

    Raises:
        ConfigError: anything else, named with an example.
    """
    if value is None:
        return None
    given = value
    if isinstance(value, str):  # the CLI's text, read as --max-test's is: int() reads "100", "+5", "1_000"
        try:
            value = int(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"--max-val must be a positive integer (validation rows kept; leave it out for the default: "
                          f"10% of the rows, at most 300), got {given!r}; e.g. --max-val 100")
    return value


@settings_class
@dataclass(frozen=True)
class SplitConfig:
    """How a dataset is cut into pool / validation / test.

    Defaults: 20% test (about ±1 point of binomial noise at 2,500 examples); 10% validation, capped
    at ``max_val`` because validation is evaluated several times per run and ~300 examples already
    rank checkpoints reliably.
    """

    seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    max_val: int = 300
    max_test: int | str | None = None  # cap for quick sweeps (the demo): rows over it go to the pool, not to test; "all": every test row, asked for (no data default caps it); None: the data's default
    dedupe: bool = False  # drop test rows that duplicate pool/val rows and val rows that duplicate pool rows (headstart.data.leakage); off: existing splits stay as they were
    stratify: bool = True  # False: one stratum, a seeded random cut that reads no label (how an out-of-domain target is cut)

    def __post_init__(self) -> None:
        for name, default in (("test_fraction", 0.2), ("val_fraction", 0.1)):  # no flag: a TOML's [split] or a keyword
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise ConfigError(f"{name} must be in (0, 0.5), got {value!r}; e.g. {setting_text(name, default)}")
        if self.max_val < 1:  # named as --max-test is: a TOML's [split] reads "try max_val = 300", Python "max_val=300"
            raise ConfigError(f"--max-val must be a positive integer (leave it out for the default: 10% of the rows, at "
                              f"most 300), got {self.max_val!r}; try --max-val 300")
        if means_all(self.max_test):
            object.__setattr__(self, "max_test", "all")  # one spelling: " ALL " is "all"
        elif self.max_test is not None and (isinstance(self.max_test, bool) or not isinstance(self.max_test, int)
                                            or self.max_test < 1):
            # the CLI's words; a TOML's [split] reads "max_test ... try max_test = 1000" (sweep_config._check_values),
            # Python "max_test ... try max_test=1000" (settings_class)
            raise ConfigError(f"--max-test must be a positive integer (leave it out for the default: every test row, or "
                              f"2,000 of a larger image test split), got {self.max_test!r}; try --max-test 1000")

    @property
    def test_cap(self) -> int | None:
        """The test rows' cap as a number, None for none ("all" or unset)."""
        return None if self.max_test is None or self.max_test == "all" else self.max_test

    def identity(self) -> dict[str, Any]:
        """The fields as stored in a run's spec; ``stratify`` only when off, so runs split the usual way keep their keys;
        ``max_test`` "all" as None, the same rows (an image run's default cap is filled in before keying)."""
        fields = dataclasses.asdict(self)
        if fields["max_test"] == "all":
            fields["max_test"] = None
        if fields["stratify"]:
            del fields["stratify"]
        return fields


def split_caps(split: SplitConfig, *, max_test: Any = None, max_val: Any = None, dedupe: bool = False) -> SplitConfig:
    """``split`` under the split keywords a caller gave (``fit``, ``compare``, ``adapt``, ``continual``, ``multitask``)
    or their flags' text (``--max-test``, ``--max-val``, ``--dedupe``): each one given replaces its field, and one not
    given keeps ``split``'s (a sweep file's ``[split]``, else the default).

    Args:
        split: the split the caps apply to.
        max_test: test rows, or "all" (every one, asked for), read by ``max_test_rows``; None keeps ``split.max_test``.
        max_val: validation rows at most, read by ``max_val_rows``; None keeps ``split.max_val``.
        dedupe: True turns ``split.dedupe`` on; False keeps ``split``'s (a switch cannot say "off" over a file's on).

    Returns:
        A ``SplitConfig``, equal to ``split`` where nothing is given.

    Raises:
        ConfigError: a ``max_test`` or ``max_val`` that is no whole number >= 1 (nor "all"), named as its flag.
    """
    max_test, max_val = max_test_rows(max_test), max_val_rows(max_val)
    given = {"max_test": max_test, "max_val": max_val, "dedupe": True if dedupe else None}
    return dataclasses.replace(split, **{name: value for name, value in given.items() if value is not None})


_LEAKED: dict[tuple[str, SplitConfig, bool], tuple[np.ndarray, np.ndarray]] = {}  # (test, validation) rows dropped; every run of a sweep re-splits; the check takes ~0.5 s on 13k texts


def split_dataset(data: Dataset, config: SplitConfig = SplitConfig(), *, by_label: bool | None = None,
                  notes: bool = True) -> Splits:
    """Split ``data`` into pool / val / test, stratified by label and keeping groups whole.

    ``notes=False`` says nothing of a part whole groups (or a class's first row) pushed past its target
    (``note_group_overshoot``): for a split
    counted but not used, whose sizes a note would give as the run's.

    ``by_label=False`` (default: ``config.stratify``) reads no label: one stratum (a seeded random cut, groups still whole) — how an out-of-domain
    dataset is split, so that which of its inputs alignment terms and test-time adaptation read (its pool) cannot
    depend on its labels.

    With ``config.dedupe`` the test rows that exactly or nearly duplicate a pool/validation row are dropped
    (``headstart.data.leakage``, Jaccard >= 0.8), and so are the validation rows that duplicate a pool row (what
    chooses must not reward the memorising that a deduplicated test no longer rewards); the pool is unchanged.

    Raises:
        DataError: the dataset has a single class, or a class too small to appear in every part.
    """
    by_label = config.stratify if by_label is None else by_label
    strata = data.stratify_labels() if by_label else np.zeros(len(data), dtype=np.int64)
    if data.task == "classification" and by_label:
        _check_classes(data, strata)
    if data.given_split is not None:
        part = _given_parts(data, strata, config)
    else:
        val_total = min(config.val_fraction * len(data), config.max_val)
        test_total = config.test_fraction * len(data) if config.test_cap is None else min(config.test_fraction * len(data), config.test_cap)
        part = _parts(np.arange(len(data)), data, strata, config.seed, test_total, val_total)
        if val_total > 0 and not (part == 1).any():  # whole groups swallowed validation's share in every stratum
            part = _parts(np.arange(len(data)), data, strata, config.seed, test_total, val_total, moved=True)
        if notes:
            note_group_overshoot(data, config, part, {"test": test_total, "validation": val_total},
                                 strata=strata if by_label else None)
    splits = Splits(pool=np.flatnonzero(part == 0), val=np.flatnonzero(part == 1), test=np.flatnonzero(part == 2))
    if config.dedupe:
        from headstart.data.leakage import leaked_test_rows, leaked_val_rows

        key = (data.hash, config, by_label)  # the unstratified cut (out of domain) has other test rows than the stratified one
        if key not in _LEAKED:
            if len(_LEAKED) >= 4:  # a dataset or two at a time, each cut both ways, is the common case; keep memory flat
                _LEAKED.clear()
            _LEAKED[key] = (leaked_test_rows(data, splits), leaked_val_rows(data, splits))
        leaked_test, leaked_val = _LEAKED[key]
        test, val = np.setdiff1d(splits.test, leaked_test), np.setdiff1d(splits.val, leaked_val)
        for name, rows in (("test", test), ("validation", val)):
            if len(rows) == 0:
                raise DataError(f"every {name} example of {data.name!r} duplicates a training example, so dedupe leaves no "
                                f"{name} split; remove the duplicates from the data or turn dedupe off")
        splits = Splits(pool=splits.pool, val=val, test=test)
    for name in ("pool", "val", "test"):
        if len(splits.part(name)) == 0:
            raise EmptySplit(f"the {name} split of {data.name!r} is empty ({len(data)} examples); {_empty_fix(name, data, config)}",
                             name, len(data))
    if by_label:
        _check_pool_has_every_label(data, splits)
        if notes:
            note_small_classes(data, config, splits.pool, splits.val, splits.test)
    if notes and data.source.get("test_data"):
        note_test_file(data, config, len(splits.test))
    return splits


def _empty_fix(part: str, data: Dataset, config: SplitConfig) -> str:
    """What to do about an empty ``part``: where ``max_val`` cut validation's share below its usual 10%, that cap is
    what to raise (a cap on test rows only moves rows to the pool, and test takes a group whatever its cap); otherwise
    the data is too small."""
    if part == "val" and data.given_split is None and config.max_val < config.val_fraction * len(data):
        more = 100 if config.max_val < 100 else 2 * config.max_val
        return (f"--max-val {config.max_val} gives validation a share that rounds to no row; raise it, e.g. "
                f"--max-val {more}, or leave it out (10% of the rows, at most 300)")
    return "use a larger dataset"


class EmptySplit(DataError):
    """A dataset too small for one of its parts: ``part`` ("pool", "val" or "test") got no row of its ``rows``."""

    def __init__(self, message: str, part: str, rows: int) -> None:
        super().__init__(message)
        self.part, self.rows = part, rows

    def __reduce__(self):  # re-raised from a worker process as itself
        return type(self), (str(self), self.part, self.rows)


def rows_to_split(config: SplitConfig = SplitConfig()) -> int:
    """The fewest rows from which every larger dataset of single rows (no groups) is cut by ``config`` with no part
    empty: 7 by default (a fifth to test, a tenth to validation, the rest the pool, as ``_parts`` fills them; 6 rows
    give test 2 and validation none)."""
    def cut(rows: int) -> bool:
        want_test = config.test_fraction * rows if config.test_cap is None else min(config.test_fraction * rows, config.test_cap)
        want_val = min(config.val_fraction * rows, config.max_val)
        test = min(rows, math.ceil(want_test))  # rows go to test while the rows before them are fewer than its target
        val = max(0, min(rows, math.ceil(want_test + want_val)) - test)
        return test > 0 and val > 0 and rows - test - val > 0

    # from 1 / val_fraction rows on, validation's target is a row or more, and each part gets one (both under a half)
    short = [rows for rows in range(1, math.ceil(1 / config.val_fraction) + 10) if not cut(rows)]
    return max(short, default=0) + 1


def _parts(rows: np.ndarray, data: Dataset, strata: np.ndarray, seed: int, test_total: float, val_total: float, *,
           moved: bool = False) -> np.ndarray:
    """(len(data),) part of each row — 0 pool, 1 val, 2 test — cutting only ``rows`` (the others stay 0): stratified,
    whole groups, seeded. In each stratum a group goes to test while the test part is below its target, then to val
    while test and val together are below their joint target, so test's overshoot comes out of validation's share.
    ``moved`` (``split_dataset`` asks for it only where that cut leaves validation no row at all, which stopped the run
    before, so no stored run split that way): where whole groups push a stratum's test a row or more past the joint
    target, its validation takes its share of rows after test's last group instead. The test part is the same."""
    groups = data.groups[rows] if data.groups is not None else rows
    group_ids, inverse = np.unique(groups, return_inverse=True)
    group_stratum = group_majority(inverse, strata[rows], len(group_ids))
    group_size = np.bincount(inverse, minlength=len(group_ids))
    rng = np.random.default_rng(seed)
    part_of_group = np.zeros(len(group_ids), dtype=np.int64)
    for stratum in np.unique(group_stratum):
        members = rng.permutation(np.flatnonzero(group_stratum == stratum))
        size = group_size[members].sum()
        want_test = test_total * size / len(rows)
        want_val = val_total * size / len(rows)
        filled = np.cumsum(group_size[members])
        before = filled - group_size[members]
        in_test = before < want_test
        part_of_group[members[in_test]] = 2
        test_end = filled[in_test][-1] if in_test.any() else 0
        val_from = test_end if moved and test_end >= want_test + want_val and test_end - want_test >= 1 else want_test
        in_val = ~in_test & (before >= val_from) & (before < val_from + want_val)
        part_of_group[members[in_val]] = 1
    part = np.zeros(len(data), dtype=np.int64)
    part[rows] = part_of_group[inverse]
    return part


def uncapped_test_rows(data: Dataset, config: SplitConfig) -> int | None:
    """The rows of ``data``'s test split without ``config.max_test`` (None without a cap), as scored (after
    ``dedupe`` where it is on): what a report needs to say whether the cap cut the split (a cap fills whole groups, so
    a capped split can hold as many rows as an uncapped one). One more split of the same data, remembered for the few
    datasets a sweep reads; it says nothing of its own parts (the run's split, capped, said its own)."""
    if config.test_cap is None:
        return None
    key = (data.hash, config)
    if key not in _UNCAPPED:
        if len(_UNCAPPED) >= 8:
            _UNCAPPED.clear()
        _UNCAPPED[key] = len(split_dataset(data, dataclasses.replace(config, max_test=None), notes=False).test)
    return _UNCAPPED[key]


_UNCAPPED: dict[tuple, int] = {}


def _given_parts(data: Dataset, strata: np.ndarray, config: SplitConfig) -> np.ndarray:
    """The user's own split (``--split-column``): train rows are the pool, test rows the test split. Without validation
    rows, validation is cut from the train rows as it would be from a whole dataset (stratified, whole groups,
    ``val_fraction`` capped at ``max_val``); ``max_test`` keeps a seeded stratified part of a larger test split (the rest
    is left out, never moved to the pool: those rows were the user's test data)."""
    part = data.given_split.astype(np.int64).copy()
    if not (part == 1).any():
        train = np.flatnonzero(part == 0)
        carved = _parts(train, data, strata, config.seed, 0.0, min(config.val_fraction * len(train), config.max_val))
        part[train[carved[train] == 1]] = 1
    test = np.flatnonzero(part == 2)
    if config.test_cap is not None and len(test) > config.test_cap:
        kept = _parts(test, data, strata, config.seed, float(config.test_cap), 0.0)
        part[test[kept[test] != 2]] = -1  # out of every part
    return part


def group_majority(inverse: np.ndarray, strata: np.ndarray, n_groups: int) -> np.ndarray:
    """(G,) each group's most frequent stratum (ties: the lowest), so whole groups move together.

    Vectorised: a loop over groups is quadratic, 3 s for 70,000 ungrouped images.

    Args:
        inverse: (N,) group index of each row, in [0, n_groups).
        strata: (N,) int >= 0 stratum of each row.
    """
    width = int(strata.max()) + 1 if len(strata) else 1
    pairs, counts = np.unique(inverse.astype(np.int64) * width + strata, return_counts=True)
    group, stratum = pairs // width, pairs % width
    order = np.lexsort((stratum, -counts, group))  # by group, then count descending, then stratum ascending
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    out = np.zeros(n_groups, dtype=np.int64)
    out[group[first]] = stratum[first]
    return out


def _check_pool_has_every_label(data: Dataset, splits: Splits) -> None:
    """A label seen in validation or test but never in the pool cannot be learnt (a rare multi-label tag, a class
    whose examples all sit in a few groups)."""
    if data.task == "regression":
        return

    def present(rows: np.ndarray) -> set[int]:
        if data.task == "classification":
            return set(np.unique(data.targets[rows]).tolist())
        return set(np.flatnonzero(data.targets[rows].sum(axis=0) > 0).tolist())

    absent = sorted((present(splits.val) | present(splits.test)) - present(splits.pool))
    if absent:
        names = [data.label_names[i] for i in absent]
        where = ", in more than one group" if data.groups is not None else ""
        raise DataError(f"labels {names} of {data.name!r} are in the test or validation split but not in the training pool, "
                        f"so no model can learn them; remove them or add examples (at least 3 each{where})")


MIN_PER_CLASS = 3  # one example of each class in train, validation and test
FREE_TEXT_ROWS = 20  # fewer rows cannot tell a column of free text from labels: in a tiny file every class is rare


def _check_classes(data: Dataset, labels: np.ndarray) -> None:
    counts = np.bincount(labels, minlength=data.num_classes)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        only = data.label_names[present[0]] if len(present) else "none"
        raise DataError(f"{data.name!r} has a single class ({only!r}); classification needs at least two labels")
    small_ids = [c for c in present if counts[c] < MIN_PER_CLASS]
    too_small = [data.label_names[c] for c in small_ids]
    if not too_small:
        return
    if len(labels) < 2 * MIN_PER_CLASS:
        raise DataError(f"{data.name!r} has only {len(labels)} labelled rows, too few to split into train, validation and "
                        f"test; add rows, at least {MIN_PER_CLASS} of each class (one per part) in two or more classes")
    shown = str([str(c)[:40] for c in too_small[:5]]) + (f" and {len(too_small) - 5} more" if len(too_small) > 5 else "")
    if len(present) > len(labels) / 2 and (len(labels) >= FREE_TEXT_ROWS or len(present) == len(labels)):
        # most rows a class of their own (every row, in a small file): free text
        raise DataError(f"{data.name!r} has {len(present)} classes in {len(labels)} rows, {shown}: the label column "
                        "looks like free text; name the column of labels (--label-column)")
    enough = len(present) - len(too_small)  # removing the small classes must leave two to tell apart
    fix = _rare_fix(data, int(counts[small_ids].sum())) if enough >= 2 else f"add examples until each has {MIN_PER_CLASS}"
    raise DataError(f"classes {shown} of {data.name!r} have fewer than {MIN_PER_CLASS} examples, too few to appear in "
                    f"train, validation and test; {fix}")


def _rare_fix(data: Dataset, rows: int) -> str:
    """How to drop or merge rare classes holding ``rows`` rows: in the file itself, since a training file is read as it
    is (a label mapping in brackets is --eval-data's only)."""
    them = "its row" if rows == 1 else f"their {rows} rows"
    column = data.source.get("label_column")
    if column and data.source.get("path"):
        return (f"edit the file: in its label column {column!r}, delete {them} or give {'it' if rows == 1 else 'them'} "
                "another class's label")
    return f"drop {them} from the data or give {'it' if rows == 1 else 'them'} another class's label"


def joint_splits(tasks: Sequence[tuple[str, Dataset]], config: SplitConfig) -> list[Splits]:
    """Each (name, dataset)'s pool / validation / test rows, cut once over the datasets' distinct inputs, so an input
    is on the same side for every dataset that holds it (tasks that share texts: a multi-task run, a continual stream).

    20% of the distinct inputs (whole groups of every dataset, seeded, ``config``'s fractions) are test, the next 10%
    validation, the rest the pool; each dataset then keeps at most ``max_test`` / ``max_val`` of its rows there (a
    seeded draw), the rest left out of it, never moved to its pool, where they would be another dataset's test or
    validation input. The cut reads no label, so it is not stratified.

    Raises:
        DataError: a dataset left with an empty part, or with a class in validation or test that its pool lacks.
    """
    index: dict[str, int] = {}
    ids = [np.asarray([index.setdefault(input_identity(x), len(index)) for x in data.inputs], dtype=np.int64) for _, data in tasks]
    parent = np.arange(len(index))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (_, data), own in zip(tasks, ids):  # a dataset's group (a movie, a patient) stays whole, whichever names it
        if data.groups is not None:
            first: dict[int, int] = {}
            for g, i in zip(data.groups.tolist(), own.tolist()):
                parent[root(i)] = root(first.setdefault(g, i))
    groups = np.asarray([root(i) for i in range(len(index))], dtype=np.int64)
    union = Dataset(name="+".join(name for name, _ in tasks), inputs=[""] * len(index), targets=np.zeros(len(index), np.float32),
                    task="regression", label_names=(), groups=groups)
    uncapped = SplitConfig(seed=config.seed, test_fraction=config.test_fraction, val_fraction=config.val_fraction,
                           max_val=max(1, len(index)), max_test=None)
    cut = split_dataset(union, uncapped, by_label=False)
    side = np.zeros(len(index), dtype=np.int64)
    side[cut.val], side[cut.test] = 1, 2
    rank = np.random.default_rng(config.seed).permutation(len(index))  # which rows a cap keeps: a seeded draw
    out = []
    for (name, data), own in zip(tasks, ids):
        parts = []
        for part, cap in ((0, None), (1, config.max_val), (2, config.test_cap)):
            rows = np.flatnonzero(side[own] == part)
            if cap is not None and len(rows) > cap:
                rows = np.sort(rows[np.argsort(rank[own[rows]], kind="stable")[:cap]])
            parts.append(rows)
        splits = Splits(pool=parts[0], val=parts[1], test=parts[2])
        _check_task_parts(name, data, splits)
        out.append(splits)
    return out


def _check_task_parts(name: str, data: Dataset, splits: Splits) -> None:
    for part in ("pool", "val", "test"):
        if len(splits.part(part)) == 0:
            raise DataError(f"the {part} split of task {name!r} is empty ({len(data)} rows); use a larger dataset")
    if data.task == "classification":
        missing = sorted(set(np.unique(data.targets[np.concatenate([splits.val, splits.test])]).tolist())
                         - set(np.unique(data.targets[splits.pool]).tolist()))
        if missing:
            raise DataError(f"labels {[data.label_names[c] for c in missing]} of task {name!r} are in its test or "
                            "validation split but not in its training pool, so no model can learn them; remove them or add "
                            "examples (at least 3 each)")
