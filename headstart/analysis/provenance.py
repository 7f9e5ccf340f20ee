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


def provenance(results: list[RunResult], sweep: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The environment and precision of the finished runs.

    Args:
        results: stored runs (only ``done`` ones are read).
        sweep: the store's last sweep record (``Store.sweep()``), whose ``train.precision`` is the precision as asked.

    Returns:
        ``{"runs", "environment": [{"name", "values": [{"value", "runs"}]}], "precision": [{"arm", "values": [...]}],
        "asked", "precision_text", "environment_text"}`` (values the most frequent first; a run that recorded none counts as "not recorded"), or None
        with no finished run.
    """
    from headstart.analysis.arms import arm_name

    done = [r for r in results if r.status == "done"]
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
    arms: dict[str, list[str]] = {}
    for r in done:
        arms.setdefault(arm_name(r), []).append(str(((r.spec or {}).get("train") or {}).get("precision") or "not recorded"))
    precision = [{"arm": arm, "values": _counted(values)} for arm, values in sorted(arms.items())]
    asked = ((sweep or {}).get("sweep") or {}).get("train", {}) or {}
    asked = asked.get("precision") if isinstance(asked, dict) else None
    used = {v["value"] for p in precision for v in p["values"]}
    if len(used) == 1 and all(len(p["values"]) == 1 for p in precision):
        said = f"every run trained at {next(iter(used))}"
    else:
        said = "; ".join(_joined(p["arm"], p["values"], sum(v["runs"] for v in p["values"])) for p in precision)
    if asked and asked not in used:
        said += f" (asked: {asked}, which each run resolved on its machine)"
    env = "; ".join(_joined(e["name"], e["values"], len(done)) for e in environment) or "not recorded"
    return {"runs": len(done), "environment": environment, "precision": precision, "asked": asked,
            "precision_text": said, "environment_text": f"the {len(done)} finished runs ran on {env}"}
