"""What the continual report says beside its matrices: each task's budget as run, and the arms that learnt a task no
better than its majority class.

Pure functions over the stored steps and the analysis (``analysis.continual``): ``budget_notes`` words the budget,
``constant_acc`` is the ACC of an answer that ignores its input, ``below_majority`` names the arms (and tasks) whose
scores say nothing about the method, ``recommended_caveat`` qualifies the recommendation when its arm is one, and
``withheld_rerun`` says what the arm of a withheld one could re-run with.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def budget_notes(steps: list[Any]) -> list[str]:
    """Each task's training budget as the stored steps ran it (their resolved ``train``), per strategy (joint's
    apart: it trains the stream at once), naming a ``max_steps`` that cut what the epochs / ``min_steps`` asked ("the
    rule: 3 epochs, at least 50 steps, asking 50; capped at 5 by max_steps: 1.2 epochs run")."""
    from headstart.analysis.budgets import epochs_run
    from headstart.sweep_eta import planned_steps

    said: dict[str, set[str]] = {}
    for r in steps:
        t, spec = r.spec.get("train") or {}, r.spec
        if not isinstance(t.get("epochs"), int) or not isinstance(spec.get("n"), int):
            continue
        joint = (spec.get("continual") or {}).get("method") == "joint"
        who = f"{spec.get('strategy')}{' (joint: the whole stream at once)' if joint else ''}"
        asked = planned_steps({"n": spec["n"], "train": {**t, "max_steps": None}})  # what the epochs / floor asked
        cap = t.get("max_steps")
        floor = t.get('min_steps') or 0
        text = f"{t['epochs']} epoch{'' if t['epochs'] == 1 else 's'}, at least {floor} step{'' if floor == 1 else 's'}"
        if isinstance(cap, int) and asked > cap:  # the rule, said as one, then what ran: not read as epochs run
            by_epochs = planned_steps({"n": spec["n"], "train": {**t, "max_steps": None, "min_steps": 0}})
            ran = epochs_run(cap, t["epochs"], by_epochs)
            text = f"the rule: {text}, asking {asked}; capped at {cap} by max_steps" + (f": {ran} run" if ran else "")
        if isinstance(t.get("lr"), (int, float)):
            text += f", lr {t['lr']:g}"
        said.setdefault(who, set()).add(text)
    if not said:
        return []
    return ["Budget per task as run: " + "; ".join(f"{who}: {' / '.join(sorted(texts))}" for who, texts in said.items())
            + "."]


def joint_notes(analysis: dict[str, Any], steps: list[Any], scenario: str) -> list[str]:
    """What qualifies ``joint`` (every task's data at once) as a reference: the arms whose ACC is above it, and why they
    can be (``alone`` trains a model per task, scored over each task's own classes in the class scenario; joint's
    budget cut by ``max_steps``), and a cap on joint's budget even where nothing is above it. Joint is often the best
    of a stream's arms, never a bound on them."""
    from headstart.sweep_eta import planned_steps

    joint = [r for r in analysis["arms"] if r.get("method") == "joint"]
    if not joint:
        return []
    capped = set()
    for r in steps:
        t, spec = r.spec.get("train") or {}, r.spec
        if (spec.get("continual") or {}).get("method") != "joint" or not isinstance(spec.get("n"), int):
            continue
        asked, cap = planned_steps({"n": spec["n"], "train": {**t, "max_steps": None}}), t.get("max_steps")
        if isinstance(cap, int) and asked > cap:
            capped.add((cap, asked))
    cut = ("budget was capped by max_steps (" + "; ".join(f"{cap} steps where the rule asked {asked}"
                                                              for cap, asked in sorted(capped)) + ")") if capped else ""
    notes = []
    for row in joint:
        above = [r for r in analysis["arms"] if r.get("method") != "joint" and r["acc"]["mean"] > row["acc"]["mean"]]
        if not above:
            if cut:
                notes.append(_asked(f"{row['arm']} (every task's data at once) is the reference here, but its {cut}, so it "
                                    "may fall short of what learning every task at once can reach (--max-steps raises the cap)."))
            continue
        why = []
        if any(r.get("method") == "alone" for r in above):
            why.append("alone trains a model per task" + (", learns and is scored over each task's own classes only, "
                                                           "an easier question than joint's" if scenario == "class" else ""))
        if cut:
            why.append(f"{row['arm']}'s {cut} (--max-steps raises the cap)")
        names = ", ".join(f"{r['arm']} ({100 * r['acc']['mean']:.1f}%)" for r in above)
        notes.append(_asked(f"{row['arm']} (every task's data at once, ACC {100 * row['acc']['mean']:.1f}%) is a reference, "
                            f"not an upper bound: {names} score{'s' if len(above) == 1 else ''} above it"
                            + (f"; {'; '.join(why)}" if why else "") + "."))
    return notes


def constant_acc(prepared: Any, scenario: str, part: str = "val") -> float:
    """The best ACC (mean over tasks of each task's accuracy) of an answer that ignores its input: with the task id
    (task-incremental) each task's own majority class; without it (class-incremental) one class for every task, whose
    ACC is its share summed over the tasks that hold it, over T (split-fashion-mnist: ~10%, not a task's 50%)."""
    shares = np.zeros((len(prepared.splits), len(prepared.stream.labels)))
    for j, split in enumerate(prepared.splits):
        rows = getattr(split, part)
        shares[j] = np.bincount(prepared.data.targets[rows], minlength=shares.shape[1]) / max(len(rows), 1)
    return float(shares.max(axis=1).mean() if scenario == "task" else shares.mean(axis=0).max())


def _low_tasks(row: dict[str, Any], majority: list[float]) -> list[int]:
    """The tasks an arm learnt no better than their test split's majority class, just after training them."""
    return [j for j, values in enumerate(row["matrix"]) if j < len(values) and values[j] is not None
            and not math.isnan(values[j]) and values[j] <= majority[j] + 1e-9]


def recommended_caveat(analysis: dict[str, Any], majority: list[float], steps: list[Any] = ()) -> str | None:
    """What qualifies the recommendation when the arm validation chose learnt some tasks no better than the majority
    class (the choice itself never reads test scores; this caveat reads them only to warn), and what would change its
    budget: a larger ``--max-steps`` where that cap cut its stored ``steps`` (``--min-steps`` changes nothing there),
    else a larger ``--min-steps``; ``--tune`` only where it tunes the arm (a method with a weight grid, its weight not
    set by the arm, not tuned already)."""
    row = next((r for r in analysis["arms"] if r["arm"] == analysis.get("recommended")), None)
    low = [] if row is None else _low_tasks(row, majority)
    if not low:
        return None
    return _asked(f"it learnt {len(low)} of {len(row['matrix'])} tasks no better than the majority class just after "
                  "training them (on their test splits, read only for this warning: validation chose it), so its lead "
                  f"may be a budget artefact rather than the method: re-run with {_more_budget(row, steps)} before "
                  "relying on it")


def withheld_rerun(analysis: dict[str, Any], steps: list[Any]) -> None:
    """Add to a withheld recommendation (``analysis["withheld"]``, which ``analysis.continual.withheld_text`` says) what
    its arm could re-run with, in its caller's words: more labels where its tasks drew all they asked (a request of
    every row, or one the task could not fill, has none to add), the steps ``_more_budget`` names, and ``--tune`` only
    where it tunes the arm's method."""
    w = analysis.get("withheld")
    row = next((r for r in analysis["arms"] if r["arm"] == (w or {}).get("arm")), None)
    if row is None:
        return
    drawn = [r.spec for r in steps if ((r.spec or {}).get("continual") or {}).get("arm") == row["arm"]]
    labels = any(isinstance(spec.get("n_requested"), int) and isinstance(spec.get("n"), int)
                 and spec["n"] >= spec["n_requested"] for spec in drawn)
    parts = (["more labels (--n)"] if labels else []) + _budget_parts(row, steps)
    w["rerun"] = _asked(", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0])


def _more_budget(row: dict[str, Any], steps: list[Any]) -> str:
    """What would give ``row``'s arm more steps, judged from its stored ``steps`` (a raised cap where ``max_steps`` cut
    what the rule asked, else a raised floor), with ``--tune`` where it tunes the arm's method."""
    return " or ".join(_budget_parts(row, steps))


def _budget_parts(row: dict[str, Any], steps: list[Any]) -> list[str]:
    """``_more_budget``'s steps, and its ``--tune`` where that tunes the arm, each alone."""
    from headstart.arm_text import arm_parts
    from headstart.continual.methods import METHODS
    from headstart.sweep_eta import planned_steps

    asked, caps = 0, set()
    for r in steps:
        spec = r.spec or {}
        t = spec.get("train") or {}
        if (spec.get("continual") or {}).get("arm") != row["arm"] or not isinstance(spec.get("n"), int):
            continue
        rule = planned_steps({"n": spec["n"], "train": {**t, "max_steps": None}})
        asked = max(asked, rule)
        if isinstance(t.get("max_steps"), int) and rule > t["max_steps"]:
            caps.add(t["max_steps"])
    if caps:
        more = (f"more steps (--max-steps {asked}, as the cap of {max(caps)} steps cut each task short of the {asked} its "
                "rule asked, and --min-steps cannot pass a cap)")
    else:
        more = f"more steps (--min-steps {2 * asked})" if asked else "more steps (--min-steps)"
    method = METHODS.get(row.get("method"))
    tunable = (method is not None and method.grid and not row.get("family") and not row.get("tuned")
               and "weight" not in arm_parts(row["arm"])[-1])
    return [more] + ([f"--tune (it tries {row['method']}'s weight at {', '.join(f'{w:g}' for w in method.grid)})"]
                     if tunable else [])


def _asked(text: str) -> str:
    """``text`` in its caller's words: the CLI's flags on the CLI; from Python, ``continual``'s keywords
    (``max_steps=100``, ``tune=True``), as ``surface.python_names`` writes other notes."""
    from headstart.surface import on_cli, python_names

    if on_cli():
        return text
    import inspect

    from headstart.continual import continual

    return python_names(text.replace("--tune", "tune=True"), set(inspect.signature(continual).parameters))


def below_majority(analysis: dict[str, Any], majority: list[float], tasks: list[str]) -> list[str]:
    """A note per arm that learnt a task no better than always answering its test split's majority class (R[j][j], the
    mean over seeds, at or below it): its scores on that task say nothing about the method."""
    notes = []
    for row in analysis["arms"]:
        low = _low_tasks(row, majority)
        if low:
            where = ", ".join(f"task {j} ({tasks[j]}) {100 * row['matrix'][j][j]:.1f}% against {100 * majority[j]:.1f}%" for j in low)
            when = "after training on every task at once" if row.get("method") == "joint" else "just after training it"
            notes.append(_asked(f"{row['arm']} learnt no better than the majority class on {where} (test split, read "
                                f"only for this warning), {when}: too few steps (--max-steps, --min-steps) or too low a "
                                "rate for these rows; those tasks' scores say nothing about the method."))
    return notes
