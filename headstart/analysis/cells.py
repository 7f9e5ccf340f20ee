"""Cells (one strategy at one size): grouping the current runs, their counts and reference, and choices among them.

A cell holds the done runs of one arm at one requested size, by seed, with what validation reads for a choice
(``held_out_score``); ``choice_basis`` / ``choosable`` / ``chosen_on`` say what a choice among cells may read.
Intervals, learning curves and paired differences of cells are ``cell_stats``; how a metric reads (orientation,
units) is ``units``. See ``headstart.analysis`` for what is chosen on validation and what is reported on test.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.analysis import flags, grids
from headstart.analysis.arms import arm_name, with_arms
from headstart.analysis.budgets import budget_text
from headstart.analysis.flags import requested, size_key
from headstart.analysis.units import validation_metric
from headstart.held_out import MIN_ROWS
from headstart.results import RunResult, chosen_on_validation, given

CONFIDENCE = 0.95
BASELINE = "scratch"  # the from-scratch twin: what every transfer strategy is measured against
# A cheaper strategy replaces the best only on this many paired seeds: with two, a t-test has one degree of
# freedom and its interval is so wide (±36 points seen) that "no significant difference" holds for anything.
MIN_PAIRS = 3
# ... and only when the whole paired interval of (best − cheaper) on validation lies below this margin: "no
# significant difference" with 3 seeds also holds for a strategy 5 points behind (seen: embed-knn vs lora at n = 16).
MARGIN_POINTS = 2.0  # percent-like metrics, in points
MARGIN_RELATIVE = 0.02  # other metrics (rmse ...): this fraction of the best mean


@dataclass(frozen=True)
class Cell:
    """Done runs of one strategy at one requested size: scores by seed (mean of duplicates), cost and test rows.

    ``predicted`` holds each seed's prediction per test row (``RunResult.record["test"]``) when every seed stored
    them on the same ``target``; ``deterministic`` is true when its seeds are the same run (``same_run``: no rows drawn
    by seed, no step taken) that gave the same predictions (or, without rows, the same score), so the cell counts as
    one run.
    """

    strategy: str
    n: int | str
    n_actual: int
    by_seed: dict[int, float]
    train_seconds: float
    trainable_params: int
    saved_bytes: int = 0
    terms: int = 0  # objective terms its arm adds to the task loss (``full-finetune+ewc``: 1); a tie prefers fewer
    seconds_per_step: float = 0.0  # the final run's wall time per optimiser step (validation passes in, tuning trials out)
    feature_seconds: float = 0.0  # of train_seconds, computing the backbone's cached features (each arm reading them counts them)
    chosen: str = ""  # what validation chose across seeds, e.g. "lr 2e-05 (2), 5e-05 (1)"
    val_by_seed: dict[int, float] = field(default_factory=dict)  # the same metric on validation, where stored
    predicted: dict[int, np.ndarray] = field(default_factory=dict)
    target: np.ndarray | None = None
    deterministic: bool = False
    budget: str = ""  # budget_text of its runs
    label_free: bool = False  # an arm that reads no labels, its size-0 runs standing at this size (recommend.label_free)
    validated: bool = False  # some run stored validation scores (of any metric): a store newer than validation scores
    val_source: str = "validation"  # what ``val_by_seed`` holds, said where a choice is: "in-domain validation accuracy"
    held_out: bool = False  # ``val_by_seed`` holds held-out scores (``held_out_score``), not each run's best check
    best_check_why: str = ""  # why the choices read each run's best check where some runs kept held-out scores, or ""

    @property
    def values(self) -> list[float]:
        """Test scores by seed; one value for a deterministic cell."""
        ordered = [self.by_seed[s] for s in sorted(self.by_seed)]
        return ordered[:1] if self.deterministic else ordered

    @property
    def has_validation(self) -> bool:
        """Some seed has a validation score."""
        return bool(self.val_by_seed)

    def choice_score(self, sign: float) -> float:
        """Oriented validation mean the choices rank by, over the seeds that have one: only ``choosable`` cells are
        ranked, and nothing ranks on test."""
        values = self.val_by_seed
        return sign * math.fsum(values.values()) / len(values)


def current_runs(results: list[RunResult]) -> list[RunResult]:
    """The newest run of each (arm, requested size, seed), each labelled with its arm (``arms.with_arms``);
    ``results`` oldest first, as ``Store.results`` gives them, and of one experiment (``arms.experiments``).

    Runs under other settings are other arms, each its own curve (``lora[rank=4]``, ``lora[rank=16]``). What remains
    superseded is a run of the same arm, size and seed stored again under another key (another results version of
    headstart): averaging it with the newer run would count one cell twice, so only the newest counts. Runs a caller
    labelled already (``summarize``: ``with_arms`` with the arms the store's plan adds) keep their labels.
    """
    labelled = results if results and all(r.spec.get("arm") for r in results) else with_arms(results)

    def cell(r: RunResult) -> tuple[str, int | str, int]:
        return arm_name(r), requested(r.spec), int(r.spec.get("seed", 0))

    newest = {cell(r): r for r in labelled}
    return [r for r in labelled if newest[cell(r)] is r]


def superseded_keys(results: list[RunResult]) -> set[str]:
    """Keys of the runs every figure leaves out: each experiment's runs (``arms.experiments``) less its
    ``current_runs``, as the report's ``totals["superseded"]`` counts them; ``results`` oldest first."""
    from headstart.analysis.arms import experiments

    kept = {r.key for _, runs in experiments(results) for r in current_runs(runs)}
    return {r.key for r in results} - kept


def _rows(runs: list[RunResult]) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """Per-seed test predictions and the shared target, or ({}, None) unless every run stored them on one target."""
    tests = [(r.record or {}).get("test") or {} for r in runs]
    if not runs or not all(t.get("predicted") and t.get("target") for t in tests):
        return {}, None
    target = np.asarray(tests[0]["target"])
    if any(len(t["target"]) != len(target) or np.any(np.asarray(t["target"]) != target) for t in tests):
        return {}, None
    return {int(r.spec.get("seed", 0)): np.asarray(t["predicted"]) for r, t in zip(runs, tests)}, target


def step_seconds(result: RunResult) -> float:
    """Seconds per optimiser step of the run itself: ``train_seconds`` less its learning-rate trials (``tune_seconds``,
    which ran other steps) and its backbone's cached features (``feature_seconds``, computed once before any step),
    over its steps."""
    tuning = (result.chosen or {}).get("tune_seconds") or 0.0
    features = (result.record or {}).get("feature_seconds") or 0.0
    return max(result.train_seconds - float(tuning) - float(features), 0.0) / result.steps


def cells(results: list[RunResult], metric: str = "accuracy") -> dict[tuple[str, int | str], Cell]:
    """Group the current (``current_runs``) done runs with a finite ``metric`` by (strategy, requested size)."""
    groups: dict[tuple[str, int | str], list[RunResult]] = defaultdict(list)
    on = validation_metric(metric)
    for r in current_runs(results):
        value = r.metrics.get(metric) if r.status == "done" else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            groups[(arm_name(r), requested(r.spec))].append(r)
    validated = [r for runs in groups.values() for r in runs if _finite((r.val_metrics or {}).get(on) if on else None)]
    lacking = [r for r in validated if not _finite(held_out_score(r, on))]  # runs without a held-out score
    held = bool(validated) and not lacking
    read = (lambda r: held_out_score(r, on)) if held else (lambda r: (r.val_metrics or {}).get(on) if on else None)
    source = ("held-out " if held else "") + ("validation" if on == metric or on is None else f"in-domain validation {on}")
    few = [r for r in lacking if _finite((r.val_metrics or {}).get("n")) and r.val_metrics["n"] < MIN_ROWS]
    best_check_why = ""
    if few or 0 < len(lacking) < len(validated):  # one basis for all, and why: too few rows to hold half out, or older runs
        rows = sorted({int(r.val_metrics["n"]) for r in few})
        why = ([f"{len(few)} of {len(validated)} runs had {rows[0] if len(rows) == 1 else f'under {MIN_ROWS}'} validation "
                f"rows, fewer than the {MIN_ROWS} that holding half of them out takes"] if few else []) + (
               [f"{len(lacking) - len(few)} of {len(validated)} runs were stored before held-out scores were kept"]
               if len(lacking) > len(few) else [])
        best_check_why = "; ".join(why)
        source += f" (each run's best check: {best_check_why})"
    out = {}
    for (strategy, n), runs in groups.items():
        by_seed: dict[int, list[float]] = defaultdict(list)
        val: dict[int, list[float]] = defaultdict(list)
        for r in runs:
            by_seed[int(r.spec.get("seed", 0))].append(float(r.metrics[metric]))
            v = read(r)
            if _finite(v):
                val[int(r.spec.get("seed", 0))].append(float(v))
        unique = list({int(r.spec.get("seed", 0)): r for r in runs}.values())  # one run per seed for the rows
        predicted, target = _rows(unique) if len(unique) == len(by_seed) else ({}, None)
        values = [v for vs in by_seed.values() for v in vs]
        same = len(by_seed) > 1 and same_run(n, runs) and (
            all(np.array_equal(p, next(iter(predicted.values()))) for p in predicted.values()) if predicted
            else len(set(values)) == 1)
        out[(strategy, n)] = Cell(
            strategy=strategy, n=n, n_actual=max(int(r.spec.get("n", 0)) for r in runs),
            by_seed={s: math.fsum(v) / len(v) for s, v in by_seed.items()},
            train_seconds=math.fsum(r.train_seconds for r in runs) / len(runs),
            feature_seconds=math.fsum(float((r.record or {}).get("feature_seconds") or 0.0) for r in runs) / len(runs),
            trainable_params=max(r.trainable_params for r in runs),
            terms=max(len(r.spec.get("terms") or {}) for r in runs),
            saved_bytes=max(r.saved_bytes for r in runs),
            seconds_per_step=math.fsum(step_seconds(r) for r in runs if r.steps) / max(1, sum(1 for r in runs if r.steps)),
            chosen=chosen_text(runs),
            val_by_seed={s: math.fsum(v) / len(v) for s, v in val.items()},
            predicted=predicted, target=target, deterministic=same,
            budget=", ".join(filter(None, [budget_text(runs), given_text(runs)])),
            validated=any(r.val_metrics for r in runs), val_source=source, held_out=held,
            best_check_why=best_check_why,
        )
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], size_key(kv[0][1]))))


def same_run(n: int | str, runs: list[RunResult]) -> bool:
    """Whether every seed of a cell could only make the same run: each trained on the same rows (n = 0: none, the
    whole pool at n = "all") and none took a step a seed could change (a closed form: ``steps`` 0 and no solver steps of
    its own, ``flags.solver_steps``). Scores or predictions that happen to coincide never make a cell one run: at
    n = 16 two seeds draw two subsamples, and may choose two rates, whatever they score."""
    return n in (0, "all") and all(not r.steps and not flags.solver_steps(r) for r in runs)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def held_out_score(result: RunResult, metric: str) -> float | None:
    """``metric`` of the run's checkpoint choice on validation rows that did not make it (``held_out.choose``):
    what choices between strategies read, for a run that looked at validation more often is not luckier there. A run
    that looked once (a head set from descriptions, a prompted LM) chose nothing: its validation score stands as it is.
    None for a run stored without one (before it was kept, or with a validation of its own)."""
    held = (result.record or {}).get("held_out") or {}
    if metric in held:
        return held[metric]
    looks = (result.record or {}).get("history")
    # A solver's one look may follow a grid it chose among on validation; with no labels (n = 0) it had none to fit
    label_free = result.spec.get("n") == 0
    once = looks is not None and len(looks) <= 1 and (label_free or not any(h.get("solved") for h in looks))
    return (result.val_metrics or {}).get(metric) if once else None


def chosen_text(runs: list[RunResult]) -> str:
    """Hyperparameters picked on validation across a cell's runs: ``"lr 2e-05 (2), 5e-05 (1)"``; "" when none. What a
    run recorded rather than chose (``results.RECORDED``: a prompt's length, icl's demonstrations) is ``budget_text``'s,
    and what a one-value grid set (``results.given``) is ``given_text``'s."""
    values: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        for name, value in chosen_on_validation(r.chosen, (r.spec or {}).get("options"), (r.spec or {}).get("n")).items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool) and name != "tune_seconds":
                values[name][f"{value:g}" if isinstance(value, float) else str(value)] += 1
    parts = []
    for name, counts in values.items():
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        parts.append(f"{name} " + ", ".join(v if len(counts) == 1 and c == len(runs) else f"{v} ({c})" for v, c in ordered))
    return "; ".join(parts)


def given_text(runs: list[RunResult]) -> str:
    """What a one-value grid set across a cell's runs, said with the budget as a setting: ``"C 1 (a grid of one value: set,
    not chosen on validation)"``; "" when none."""
    values: dict[str, set[float]] = defaultdict(set)
    for r in runs:
        for name, value in given(r.chosen, (r.spec or {}).get("options"), (r.spec or {}).get("n")).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[name].add(float(value))
    return "; ".join(f"{name} " + "/".join(f"{v:g}" for v in sorted(vs)) for name, vs in values.items()) + (
        " (a grid of one value: set, not chosen on validation)" if values else "")


def sizes(table: dict[tuple[str, int | str], Cell]) -> list[int | str]:
    """The requested sizes present, ascending with ``"all"`` last."""
    return sorted({n for _, n in table}, key=size_key)


def choice_basis(cells_: list[Cell]) -> str:
    """What a choice among ``cells_`` reads: "validation" when any of them has validation scores of the metric (then a
    cell without any is left out of the choice: ``choosable``); else "none": nothing is chosen, for a choice would read
    test — the runs stored validation scores but none measures this metric (``retention:DATA``), or no run stored any
    (a store written before they were kept)."""
    return "validation" if any(c.has_validation for c in cells_) else "none"


def choice_order(cell: Cell, sign: float) -> tuple[float, int, int, str]:
    """Sort key of the cells a choice ranks: the best validation mean first and, on an exact tie, the simpler arm —
    fewer objective terms, then fewer trainable parameters, then the name. Never train time: a tie went to the faster
    arm, and the first cell's warm-up on a busy machine (16 s against 1.8 s) named full-finetune+ewc over the
    full-finetune it agreed with on every row, or the other one with the arms given in the other order."""
    return -cell.choice_score(sign), cell.terms, cell.trainable_params, cell.strategy


def tied_with(best: Cell, cells_: list[Cell], sign: float) -> list[str]:
    """The arms of ``cells_`` (``choosable``) whose validation mean equals ``best``'s exactly: ranked below it by
    ``choice_order``'s simplicity alone, so one more seed can name another arm; the readings say so (``tie_text``)."""
    return [c.strategy for c in choosable(cells_) if c is not best and c.choice_score(sign) == best.choice_score(sign)]


def tie_text(tied: list[str]) -> str:
    """The clause that names arms tied with the one chosen (``tied_with``), or "": what the recommendation and the head
    start both say after "best on validation"."""
    return (f", tied there with {', '.join(tied)}: the simpler arm is named (fewer objective terms, then fewer "
            "trainable parameters, then the name)") if tied else ""


def choosable(cells_: list[Cell]) -> list[Cell]:
    """The cells a choice may pick: those with a validation score of the metric (none where ``choice_basis`` is "none")."""
    return [c for c in cells_ if c.has_validation]


def chosen_on(cells_: list[Cell]) -> str:
    """What the choice read, said in the report: "validation" or, for an out-of-domain metric, "in-domain validation
    accuracy" (naming any cell left out for having none); or, where no validation score measures the metric, that
    nothing was chosen, and why."""
    if choice_basis(cells_) == "none":
        if not any(c.validated for c in cells_):
            return ("nothing: these runs stored no validation scores (a store written before they were kept), and a choice "
                    "on test would not be honest; run the sweep into a new --out to choose")
        return "nothing: no validation score measures this metric, and a choice on test would not be honest"
    left = sorted({f"{c.strategy} n={c.n}" for c in cells_ if not c.has_validation})
    source = next(c.val_source for c in cells_ if c.has_validation)
    return source + (f" ({', '.join(left)} left out: no validation score stored)" if left else "")


def choice_source(cells_: list[Cell]) -> dict[str, Any]:
    """What the choice among ``cells_`` read, as data (``chosen_on`` says it in words): ``{"held_out": bool,
    "best_check_why": str}`` — held-out validation scores, or each run's best check and why ("8 of 10 runs had 8
    validation rows, fewer than the 20 that holding half of them out takes"; "" where nothing needs saying). The
    report's footnote (``report.footnote.choice_text``, report.md and report.html) reads it."""
    cell = next((c for c in cells_ if c.has_validation), None)
    return {"held_out": bool(cell and cell.held_out), "best_check_why": cell.best_check_why if cell else ""}


def counts(results: list[RunResult]) -> list[dict[str, Any]]:
    """Per (strategy, requested size): how many runs are done, failed, diverged, pending or running.

    Returns:
        Rows ``{strategy, n, done, failed, diverged, pending, running, errors}`` (``errors``: up to three
        distinct failure reasons).
    """
    table: dict[tuple[str, int | str], dict[str, Any]] = {}
    for r in current_runs(results):
        key = (arm_name(r), requested(r.spec))
        row = table.setdefault(key, {"strategy": key[0], "n": key[1], "done": 0, "failed": 0, "diverged": 0,
                                     "pending": 0, "running": 0, "errors": []})
        row[r.status] += 1
        if r.error and r.error not in row["errors"] and len(row["errors"]) < 3:
            row["errors"].append(r.error)
    return [table[k] for k in sorted(table, key=lambda k: (k[0], size_key(k[1])))]


def grid_edges(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """``grids.grid_edges`` over the current runs (``current_runs``)."""
    return grids.grid_edges(current_runs(results), confidence)


def budget_flags(results: list[RunResult]) -> list[dict[str, Any]]:
    """``flags.budget_flags`` over the current runs (``current_runs``)."""
    return flags.budget_flags(current_runs(results))


def reference(results: list[RunResult], metric: str = "accuracy") -> dict[str, Any] | None:
    """The score of the constant predictor ``evaluation.prior_predictions`` makes from the training pool (its majority
    class; its mean for regression; each label's frequency for multilabel) on test and validation, from the runs'
    records: the line below which a strategy learned nothing. None for stores without records.

    Returns:
        ``{test, val, label}`` in stored units; ``label`` is a key of ``REFERENCE_WORDS``; for the majority class, where
        the runs recorded both splits' rows, ``lean_p`` too (``split_lean_p``: whether validation leans to one class
        further than test beyond the chance of the cut).
    """
    found: dict[tuple[Any, Any], int] = defaultdict(int)
    refs: dict[tuple[Any, Any], dict[str, Any]] = {}
    tasks: dict[Any, int] = defaultdict(int)
    for r in current_runs(results):
        ref = (r.record or {}).get("reference") or {}
        test, val = (ref.get("test") or {}).get(metric), (ref.get("val") or {}).get(metric)
        if isinstance(test, (int, float)):
            found[(test, val)] += 1
            refs.setdefault((test, val), ref)
            tasks[flags.task_of(r)] += 1
    if not found:
        return None
    test, val = max(found, key=found.get)
    task = max(tasks, key=tasks.get)
    if task == "regression" or metric in ("rmse", "mae", "r2"):
        label = "predicting the mean"
    else:
        label = "label frequency" if task == "multilabel" else "majority class"
    lean = split_lean_p(refs[(test, val)].get("val") or {}, refs[(test, val)].get("test") or {}) \
        if label == "majority class" else None
    return {"test": test, "val": val, "label": label, **({"lean_p": lean} if lean is not None else {})}


LEAN_ALPHA = 0.05  # a validation split whose majority share differs from test's with Fisher's p below this leans


def split_lean_p(val: dict[str, Any], test: dict[str, Any]) -> float | None:
    """Fisher's exact two-sided p that validation and test hold the pool's majority class in the same share: the
    2 x 2 of its rows and the others' on each split (``reference``'s ``accuracy`` times its ``n``). Below
    ``LEAN_ALPHA`` validation leans to one class further than a cut of the same rows by chance would, so choices read
    against its majority rate lean with it. This replaces a fixed 15 points apart, which chance passes on a small
    split (17 points on 32 validation rows is p = 0.09) and a lean that matters misses on a large one (8.5 points
    on 2,000 rows each, p < 1e-7, beyond every validation score's own noise there). None where a split's rows or
    share are not recorded (runs stored before ``n`` was)."""
    from scipy.stats import fisher_exact

    counts = []
    for part in (val, test):
        share, rows = part.get("accuracy"), part.get("n")
        if not (isinstance(share, (int, float)) and isinstance(rows, int) and not isinstance(rows, bool) and rows > 0):
            return None
        hits = min(rows, max(0, round(share * rows)))
        counts.append([hits, rows - hits])
    return float(fisher_exact(counts).pvalue)


# ``reference``'s label -> (what the constant predictor does, the phrase for "never beat ...").
REFERENCE_WORDS = {"majority class": ("always predicting the training pool's most frequent class", "the majority-class rate"),
                   "predicting the mean": ("predicting the training pool's mean", "predicting the mean"),
                   "label frequency": ("predicting each label's training frequency", "predicting each label's frequency")}
