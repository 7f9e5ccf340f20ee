"""What a split says about itself (``split_dataset`` notes it): a part that whole groups pushed far past its target, and
the classes too rare in test or validation for their score there to mean anything."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pathlib import Path

from headstart.data.shown import shown_name
from headstart.surface import spoken

OVERSHOOT = 1.5  # a part this many times its target (and OVERSHOOT_ROWS over it) was filled by a group too big for it
OVERSHOOT_ROWS = 10
CAP_SLACK = 1.1  # a part past a cap the user set by more than a tenth of it is said; a row or two of rounding is not
IMAGE_MAX_TEST = 2000  # the test rows data_defaults keeps of a large image test split, unasked (said as a default)
IMAGE_DEFAULT = "the image default"  # caps_set's word for data_defaults' cap on an image test split: no flag set it
_OVERSHOT: set[tuple[str, Any]] = set()  # said once per dataset and split, not once per run of a sweep
FEW_ROWS = 5  # a class with fewer test rows than this is scored on a handful: its test F1 is noise
FEW_VAL_ROWS = 2  # validation is half test's share: a class has 2-4 rows there in a 500-row table, so only 0 or 1 is said
_FEW_SAID: set[tuple[str, Any]] = set()


def note_group_overshoot(data: Any, config: Any, part: np.ndarray, targets: dict[str, float], *,
                         strata: np.ndarray | None = None) -> None:
    """Says (a ``note:`` line) which part a whole group pushed far past its target, or past a cap the user set by more
    than a tenth of it (``caps_set``, ``CAP_SLACK``: ``--max-test 50`` keeping 66 rows), with the sizes and the group: a group goes to test or validation
    whole while that part is below its target, so one big group can take half the data, which the docs' 20% / 10% (or
    the cap) no longer describe. Data without groups is said only past a cap the user set: each class (``strata``, a
    stratified split's) takes its first row while its share is above zero, so a cap below the classes cannot be met
    (200 classes at ``--max-val 20`` keep 200 validation rows)."""
    key = (data.hash, config)
    if key in _OVERSHOT:
        return
    counts = {"test": int((part == 2).sum()), "validation": int((part == 1).sum())}
    capped = caps_set(data, config)
    over = [name for name, target in targets.items()
            if data.groups is not None and counts[name] > OVERSHOOT * target and counts[name] - target >= OVERSHOOT_ROWS
            or name in capped and counts[name] > CAP_SLACK * target]  # a cap the user set: said once a part is past it
    if not over:
        return
    _OVERSHOT.add(key)
    if data.groups is None:
        _note_strata_overshoot(data, part, targets, over, capped, strata)
        return
    sizes = np.bincount(data.groups, minlength=int(data.groups.max()) + 1)
    column = data.source.get("group_column")
    said = []
    for name in over:
        rows = np.flatnonzero(part == (2 if name == "test" else 1))
        ids, first = np.unique(data.groups[rows], return_index=True)
        big = sorted(((int(sizes[g]), int(rows[f])) for g, f in zip(ids, first) if sizes[g] > targets[name] / 2), reverse=True)
        shown = ", ".join(f"{size} rows (the first: {str(data.inputs[at])[:30]!r})" for size, at in big[:3])
        said.append(f"the {name} split holds {counts[name]} rows {_against(targets[name], capped.get(name))}: groups{' of --group-column ' + repr(column) if column else ''} stay whole"
                    + (", and " + (f"its largest groups have {shown}" if len(big) > 1 else f"the largest group in it has {shown}")
                       if big else ""))
    pool = int((part == 0).sum())
    logging.getLogger("headstart.data.files").info("%s: %s; the training pool keeps %d of %d rows.%s", shown_name(data.name),
                                                   "; ".join(said), pool, len(data), _advice(data, config, over, column))


def _note_strata_overshoot(data: Any, part: np.ndarray, targets: dict[str, float], over: list[str],
                           capped: dict[str, str], strata: np.ndarray | None) -> None:
    """``note_group_overshoot``'s line for data without groups, each part of ``over`` past its cap: the classes in it,
    each of which took a row, and the cap that would hold them."""
    kind = "classes" if data.task == "classification" else "strata"  # a multilabel's rarest label, a regression's bins
    said = []
    for name in over:
        rows = np.flatnonzero(part == (2 if name == "test" else 1))
        classes = len(np.unique(strata[rows])) if strata is not None else 0
        said.append(f"the {name} split holds {len(rows)} rows {_against(targets[name], capped[name])}"
                    + (f": the split is stratified, and each of the {classes} {kind} in it rounds its share up to a "
                       f"whole row" + (f" (no cap below {classes} can be met)" if classes > targets[name] else "")
                       if classes else ""))
    logging.getLogger("headstart.data.files").info("%s: %s; the training pool keeps %d of %d rows.", shown_name(data.name),
                                                   "; ".join(said), int((part == 0).sum()), len(data))


def caps_set(data: Any, config: Any) -> dict[str, str]:
    """The parts whose target is a cap below their share, by the flag that set it: ``--max-test`` below test's share
    (``IMAGE_DEFAULT`` where it is the cap ``data_defaults`` gives a large image test split, which the user did not
    set: the same run as ``--max-test 2000``), and a ``--max-val`` other than the default (300) below validation's.
    Whole groups (or a stratum's first row) can carry a part past such a cap; a user who asked for 50 rows expects to
    hear that they got 66."""
    test_cap, max_val = getattr(config, "test_cap", None), getattr(config, "max_val", None)
    capped = {}
    if test_cap is not None and test_cap < config.test_fraction * len(data):
        image_default = getattr(data, "modality", "text") == "image" and test_cap == IMAGE_MAX_TEST
        capped["test"] = IMAGE_DEFAULT if image_default else "--max-test"
    if max_val is not None and max_val != type(config).max_val and max_val < config.val_fraction * len(data):
        capped["validation"] = "--max-val"
    return capped


def _against(target: float, cap: str | None) -> str:
    """A part's target as its note says it: ``"against a target of 50 set by --max-test"``, or the image test split's
    default cap, named as a default and with the flag that sets another."""
    if cap == IMAGE_DEFAULT:
        return (f"against the default cap of {target:,.0f} for a large image test split "
                f"({spoken('--max-test N', 'max_test=N')} sets another)")
    return f"against a target of {target:.0f}" + (f" set by {cap}" if cap else "")


def _advice(data: Any, config: Any, over: list[str], column: str | None) -> str:
    """What the user can do about an overshoot: only the groups of a file's --group-column are theirs to split (a
    built-in dataset's are not), and the aim is the usual shares unless a cap (--max-test, --max-val) set the target."""
    if not column:
        return ""
    capped = [name for name in over
              if (name == "test" and getattr(config, "test_cap", None) is not None
                  and config.test_cap < config.test_fraction * len(data))
              or (name == "validation" and getattr(config, "max_val", None) is not None
                  and config.max_val < config.val_fraction * len(data))]
    aim = ("the target" if capped else
           f"the usual shares ({100 * config.test_fraction:g}% test, {100 * config.val_fraction:g}% validation)")
    return f" To come nearer {aim}, split such a group of {column!r} into smaller ones"


def note_test_file(data: Any, config: Any, scored: int) -> None:
    """Says (``test split: 380 rows from test.csv (your file)``) how many rows of a ``--test-data`` file are the test
    split: every one of its rows, unless ``--max-test`` keeps fewer or ``--dedupe`` dropped copies of training rows."""
    key = (data.hash, config, "test-data")
    if key in _OVERSHOT:
        return
    _OVERSHOT.add(key)
    total = int((data.given_split == 2).sum())
    name = shown_name(Path(data.source["test_data"]).name)
    cut = [*([f"--max-test {config.test_cap} keeps them of its {total:,}"] if config.test_cap is not None
             and config.test_cap < total else []),
           *(["--dedupe dropped those that copy a training or validation row"] if config.dedupe and scored < total else [])]
    logging.getLogger("headstart.data.files").info("test split: %s rows from %s (your file%s)", f"{scored:,}", name,
                                                   f"; {', and '.join(cut)}" if cut else "")


def note_small_classes(data: Any, config: Any, pool: np.ndarray, val: np.ndarray, test: np.ndarray) -> None:
    """Says (a ``note:`` line, once per dataset and split) which classes have fewer than ``FEW_ROWS`` rows in the test
    split (or fewer than ``FEW_VAL_ROWS`` in validation), with where their rows landed: macro-F1, which the recommendation ranks on, weighs each class
    as much as any other, so one scored on one or two rows moves it by chance (3 rows of 1,200: an F1 of 0 or 1 is a
    ninth of an 11-class macro-F1). Said only of a user's table (``data.source["path"]``: a file, or a DataFrame staged
    as one), and only where another class has enough rows in both (in a small dataset every class is few, which its
    interval already says). ``pool`` / ``val`` / ``test``: each part's row indices."""
    if data.task != "classification" or not data.label_names or "path" not in data.source:
        return  # a built-in dataset is as it ships: there is no file of the user's to merge or drop a class in
    key = (data.hash, config)
    if key in _FEW_SAID:
        return
    classes = len(data.label_names)
    counts = {name: np.bincount(data.targets[rows], minlength=classes) for name, rows in
              (("pool", pool), ("validation", val), ("test", test))}
    few = np.flatnonzero((counts["test"] < FEW_ROWS) | (counts["validation"] < FEW_VAL_ROWS))
    if not len(few) or len(few) == classes:
        return
    _FEW_SAID.add(key)
    shown = "; ".join(f"{data.label_names[c]!r} ({int(sum(counts[p][c] for p in counts))} rows: {int(counts['pool'][c])} in "
                      f"the training pool, {int(counts['validation'][c])} validation, {int(counts['test'][c])} test)"
                      for c in few[:5]) + (f"; and {len(few) - 5} more" if len(few) > 5 else "")
    logging.getLogger("headstart.data.files").info(
        "%s: %s fewer than %d rows in the test split (or %d in validation): %s; %s score there is noise, yet weighs in macro-F1 "
        "as much as any other class's; merge %s into a related class, drop %s rows in the file, or label more",
        shown_name(data.name), "a class has" if len(few) == 1 else f"{len(few)} classes have", FEW_ROWS, FEW_VAL_ROWS, shown,
        "its" if len(few) == 1 else "their", "it" if len(few) == 1 else "them", "its" if len(few) == 1 else "their")
