"""Tests of headstart/analysis/stats.py: intervals over seeds and test rows, resampled metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from headstart.analysis import stats
from headstart.metrics import classification_metrics


def test_seeds_alone_is_the_student_t_interval() -> None:
    values = [0.61, 0.64, 0.70]
    out = stats.interval(values, None)
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high))


def test_rows_alone_is_a_normal_interval_of_the_bootstrap_spread() -> None:
    draws = np.random.default_rng(0).normal(0.8, 0.01, 400)
    out = stats.interval([0.8], draws)
    assert out["ci_high"] - out["ci_low"] == pytest.approx(2 * 1.959964 * np.std(draws, ddof=1))
    assert out["seed_se"] is None and out["row_se"] == pytest.approx(np.std(draws, ddof=1))


def test_the_two_variances_add() -> None:
    """Both standard errors enter; the quantile's degrees of freedom come from Welch–Satterthwaite (the bootstrap part
    counted as known), so when the test rows dominate it nears the normal quantile rather than t with k − 1 = 2."""
    draws = np.random.default_rng(1).normal(0.0, 0.02, 400)
    both, seeds = stats.interval([0.60, 0.62, 0.64], draws), stats.interval([0.60, 0.62, 0.64], None)
    assert both["seed_se"] == seeds["seed_se"] and both["row_se"] == pytest.approx(np.std(draws, ddof=1))
    se = np.hypot(both["seed_se"], both["row_se"])
    df = se**4 / (both["seed_se"] ** 4 / 2)
    seed_half = scipy_stats.t.ppf(0.975, 2) * both["seed_se"]
    assert (both["ci_high"] - both["ci_low"]) / 2 == pytest.approx(max(scipy_stats.t.ppf(0.975, df) * se, seed_half))
    assert (both["ci_high"] - both["ci_low"]) / 2 > 1.96 * se


def test_never_narrower_than_the_seed_interval_alone() -> None:
    """Noisy seeds and a small row error: Welch–Satterthwaite's df stays near 2 but its quantile falls below t(2)'s;
    the interval keeps the seed interval's width rather than shrink as an error source is added."""
    values = [0.45, 0.60, 0.75]
    draws = np.random.default_rng(3).normal(0.0, 0.01, 400)
    both, seeds = stats.interval(values, draws), stats.interval(values, None)
    assert both["ci_high"] - both["ci_low"] >= seeds["ci_high"] - seeds["ci_low"] - 1e-12


def test_a_score_interval_stays_inside_the_metrics_range_and_a_difference_is_not_clipped() -> None:
    """Two seeds near 100%: the t interval (1 df) reaches far past 1; an accuracy's interval stops at 1, its mean and
    p-value unchanged; a difference of accuracies (no bounds) keeps its full width."""
    values = [0.97, 0.995]
    free, clipped = stats.interval(values, None), stats.interval(values, None, bounds=stats.metric_range("accuracy"))
    assert free["ci_high"] > 1 and clipped["ci_high"] == 1.0 and clipped["ci_low"] == free["ci_low"]
    assert clipped["mean"] == free["mean"] and clipped["p_value"] == free["p_value"]
    rmse = stats.interval([0.01, 0.2], None, bounds=stats.metric_range("rmse"))
    assert rmse["ci_low"] == 0.0 and rmse["ci_high"] == stats.interval([0.01, 0.2], None)["ci_high"]
    assert stats.metric_range("some_custom_score") is None


def test_micro_f1_reward_accuracy_and_r2_are_clipped_to_their_ranges() -> None:
    """micro-F1 (multi-label) and a reward model's accuracy are shares, clipped at 1 as accuracy is; R² is 1 at best
    and unbounded below: two seeds near their top no longer read past it."""
    values = [0.97, 0.995]
    for metric in ("micro_f1", "reward_accuracy", "ood:other:micro_f1", "r2"):
        out = stats.interval(values, None, bounds=stats.metric_range(metric))
        assert out["ci_high"] == 1.0, metric
    r2 = stats.interval([-0.5, 0.1], None, bounds=stats.metric_range("r2"))
    assert r2["ci_low"] == stats.interval([-0.5, 0.1], None)["ci_low"] < -1
    assert stats.difference_range("r2") is None and stats.difference_range("micro_f1") == (-1.0, 1.0)


def test_metric_draws_average_to_the_metric_and_match_its_binomial_error() -> None:
    rng = np.random.default_rng(2)
    target = rng.integers(0, 3, 2000)
    predicted = np.where(rng.random((2, 2000)) < 0.7, target, rng.integers(0, 3, 2000))
    weights = stats.row_weights(2000)
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        draws = stats.metric_draws(metric, predicted, target, weights)
        exact = [classification_metrics(target, np.eye(3)[p], ("a", "b", "c"))[metric] for p in predicted]
        assert draws.mean(0) == pytest.approx(exact, abs=0.003)
    accuracy = (predicted[0] == target).mean()
    spread = stats.metric_draws("accuracy", predicted[:1], target, weights).std()
    assert spread == pytest.approx(np.sqrt(accuracy * (1 - accuracy) / 2000), rel=0.15)
    assert stats.metric_draws("loss", predicted, target, weights) is None


def test_row_weights_are_fixed_and_resample_every_row_count() -> None:
    a, b = stats.row_weights(50, draws=10), stats.row_weights(50, draws=10)
    assert np.array_equal(a, b) and set(a.sum(1)) == {50.0}


def test_the_wilson_interval_of_one_runs_accuracy() -> None:
    """Against the textbook values (Newcombe 1998's 81 of 263: 0.2553 to 0.3662), and never past 0 or 1."""
    low, high = stats.wilson(81 / 263, 263)
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    low, high = stats.wilson(1.0, 40)
    assert high == 1.0 and 0.9 < low < 0.92, (low, high)


def test_a_shares_interval_holds_its_wilson_interval_where_every_resample_is_the_same() -> None:
    """Every one of 120 rows right: each bootstrap draw is 100%, so the rows alone would say [100, 100]; the interval
    of an accuracy holds Wilson's 96.9–100, what evaluate says of one run. A wider interval is left as it is."""
    cover = stats.share_cover("accuracy", 1.0, 120)
    for values in ([1.0], [1.0, 1.0, 1.0]):
        out = stats.interval(values, np.ones(400), bounds=stats.metric_range("accuracy"), cover=cover)
        assert out["ci_low"] == pytest.approx(0.9690, abs=1e-4) and out["ci_high"] == 1.0, values
    assert stats.share_cover("macro_f1", 1.0, 120) is None and stats.share_cover("accuracy", 1.0, None) is None
    wide = [0.5, 0.7, 0.9]
    assert stats.interval(wide, np.full(400, 0.7), cover=stats.share_cover("accuracy", 0.7, 1000)) == \
        stats.interval(wide, np.full(400, 0.7))


def test_a_mean_of_seeds_that_vary_keeps_its_own_interval_even_inside_one_runs_wilson() -> None:
    """Three seeds that disagree on rows: their mean's row error is below one run's binomial, and its interval may be
    narrower than Wilson's on the rows (README's TF-IDF cell at 16 labels: 57.0, 54.2–59.7 on 1,030 rows, Wilson
    54.0–60.0); the floor is for a score whose seeds do not vary, and leaves this one as it was."""
    values, draws = [0.569, 0.570, 0.571], np.random.default_rng(0).normal(0.57, 0.011, 400)
    plain = stats.interval(values, draws, bounds=stats.metric_range("accuracy"))
    cover = stats.share_cover("accuracy", 0.57, 1030)
    assert plain["ci_low"] > cover[0] and plain["ci_high"] < cover[1]  # narrower than one run's Wilson
    assert stats.interval(values, draws, bounds=stats.metric_range("accuracy"), cover=cover) == plain
    same = stats.interval([0.57, 0.57, 0.57], draws, bounds=stats.metric_range("accuracy"), cover=cover)
    assert same["ci_low"] == pytest.approx(cover[0]) and same["ci_high"] == pytest.approx(cover[1])


def test_two_arms_that_agree_on_every_row_differ_by_at_most_the_wilson_bound_of_no_disagreement() -> None:
    assert stats.agreement_bound(120) == pytest.approx(0.0310, abs=1e-4)
    assert stats.agreement_bound(3) == pytest.approx(0.5615, abs=1e-4)


def test_a_test_split_is_small_where_a_half_accuracy_is_uncertain_by_more_than_ten_points() -> None:
    assert stats.small_test(92) and not stats.small_test(93)
    assert stats.share_half_width(93) < stats.SMALL_TEST_HALF_WIDTH < stats.share_half_width(92)
    assert stats.share_half_width(3) == pytest.approx(0.3747, abs=1e-4)


def test_an_out_of_domain_score_is_clipped_to_its_measures_range() -> None:
    """Two seeds at 97% and 99% out of domain: the t interval (1 df) reached 85.3–110.7%, for the range was looked up
    on the name ``ood:other:accuracy`` rather than on accuracy."""
    assert stats.metric_range("ood:other:accuracy") == (0.0, 1.0)
    assert stats.metric_range("ood:other+tent:rmse") == (0.0, float("inf"))
    assert stats.difference_range("ood:other:macro_f1") == (-1.0, 1.0)
    out = stats.interval([0.97, 0.99], None, bounds=stats.metric_range("ood:other:accuracy"))
    assert out["ci_high"] == 1.0 and out["ci_low"] < 0.9


def test_no_spread_is_no_interval_rather_than_certainty() -> None:
    """Three seeds' identical differences with no rows to resample read [+5.0, +5.0], p = 0, "significant"; and 0.8
    three times (a sum of 2.4000000000000004) a hair-wide interval with p ≈ 0. Now neither has an interval or a
    p-value, and ``no_interval`` says why; the docstring of ``paired_test`` says so."""
    for values in ([0.05, 0.05, 0.05], [0.8, 0.8, 0.8]):
        out = stats.paired_test(values)
        assert out["p_value"] is None and not out["significant"] and out["ci_low"] == out["ci_high"] == out["mean"]
        assert out["no_interval"] == "every seed gave the same value and no test predictions are stored to resample"
    rows = stats.interval([1.0], np.ones(400), bounds=stats.metric_range("macro_f1"))  # one run, every row right
    assert rows["p_value"] is None and rows["no_interval"] == "every resample of the test rows gave the same value"
    assert "no_interval" not in stats.interval([0.05, 0.06, 0.05], None) and "no_interval" not in stats.interval([0.8], None)


def test_a_table_shows_a_range_only_where_there_is_one_and_says_what_one_seed_leaves_out() -> None:
    """The words every table outside compare's cells uses (``range_text``, ``one_seed``, ``kept``), so that none shows
    "72.0 – 72.0" or calls a difference on one seed significant."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    agreed = stats.interval([0.72, 0.72, 0.72], None, bounds=stats.metric_range("macro_f1"))
    assert not stats.has_interval(agreed) and stats.range_text(agreed, pct) == (
        "no interval: every seed gave the same value and no test predictions are stored to resample")
    assert stats.range_text(stats.interval([0.72], None), pct) == "1 seed, no CI"
    one = stats.one_seed(stats.interval([0.2], np.linspace(0.1, 0.3, 400)), 1)
    assert not one["significant"] and stats.range_text(one, pct, joiner=" to ").endswith(
        "; 1 seed: training randomness is not in the interval")
    assert "caveat" not in stats.one_seed(stats.interval([0.2, 0.3], None), 2)
    assert stats.kept({**agreed, "extra": 1}, ("mean",)) == {"mean": agreed["mean"], "no_interval": agreed["no_interval"]}
