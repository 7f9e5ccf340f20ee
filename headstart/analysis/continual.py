"""A continual stream in numbers: the accuracy matrix of each arm and what it says (pure: reads stored runs only).

R[i][j] is the accuracy on task j's test split after training task i (j <= i). Per arm and seed, over T tasks:

- average accuracy ACC = mean_j R[T-1][j] (what the model knows at the end);
- backward transfer BWT = mean_{j<T-1} (R[T-1][j] − R[j][j]) (negative: forgetting; Lopez-Paz & Ranzato 2017);
- plasticity = mean_j R[j][j] (how well each task is learnt when it arrives);
- forward transfer FWT = mean_{j>=1} (R[j][j] − A_j), A_j the ``alone`` arm's score on task j (the run's default
  strategy, ``--strategy``, trained on task j alone from the pre-trained model, on and over task j's own classes: in
  the class scenario R[j][j] also counts telling them from the earlier tasks' classes, which a model of task j alone
  never saw), paired by seed — for an arm on another strategy (``lora+ewc``) it mixes the strategy's own effect into FWT.
  Not GEM's FWT (R[j-1][j] − b_j, a task's score before it is trained, which a masked class-incremental head cannot
  give): the gap to learning task j alone, Chaudhry et al. 2018's intransigence with its sign flipped;
- cost: training seconds over the stream, and the bytes the method keeps between tasks.

Each is a mean over seeds with a 95% interval over seeds. The recommendation is the arm with the highest ACC on the
tasks' validation splits (the same matrix, scored on validation): test scores are reported, never used to choose. Arms
run over a weight grid (``continual --tune``: one ``family``) keep the weight with the highest validation ACC; the
others are returned as ``tried``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from headstart.analysis.cell_stats import signed_points
from headstart.analysis.stats import has_interval, interval, kept, range_text
from headstart.results import RunResult

REFERENCE = ("alone", "joint")  # arms that are references, not candidates


def chains(results: list[RunResult]) -> dict[str, dict[int, dict[int, RunResult]]]:
    """The finished continual steps by arm label, seed and step."""
    found: dict[str, dict[int, dict[int, RunResult]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        c = (r.spec or {}).get("continual")
        if c and r.status == "done":
            found[c["arm"]][int(r.spec.get("seed", 0))][int(c["step"])] = r
    return found


def matrix(steps: dict[int, RunResult], part: str = "test") -> list[list[float]] | None:
    """R (rows: after task i; columns: task j <= i) of one chain, or None while it is unfinished; joint has only its
    last row (its others are None)."""
    if not steps:
        return None
    total = next(iter(steps.values())).spec["continual"]["steps"]
    if len(steps) == 1 and next(iter(steps.values())).spec["continual"]["method"] == "joint":
        only = next(iter(steps.values()))
        return [[None] * total for _ in range(total - 1)] + [list(only.record["continual"][part])]
    if sorted(steps) != list(range(total)):
        return None
    return [list(steps[i].record["continual"][part]) for i in range(total)]


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(values) / len(values)


ONE_SEED_TEXT = "one seed, and the interval is over seeds (--seeds 3 gives one)"  # why one seed's summary has none


def _summary(values: list[float], bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """Mean and interval over seeds, clipped to ``bounds``: accuracies in [0, 1], differences (BWT, FWT) in [-1, 1].
    Where there is none — one seed (``ONE_SEED_TEXT``), or every seed gave the same value (``stats.interval``: no spread
    seen is not certainty) — ``no_interval`` says why beside bounds equal to the mean, as results.json's rows write
    one (``stats.kept`` of ``stats.interval``): a reader tells it by ``no_interval`` (``stats.has_interval``), and the
    bounds stay numbers its charts and arithmetic read."""
    ci = kept(interval(values, None, bounds=bounds), ("mean", "ci_low", "ci_high"))
    if len(values) < 2:
        ci["no_interval"] = ONE_SEED_TEXT
    return ci | {"seeds": len(values)}


def continual_rows(results: list[RunResult]) -> dict[str, Any]:
    """Per arm: mean R over seeds, ACC / BWT / plasticity / FWT / cost with intervals, and the recommendation."""
    found = chains(results)
    alone = {seed: matrix(steps) for seed, steps in found.get("alone", {}).items()}
    arms = {}
    for arm, seeds in found.items():
        mats = {seed: matrix(steps) for seed, steps in seeds.items()}
        vals = {seed: matrix(steps, "val") for seed, steps in seeds.items()}
        mats = {s: m for s, m in mats.items() if m is not None}
        if not mats:
            continue
        t = len(next(iter(mats.values())))
        joint = any(next(iter(seeds[s].values())).spec["continual"]["method"] == "joint" for s in mats)
        acc = [sum(m[-1]) / t for m in mats.values()]
        first = next(iter(next(iter(seeds.values())).values())).spec["continual"]
        row: dict[str, Any] = {"arm": arm, "method": first["method"], "family": first.get("family"),
                               "weight": first.get("method_options", {}).get("weight"),
                               "matrix": [[_mean([m[i][j] for m in mats.values()]) if j < len(mats[next(iter(mats))][i]) else None
                                           for j in range(t)] for i in range(t)],
                               "acc": _summary(acc),
                               "val_acc": _summary([sum(vals[s][-1]) / t for s in mats if vals.get(s)]),
                               "acc_by_seed": {s: sum(m[-1]) / t for s, m in mats.items()},
                               "val_by_seed": {s: sum(vals[s][-1]) / t for s in mats if vals.get(s)}}
        if not joint and t > 1:
            if arm != "alone":  # a model per task forgets nothing by construction: its 0 is no measurement
                row["bwt"] = _summary([sum(m[-1][j] - m[j][j] for j in range(t - 1)) / (t - 1) for m in mats.values()], (-1.0, 1.0))
            row["plasticity"] = _summary([sum(m[j][j] for j in range(t)) / t for m in mats.values()])
            paired = [s for s in mats if alone.get(s) is not None]
            if paired and arm != "alone":
                row["fwt"] = _summary([sum(mats[s][j][j] - alone[s][j][j] for j in range(1, t)) / (t - 1) for s in paired], (-1.0, 1.0))
        steps = [r for s in mats for r in seeds[s].values()]
        row["train_seconds"] = sum(r.train_seconds for r in steps) / len(mats)
        row["kept_bytes"] = max(int((r.record.get("continual") or {}).get("kept_bytes", 0)) for r in steps)
        arms[arm] = row
    tried = []
    for family in dict.fromkeys(r["family"] for r in arms.values() if r["family"]):  # --tune: keep the weight validation picks
        grid = [a for a, r in arms.items() if r["family"] == family]
        best = max(grid, key=lambda a: arms[a]["val_acc"]["mean"])
        arms[best]["tuned"] = {"family": family, "val_acc": {arms[a]["weight"]: arms[a]["val_acc"]["mean"] for a in grid}}
        tried += [arms.pop(a) for a in grid if a != best]
    candidates = sorted((a for a, r in arms.items() if r["method"] not in REFERENCE), key=lambda a: -arms[a]["val_acc"]["mean"])
    chosen = candidates[0] if candidates else None
    return {"arms": list(arms.values()), "tried": tried, "recommended": chosen,
            "versus": versus(arms[chosen], arms[candidates[1]]) if len(candidates) > 1 else None}


def versus(best: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The recommended arm against the runner-up on validation, paired by seed: ACC differences (best − other) on
    validation and on test with their intervals over the shared seeds (one seed: no interval, said as such)."""
    seeds = sorted(set(best["val_by_seed"]) & set(other["val_by_seed"]))
    out: dict[str, Any] = {"arm": other["arm"], "pairs": len(seeds)}
    for part, key in (("val", "val_by_seed"), ("test", "acc_by_seed")):
        diffs = [best[key][s] - other[key][s] for s in seeds if s in best[key] and s in other[key]]
        out[part] = _summary(diffs, (-1.0, 1.0)) if diffs else None
    return out


def withhold_below_majority(analysis: dict[str, Any], floor: float) -> None:
    """Withhold the recommendation when the arm validation chose does not beat ``floor``, the validation ACC of the
    best answer that ignores its input (``continual.constant_acc``): it learnt the stream no better than a constant,
    so nothing is recommended and ``withheld`` says why."""
    chosen = analysis.get("recommended")
    row = next((r for r in analysis["arms"] if r["arm"] == chosen), None)
    if row is None or row["val_acc"]["seeds"] == 0:
        return
    if row["val_acc"]["mean"] <= floor + 1e-12:
        analysis["recommended"] = None
        analysis["withheld"] = {"arm": chosen, "val_acc": row["val_acc"]["mean"], "majority": floor}


def versus_text(v: dict[str, Any] | None) -> str:
    """``against the runner-up lwf, paired over 3 seeds: validation ACC +1.2 points (CI −0.8 to +3.2), test ...``."""
    if not v or not v.get("val"):
        return ""

    def diff(d: dict[str, Any] | None) -> str:
        if d is None:
            return "not scored"
        if v["pairs"] < 2:
            return f"{signed_points(100 * d['mean'])} points"
        span = range_text(d, lambda x: signed_points(100 * x), joiner=" to ")
        return f"{signed_points(100 * d['mean'])} points ({'CI ' if has_interval(d) else ''}{span})"

    if v["pairs"] < 2:
        return (f"against the runner-up {v['arm']} on one seed: validation ACC {diff(v['val'])}, test {diff(v['test'])}; "
                "one seed has no interval, so the choice decides little (--seeds 3 or more)")
    undecided = not has_interval(v["val"]) or v["val"]["ci_low"] <= 0 <= v["val"]["ci_high"]
    return (f"against the runner-up {v['arm']}, paired over {v['pairs']} seeds: validation ACC {diff(v['val'])}, test "
            f"{diff(v['test'])}" + ("; validation does not tell the two apart" if undecided else ""))


def recommended_word(analysis: dict[str, Any]) -> str:
    """How the report introduces its pick: "Recommended" when validation separates it from the runner-up (paired
    over at least 2 seeds, an interval of their difference above 0) or there is no runner-up; otherwise "Best on
    validation (not a clear choice)": leading with "Recommended" overstated a pick the seeds cannot tell apart."""
    v = analysis.get("versus")
    if not v:  # no runner-up to separate it from
        return "Recommended"
    # no shared seed, or seeds that all differed alike (no interval, not certainty): nothing separates them
    clear = v["pairs"] >= 2 and bool(v.get("val")) and has_interval(v["val"]) and v["val"]["ci_low"] > 0
    return "Recommended" if clear else "Best on validation (not a clear choice)"


def withheld_text(w: dict[str, Any]) -> str:
    """Why no arm is recommended, and what the best arm on validation could re-run with: ``w["rerun"]``
    (``continual.notes.withheld_rerun``: only what applies to that arm), else more labels or steps."""
    return (f"no arm to recommend: the best on validation, {w['arm']}, scores {100 * w['val_acc']:.1f}% ACC there, at or "
            f"below an answer that ignores its input ({100 * w['majority']:.1f}%: the majority class), so no arm learnt the stream; "
            f"re-run with {w.get('rerun') or 'more labels or steps'} before choosing")
