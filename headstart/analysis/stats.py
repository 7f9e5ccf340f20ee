"""Intervals that carry both sources of error a learning curve has: which seed was drawn, and which test rows.

Pure functions of plain numbers and numpy arrays; nothing here knows about runs or stores.

A strategy's score at size n is the mean over k seeds of a metric on one fixed test set of N rows. Two errors:
  seed variation     s² / k, the spread of the k seeds' scores (Student-t, k - 1 degrees of freedom);
  test-set sampling  the variance of that mean when the N test rows are resampled with replacement (a bootstrap of
                     ``DRAWS`` draws, shared by every strategy, so paired differences resample the same rows).
The seeds share the test set, so its error does not average away over seeds: with 3 seeds on 1,030 reviews the
seed interval alone can be ±0.4 points where the binomial error of the test set is ±2.4. The two variances add;
the interval is mean ± t_{0.975, ν} · √(s²/k + v_rows) with ν from Welch–Satterthwaite (the bootstrap part counted
as known), and never narrower than the seed interval alone (t_{0.975, k−1} · s/√k: with 3 seeds a larger ν can shrink
the quantile more than the added variance widens it). With one seed (or a strategy with no random part) it is the
test-set interval alone.

The bootstrap knows only the rows it was given: when every row is right (or every seed agrees on every row) each
draw is the same and it sees no error at all — 100% on 3 rows would read [100, 100]. So the interval of a score that
is a share of test rows (``SHARE_METRICS``: accuracy) contains the Wilson interval (``wilson``) of its mean on those
rows whenever its seeds do not vary (one run, or seeds that all scored the same): then the score is one run's share,
whose binomial error the bootstrap can miss; 100% on 120 rows is 96.9–100, as ``evaluate`` says of one run. Where
seeds vary the floor does not apply: the mean of k runs that disagree on rows has less row error than one run's
binomial (each row's share of right seeds varies less than a 0/1), and the seed term carries the rest. Balanced
accuracy is an average of per-class shares, whose sampling error can be below that of one share on all N rows
(recall 1 on one class and 0 on the other is 50% in every resample), so no binomial floor on N rows holds for it; its
floor where seeds do not vary is the mean of each class's Wilson interval of its recall on that class's rows
(``recall_cover``: every row right on 60 + 60 rows is 94.0–100, not 100–100). Macro-F1 has none (a harmonic mean of
two shares per class), nor have rmse and mae: where every seed and every resample of theirs gave the same value (a
macro-F1 of 100% on 30 rows, one seed) the interval has no width and says so (``no_interval``), with no p-value, for
no error seen is not no error; so has a difference whose seeds all gave the same value with no rows to resample.

A paired difference a − b keeps its bootstrap, but where the two arms gave the same prediction on every test row
for every seed, every resample gives 0 and the interval would claim certainty. Then the difference of their
accuracies can be no larger than the share of rows on which they disagree, 0 of N here, so the interval is
± the Wilson upper limit of 0 disagreements in N rows (``agreement_bound``: ±3.1 points on 120 rows, ±56 on 3),
and the report says the two agree on all N rows.

A test split is called small (``small_test``) when the 95% Wilson interval of a 50% accuracy on it is wider than
±10 points (``SMALL_TEST_HALF_WIDTH``: under 93 rows): there two arms 10 points apart can be one arm twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from headstart.analysis.units import base_metric

CONFIDENCE = 0.95
DRAWS = 400  # bootstrap draws of the test rows: the standard error of a bootstrap SD is ~1/sqrt(2 * DRAWS), 3.5%
ROW_METRICS = frozenset({"accuracy", "balanced_accuracy", "macro_f1", "rmse", "mae"})  # what metric_draws can resample
UNIT_METRICS = frozenset({"accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "f1", "precision", "recall", "exact_match",
                          "reward_accuracy"})
NONNEGATIVE_METRICS = frozenset({"rmse", "mae", "mse", "loss", "log_loss"})
# A share of the test rows (binomial): its interval never is narrower than the Wilson interval on those rows. Balanced
# accuracy and macro-F1 average per-class shares, and can vary less than one share does (see the module docstring).
SHARE_METRICS = frozenset({"accuracy"})
NO_SPREAD = 1e-12  # seeds this close (relative to their size) scored the same: the rest is floating-point rounding
SMALL_TEST_HALF_WIDTH = 0.10  # a 50% accuracy's 95% Wilson half-width above this (under 93 rows): a small test split
ONE_SEED = "1 seed: training randomness is not in the interval"  # said wherever such a difference's interval is
SAID = ("no_interval", "caveat", "agree_rows")  # what an interval says of itself: kept wherever its numbers go


def metric_range(metric: str) -> tuple[float, float] | None:
    """The values ``metric`` can take, for clipping an interval of its score (not of a difference): a normal interval
    of an accuracy near 100% over two seeds would otherwise reach past it. An out-of-domain score ``ood:DATA:M`` takes
    M's values (``units.base_metric``)."""
    measure = base_metric(metric)
    if measure in UNIT_METRICS:
        return 0.0, 1.0
    if measure in NONNEGATIVE_METRICS:
        return 0.0, math.inf
    if measure == "r2":  # 1 at best, unbounded below (a model worse than the mean)
        return -math.inf, 1.0
    return None


def difference_range(metric: str) -> tuple[float, float] | None:
    """The values a difference of two ``metric`` scores can take (±1 for a fraction), for clipping its interval: two
    seeds' t-interval of a gain in accuracy otherwise reaches past ±100 points. None when unbounded."""
    bounds = metric_range(metric)
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        return None
    return bounds[0] - bounds[1], bounds[1] - bounds[0]


def wilson(share: float, rows: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson interval of a share (an accuracy) measured on ``rows`` rows: one run's test-set sampling error alone
    (no seed to vary). Wilson, not the normal approximation, so that 100% on 40 rows is not [1, 1]."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    centre = (share + z * z / (2 * rows)) / (1 + z * z / rows)
    half = z * math.sqrt(share * (1 - share) / rows + z * z / (4 * rows * rows)) / (1 + z * z / rows)
    return max(0.0, centre - half), min(1.0, centre + half)


def share_cover(metric: str, mean: float, rows: int | None, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson interval of ``mean`` on ``rows`` test rows where ``metric`` is a share of them (``SHARE_METRICS``):
    what ``interval(..., cover=)`` of its score must contain. None for another metric, or with the rows unknown."""
    if metric not in SHARE_METRICS or not rows or not 0.0 <= mean <= 1.0:
        return None
    return wilson(mean, rows, confidence)


def recall_cover(predicted: np.ndarray, target: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """For balanced accuracy (the mean of per-class recalls) of one run's ``predicted`` classes on ``target``: the mean of
    each class's Wilson interval of its recall on its own rows, what ``interval(..., cover=)`` must contain where the
    seeds do not vary (the bootstrap sees no error where every resample is the same: every row right, say)."""
    limits = [wilson(float(np.mean(predicted[target == c] == c)), int(np.sum(target == c)), confidence) for c in np.unique(target)]
    return float(np.mean([low for low, _ in limits])), float(np.mean([high for _, high in limits]))


def score_cover(metric: str, mean: float, rows: int | None, predicted: Any = None, target: Any = None,
                confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """What ``interval(..., cover=)`` of a score must contain where its seeds do not vary: a share's Wilson interval
    (``share_cover``), balanced accuracy's per-class one on one run's ``predicted`` classes and ``target``
    (``recall_cover``); None for another metric or without what it needs."""
    if metric == "balanced_accuracy":
        if predicted is None or target is None or not len(target):
            return None
        return recall_cover(np.asarray(predicted), np.asarray(target), confidence)
    return share_cover(metric, mean, rows, confidence)


def agreed_difference(diff: dict[str, Any], metric: str, agreed_rows: int | None,
                      confidence: float = CONFIDENCE) -> dict[str, Any]:
    """A paired difference's interval (``interval``'s dict) where the two arms' predictions agreed on all
    ``agreed_rows`` test rows in every shared seed (None: they did not): every resample gives 0, which is not certainty,
    only no disagreement on these rows (the module docstring) — so a share's difference gets ±``agreement_bound``, and
    the dict ``agree_rows``. Returned unchanged where they disagreed."""
    if not agreed_rows:
        return diff
    diff = {**diff, "agree_rows": agreed_rows}
    if metric in SHARE_METRICS:
        bound = agreement_bound(agreed_rows, confidence)
        diff["ci_low"], diff["ci_high"] = -bound, bound
        diff.pop("no_interval", None)  # this bound is the interval
    return diff


def agreement_bound(rows: int, confidence: float = CONFIDENCE) -> float:
    """How far apart two arms' accuracies can be, as a fraction, when they agreed on all ``rows`` test rows: the Wilson
    upper limit of 0 disagreements in ``rows`` (a difference of accuracies is at most the share of rows they disagree
    on). 0.031 on 120 rows, 0.56 on 3."""
    return wilson(0.0, rows, confidence)[1]


def share_half_width(rows: int, confidence: float = CONFIDENCE) -> float:
    """Half the width of the Wilson interval of a 50% share on ``rows`` rows: the largest sampling error an accuracy
    measured on them can have (0.10 at 93 rows, 0.38 at 3)."""
    low, high = wilson(0.5, rows, confidence)
    return (high - low) / 2


def small_test(rows: int, confidence: float = CONFIDENCE) -> bool:
    """True when a test split of ``rows`` rows is too small to tell arms 10 points apart (``SMALL_TEST_HALF_WIDTH``)."""
    return share_half_width(rows, confidence) > SMALL_TEST_HALF_WIDTH


def mean_ci(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float, float | None]:
    """Mean and Student-t confidence interval over seeds alone.

    Args:
        values: one value per seed (at least one).
        confidence: two-sided coverage, default 0.95.

    Returns:
        ``(mean, ci_low, ci_high, std)``; with one value the interval has no width and ``std`` is None.
    """
    from scipy import stats

    k = len(values)
    mean = math.fsum(values) / k
    if k < 2:
        return mean, mean, mean, None
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (k - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1)) * std / math.sqrt(k)
    return mean, mean - half, mean + half, std


def paired_test(diffs: list[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Paired t-test on per-seed differences a − b (seed variation only; ``interval`` adds the test rows).

    Returns:
        ``{mean, ci_low, ci_high, p_value, significant, pairs}``; ``p_value`` is None (not significant)
        with fewer than two pairs, and with identical differences, which are no evidence of certainty: there the
        interval has no width, ``no_interval`` says why, and nothing is called significant.
    """
    return interval(diffs, None, confidence)


def interval(values: list[float], row_draws: np.ndarray | None, confidence: float = CONFIDENCE,
             bounds: tuple[float, float] | None = None, cover: tuple[float, float] | None = None, *,
             split: str = "test") -> dict[str, Any]:
    """Mean of per-seed ``values`` with an interval over seeds and, when given, over test rows.

    Args:
        values: one value per seed (a score, or a paired difference a − b).
        row_draws: (DRAWS,) the seed mean recomputed on resampled test rows (``metric_draws`` averaged over seeds), or
            None when the rows are unknown (runs stored before the rows were): the interval is over seeds only.
        confidence: two-sided coverage.
        bounds: the values a score can take (``metric_range``): the interval is clipped to them.
        cover: an interval the result must contain where the seeds do not vary (``share_cover``: a share's Wilson
            interval on the test rows, what the bootstrap misses when every draw is the same), applied before
            ``bounds``.
        split: the split the values were scored on, "test" or "val": what ``no_interval`` says is not stored.

    Returns:
        ``{mean, ci_low, ci_high, p_value, significant, pairs, seed_se, row_se}``. ``p_value`` tests mean = 0 (for
        differences); None, and the interval of no width, when there is no error estimate (one seed, no rows). Where
        the estimate is zero (every seed and every resample gave the same value: 100% macro-F1 on 30 rows, three seeds'
        identical differences) nothing is called significant, ``p_value`` is None, and either ``cover`` is the
        interval (the conservative bound a share has) or the interval has no width and ``no_interval`` says why
        (``agreed_text``): never a zero-width interval shown as certain.
    """
    from scipy import stats

    k = len(values)
    mean = math.fsum(values) / k
    rounding = (NO_SPREAD * max(1.0, *map(abs, values))) ** 2  # 0.8 three times sums to 2.4000000000000004
    seed_var = math.fsum((v - mean) ** 2 for v in values) / (k - 1) / k if k > 1 else 0.0
    seed_var = 0.0 if seed_var <= rounding else seed_var
    if seed_var > 0:  # a mean of runs that differ: no one run's binomial floor holds for it (module docstring)
        cover = None
    row_var = float(np.var(row_draws, ddof=1)) if row_draws is not None and len(row_draws) > 1 else 0.0
    row_var = 0.0 if row_var <= rounding else row_var
    out = {"mean": mean, "pairs": k, "seed_se": math.sqrt(seed_var) if k > 1 else None,
           "row_se": math.sqrt(row_var) if row_draws is not None else None}
    if k < 2 and row_draws is None:
        return {**out, **_widened(mean, mean, cover, bounds), "p_value": None, "significant": False}
    se = math.sqrt(seed_var + row_var)
    if se == 0.0:  # every seed and every resample agreed: no error seen, which is not no error (module docstring)
        if cover is not None:  # a share's Wilson interval on the rows: the conservative bound that exists
            return {**out, **_widened(mean, mean, cover, bounds), "p_value": None, "significant": False}
        return {**out, **_widened(mean, mean, None, bounds), "p_value": None, "significant": False,
                "no_interval": agreed_text(k, rows=row_draws is not None, split=split)}
    df = (seed_var + row_var) ** 2 / (seed_var**2 / (k - 1)) if seed_var > 0 else math.inf
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df)) if math.isfinite(df) else float(stats.norm.ppf(0.5 + confidence / 2))
    half = quantile * se
    if seed_var > 0:  # never narrower than the seed interval alone (a larger df can outweigh the added variance)
        half = max(half, float(stats.t.ppf(0.5 + confidence / 2, k - 1)) * math.sqrt(seed_var))
    t = abs(mean) / (half / quantile) if half else math.inf
    tail = float(2 * (stats.t.sf(t, df) if math.isfinite(df) else stats.norm.sf(t)))
    return {**out, **_widened(mean - half, mean + half, cover, bounds), "p_value": tail, "significant": tail < 1 - confidence}


def agreed_text(seeds: int, *, rows: bool, split: str = "test") -> str:
    """Why an interval of ``seeds`` values (and, with ``rows``, their test rows' resamples) has no width: what
    ``interval``'s ``no_interval`` says, after "no interval: ". Without ``rows`` on ``split`` "val": validation
    predictions are never stored (test predictions are), so a validation difference has its seeds alone."""
    if not rows and split == "val":
        return "every seed gave the same value, and validation predictions are not stored to resample (test predictions are)"
    if not rows:
        return "every seed gave the same value and no test predictions are stored to resample"
    return ("every resample of the test rows gave the same value" if seeds < 2 else
            "every seed and every resample of the test rows gave the same value")


def one_seed(diff: dict[str, Any], seeds: int) -> dict[str, Any]:
    """A paired difference (``interval``'s dict) over ``seeds`` shared seeds: on one, its interval is the test rows'
    alone and another seed could train either arm otherwise, so it is never called significant and ``caveat`` says so
    (``ONE_SEED``). Unchanged on two seeds or more."""
    return diff if seeds >= 2 else {**diff, "significant": False, "caveat": ONE_SEED}


def has_interval(ci: dict[str, Any]) -> bool:
    """Whether ``ci`` (``{ci_low, ci_high, ...}``) has an interval to show: one of no width is none (one seed with no
    rows to resample, or every seed and resample agreed: ``no_interval``), never certainty; so is one whose bounds are
    None (continual.json's, where it has none)."""
    return ci.get("ci_low") is not None and ci.get("ci_high") is not None and ci["ci_high"] > ci["ci_low"]


def missing_ci_text(ci: dict[str, Any]) -> str:
    """Why ``ci`` shows no interval (``has_interval`` False): "no interval: " and ``interval``'s ``no_interval``, or
    "1 seed, no CI" (one seed and no test rows to resample)."""
    return f"no interval: {ci['no_interval']}" if ci.get("no_interval") else "1 seed, no CI"


def range_text(ci: dict[str, Any], fmt: Callable[[float], str], *, joiner: str = " – ") -> str:
    """``ci``'s interval as a table or a line shows it: ``fmt(low) + joiner + fmt(high)``, with "; " and its ``caveat``
    (``ONE_SEED``) where it has one; where it has none (``has_interval``), why (``missing_ci_text``).

    Example: ``range_text({"ci_low": 0.7, "ci_high": 0.7, "no_interval": "…"}, fmt)`` -> ``"no interval: …"``."""
    if not has_interval(ci):
        return missing_ci_text(ci)
    return f"{fmt(ci['ci_low'])}{joiner}{fmt(ci['ci_high'])}" + (f"; {ci['caveat']}" if ci.get("caveat") else "")


def kept(ci: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``ci``'s ``keys``, and what it says of itself where it does (``SAID``: ``no_interval``, ``caveat``,
    ``agree_rows``): what a table's JSON keeps of an interval, as results.json does."""
    return {k: ci[k] for k in keys} | {k: ci[k] for k in SAID if ci.get(k)}


def _widened(low: float, high: float, cover: tuple[float, float] | None,
             bounds: tuple[float, float] | None) -> dict[str, float]:
    """``{ci_low, ci_high}``: [low, high] widened to contain ``cover``, then clipped to ``bounds``."""
    if cover is not None:
        low, high = min(low, cover[0]), max(high, cover[1])
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"ci_low": low, "ci_high": high}


def row_weights(n_rows: int, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """(draws, n_rows) bootstrap counts: how often each test row is drawn in each resample (each row sums to n_rows).

    Fixed ``seed``: the same store gives the same report, and every strategy is resampled on the same rows.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=draws).astype(np.float32)


def metric_draws(metric: str, predicted: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """``metric`` of each seed's predictions under each resample of the test rows.

    Args:
        metric: one of ``ROW_METRICS`` (else None is returned).
        predicted: (k, N) per seed and test row: class index, or value for regression.
        target: (N,) class index or value.
        weights: (B, N) from ``row_weights``.

    Returns:
        (B, k) metric values (fractions, as stored), or None for a metric that cannot be resampled.
    """
    if metric not in ROW_METRICS:
        return None
    total = weights.sum(1, keepdims=True)
    if metric in ("rmse", "mae"):
        err = predicted.astype(np.float64) - target.astype(np.float64)[None, :]
        per_row = err**2 if metric == "rmse" else np.abs(err)
        value = (weights.astype(np.float64) @ per_row.T) / total
        return np.sqrt(value) if metric == "rmse" else value
    correct = (predicted == target[None, :]).astype(np.float32)  # (k, N)
    if metric == "accuracy":
        return (weights @ correct.T) / total
    classes = np.unique(target)
    recalls, f1s = [], []
    for c in classes:
        is_c = (target == c).astype(np.float32)
        actual = weights @ is_c  # (B,)
        tp = weights @ (correct * is_c[None, :]).T  # (B, k)
        predicted_c = weights @ (predicted == c).astype(np.float32).T
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(actual[:, None] > 0, tp / actual[:, None], np.nan))
            f1s.append(np.where(actual[:, None] > 0, 2 * tp / (actual[:, None] + predicted_c), np.nan))
    # a class absent from a resample is left out of that draw's mean, as metrics.classification_metrics does
    return np.nanmean(np.stack(recalls if metric == "balanced_accuracy" else f1s), axis=0)
