"""From stored runs to the answer: learning curves, paired tests, head start, crossover and advice.

Pure functions over a list of ``RunResult``. Only ``done`` runs enter the statistics; ``failed`` and
``diverged`` runs are counted per cell (``counts``) and named in the recommendation.

Choices on validation, figures on test: which strategy is recommended, which transfer strategy the head start
quotes and where the crossover lies are decided on the runs' validation scores, held out from each run's own
checkpoint choice where every run kept one (``cells.held_out_score``: a run that looks at validation 30 times is not
luckier there than one that looks 5 times), else the best check's (``val_metrics``, what early stopping and tuning
read); the test scores of what was chosen are then reported. Picking on test means would be
the winner's curse of a leaderboard (the best of 7 strategies x 3 seeds on one test set looks better than it is).

Statistics (per strategy and requested size n): the mean over seeds with an interval that carries the seed
variation and the test set's sampling error (``headstart.analysis.stats``). Comparisons are *paired*: seed s draws
the same nested labelled subset for every strategy, and every strategy is scored on the same test rows, so the
difference a − b is taken seed by seed and its test-row error is resampled on the same rows for both. A strategy
whose seeds are the same run (no rows drawn by seed and no optimiser step: a closed-form baseline with every label, or
a label-free arm at n = 0) and gave the same predictions is one run; scores that merely coincide never are.

Units: metric values are stored as they come (fractions in [0, 1] for accuracy-like metrics). ``curves``
and ``paired_differences`` keep those units; text, ``head_start`` and ``crossover`` give *points*
(× 100) for accuracy-like metrics. ``improvement`` fields are oriented so that positive means better,
also for lower-is-better metrics such as ``rmse``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from headstart.analysis.cell_stats import curves, improvement, paired_differences
from headstart.analysis.cells import (BASELINE, CONFIDENCE, MARGIN_POINTS, MIN_PAIRS, Cell, budget_flags, cells, counts,
                                      current_runs, grid_edges, reference, REFERENCE_WORDS, sizes)
from headstart.analysis.units import PERCENT_METRICS, format_n, higher_is_better, resolve_direction, scale
from headstart.analysis.forgetting import retention_rows
from headstart.analysis.ood import ood_rows
from headstart.analysis.arms import arm_name, differences_text, experiments, label_arms, planned_cells, with_arms
from headstart.analysis.flags import requested, run_flags, size_key
from headstart.analysis.provenance import provenance
from headstart.analysis.readings import crossover, head_start
from headstart.analysis.recommend import margin, recommend
from headstart.analysis.train_command import band_commands
from headstart.analysis.stats import interval, mean_ci, paired_test
from headstart.errors import ConfigError
from headstart.results import RunResult

__all__ = ["BASELINE", "CONFIDENCE", "MARGIN_POINTS", "MIN_PAIRS", "PERCENT_METRICS", "Cell", "budget_flags", "cells",
           "counts", "crossover", "current_runs", "experiments", "label_arms", "with_arms", "curves", "format_n", "grid_edges", "head_start", "higher_is_better",
           "improvement", "interval", "margin", "mean_ci", "paired_differences", "paired_test", "recommend", "reference",
           "REFERENCE_WORDS",
           "requested", "run_flags", "scale", "size_key", "sizes", "summarize"]


def summarize(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              a: str = "full-finetune", b: str = "linear-probe", confidence: float = CONFIDENCE,
              margin_points: float | None = None, plan: list[dict[str, Any]] | None = None,
              sweep: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-able data (the ``results.json`` shape), for the store's newest
    experiment (``arms.experiments``: data, split and backbone); each other experiment in the store is summarised
    apart under ``other_experiments`` — two experiments are never averaged, paired or ranked together.

    Args:
        results: every stored run (any status).
        metric: the test metric to compare (``accuracy``; ``rmse`` for regression).
        higher_is_better: orientation; derived from ``metric`` when None.
        a, b: the pair whose crossover is reported.
        confidence: coverage of every interval.
        margin_points: how far a cheaper strategy may trail the best and be recommended instead (``recommend``).
        plan: the cells the store's last compare planned (``Store.sweep()["plan"]``): arms are labelled with those of
            their experiment that have no run yet (``arms.label_arms``), as ``analysis.unfinished`` names them.
        sweep: the store's last sweep record (``Store.sweep()``); each recommendation band then carries
            ``train_commands``, the ``headstart train`` line and ``headstart.fit`` call that train its arm as the
            compare ran it (``train_command.band_commands``; none for an arm that sweep did not run as planned, and
            then the band's text says why).

    Returns:
        ``{experiment, metric, higher_is_better, scale, confidence, test_rows, margin_points, reference, curves, head_start,
        crossover, recommendation, retention, ood, budget_flags, grid_edges, counts, totals, tuned,
        other_experiments, others_differ, provenance}``; ``provenance`` is the runs' environments and the precision each
        arm trained at, once for the store over every experiment's runs (``analysis.provenance``); each entry of
        ``other_experiments`` is ``{experiment, runs, summary}`` (no ``provenance`` of its own); ``others_differ`` names
        what sets the experiments apart (``arms.differences_text``: "the test split's row cap").

    Raises:
        ConfigError: ``metric`` appears in no finished run while other metrics do.
    """
    groups = [(name, with_arms(runs, planned=planned_cells(plan, runs)))  # labelled with the plan's arms not yet run
              for name, runs in experiments(results)] or [("", [])]
    kwargs = dict(higher_is_better=higher_is_better, a=a, b=b, confidence=confidence, margin_points=margin_points,
                  sweep=sweep)
    (label, main), others = groups[0], groups[1:]
    summary = {"experiment": label, **_summarize_one(main, metric, **kwargs)}
    shown = [(name, runs) for name, runs in others if any(r.status == "done" for r in runs)]
    summary["other_experiments"] = [{"experiment": name, "runs": len(runs), "summary": _summarize_one(runs, metric, **kwargs)}
                                    for name, runs in shown]
    summary["others_differ"] = differences_text([runs[-1].spec for _, runs in [(label, main), *shown]]) if shown else ""
    # the store's one Precision and Environment line: every experiment's runs, not the newest experiment's alone
    summary["provenance"] = provenance([(name, current_runs(runs)) for name, runs in groups], sweep)
    return summary


def _test_rows(results: list[RunResult]) -> int | None:
    """The rows of the test split the finished runs were scored on (their metrics' ``n``; the most common where runs
    differ), or None when no run recorded it."""
    found = Counter(r.metrics.get("n") for r in results if r.status == "done")
    found.pop(None, None)
    rows = [n for n, _ in found.most_common() if isinstance(n, int) and not isinstance(n, bool) and n > 0]
    return rows[0] if rows else None


def _summarize_one(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              a: str = "full-finetune", b: str = "linear-probe", confidence: float = CONFIDENCE,
              margin_points: float | None = None, sweep: dict[str, Any] | None = None) -> dict[str, Any]:
    """One experiment's summary: ``summarize`` without ``experiment`` and ``other_experiments`` (same arguments)."""
    done = [r for r in results if r.status == "done"]
    available = sorted({m for r in done for m, v in r.metrics.items() if isinstance(v, (int, float)) and m != "n"})  # n: a count
    if done and available and metric not in available:
        raise ConfigError(f"metric {metric!r} is in no finished run; use one of {', '.join(available)} (e.g. --metric {available[0]})")
    better_high = resolve_direction(metric, higher_is_better)
    current = current_runs(results)
    totals = {s: sum(r.status == s for r in current) for s in ("done", "failed", "diverged", "pending", "running")}
    totals["superseded"] = len(results) - len(current)
    advice = recommend(results, metric, higher_is_better=better_high, confidence=confidence, margin_points=margin_points)
    for band in advice:
        band["train_commands"], missing = band_commands(band, current, sweep)
        if missing:  # a size the band recommends but no command trains: the band says why
            band["text"] += "; " + "; ".join(missing)
    return {
        "metric": metric, "higher_is_better": better_high, "scale": scale(metric), "confidence": confidence,
        "test_rows": _test_rows(current),
        "margin_points": MARGIN_POINTS if margin_points is None else margin_points,
        "reference": reference(results, metric),
        "curves": curves(results, metric, confidence=confidence),
        "head_start": head_start(results, metric, higher_is_better=better_high, confidence=confidence),
        "crossover": crossover(results, metric, a, b, higher_is_better=better_high, confidence=confidence),
        "recommendation": advice,
        "retention": retention_rows(results, confidence),
        "ood": ood_rows(results, metric, confidence),
        "budget_flags": budget_flags(results), "grid_edges": grid_edges(results), "counts": counts(results), "totals": totals,
        "tuned": tuned_arms(current),
    }


def tuned_arms(results: list[RunResult]) -> list[str]:
    """The arms whose finished runs searched their learning rate on validation (``--tune lr``): that search reads all
    the validation rows, so a choice over such arms is not held out from it, and the report says so."""
    return sorted({arm_name(r) for r in results if r.status == "done" and ((r.record or {}).get("budget") or {}).get("tuned")})
