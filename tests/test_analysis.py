"""Tests of headstart/analysis.py on synthetic RunResult lists, checked against scipy directly."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest
from scipy import stats

from headstart import analysis
from headstart.errors import ConfigError
from headstart.results import RunResult

SIZES = (16, 64, 256)


def run(strategy: str, n: int | str, seed: int, value: float, *, seconds: float = 1.0, metric: str = "accuracy",
        status: str = "done", n_actual: int | None = None, error: str | None = None) -> RunResult:
    actual = n_actual if n_actual is not None else (1000 if n == "all" else n)
    spec = {"strategy": strategy, "n": actual, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status=status,
                     metrics={metric: value} if status == "done" else {}, train_seconds=seconds,
                     trainable_params=int(seconds * 1000), error=error)


def grid(table: dict[str, dict[int | str, list[float]]], seconds: dict[str, float], metric: str = "accuracy") -> list[RunResult]:
    return [run(s, n, seed, v, seconds=seconds[s], metric=metric)
            for s, by_n in table.items() for n, values in by_n.items() for seed, v in enumerate(values)]


def test_mean_ci_matches_scipy() -> None:
    values = [0.61, 0.64, 0.58, 0.66]
    mean, low, high, std = analysis.mean_ci(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected)
    assert std == pytest.approx(np.std(values, ddof=1))


def test_one_seed_has_no_interval_and_says_so() -> None:
    rows = analysis.curves([run("lora", 16, 0, 0.5)])
    assert rows[0]["ci_low"] == rows[0]["ci_high"] == rows[0]["mean"] == 0.5
    assert rows[0]["std"] is None and "no confidence interval" in rows[0]["note"]


def test_curves_group_by_requested_size_with_all_last() -> None:
    results = [run("lp", "all", 0, 0.9, n_actual=987), run("lp", 16, 0, 0.5), run("lp", 16, 1, 0.6),
               run("lp", 16, 2, 0.4, status="diverged"), run("ft", 16, 0, 0.3)]
    rows = analysis.curves(results)
    assert [(r["strategy"], r["n"], r["n_actual"], r["seeds"]) for r in rows] == [
        ("ft", 16, 16, 1), ("lp", 16, 16, 2), ("lp", "all", 987, 1)]
    assert rows[1]["mean"] == pytest.approx(0.55)


def test_paired_differences_match_ttest_rel() -> None:
    a, b = [0.70, 0.72, 0.69, 0.75], [0.60, 0.66, 0.61, 0.62]
    results = grid({"a": {16: a}, "b": {16: b + [0.99]}}, {"a": 1, "b": 1})  # b's extra seed has no partner
    (row,) = analysis.paired_differences(results, "a", "b")
    diffs = np.subtract(a, b)
    assert row["pairs"] == 4
    assert row["mean"] == pytest.approx(diffs.mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        stats.t.interval(0.95, 3, loc=diffs.mean(), scale=stats.sem(diffs)))
    assert row["significant"] is True


def test_paired_differences_need_shared_seeds() -> None:
    results = [run("a", 16, 0, 0.5), run("b", 16, 1, 0.4)]
    assert analysis.paired_differences(results, "a", "b") == []


def test_head_start_is_best_transfer_minus_scratch_at_smallest_n() -> None:
    results = grid({"scratch": {16: [0.30, 0.32, 0.31], 64: [0.5, 0.5, 0.5]},
                    "linear-probe": {16: [0.60, 0.63, 0.62], 64: [0.7, 0.7, 0.7]},
                    "full-finetune": {16: [0.40, 0.45, 0.41], 64: [0.8, 0.8, 0.8]}},
                   {"scratch": 5, "linear-probe": 1, "full-finetune": 10})
    hs = analysis.head_start(results)
    diffs = np.subtract([0.60, 0.63, 0.62], [0.30, 0.32, 0.31]) * 100
    assert (hs["n"], hs["strategy"]) == (16, "linear-probe")
    assert hs["points"] == pytest.approx(diffs.mean())
    assert hs["ci"] == pytest.approx(list(stats.t.interval(0.95, 2, loc=diffs.mean(), scale=stats.sem(diffs))))
    assert "+30.7" in hs["text"]


def test_head_start_is_none_without_scratch() -> None:
    assert analysis.head_start(grid({"lora": {16: [0.5, 0.6]}}, {"lora": 1})) is None


def test_crossover_found_and_tested() -> None:
    results = grid({"full-finetune": {16: [0.4, 0.42], 64: [0.62, 0.58], 256: [0.8, 0.82], "all": [0.9, 0.91]},
                    "linear-probe": {16: [0.6, 0.61], 64: [0.65, 0.63], 256: [0.7, 0.71], "all": [0.72, 0.73]}},
                   {"full-finetune": 10, "linear-probe": 1})
    out = analysis.crossover(results)
    assert out["n"] == 256 and out["n_actual"] == 256
    assert out["significant"] is True and out["points"] == pytest.approx(10.5)
    assert "from 256" in out["text"] and "significant" in out["text"]


def test_crossover_requires_staying_ahead() -> None:
    results = grid({"full-finetune": {16: [0.7], 64: [0.5], 256: [0.8]},
                    "linear-probe": {16: [0.6], 64: [0.6], 256: [0.7]}}, {"full-finetune": 10, "linear-probe": 1})
    assert analysis.crossover(results)["n"] == 256  # ahead at 16, but not at 64: 16 is no crossover


def test_crossover_absent() -> None:
    results = grid({"full-finetune": {16: [0.4], 64: [0.5]}, "linear-probe": {16: [0.6], 64: [0.7]}},
                   {"full-finetune": 10, "linear-probe": 1})
    assert analysis.crossover(results) == {"n": None, "a": "full-finetune", "b": "linear-probe",
                                           "text": "not within the sizes tried"}
    assert analysis.crossover(results, a="lora")["n"] is None


def test_recommend_prefers_cheaper_when_no_significant_difference() -> None:
    results = grid({"full-finetune": {16: [0.615, 0.575, 0.655], 256: [0.90, 0.91, 0.92]},
                    "linear-probe": {16: [0.60, 0.61, 0.59], 256: [0.70, 0.72, 0.71]},
                    "scratch": {16: [0.30, 0.31, 0.29], 256: [0.50, 0.52, 0.51]}},
                   {"full-finetune": 60, "linear-probe": 2, "scratch": 30})
    bands = analysis.recommend(results)
    assert [(b["from_n"], b["to_n"], b["strategy"]) for b in bands] == [(16, 16, "linear-probe"), (256, 256, "full-finetune")]
    assert bands[0]["evidence"][0]["best"] == "full-finetune"
    assert "linear-probe — within 2 points of full-finetune and not significantly worse (full-finetune +1.5 ± " in bands[0]["text"]
    assert "30× cheaper" in bands[0]["text"]
    assert bands[1]["text"].startswith("from 256 labelled examples: full-finetune (+20.0 ± ")
    assert "over linear-probe" in bands[1]["text"] and "over scratch" in bands[1]["text"]


def test_recommend_merges_sizes_into_bands() -> None:
    results = grid({"linear-probe": {n: [0.7, 0.71, 0.72] for n in SIZES},
                    "scratch": {n: [0.3, 0.35, 0.31] for n in SIZES}}, {"linear-probe": 1, "scratch": 9})
    (band,) = analysis.recommend(results)
    assert (band["from_n"], band["to_n"], band["strategy"]) == (16, 256, "linear-probe")
    assert band["text"].startswith("at every size tried: linear-probe (+39.0 ± ")
    assert len(band["evidence"]) == 3


def test_recommend_one_seed_keeps_the_best() -> None:
    results = grid({"a": {16: [0.7]}, "b": {16: [0.69]}}, {"a": 10, "b": 1})
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "a" and "1 seed, no CI" in band["text"]


def test_recommend_two_seeds_keep_the_best() -> None:
    """With two paired seeds a t-test has one degree of freedom: "no significant difference" says nothing,
    so the cheaper strategy does not replace the best one; the third seed lets it."""
    table = {"full-finetune": {16: [0.75, 0.62]}, "tfidf-logreg": {16: [0.745, 0.61]}}
    results = grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1})
    assert not analysis.paired_differences(results, "full-finetune", "tfidf-logreg")[0]["significant"]
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "full-finetune"
    table = {"full-finetune": {16: [0.75, 0.62, 0.60]}, "tfidf-logreg": {16: [0.745, 0.61, 0.605]}}
    assert analysis.recommend(grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1}))[0]["strategy"] == "tfidf-logreg"


def test_recommend_keeps_the_best_over_a_cheaper_one_far_behind_even_if_not_significantly_worse() -> None:
    """Three noisy seeds cannot show a 7-point deficit (p > 0.05): that is no evidence the cheaper one is as good."""
    table = {"full-finetune": {16: [0.75, 0.62, 0.60]}, "tfidf-logreg": {16: [0.55, 0.58, 0.61]},
             "embed-logreg": {16: [0.74, 0.62, 0.585]}}
    results = grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1, "embed-logreg": 0.5})
    (diff,) = analysis.paired_differences(results, "full-finetune", "tfidf-logreg")
    assert not diff["significant"] and diff["mean"] * 100 > analysis.MARGIN_POINTS
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "embed-logreg", "the cheapest one within the margin, not the cheapest one"
    del table["embed-logreg"]
    (band,) = analysis.recommend(grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1}))
    assert band["strategy"] == "full-finetune"
    assert band["text"].startswith("at every size tried: full-finetune (+7.7 ± 27.3 points over tfidf-logreg at n = 16; ")  # quoted once, not twice
    assert "; tfidf-logreg is 600× cheaper and not significantly worse (p = " in band["text"]
    assert band["text"].endswith(f"(p = {diff['p_value']:.2g}): more seeds would tell")


def test_recommend_margin_for_other_metrics_is_relative() -> None:
    table = {"lora": {16: [1.00, 1.10, 1.20]}, "linear-probe": {16: [1.01, 1.12, 1.21]}}  # 1.3% worse rmse
    assert analysis.recommend(grid(table, {"lora": 5, "linear-probe": 1}, metric="rmse"), "rmse")[0]["strategy"] == "linear-probe"
    table = {"lora": {16: [1.00, 1.10, 1.20]}, "linear-probe": {16: [1.05, 1.12, 1.26]}}  # 3.7% worse: outside the margin
    assert analysis.recommend(grid(table, {"lora": 5, "linear-probe": 1}, metric="rmse"), "rmse")[0]["strategy"] == "lora"


def test_rmse_lower_is_better() -> None:
    results = grid({"scratch": {16: [2.0, 2.2, 2.1]}, "lora": {16: [1.0, 1.1, 1.2]}, "linear-probe": {16: [1.5, 1.62, 1.71]}},
                   {"scratch": 1, "lora": 5, "linear-probe": 1}, metric="rmse")
    assert analysis.higher_is_better("rmse") is False
    hs = analysis.head_start(results, "rmse")
    assert hs["strategy"] == "lora" and hs["points"] == pytest.approx(1.0) and hs["ci"][0] > 0
    assert "lower rmse" in hs["text"]
    assert analysis.recommend(results, "rmse")[0]["strategy"] == "lora"


def test_counts_failed_and_diverged_per_cell() -> None:
    results = [run("lora", 16, 0, 0.5), run("lora", 16, 1, 0, status="diverged", error="loss became nan at step 4"),
               run("lora", 16, 2, 0, status="failed", error="CUDA out of memory"), run("lp", 64, 0, 0, status="pending")]
    rows = analysis.counts(results)
    assert rows[0] == {"strategy": "lora", "n": 16, "done": 1, "failed": 1, "diverged": 1, "pending": 0, "running": 0,
                       "errors": ["loss became nan at step 4", "CUDA out of memory"]}
    assert rows[1]["pending"] == 1


def test_summarize_is_json_and_complete() -> None:
    results = grid({"scratch": {16: [0.3, 0.31]}, "linear-probe": {16: [0.6, 0.62]}, "full-finetune": {16: [0.5, 0.52]}},
                   {"scratch": 3, "linear-probe": 1, "full-finetune": 9})
    results.append(run("lora", 16, 0, 0, status="failed", error="boom"))
    summary = analysis.summarize(results)
    json.dumps(summary, allow_nan=False)
    assert set(summary) >= {"curves", "head_start", "crossover", "recommendation", "counts", "totals"}
    assert summary["head_start"]["strategy"] == "linear-probe"
    assert summary["totals"]["failed"] == 1
    assert summary["crossover"]["n"] is None


def test_a_cell_re_run_under_other_settings_counts_only_its_newest_run() -> None:
    """A store re-used with other settings keeps the old runs under other keys; figures must not average the two."""
    import dataclasses

    from headstart.report.markdown import report_markdown

    old = [run("linear-probe", 16, seed, 0.30) for seed in range(3)] + [run("linear-probe", 64, 0, 0.9)]
    new = [dataclasses.replace(run("linear-probe", 16, seed, 0.60 + seed / 100), key=f"new/{seed}") for seed in range(3)]
    pending = dataclasses.replace(run("linear-probe", 64, 1, 0, status="pending"), key="new/pending")
    results = old + new + [pending]  # oldest first, as Store.results gives them
    assert analysis.current_runs(results) == [old[3]] + new + [pending]
    cell = analysis.cells(results)[("linear-probe", 16)]
    assert cell.by_seed == {0: 0.60, 1: 0.61, 2: 0.62}
    summary = analysis.summarize(results)
    assert summary["totals"]["superseded"] == 3 and summary["totals"]["done"] == 4 and summary["totals"]["pending"] == 1
    assert analysis.counts(results)[0]["done"] == 3
    text = report_markdown(summary, title="t", command=None)
    assert "3 older run(s) of the same strategy, size and seed" in text
    assert "older run" not in report_markdown(analysis.summarize(new), title="t", command=None)


def test_summarize_rejects_unknown_metric() -> None:
    with pytest.raises(ConfigError, match="'f1'.*accuracy"):
        analysis.summarize([run("lp", 16, 0, 0.5)], "f1")


def test_summarize_of_nothing() -> None:
    summary = analysis.summarize([])
    assert summary["curves"] == [] and summary["head_start"] is None and summary["recommendation"] == []


def test_analysis_imports_no_torch() -> None:
    import subprocess

    code = "import headstart.analysis, headstart.store, headstart.report.render, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def tuned(strategy: str, n: int | str, seed: int, value: float, *, grid: tuple[float, ...] = (1e-5, 2e-5, 5e-5)) -> RunResult:
    r = run(strategy, n, seed, 0.7)
    r.spec["tune"] = {"param": "lr", "grid": list(grid), "eta": 3, "trial_checks": "proportional"}
    return dataclasses.replace(r, chosen={"lr": value, "trials": [], "tune_seconds": 1.0})


def test_grid_edges_flag_a_strategy_choosing_an_end_of_its_grid_more_often_than_chance() -> None:
    top = [tuned("full-finetune", n, s, 5e-5 if (n, s) != (16, 0) else 1e-5) for n in (16, 64) for s in range(3)]
    low = [tuned("lora", 64, s, 1e-4, grid=(1e-4, 2e-4, 3e-4)) for s in range(3)]
    mixed = [tuned("llrd", 64, s, v) for s, v in enumerate((1e-5, 5e-5, 2e-5))]  # one at each end
    two_of_three = [tuned("dora", 64, s, v) for s, v in enumerate((5e-5, 5e-5, 2e-5))]  # chance does that a quarter of the time
    (ft, lora) = analysis.grid_edges(top + low + mixed + two_of_three + [run("embed-logreg", 64, 0, 0.7)])
    assert (ft["strategy"], ft["edge"], ft["value"], ft["count"], ft["runs"], ft["sizes"]) == ("full-finetune", "top", 5e-5, 5, 6, [16, 64])
    assert ft["p_value"] == pytest.approx(stats.binomtest(5, 6, 1 / 3, alternative="greater").pvalue)
    assert ft["suggested"] == [2e-5, 5e-5, 1.3e-4]
    assert "the best lr may lie above it" in ft["text"] and "try --grid full-finetune=2e-05,5e-05,0.00013" in ft["text"]
    assert "(n = 16, 64; chance would give 1 in 3, p = 0.018)" in ft["text"]
    assert (lora["edge"], lora["count"], lora["runs"], lora["suggested"]) == ("bottom", 3, 3, [5e-5, 1e-4, 2e-4])
    assert "below it" in lora["text"]


def test_grid_edges_count_only_current_done_runs() -> None:
    old = [tuned("full-finetune", 64, s, 5e-5) for s in range(3)]
    new = [tuned("full-finetune", 64, s, 2e-5) for s in range(3)]
    new = [dataclasses.replace(r, key=r.key + "/new") for r in new]
    assert analysis.grid_edges(old + new) == [], "the newer runs of each cell replace the older ones"
    assert len(analysis.grid_edges(new + old)) == 1
    failed = [tuned("full-finetune", 64, s, 5e-5) for s in range(3)]
    failed[1:] = [dataclasses.replace(r, status="failed") for r in failed[1:]]
    assert analysis.grid_edges(failed) == [], "one done run is not a pattern"


def test_report_markdown_lists_grid_edges() -> None:
    from headstart.report.markdown import report_markdown

    summary = analysis.summarize([tuned("full-finetune", 64, s, 5e-5) for s in range(3)])
    assert len(summary["grid_edges"]) == 1
    text = report_markdown(summary, title="t", command=None)
    assert "**Tuning at the edge of its grid:**" in text and "- full-finetune chose lr 5e-05, the top of its grid" in text


def test_the_margin_can_be_changed_and_a_bad_one_is_refused() -> None:
    results = grid({"full-finetune": {16: [0.615, 0.575, 0.655]}, "linear-probe": {16: [0.60, 0.61, 0.59]}},
                   {"full-finetune": 60, "linear-probe": 2})  # the probe trails by 1.5 points, not significantly
    assert analysis.recommend(results)[0]["strategy"] == "linear-probe"
    assert analysis.recommend(results, margin_points=1.0)[0]["strategy"] == "full-finetune"
    assert analysis.summarize(results, margin_points=1.0)["margin_points"] == 1.0
    with pytest.raises(ConfigError, match="--margin must be a number of points >= 0, got -1"):
        analysis.recommend(results, margin_points=-1)
