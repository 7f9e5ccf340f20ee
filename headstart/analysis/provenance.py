"""Where a compare's numbers came from: the machines, library versions and commit its runs recorded, and the precision
each arm actually trained at.

Every stored run keeps ``record["environment"]`` (``headstart.provenance.environment``) and its resolved spec, where
``--precision auto`` has become the ``fp32`` or ``bf16`` the probe picked on that machine. A report that names only
the settings as asked ("auto") cannot say which arithmetic produced a score; this section reads what the runs recorded.
Pure functions over ``RunResult``; torch-free.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from headstart.results import RunResult

# (record["environment"] key, how the report names it); library versions follow, each under its own name
FIELDS = (("cpu", "CPU"), ("device", "device"), ("git", "git commit"), ("headstart", "headstart"), ("python", "Python"))


def _counted(values: list[str]) -> list[dict[str, Any]]:
    """``[{"value", "runs"}]``, the most frequent first (ties in the order first seen)."""
    return [{"value": v, "runs": k} for v, k in Counter(values).most_common()]


def _joined(name: str, values: list[dict[str, Any]], runs: int) -> str:
    """``"CPU Intel Xeon"`` where every run agrees; ``"CPU A (10 runs), B (6 runs)"`` where they differ."""
    if len(values) == 1 and values[0]["runs"] == runs:
        return f"{name} {values[0]['value']}"
    return f"{name} " + ", ".join(f"{v['value']} ({v['runs']} run{'s' if v['runs'] != 1 else ''})" for v in values)


def provenance(groups: list[tuple[str, list[RunResult]]], sweep: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The environment and precision of the store's finished runs, every experiment's: one value for the whole store,
    which report.md, report.html, results.json and the printed lines all read.

    Args:
        groups: the store's runs by experiment (``arms.experiments``: ``[(label, runs)]``, each run labelled with its
            arm); only ``done`` ones are read.
        sweep: the store's last sweep record (``Store.sweep()``), whose ``train.precision`` is the precision as asked.

    Returns:
        ``{"runs", "experiments", "environment": [{"name", "values": [{"value", "runs"}]}],
        "precision": [{"arm", "values": [...]}], "asked", "precision_text", "environment_text", "apart"}`` (values the
        most frequent first; a run that recorded none counts as "not recorded"; an arm that trained at other precisions
        in another experiment is one entry per experiment, each with its ``experiment``; ``apart``: the store holds
        several experiments, so the lines stand in a part of their own after them all, not under the newest one's
        figures, where they would read as its alone), or None with no finished run.
    """
    from headstart.analysis.arms import arm_name

    done_by = [(label, [r for r in runs if r.status == "done"]) for label, runs in groups]
    done_by = [(label, runs) for label, runs in done_by if runs]
    done = [r for _, runs in done_by for r in runs]
    if not done:
        return None
    envs = [(r.record or {}).get("environment") if isinstance((r.record or {}).get("environment"), dict) else {} for r in done]
    names = list(FIELDS) + [(lib, lib) for lib in dict.fromkeys(k for e in envs for k in (e.get("libraries") or {}))]
    environment = []
    for key, name in names:
        raw = [e.get(key) if key in dict(FIELDS) else (e.get("libraries") or {}).get(key) for e in envs]
        if all(v is None for v in raw):
            continue
        environment.append({"name": name, "values": _counted(["not recorded" if v is None else str(v) for v in raw])})
    arms: dict[str, dict[str, list[str]]] = {}  # arm -> experiment -> each run's precision
    for label, runs in done_by:
        for r in runs:
            trained_at = str(((r.spec or {}).get("train") or {}).get("precision") or "not recorded")
            arms.setdefault(arm_name(r), {}).setdefault(label, []).append(trained_at)
    precision = []
    for arm, by_experiment in sorted(arms.items()):
        every = [v for values in by_experiment.values() for v in values]
        if len(by_experiment) == 1 or len(set(every)) == 1:  # one experiment, or one precision wherever it ran
            precision.append({"arm": arm, "values": _counted(every)})
        else:  # auto resolved otherwise in another experiment (its backbone, its machine): each experiment's, named
            precision += [{"arm": arm, "experiment": label, "values": _counted(values)}
                          for label, values in by_experiment.items()]
    asked = ((sweep or {}).get("sweep") or {}).get("train", {}) or {}
    asked = asked.get("precision") if isinstance(asked, dict) else None
    used = {v["value"] for p in precision for v in p["values"]}
    if len(used) == 1 and all(len(p["values"]) == 1 for p in precision):
        said = f"every run trained at {next(iter(used))}"
    else:
        said = "; ".join(_joined(f"{p['arm']} ({p['experiment']})" if "experiment" in p else p["arm"], p["values"],
                                 sum(v["runs"] for v in p["values"])) for p in precision)
    if asked and asked not in used:
        said += f" (asked: {asked}, which each run resolved on its machine)"
    env = "; ".join(_joined(e["name"], e["values"], len(done)) for e in environment) or "not recorded"
    runs = f"the {len(done)} finished runs" + (f" of the store's {len(done_by)} experiments" if len(done_by) > 1 else "")
    return {"runs": len(done), "experiments": len(done_by), "environment": environment, "precision": precision,
            "asked": asked, "precision_text": said, "environment_text": f"{runs} ran on {env}", "apart": len(done_by) > 1}
