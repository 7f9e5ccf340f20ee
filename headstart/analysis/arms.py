"""Which runs belong together: the experiment (data, split, backbone) and the arm (strategy, options, training
settings, tuning) of a stored run, from its resolved spec alone.

A run's identity in the analysis is its resolved spec minus the seed and the size: runs of one arm at one size are
its seeds, two arms are two curves, and two experiments are never averaged or paired. An arm is labelled by its
strategy, and where one strategy was run under several settings, by the settings that differ:
``lora[rank=4]``, ``lora[rank=16]``, ``full-finetune+l2sp``, ``full-finetune+l2sp[weight=0.1]``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from headstart.data.memory import shown_name
from headstart.results import RunResult

EXPERIMENT_FIELDS = ("data", "backbone", "backbone_config")  # the task: what is learned, from what
ARM_FIELDS = ("strategy", "options", "train", "tune", "terms")  # how it is learned


def canonical(value: Any) -> str:
    """``value`` as one JSON text, keys sorted: two settings are the same when their texts are."""
    return json.dumps(value, sort_keys=True, default=str)


def experiment_key(spec: dict[str, Any]) -> str:
    """The data (name, hash, task, split) and backbone a run learned on and from."""
    return canonical({k: spec.get(k) for k in EXPERIMENT_FIELDS})


def arm_key(spec: dict[str, Any]) -> str:
    return canonical({k: spec.get(k) for k in ARM_FIELDS})


def experiment_label(spec: dict[str, Any]) -> str:
    """``"rotten-tomatoes · all-minilm-l6-v2"``."""
    data = spec.get("data") if isinstance(spec.get("data"), dict) else {}
    return f"{shown_name(str(data.get('name', '?')))} · {spec.get('backbone', '?')}"


def _flat(spec: dict[str, Any]) -> dict[str, Any]:
    """The arm's settings as ``name: value`` (options and training fields by their own names, tuning as one)."""
    flat: dict[str, Any] = {}
    for part in ("options", "train"):
        for name, value in (spec.get(part) or {}).items():
            flat[name] = value
    for term, options in (spec.get("terms") or {}).items():
        for name, value in (options or {}).items():
            flat[f"{term}.{name}"] = value
    tune = spec.get("tune")
    flat["tuned"] = "yes" if tune else "no"
    if tune:
        flat["grid"] = ",".join(f"{v:g}" for v in tune.get("grid") or ())
    return flat


def setting_value(value: Any) -> str:
    """A setting as an arm is written: ``1e-05``; label texts as ``--label-descriptions`` takes them,
    ``rotten="a negative review",fresh="..."`` (Python's tuple text, ``(('rotten', '...'),``, filled progress lines);
    other lists comma-separated."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        value = list(value.items())
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
            return ",".join(f"{k}={json.dumps(str(v), ensure_ascii=False)}" for k, v in value)
        return ",".join(setting_value(v) for v in value)
    return str(value)


def spec_label(spec: dict[str, Any]) -> str:
    """One run's arm as it was asked for, on its own: ``lora[rank=4]``, ``full-finetune+ewc[weight=100]`` (the sweep's
    progress line; the report's labels, ``label_arms``, name only what differs between the arms it holds)."""
    def options(values: dict[str, Any] | None) -> str:
        shown = {k: v for k, v in (values or {}).items() if v is not None}
        return f"[{', '.join(f'{k}={setting_value(v)}' for k, v in sorted(shown.items()))}]" if shown else ""

    terms = spec.get("terms") or {}
    return str(spec.get("strategy")) + options(spec.get("options")) + "".join(f"+{t}{options(terms[t])}" for t in sorted(terms))


def label_arms(results: list[RunResult], *, planned: Sequence[dict[str, Any]] = ()) -> dict[str, str]:
    """``arm_key -> label`` for every arm in ``results`` and ``planned``: the strategy and its terms
    (``full-finetune+l2sp``), plus ``[name=value, ...]`` for the settings in which arms of that name differ (none when
    it was run one way), each after what it sets, as an arm is written: ``lora[rank=4]``,
    ``full-finetune+l2sp[weight=0.1]``. A setting left unset (its default) is not shown, so ``lora`` beside
    ``lora[targets=all-linear]``; labels stay distinct, as two arms differ in a setting that at least one of them sets.

    Args:
        planned: cells of a compare's plan (``Store.sweep()["plan"]``, each with the ``ARM_FIELDS``; ``planned_cells``
            picks an experiment's): an arm counts from when it is planned, so a compare with ``--no-tune`` stopped
            before its ``linear-probe`` ran labels the stored tuned one ``linear-probe[..., tuned=yes]`` already, and
            its own ``linear-probe[tuned=no]``, as it will once stored.
    """
    by_name: dict[tuple[str, tuple[str, ...]], dict[str, dict[str, Any]]] = defaultdict(dict)
    known: dict[str, str] = {}  # a run's arm_key -> the key of the arm it is labelled as (closed_form_spec)
    for r in results:
        spec = closed_form_spec(r)
        known[arm_key(r.spec)] = arm_key(spec)
        by_name[(str(spec.get("strategy")), tuple(sorted(spec.get("terms") or {})))][arm_key(spec)] = _flat(spec)
    for cell in planned:
        if arm_key(cell) not in known:  # planned and not stored: a stored run of the same settings labels it otherwise
            known[arm_key(cell)] = arm_key(cell)
            by_name[(str(cell.get("strategy")), tuple(sorted(cell.get("terms") or {})))][arm_key(cell)] = _flat(cell)
    labels = {}
    for (strategy, terms), arms in by_name.items():
        names = sorted({n for flat in arms.values() for n in flat})
        differing = [n for n in names if len({canonical(flat.get(n)) for flat in arms.values()}) > 1]
        for key, flat in arms.items():
            def shown(prefix: str) -> str:  # the differing settings of the strategy ("") or of one term ("l2sp.")
                values = [f"{n[len(prefix):]}={setting_value(flat[n])}" for n in differing if flat.get(n) is not None
                          and (n.startswith(prefix) if prefix else not any(n.startswith(f"{t}.") for t in terms))]
                return f"[{', '.join(values)}]" if values else ""

            labels[key] = strategy + shown("") + "".join(f"+{t}{shown(f'{t}.')}" for t in terms)
    return {key: labels[arm] for key, arm in known.items()}


def closed_form_spec(result: RunResult) -> dict[str, Any]:
    """``result.spec``, without the step settings (``specs.STEP_SETTINGS``) where its record says it was fitted in
    closed form (no planned step, no backbone rate, no steps inside its solve): it read none of them. A run stored
    before ``resolve`` put them back to their defaults (embed-logreg under a compare's --max-steps 5) is then one arm
    with those stored after, not ``embed-logreg[max_steps=5]`` beside ``embed-logreg``."""
    from headstart.specs import STEP_SETTINGS

    budget = (result.record or {}).get("budget") or {}
    closed = bool(budget) and (not budget.get("planned_steps") and budget.get("lr") is None and not result.steps
              and "pair_steps" not in (result.chosen or {}))
    if not closed or not isinstance(result.spec.get("train"), dict):
        return result.spec
    return {**result.spec, "train": {k: v for k, v in result.spec["train"].items() if k not in STEP_SETTINGS}}


def planned_cells(plan: Any, runs: list[RunResult]) -> list[dict[str, Any]]:
    """The cells of ``plan`` (``Store.sweep()["plan"]``, the last compare's) that belong to the experiment of ``runs``
    (one experiment's, ``experiments``): by the data and backbone each cell records; a cell of a plan stored before
    cells recorded their data, by its backbone, where the experiment holds a run of the plan on it (a compare trains
    one data split). Empty for no plan, a damaged one, or another experiment's."""
    cells = [c for c in plan if isinstance(c, dict) and isinstance(c.get("key"), str)] if isinstance(plan, list) else []
    experiment = {experiment_key(r.spec) for r in runs}
    keys = {c["key"] for c in cells}
    backbones = {r.spec.get("backbone") for r in runs if r.key in keys}
    return [c for c in cells if (experiment_key(c) in experiment if "data" in c else c.get("backbone") in backbones)]


def with_arms(results: list[RunResult], *, planned: Sequence[dict[str, Any]] = ()) -> list[RunResult]:
    """``results`` with ``spec["arm"]`` set to each run's arm label (``label_arms``, with the ``planned`` cells);
    other fields untouched."""
    import dataclasses

    labels = label_arms(results, planned=planned)
    return [r if r.spec.get("arm") == labels[arm_key(r.spec)] else
            dataclasses.replace(r, spec={**r.spec, "arm": labels[arm_key(r.spec)]}) for r in results]


def arm_name(result: RunResult) -> str:
    """The arm label set by ``with_arms``, or the strategy."""
    return str(result.spec.get("arm") or result.spec.get("strategy"))


# What an experiment's setting says when it tells two experiments apart: (as a label says its value, as a sentence
# names the setting). A setting not here is said as ``name=value``.
_SETTINGS: dict[str, tuple[Any, str]] = {
    "data.hash": (lambda v: f"data version {str(v)[:8]}", "the data's contents"),
    "data.task": (lambda v: f"{v} task", "the task"),
    "data.split.max_test": (lambda v: "test not capped" if v is None else f"test capped at {v} rows", "the test split's row cap"),
    "data.split.max_val": (lambda v: "validation not capped" if v is None else f"validation capped at {v} rows",
                           "the validation split's row cap"),
    "data.split.seed": (lambda v: f"split seed {v}", "the split's seed"),
    "data.split.test_fraction": (lambda v: f"test fraction {setting_value(v)}", "the test fraction"),
    "data.split.val_fraction": (lambda v: f"validation fraction {setting_value(v)}", "the validation fraction"),
    "data.split.dedupe": (lambda v: "test deduplicated" if v else "test not deduplicated", "test deduplication"),
}


def _settings(spec: dict[str, Any]) -> dict[str, str]:
    """An experiment's key (``EXPERIMENT_FIELDS``) as ``{"data.split.max_test": "300", ...}``, values canonical."""
    flat: dict[str, str] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{name}.{k}")
        else:
            flat[name] = canonical(value)

    for name in EXPERIMENT_FIELDS:
        walk(spec.get(name), name)
    return flat


def _differing(specs: list[dict[str, Any]]) -> list[str]:
    """The settings of the experiments' keys (``_settings``) that do not all agree, in key order."""
    flats = [_settings(s) for s in specs]
    names = list(dict.fromkeys(n for flat in flats for n in flat))
    return [n for n in names if len({flat.get(n) for flat in flats}) > 1]


def setting_text(name: str, spec: dict[str, Any]) -> str:
    """One setting of ``spec``'s experiment key as a label says it: "test capped at 300 rows", "backbone pooling=cls"."""
    value: Any = spec
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if name in _SETTINGS:
        return _SETTINGS[name][0](value)
    if name == "data.name":  # two names shown alike (a file's name in two folders): the names in full
        return f"data {value}"
    shown = name.removeprefix("backbone_config.")
    return f"backbone {shown}={setting_value(value)}" if shown != name else f"{name.removeprefix('data.')}={setting_value(value)}"


def differences_text(specs: list[dict[str, Any]]) -> str:
    """What sets experiments apart, as a sentence names it: "the test split's row cap", "the data and the backbone"
    (one spec per experiment); "" when they all agree."""
    said: list[str] = []
    for name in _differing(specs):
        if name in ("data.name", "backbone"):
            text = "the data" if name == "data.name" else "the backbone"
        elif name in _SETTINGS:
            text = _SETTINGS[name][1]
        elif name.startswith("backbone_config."):
            text = "the backbone's settings"
        else:
            text = f"the data's {name.removeprefix('data.')}"
        if text not in said:
            said.append(text)
    return " and ".join(said) if len(said) <= 2 else ", ".join(said[:-1]) + " and " + said[-1]


def experiments(results: list[RunResult]) -> list[tuple[str, list[RunResult]]]:
    """The runs split by experiment, newest experiment first (by its latest run; ``results`` oldest first).

    Returns:
        ``[(label, runs)]``; where experiments share data name and backbone (the same data split with another test
        cap, the same file edited between two compares), each label goes on to name the settings in which they
        differ: ``"rotten-tomatoes · all-minilm-l6-v2 · test capped at 300 rows"``.
    """
    groups: dict[str, list[RunResult]] = {}
    last: dict[str, int] = {}
    for i, r in enumerate(results):
        key = experiment_key(r.spec)
        groups.setdefault(key, []).append(r)
        last[key] = i
    ordered = sorted(groups, key=lambda k: -last[k])
    alike: dict[str, list[str]] = defaultdict(list)  # experiments by data name and backbone
    for key in ordered:
        alike[experiment_label(groups[key][-1].spec)].append(key)
    labels = {}
    for label, keys in alike.items():
        names = _differing([groups[k][-1].spec for k in keys])
        for key in keys:
            spec = groups[key][-1].spec
            labels[key] = " · ".join([label, *(setting_text(n, spec) for n in names)]) if len(keys) > 1 else label
    seen: dict[str, int] = defaultdict(int)  # keys apart in a way no setting's text shows: still told apart, by number
    for key in ordered:
        seen[labels[key]] += 1
        labels[key] += f" ({seen[labels[key]]})" if seen[labels[key]] > 1 else ""
    return [(labels[key], groups[key]) for key in ordered]
