"""What a compare into a store that already holds runs changes: the shared training settings (``--max-steps``,
``--epochs``, a ``--config`` file's ``[train]``, ``--no-tune``) its arms run with where the stored arms of the same
experiment ran with others. Such a setting is part of an arm (``arms.ARM_FIELDS``), so each arm that reads it is a new
one, ``lora[max_steps=4]`` beside the stored ``lora[max_steps=3]``, and none of those stored runs is reused; the split
settings (``--max-test``, ``--max-val``, ``--dedupe``, a ``--config`` file's ``[split]``) are the experiment's (its test
rows), so a change there makes a new experiment, none of whose runs is stored either. ``changed_text`` is the line
compare says so with before it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headstart.analysis.arms import EXPERIMENT_FIELDS, canonical, setting_value, arm_key, experiment_key, label_arms
from headstart.results import RunResult
from headstart.surface import on_cli, setting_text, spoken

SHOWN = 4  # new arms named in the line; the rest counted
COMPARE_FLAGS = ("max_steps", "min_steps", "epochs", "image_size", "augment")  # compare's own; the rest: --config's [train]
SPLIT = "split."  # a split setting's prefix among the settings: "split.max_test"
SPLIT_FLAGS = ("max_test", "max_val", "dedupe")  # compare's own; the rest: --config's [split]


def _split(spec: dict[str, Any]) -> dict[str, Any]:
    data = spec.get("data")
    split = data.get("split") if isinstance(data, dict) else None
    return split if isinstance(split, dict) else {}


def _sibling(spec: dict[str, Any]) -> str:
    """What must match for two arms to differ only in their training or split settings: the experiment but its split
    (data name, hash and task, backbone), strategy, options, terms."""
    data = spec.get("data")
    data = {k: v for k, v in data.items() if k != "split"} if isinstance(data, dict) else data
    experiment = {**{k: spec.get(k) for k in EXPERIMENT_FIELDS}, "data": data}
    return canonical([experiment, *(spec.get(k) for k in ("strategy", "options", "terms"))])


def _settings(spec: dict[str, Any]) -> dict[str, Any]:
    """An arm's shared training settings: ``spec["train"]``'s fields, its tuning (``tune``: None untuned), and its
    experiment's split settings (``split.max_test``)."""
    return {**(spec.get("train") or {}), "tune": spec.get("tune"), **{SPLIT + k: v for k, v in _split(spec).items()}}


def changed_settings(planned: Sequence[dict[str, Any]], stored: Sequence[dict[str, Any]]) -> dict[str, tuple[list[Any], list[Any]]]:
    """The training settings (``spec["train"]``'s fields, ``tune``, and the split's as ``split.max_test``) in which the
    planned arms that have no stored run differ from their nearest stored arm of the same data, backbone, strategy,
    options and terms (the fewest settings apart): ``{"max_steps": ([3], [4])}``, the stored values and the planned ones, each in first-seen order. An arm
    with no such stored sibling (a strategy the store never ran) changes nothing; {} where every arm is stored.

    Args:
        planned: the resolved specs of a compare's cells (``sweep_plan.plan``'s third items).
        stored: the resolved specs of the store's runs.
    """
    have = {(experiment_key(s), arm_key(s)) for s in stored}
    siblings: dict[str, dict[str, dict[str, Any]]] = {}  # each stored arm's settings once, however many runs it has
    for s in stored:
        siblings.setdefault(_sibling(s), {})[arm_key(s)] = _settings(s)
    found: dict[str, tuple[list[Any], list[Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for cell in planned:
        arm = (experiment_key(cell), arm_key(cell))
        if arm in have or arm in seen:
            continue
        seen.add(arm)
        mine, theirs = _settings(cell), list(siblings.get(_sibling(cell), {}).values())
        diffs = [[k for k in dict.fromkeys([*mine, *other]) if canonical(mine.get(k)) != canonical(other.get(k))]
                 for other in theirs]
        if not diffs:
            continue
        nearest = min(len(d) for d in diffs)
        for other, names in zip(theirs, diffs):
            if len(names) != nearest:
                continue
            for name in names:
                was, now = found.setdefault(name, ([], []))
                for values, value in ((was, other.get(name)), (now, mine.get(name))):
                    if value not in values:
                        values.append(value)
    return found


def _said(name: str, value: Any) -> str:
    """A setting as the user gives it: on the CLI ``--max-steps 4`` or ``no --max-steps (its default)`` for compare's
    own flags, ``batch_size = 8`` for one a ``--config`` file's ``[train]`` sets, ``--tune (head_lr over ...)`` or
    ``--no-tune``; a split setting ``--max-test 80``, ``--dedupe``, ``[split] seed = 1``; from Python
    ``max_steps=4``, ``tune=None``, ``max_test=80``."""
    if name.startswith(SPLIT):
        name = name.removeprefix(SPLIT)
        if not on_cli():
            return f"{name}={value!r}"
        if name == "dedupe":
            return "--dedupe" if value else "no --dedupe"
        if name not in SPLIT_FLAGS:
            return f"[split] {setting_text(name, value)}" if value is not None else f"no [split] {name} (its default)"
        flag = f"--{name.replace('_', '-')}"
        return f"no {flag} (its default)" if value is None else f"{flag} {setting_value(value)}"
    if name == "tune":
        if not isinstance(value, dict):
            return spoken("--no-tune", "tune=None")
        grid = value.get("grid")
        return spoken("--tune", "tune='lr'") + f" ({value.get('param', 'lr')}" + (f" over {setting_value(grid)})" if grid else ")")
    if not on_cli():
        return f"{name}={value!r}"
    if name not in COMPARE_FLAGS:
        return setting_text(name, value) if value is not None else f"no {name} (its default)"
    flag = f"--{name.replace('_', '-')}"
    return f"no {flag} (its default)" if value is None else f"{flag} {setting_value(value)}"


def changed_text(planned: Sequence[dict[str, Any]], stored: Sequence[RunResult]) -> str | None:
    """``the store's arms ran with --max-steps 3; these run with --max-steps 4: new arms lora[max_steps=4],
    linear-probe[max_steps=4]; the stored ones stay in the report beside them``, or
    None where no planned arm differs from a stored one in a training setting alone (``changed_settings``).

    Args:
        planned: the resolved specs of a compare's cells.
        stored: the store's runs.
    """
    specs = [r.spec for r in stored]
    changed = changed_settings(planned, specs)
    if not changed:
        return None
    have = {(experiment_key(s), arm_key(s)) for s in specs}
    experiments = {experiment_key(c) for c in planned}
    ours = [r for r in stored if experiment_key(r.spec) in experiments]
    labels = label_arms(ours, planned=planned)  # as the report will name them, beside the stored arms
    new = list(dict.fromkeys(labels[arm_key(c)] for c in planned if (experiment_key(c), arm_key(c)) not in have))
    named = ", ".join(new[:SHOWN]) + (f" and {len(new) - SHOWN} more" if len(new) > SHOWN else "")

    def flags(which: int) -> str:
        return ", ".join(" or ".join(_said(name, v) for v in values[which]) for name, values in changed.items())

    if any(name.startswith(SPLIT) for name in changed):  # another test split: another experiment, reported apart
        return (f"the store's runs ran with {flags(0)}; these run with {flags(1)}: a new experiment (another split of "
                "the data), so no stored run is reused; the report shows it, and the stored one under Other experiments "
                "in this store")
    return (f"the store's arms ran with {flags(0)}; these run with {flags(1)}: new arm{'s' if len(new) != 1 else ''} "
            f"{named}; the stored ones stay in the report beside them")
