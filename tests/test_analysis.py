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
        status: str = "done", n_actual: int | None = None, error: str | None = None, val: float | None = None,
        record: dict | None = None) -> RunResult:
    """A stored run; its validation score is ``val`` (default: the test value, so choices match the old tests)."""
    actual = n_actual if n_actual is not None else (1000 if n == "all" else n)
    spec = {"strategy": strategy, "n": actual, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status=status,
                     metrics={metric: value} if status == "done" else {}, train_seconds=seconds,
                     val_metrics={metric: value if val is None else val} if status == "done" else {},
                     trainable_params=int(seconds * 1000), error=error, record=record or {})


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
    assert rows[0]["std"] is None and "no confidence interval" in rows[0]["note"] and rows[0]["interval"] == "none"
    # said as every other row with no interval says it, so a reader of results.json tells it by no_interval
    assert rows[0]["no_interval"] == "one seed and no test predictions are stored to resample"


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


def test_head_start_chooses_among_scratchs_variants_on_validation() -> None:
    """scratch run tuned and untuned (two compares into one store) is labelled scratch[tuned=yes] / scratch[tuned=no]:
    the head start said "scratch was not run, so there is no baseline". It compares the best transfer strategy with the
    scratch arm best on validation, as it chooses the transfer strategy, and names it."""
    results = grid({"scratch": {16: [0.30, 0.32, 0.31]}, "scratch-untuned": {16: [0.20, 0.22, 0.21]},
                    "linear-probe": {16: [0.60, 0.63, 0.62]}},
                   {"scratch": 5, "scratch-untuned": 5, "linear-probe": 1})
    for r in results:  # labelled as the report labels them (current_runs keeps a caller's labels)
        untuned = r.spec["strategy"] == "scratch-untuned"
        r.spec["arm"] = f"scratch[tuned={'no' if untuned else 'yes'}]" if "scratch" in r.key else r.spec["strategy"]
        r.spec["strategy"] = "scratch" if "scratch" in r.key else r.spec["strategy"]
    hs = analysis.head_start(results)
    assert (hs["n"], hs["strategy"]) == (16, "linear-probe")
    assert hs["points"] == pytest.approx(np.subtract([0.60, 0.63, 0.62], [0.30, 0.32, 0.31]).mean() * 100)
    assert "vs scratch[tuned=yes] (best of 2 scratch arms on validation) on test" in hs["text"], hs["text"]


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


def test_crossover_chooses_each_arms_variant_on_validation_at_each_size() -> None:
    """full-finetune run tuned and untuned into one store is labelled full-finetune[tuned=yes] / [tuned=no]: the
    crossover looked for plain 'full-finetune', found none and the report left its line out. At each size it now reads
    the variant best on validation, compares it on test, and names the variants and the one at the crossover."""
    def labelled(arm: str, strategy: str, n: int, seed: int, value: float, val: float) -> RunResult:
        r = run(arm, n, seed, value, val=val, seconds=10)
        r.spec["arm"], r.spec["strategy"] = arm, strategy
        return r

    results = []
    for seed in (0, 1):
        for n, tuned, untuned, probe in ((16, 0.50, 0.55, 0.60), (64, 0.70, 0.58, 0.62), (256, 0.85, 0.60, 0.65)):
            results += [labelled("full-finetune[tuned=yes]", "full-finetune", n, seed, tuned + seed / 100, tuned),
                        # untuned: better on test at 64 than on its validation, so a choice on test would differ
                        labelled("full-finetune[tuned=no]", "full-finetune", n, seed, untuned + 0.2 * (n == 64), untuned),
                        labelled("linear-probe", "linear-probe", n, seed, probe + seed / 100, probe)]
    out = analysis.crossover(results)
    assert out.get("measured", True) and out["n"] == 64, out
    assert out["points"] == pytest.approx(8.0), out  # tuned (0.70, 0.71) vs probe (0.62, 0.63) on test at 64
    assert ("full-finetune is, at each size, whichever of its 2 arms (full-finetune[tuned=no], full-finetune[tuned=yes]) "
            "is best on validation (at n = 64: full-finetune[tuned=yes])") in out["text"], out["text"]
    alone = [r for r in results if r.spec["arm"] != "full-finetune[tuned=yes]"]  # the untuned one never overtakes
    lone = analysis.crossover(alone)
    assert lone["n"] is None and lone["text"].endswith("; full-finetune is full-finetune[tuned=no]"), lone


def test_crossover_requires_staying_ahead() -> None:
    results = grid({"full-finetune": {16: [0.7], 64: [0.5], 256: [0.8]},
                    "linear-probe": {16: [0.6], 64: [0.6], 256: [0.7]}}, {"full-finetune": 10, "linear-probe": 1})
    assert analysis.crossover(results)["n"] == 256  # ahead at 16, but not at 64: 16 is no crossover


def test_crossover_absent() -> None:
    results = grid({"full-finetune": {16: [0.4], 64: [0.5]}, "linear-probe": {16: [0.6], 64: [0.7]}},
                   {"full-finetune": 10, "linear-probe": 1})
    assert analysis.crossover(results) == {"n": None, "a": "full-finetune", "b": "linear-probe", "chosen_on": "validation",
                                           "text": "not within the sizes tried (on validation)"}
    assert analysis.crossover(results, a="lora")["n"] is None


def test_recommend_prefers_cheaper_only_when_the_paired_validation_interval_lies_inside_the_margin() -> None:
    """Old rule: a cheaper strategy "not significantly worse" and within 2 points on the mean replaced the best; with 3
    seeds that held for a strategy whose interval reached 6 points behind. Now the whole paired interval must fit."""
    results = grid({"full-finetune": {16: [0.615, 0.575, 0.655], 256: [0.90, 0.91, 0.92]},
                    "linear-probe": {16: [0.60, 0.61, 0.59], 256: [0.70, 0.72, 0.71]},
                    "scratch": {16: [0.30, 0.31, 0.29], 256: [0.50, 0.52, 0.51]}},
                   {"full-finetune": 60, "linear-probe": 2, "scratch": 30})
    (band,) = analysis.recommend(results)  # +1.5 on the mean, but the interval reaches +11: inconclusive
    assert band["strategy"] == "full-finetune" and (band["from_n"], band["to_n"]) == (16, 256)
    assert "linear-probe is 30× cheaper in wall time and trails on validation by 1.5 points (CI " in band["text"]
    assert "inconclusive; more seeds would tell" in band["text"]
    tight = grid({"full-finetune": {16: [0.615, 0.605, 0.6]}, "linear-probe": {16: [0.60, 0.595, 0.59]}},
                 {"full-finetune": 60, "linear-probe": 2})
    (band,) = analysis.recommend(tight)
    assert band["strategy"] == "linear-probe" and band["evidence"][0]["best"] == "full-finetune"
    assert "30× cheaper in wall time than full-finetune, the best on validation, and no worse by more than 2 points there" in band["text"]


def test_recommend_merges_sizes_into_bands() -> None:
    results = grid({"linear-probe": {n: [0.7, 0.71, 0.72] for n in SIZES},
                    "scratch": {n: [0.3, 0.35, 0.31] for n in SIZES}}, {"linear-probe": 1, "scratch": 9})
    (band,) = analysis.recommend(results)
    assert (band["from_n"], band["to_n"], band["strategy"]) == (16, 256, "linear-probe")
    assert band["text"].startswith("at every size tried: linear-probe (best on validation; test 71.0% (CI ")
    assert "+39.0 points (CI +" in band["text"] and "over scratch" in band["text"]
    assert len(band["evidence"]) == 3


def test_recommend_one_seed_keeps_the_best() -> None:
    results = grid({"a": {16: [0.7]}, "b": {16: [0.69]}}, {"a": 10, "b": 1})
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "a" and "1 seed, no CI" in band["text"]


def test_recommend_two_seeds_keep_the_best() -> None:
    """With two paired seeds the interval has one degree of freedom: it says nothing, so the cheaper strategy does
    not replace the best one; a third seed with nearly the same tight differences lets it (the very same differences
    would have no spread, which is no interval: stats.interval)."""
    table = {"full-finetune": {16: [0.75, 0.62]}, "tfidf-logreg": {16: [0.745, 0.615]}}
    (band,) = analysis.recommend(grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1}))
    assert band["strategy"] == "full-finetune"
    table = {"full-finetune": {16: [0.75, 0.62, 0.60]}, "tfidf-logreg": {16: [0.745, 0.614, 0.596]}}
    assert analysis.recommend(grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1}))[0]["strategy"] == "tfidf-logreg"


def test_recommend_keeps_the_best_over_a_cheaper_one_far_behind_even_if_not_significantly_worse() -> None:
    """Three noisy seeds cannot show a 7-point deficit (p > 0.05): that is no evidence the cheaper one is as good."""
    table = {"full-finetune": {16: [0.75, 0.62, 0.60]}, "tfidf-logreg": {16: [0.55, 0.58, 0.61]},
             "embed-logreg": {16: [0.745, 0.614, 0.596]}}
    results = grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1, "embed-logreg": 0.5})
    (diff,) = analysis.paired_differences(results, "full-finetune", "tfidf-logreg")
    assert not diff["significant"] and diff["mean"] * 100 > analysis.MARGIN_POINTS
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "embed-logreg", "the cheapest one within the margin, not the cheapest one"
    del table["embed-logreg"]
    (band,) = analysis.recommend(grid(table, {"full-finetune": 60, "tfidf-logreg": 0.1}))
    assert band["strategy"] == "full-finetune" and band["evidence"][0]["undecided"] is None  # 7.7 behind: not "close"


def test_recommend_margin_for_other_metrics_is_relative() -> None:
    table = {"lora": {16: [1.00, 1.10, 1.20]}, "linear-probe": {16: [1.005, 1.106, 1.204]}}  # 0.5% worse rmse, tightly
    assert analysis.recommend(grid(table, {"lora": 5, "linear-probe": 1}, metric="rmse"), "rmse")[0]["strategy"] == "linear-probe"
    table = {"lora": {16: [1.00, 1.10, 1.20]}, "linear-probe": {16: [1.05, 1.12, 1.26]}}  # 3.7% worse: outside the margin
    assert analysis.recommend(grid(table, {"lora": 5, "linear-probe": 1}, metric="rmse"), "rmse")[0]["strategy"] == "lora"
    # the margin is 2% of the best's *validation* mean: test scores that differ from validation change nothing
    val = {"lora": [1.00, 1.10, 1.20], "linear-probe": [1.015, 1.116, 1.214]}  # 1.4% worse: inside 2% of 1.1, not of 0.55
    for test_scale in (1.0, 0.5):
        results = [run(s, 16, seed, v * (test_scale if s == "lora" else 1.0), seconds={"lora": 5, "linear-probe": 1}[s],
                       metric="rmse", val=v) for s, values in val.items() for seed, v in enumerate(values)]
        assert analysis.recommend(results, "rmse")[0]["strategy"] == "linear-probe", test_scale


def test_rmse_lower_is_better() -> None:
    results = grid({"scratch": {16: [2.0, 2.2, 2.1]}, "lora": {16: [1.0, 1.1, 1.2]}, "linear-probe": {16: [1.5, 1.62, 1.71]}},
                   {"scratch": 1, "lora": 5, "linear-probe": 1}, metric="rmse")
    assert analysis.higher_is_better("rmse") is False
    hs = analysis.head_start(results, "rmse")
    assert hs["strategy"] == "lora" and hs["points"] == pytest.approx(1.0) and hs["ci"][0] > 0
    assert "lower rmse" in hs["text"]
    assert analysis.recommend(results, "rmse")[0]["strategy"] == "lora"


@pytest.mark.parametrize("order", [("embed-logreg", "tfidf-logreg"), ("tfidf-logreg", "embed-logreg")])
def test_an_exact_tie_on_validation_goes_to_the_simpler_arm_whatever_the_order(order) -> None:
    """An easy task where both baselines scored 100% on every seed: the pick was the first in the table. The tie goes to
    the arm with fewer trainable parameters (``grid``'s runs have 1000 per second: tfidf-logreg here), in the
    recommendation and the head start alike."""
    seconds = {"embed-logreg": 2.3, "tfidf-logreg": 0.3, "scratch": 1.0}
    results = grid({name: {16: [1.0, 1.0]} for name in order} | {"scratch": {16: [0.6, 0.62]}}, seconds)
    summary = analysis.summarize(results)
    (band,) = summary["recommendation"]
    assert band["evidence"][0]["strategy"] == "tfidf-logreg", band["text"]
    assert summary["head_start"]["strategy"] == "tfidf-logreg", "the head start names the arm the recommendation names"


def test_a_size_where_an_arm_has_no_finished_run_says_the_choice_there_is_among_the_others() -> None:
    """A compare stopped after 3 of 4 cells: at 32 only linear-probe finished, and the report said "from 32: linear-probe
    (best on validation)" and "full-finetune matches or beats linear-probe at every size tried" as if both had run."""
    results = grid({"linear-probe": {16: [0.6, 0.62], 32: [0.66, 0.67]}, "full-finetune": {16: [0.64, 0.66]}},
                   {"linear-probe": 1, "full-finetune": 5})
    results.append(run("full-finetune", 32, 0, 0, status="running"))
    summary = analysis.summarize(results)
    first, second = summary["recommendation"]
    assert "has no finished run" not in first["text"]
    assert "; full-finetune (1 started, not finished) has no finished run at n = 32, so the choice there is among the " \
           "others" in second["text"], second["text"]
    # one arm stopped mid-cell, another never started there: each said as it is, not "2 not finished" for both
    results += [run("scratch", 16, 0, 0.5), run("scratch", 16, 1, 0.5), run("scratch", 32, 0, 0, status="pending")]
    second = analysis.summarize(results)["recommendation"][1]
    assert "; full-finetune (1 started, not finished), scratch (1 not started) have no finished run at n = 32" \
        in second["text"], second["text"]
    assert summary["crossover"]["text"].endswith("; not read at n = 32 (linear-probe only): one of the two has no finished "
                                                 "run there"), summary["crossover"]["text"]


def test_arms_on_different_seeds_are_said_to_be_compared_over_different_draws() -> None:
    """full-finetune on seeds 0 and 1, a probe on seed 0 only: the choice's means average different draws (the probe
    beat full-finetune on the one seed they share), and the report said nothing of it."""
    results = grid({"linear-probe": {16: [0.62]}, "full-finetune": {16: [0.586, 0.691]}},
                   {"linear-probe": 1, "full-finetune": 5})
    (band,) = analysis.recommend(results)
    assert ("the arms ran on different seeds at n = 16 (full-finetune 2 (0, 1), linear-probe 1 (0)), so the choice "
            "compares means over different draws") in band["text"], band["text"]
    even = grid({"linear-probe": {16: [0.62, 0.6]}, "full-finetune": {16: [0.586, 0.691]}}, {"linear-probe": 1, "full-finetune": 5})
    assert "different seeds" not in analysis.recommend(even)[0]["text"]


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


def test_a_cell_stored_again_under_another_key_counts_only_its_newest_run() -> None:
    """The same arm, size and seed stored again under another key (another results version): figures must not
    average the two."""
    import dataclasses

    from headstart.report.markdown import report_markdown

    old = [run("linear-probe", 16, seed, 0.30) for seed in range(3)] + [run("linear-probe", 64, 0, 0.9)]
    new = [dataclasses.replace(run("linear-probe", 16, seed, 0.60 + seed / 100), key=f"new/{seed}") for seed in range(3)]
    pending = dataclasses.replace(run("linear-probe", 64, 1, 0, status="pending"), key="new/pending")
    results = old + new + [pending]  # oldest first, as Store.results gives them
    assert [r.key for r in analysis.current_runs(results)] == [r.key for r in [old[3]] + new + [pending]]
    cell = analysis.cells(results)[("linear-probe", 16)]
    assert cell.by_seed == {0: 0.60, 1: 0.61, 2: 0.62}
    summary = analysis.summarize(results)
    assert summary["totals"]["superseded"] == 3 and summary["totals"]["done"] == 4 and summary["totals"]["pending"] == 1
    assert analysis.counts(results)[0]["done"] == 3
    text = report_markdown(summary, title="t", command=None)
    assert "3 older run(s) of the same arm, size and seed" in text
    assert "older run" not in report_markdown(analysis.summarize(new), title="t", command=None)


def test_summarize_rejects_unknown_metric() -> None:
    with pytest.raises(ConfigError, match="'f1'.*accuracy"):
        analysis.summarize([run("lp", 16, 0, 0.5)], "f1")
    counted = run("lp", 16, 0, 0.5)
    counted = dataclasses.replace(counted, metrics={**counted.metrics, "n": 600})  # rows scored: a count, not a metric
    with pytest.raises(ConfigError, match=r"use one of accuracy \(e.g. --metric accuracy\)"):
        analysis.summarize([counted], "f1")


def test_summarize_of_nothing() -> None:
    summary = analysis.summarize([])
    assert summary["curves"] == [] and summary["head_start"] is None and summary["recommendation"] == []


def test_analysis_and_the_cli_import_no_torch() -> None:
    """The report renders, and every --help prints, without loading torch (2 s on this CPU)."""
    import subprocess

    code = "import headstart.analysis, headstart.store, headstart.report.render, headstart.cli, sys; print('torch' in sys.modules)"
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
    assert "the best lr may lie above it" in ft["text"] and "try grids={'full-finetune': (2e-05, 5e-05, 0.00013)}" in ft["text"]
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


def test_grid_edges_leave_out_runs_at_a_perfect_validation_score() -> None:
    """An easy task where every value of the grid scored 100% on validation: the tie goes to the lowest loss (often
    the grid's end), and "its scores may understate it" was said of arms that could score no more."""
    perfect = [dataclasses.replace(tuned("full-finetune", 64, s, 5e-5), val_metrics={"accuracy": 1.0}) for s in range(3)]
    assert analysis.grid_edges(perfect) == []
    almost = [dataclasses.replace(r, val_metrics={"accuracy": 0.99}) for r in perfect]
    assert [e["count"] for e in analysis.grid_edges(almost)] == [3], "below 100% the end still counts"
    mixed = perfect[:1] + almost[1:]
    assert analysis.grid_edges(mixed) == [], "two runs with room left, at a 3-value grid's end: chance does that"


def test_report_markdown_lists_grid_edges() -> None:
    from headstart.report.markdown import report_markdown

    summary = analysis.summarize([tuned("full-finetune", 64, s, 5e-5) for s in range(3)])
    assert len(summary["grid_edges"]) == 1
    text = report_markdown(summary, title="t", command=None)
    assert "**Tuning at the edge of its grid:**" in text and "- full-finetune chose lr 5e-05, the top of its grid" in text


def test_the_margin_can_be_changed_and_a_bad_one_is_refused() -> None:
    results = grid({"full-finetune": {16: [0.615, 0.605, 0.6]}, "linear-probe": {16: [0.60, 0.595, 0.59]}},
                   {"full-finetune": 60, "linear-probe": 2})  # the probe trails by 1.2 points, interval up to 1.8
    assert analysis.recommend(results)[0]["strategy"] == "linear-probe"
    assert analysis.recommend(results, margin_points=1.0)[0]["strategy"] == "full-finetune"
    assert analysis.summarize(results, margin_points=1.0)["margin_points"] == 1.0
    with pytest.raises(ConfigError, match="--margin must be a number of points >= 0, got -1"):
        analysis.recommend(results, margin_points=-1)


# ---- issue 17: choices on validation, intervals with the test rows, one run for no random part, lost seeds ----------

def rows_record(correct: np.ndarray, target: np.ndarray) -> dict:
    """A record whose test predictions are right exactly where ``correct`` is (binary labels)."""
    return {"test": {"predicted": np.where(correct, target, 1 - target).tolist(), "target": target.tolist()}}


def test_choices_are_made_on_validation_and_reported_on_test() -> None:
    """lora leads on test, full-finetune on validation: the recommendation, the head start and the crossover follow
    validation (picking on test is the winner's curse) and quote the test scores of what they picked."""
    results = [run(s, n, seed, test, val=val, seconds=sec)
               for s, sec, by_n in (("lora", 20, {16: (0.70, 0.60), 256: (0.70, 0.60)}),
                                    ("full-finetune", 60, {16: (0.66, 0.65), 256: (0.80, 0.80)}),
                                    ("linear-probe", 1, {16: (0.60, 0.55), 256: (0.70, 0.70)}),
                                    ("scratch", 30, {16: (0.50, 0.50), 256: (0.52, 0.52)}))
               for n, (test, val) in by_n.items() for seed in range(3)]
    bands = analysis.recommend(results)
    assert bands[0]["strategy"] == "full-finetune", bands[0]["text"]
    assert "best on validation; test 66.0%" in bands[0]["text"]
    hs = analysis.head_start(results)
    assert hs["strategy"] == "full-finetune" and hs["points"] == pytest.approx(16.0) and hs["chosen_on"] == "validation"
    cross = analysis.crossover(results, a="full-finetune", b="lora")
    assert cross["n"] == 16, "ahead of lora on validation at every size, though behind it on test at 16"


def test_a_test_difference_whose_interval_includes_zero_is_said_not_to_tell_the_two_apart() -> None:
    """Two seeds' "+0.3 points (CI -35.3 to +35.9) over X" read as a lead; the recommendation says the interval
    includes 0, and says nothing of the kind where it does not."""
    wide = [run(s, 64, seed, test, val=val, seconds=sec)
            for s, sec, pairs in (("full-finetune", 60, [(0.60, 0.80), (0.80, 0.81), (0.70, 0.82)]),
                                  ("linear-probe", 1, [(0.75, 0.60), (0.65, 0.61), (0.70, 0.62)]))
            for seed, (test, val) in enumerate(pairs)]
    text = analysis.recommend(wide)[0]["text"]
    assert "over linear-probe (an interval that includes 0: on test the two are not told apart)" in text, text
    clear = [run(s, 64, seed, test + seed / 100, val=val, seconds=sec)
             for s, sec, test, val in (("full-finetune", 60, 0.80, 0.80), ("linear-probe", 1, 0.60, 0.60)) for seed in range(3)]
    text = analysis.recommend(clear)[0]["text"]
    assert "over linear-probe" in text and "not told apart" not in text, text


def test_nothing_is_chosen_on_test_when_no_run_stored_validation_scores() -> None:
    results = [dataclasses.replace(r, val_metrics={}) for r in grid({"a": {16: [0.7, 0.71]}, "scratch": {16: [0.5, 0.52]}},
                                                                     {"a": 1, "scratch": 1})]
    hs = analysis.head_start(results)  # scratch did run: the report must not say it did not
    assert hs["strategy"] is None and "these runs stored no validation scores" in hs["text"]
    (band,) = analysis.recommend(results)
    assert band["strategy"] is None and band["nothing_chosen"] and "these runs stored no validation scores" in band["text"]
    cross = analysis.crossover(results, a="a", b="scratch")
    assert cross["n"] is None and "these runs stored no validation scores" in cross["text"]


def test_a_cell_without_validation_scores_is_left_out_never_compared_on_test() -> None:
    """lora's validation scores were lost (an old row) and its test scores are the highest: the choice still reads
    validation only, leaves lora out and says so; nothing compares one cell's test with another's validation."""
    results = [run(s, n, seed, test, val=val, seconds=sec)
               for s, sec, by_n in (("lora", 20, {16: (0.95, 0.60)}), ("full-finetune", 60, {16: (0.66, 0.70)}),
                                    ("linear-probe", 1, {16: (0.60, 0.55)}), ("scratch", 30, {16: (0.50, 0.50)}))
               for n, (test, val) in by_n.items() for seed in range(3)]
    results = [dataclasses.replace(r, val_metrics={}) if r.spec["strategy"] == "lora" else r for r in results]
    band = analysis.recommend(results)[0]
    assert band["strategy"] == "full-finetune", band["text"]
    assert band["evidence"][0]["chosen_on"] == "validation (lora n=16 left out: no validation score stored)"
    assert "best on validation (lora n=16 left out: no validation score stored)" in band["text"]
    hs = analysis.head_start(results)
    assert hs["strategy"] == "full-finetune" and hs["chosen_on"].startswith("validation (lora n=16 left out")
    cross = analysis.crossover(results, a="lora", b="linear-probe")
    assert cross["n"] is None and "no size where both have a validation score" in cross["text"]
    partial = [dataclasses.replace(r, val_metrics={}) if r.spec["strategy"] == "linear-probe" and r.spec["seed"] == 0 else r
               for r in results if r.spec["strategy"] != "lora"]
    assert analysis.recommend(partial)[0]["evidence"][0]["chosen_on"] == "validation"  # the seeds that have one are read


def test_intervals_carry_the_test_sets_sampling_error() -> None:
    """Three seeds within 0.3 points of each other on 1,030 test rows: the seed interval alone is ±0.4 points, the
    binomial error of the test set ±2.3; the interval now covers both."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 2, 1030)
    base = rng.random(1030) < 0.835
    results = []
    for seed in range(3):
        correct = base.copy()
        correct[rng.choice(1030, 3, replace=False)] ^= True
        results.append(run("full-finetune", 256, seed, float(correct.mean()), record=rows_record(correct, target)))
    (row,) = analysis.curves(results)
    half = (row["ci_high"] - row["ci_low"]) / 2 * 100
    binomial = 1.96 * np.sqrt(0.835 * 0.165 / 1030) * 100
    assert half >= 0.9 * binomial, f"±{half:.2f} points, the test set alone gives ±{binomial:.2f}"
    assert row["interval"] == "seeds and test rows"
    seeds_only = analysis.curves([dataclasses.replace(r, record={}) for r in results])[0]
    assert (seeds_only["ci_high"] - seeds_only["ci_low"]) / 2 * 100 < 1.0 and seeds_only["interval"] == "seeds"


def test_paired_differences_resample_the_same_test_rows_for_both() -> None:
    """Two strategies that differ on 10 of 1,030 rows: the paired interval is narrow, far narrower than either
    strategy's own interval, because both are resampled on the same rows."""
    rng = np.random.default_rng(1)
    target = rng.integers(0, 2, 1030)
    a = rng.random(1030) < 0.8
    b = a.copy()
    b[np.flatnonzero(a)[:10]] = False
    results = [run(name, 64, seed, float(c.mean()), record=rows_record(c, target))
               for seed in range(3) for name, c in (("a", a), ("b", b))]
    (diff,) = analysis.paired_differences(results, "a", "b")
    assert diff["mean"] == pytest.approx(10 / 1030)
    assert 0 < diff["ci_low"] and diff["ci_high"] - diff["ci_low"] < 0.015
    own = analysis.curves(results)[0]
    assert own["ci_high"] - own["ci_low"] > 0.04


def test_two_arms_with_no_random_part_are_one_pair_on_validation_too() -> None:
    """Three identical seeds of two deterministic arms are one pair, on validation as on test: not three pairs with a
    zero-width interval that lets the cheaper arm be recommended as "not worse" on three seeds."""
    results = [run("tfidf-logreg", "all", seed, 0.776, val=0.790, seconds=30.0) for seed in range(3)]
    results += [run("embed-logreg", "all", seed, 0.766, val=0.775, seconds=1.0) for seed in range(3)]
    table = analysis.cells(results, "accuracy")
    assert table[("tfidf-logreg", "all")].deterministic and table[("embed-logreg", "all")].deterministic
    from headstart.analysis.cell_stats import paired_cell

    assert paired_cell(table, "tfidf-logreg", "embed-logreg", "all", 0.95, split="val")["pairs"] == 1
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "tfidf-logreg", band["text"]


def test_a_strategy_with_no_random_part_is_one_run() -> None:
    """embed-logreg with every label gives the same predictions for every seed: one run, said so, and its interval is
    the test set's alone (not three seeds with zero spread)."""
    rng = np.random.default_rng(2)
    target = rng.integers(0, 2, 1030)
    correct = rng.random(1030) < 0.766
    results = [run("embed-logreg", "all", seed, float(correct.mean()), record=rows_record(correct, target)) for seed in range(3)]
    (row,) = analysis.curves(results)
    assert row["runs"] == 1 and row["seeds"] == 3 and "no random part" in row["note"]
    assert row["interval"] == "test rows" and row["ci_high"] - row["ci_low"] > 0.04
    legacy = analysis.curves([dataclasses.replace(r, record={}) for r in results])[0]
    assert legacy["runs"] == 1 and legacy["note"].endswith("no confidence interval")
    assert legacy["no_interval"] == "one run and no test predictions are stored to resample" and "no_interval" not in row


def test_seeds_lost_to_divergence_are_named_in_the_recommendation() -> None:
    results = grid({"lora": {16: [0.75, 0.76]}, "linear-probe": {16: [0.60, 0.61, 0.62]}}, {"lora": 20, "linear-probe": 1})
    results.append(run("lora", 16, 2, 0, status="diverged", error="loss became nan at step 40 in phase 'train'"))
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "lora"
    assert ("note: lora lost 1 of 3 seeds at n = 16 (1 diverged: loss became nan at step 40 in phase 'train'); "
            "it is recommended on the seeds that finished") in band["text"]


def test_a_lost_seed_of_one_is_counted_in_the_singular() -> None:
    """lora ran one seed at n = 16 and it diverged: the note read "lora lost 1 of 1 seeds"."""
    results = grid({"linear-probe": {16: [0.60, 0.61, 0.62]}}, {"linear-probe": 1})
    results.append(run("lora", 16, 0, 0, status="diverged", error="loss became nan at step 40 in phase 'train'"))
    (band,) = analysis.recommend(results)
    assert "note: lora lost 1 of 1 seed at n = 16 (1 diverged: " in band["text"], band["text"]


def test_a_size_without_validation_scores_is_named_not_silently_left_out() -> None:
    """n = 16's runs stored no validation score (an older store resumed at new sizes): the advice covers n = 64 and
    says n = 16 is left out and why, instead of reading as if 16 had not been run."""
    results = grid({"lora": {64: [0.75, 0.76, 0.77]}, "linear-probe": {64: [0.60, 0.61, 0.62]}}, {"lora": 20, "linear-probe": 1})
    results += [dataclasses.replace(run(s, 16, seed, 0.6), val_metrics={}) for s in ("lora", "linear-probe") for seed in range(3)]
    (band,) = analysis.recommend(results)
    assert band["strategy"] == "lora" and band["from_n"] == 64 and band["unchosen"] == [16]
    assert band["text"].endswith("; n = 16 is left out of this advice: no run there stored a validation score of accuracy, "
                                 "and a choice on test would not be honest"), band["text"]


def test_reference_is_the_majority_class_rate_from_the_records() -> None:
    ref = {"reference": {"test": {"accuracy": 0.57, "balanced_accuracy": 0.5}, "val": {"accuracy": 0.56}}}
    results = [run("a", 16, s, 0.6, record=ref) for s in range(2)]
    assert analysis.reference(results) == {"test": 0.57, "val": 0.56, "label": "majority class"}
    assert analysis.summarize(results)["reference"]["test"] == 0.57
    assert analysis.reference([run("a", 16, 0, 0.6)]) is None


def test_a_validation_split_leaning_far_from_tests_class_balance_is_said_beside_the_reference() -> None:
    """A compare with max_val = 32 cut validation in whole groups at 77/23 where test was 52/48: "no arm beat the
    majority class on validation" read as a verdict on the arms, and nothing said the split leaned. The lean is said
    where Fisher's exact test on the two splits' majority-class counts finds it beyond the chance of the cut, not at
    a fixed 15 points: chance passes that on 32 rows, and a lean beyond every score's noise on 2,000 rows stays under it."""
    from headstart.report.markdown import reference_text

    def text(val: float, val_rows: int = 32, test: float = 0.515, test_rows: int = 200) -> str:
        ref = {"reference": {"test": {"accuracy": test, "n": test_rows}, "val": {"accuracy": val, "n": val_rows}}}
        return reference_text(analysis.summarize([run("a", 16, s, 0.6, record=ref) for s in range(2)]))

    leans = ("learned nothing; validation leans further to one class than test does, as a small validation split cut in "
             "whole groups can, and the choices made against its majority rate lean with it (a larger max_val evens it)")
    assert text(0.773).endswith(leans)  # 25 of 32 against 103 of 200: p = 0.007
    assert text(0.56).endswith("learned nothing"), "a few points apart is the sampling of two splits"
    assert text(0.6875).endswith("learned nothing"), "17 points on 32 rows: a cut by chance gives it (p = 0.09)"
    assert text(0.6, 2000, 0.515, 2000).endswith(leans), "8.5 points on 2,000 rows each is no chance (p < 1e-7)"
    ref = {"reference": {"test": {"accuracy": 0.515}, "val": {"accuracy": 0.773}}}  # stored before n was: not judged
    assert reference_text(analysis.summarize([run("a", 16, s, 0.6, record=ref) for s in range(2)])).endswith("learned nothing")


def test_reference_names_the_constant_predictor_its_task_computes() -> None:
    from headstart.report.markdown import reference_text
    ref = {"reference": {"test": {"micro_f1": 0.3}, "val": {"micro_f1": 0.31}}}
    multilabel = [with_spec(run("a", 16, s, 0.6, metric="micro_f1", record=ref), data={"name": "toy", "task": "multilabel"})
                  for s in range(2)]
    assert analysis.reference(multilabel, "micro_f1")["label"] == "label frequency"
    text = reference_text({"reference": analysis.reference(multilabel, "micro_f1"), "scale": 100.0,
                           "metric": "micro_f1"})
    assert "predicting each label's training frequency" in text and "most frequent class" not in text
    ref = {"reference": {"test": {"r2": 0.0}, "val": {"r2": 0.0}}}
    regression = [with_spec(run("a", 16, s, 0.6, metric="r2", record=ref), data={"name": "toy", "task": "regression"})
                  for s in range(2)]
    assert analysis.reference(regression, "r2")["label"] == "predicting the mean"


def test_a_reference_where_lower_is_better_is_passed_above_it_not_below() -> None:
    """RMSE: a strategy *above* predicting the mean learned nothing; the report said "at or below it" for rmse and loss,
    the opposite of what it means (a probe at 0.879 against the mean's 0.874 read as one that learned)."""
    from headstart.report.markdown import reference_text

    ref = {"reference": {"test": {"rmse": 0.874}, "val": {"rmse": 0.9}}}
    regression = [with_spec(run("a", 16, s, 0.879, metric="rmse", record=ref), data={"name": "toy", "task": "regression"})
                  for s in range(2)]
    summary = analysis.summarize(regression, "rmse")
    assert reference_text(summary).endswith("a strategy at or above it learned nothing"), reference_text(summary)
    accuracy = analysis.summarize([run("a", 16, s, 0.6, record={"reference": {"test": {"accuracy": 0.57}}}) for s in range(2)])
    assert reference_text(accuracy).endswith("a strategy at or below it learned nothing")


# ---- issue 18: arms and experiments are never mixed ------------------------------------------------------------------

def with_spec(r: RunResult, **changes) -> RunResult:
    return dataclasses.replace(r, key=r.key + "/" + json.dumps(changes, sort_keys=True), spec={**r.spec, **changes})


def test_one_strategy_under_two_settings_is_two_labelled_arms() -> None:
    """lora rank 4 and rank 16 in one store: two rows, labelled by the option that differs; before, the analysis kept
    the newest run of each (strategy, size, seed) and silently dropped the other arm."""
    results = [with_spec(run("lora", 16, s, 0.60 + s / 100), options={"rank": rank}) for rank in (4, 16) for s in range(3)]
    results += [run("linear-probe", 16, s, 0.55) for s in range(3)]
    rows = {r["strategy"]: r for r in analysis.curves(results)}
    assert set(rows) == {"lora[rank=4]", "lora[rank=16]", "linear-probe"}
    assert rows["lora[rank=4]"]["seeds"] == rows["lora[rank=16]"]["seeds"] == 3
    assert analysis.summarize(results)["totals"]["superseded"] == 0


def test_a_store_reused_with_another_dataset_keeps_the_experiments_apart() -> None:
    """Runs of two datasets in one store: before, they were grouped by (strategy, size, seed) only, so the recommendation
    compared full-finetune on one dataset with the probe on the other, paired by seed. Now each experiment is
    summarised alone, the newest first."""
    first = [with_spec(run(s, 16, seed, v), data={"name": "sst2", "hash": "a"})
             for s, v in (("linear-probe", 0.80), ("scratch", 0.50)) for seed in range(3)]
    second = [with_spec(run("full-finetune", 16, seed, 0.60 + seed / 100), data={"name": "imdb", "hash": "b"}) for seed in range(3)]
    summary = analysis.summarize(first + second)
    assert summary["experiment"] == "imdb · tiny"
    assert {r["strategy"] for r in summary["curves"]} == {"full-finetune"}
    assert [b["strategy"] for b in summary["recommendation"]] == ["full-finetune"]
    assert summary["head_start"] is None, "no scratch in this experiment: nothing to pair with"
    (other,) = summary["other_experiments"]
    assert other["experiment"] == "sst2 · tiny" and other["runs"] == 6
    assert {r["strategy"] for r in other["summary"]["curves"]} == {"linear-probe", "scratch"}
    assert other["summary"]["head_start"]["strategy"] == "linear-probe"


def test_an_arm_that_reads_no_labels_stays_a_candidate_at_every_size() -> None:
    """zero-shot runs only at n = 0; with 8 or 32 labels a user can still use it, so the advice there weighs it."""
    results = grid({"zero-shot": {0: [0.66, 0.66, 0.66]}, "setfit": {8: [0.61, 0.60, 0.62], 32: [0.70, 0.72, 0.71]}},
                   {"zero-shot": 0.5, "setfit": 30})
    first, second = analysis.recommend(results)
    assert (first["from_n"], first["to_n"], first["strategy"]) == (0, 8, "zero-shot"), first["text"]
    assert "to set up, no weight learned from labels" in first["text"] and "trainable parameters" not in first["text"]
    assert "30 s to train, " in second["text"]
    carried = first["evidence"][1]
    assert carried["n"] == 8 and carried["label_free"] and carried["n_actual"] == 8
    assert (second["from_n"], second["to_n"], second["strategy"]) == (32, 32, "setfit"), second["text"]
    assert "over zero-shot" in second["text"], "setfit at 32 is compared with zero-shot's n = 0 runs"
    only_at_8 = grid({"zero-shot": {0: [0.66, 0.66, 0.66]}, "setfit": {8: [0.61, 0.60, 0.62]}}, {"zero-shot": 0.5, "setfit": 30})
    at_8 = analysis.recommend(only_at_8)[0]["evidence"][1]
    assert at_8["label_free"] and at_8["strategy"] == "zero-shot"
    bands = analysis.recommend(grid({"zero-shot": {0: [0.5] * 3}, "setfit": {8: [0.61, 0.60, 0.62]}}, {"zero-shot": 0.5, "setfit": 30}))
    assert [b["strategy"] for b in bands] == ["zero-shot", "setfit"] and "over zero-shot" in bands[1]["text"]
    arm_at_every_size = grid({"a": {0: [0.9] * 3, 8: [0.5] * 3}, "b": {8: [0.6, 0.61, 0.62]}}, {"a": 1, "b": 2})
    assert analysis.recommend(arm_at_every_size)[-1]["strategy"] == "b", "an arm that ran at 8 stands on its own runs there"
    later = grid({"zero-shot": {0: [0.66] * 3}, "setfit": {8: [0.70, 0.71, 0.72], 32: [0.60, 0.61, 0.62]}}, {"zero-shot": 0.5, "setfit": 30})
    band = analysis.recommend(later)[-1]
    assert band["strategy"] == "zero-shot" and band["from_n"] == 32, band
    assert band["text"].startswith("from 32 labelled examples: zero-shot (best on validation; it reads none of the labels: "
                                   "its n = 0 runs; test 66.0%"), band["text"]


def test_a_zero_difference_prints_without_a_sign_and_a_tiny_one_never_as_zero() -> None:
    """A zero difference reads 0.0, never -0.0; a tiny non-zero one read "0.0 points (CI 0.0 to 0.0)": it now has the
    decimals that show it, and one decimal stays where that does."""
    from headstart.analysis.cell_stats import delta_text

    assert delta_text({"points": -0.04, "ci": [-1.26, 1.18], "pairs": 3}, "accuracy", True) == "-0.04 points (CI -1.3 to +1.2)"
    assert delta_text({"points": 0.04, "ci": [-0.04, 0.02], "pairs": 3}, "accuracy", True) == "+0.04 points (CI -0.04 to +0.02)"
    assert delta_text({"points": -0.06, "ci": [-1.0, 1.0], "pairs": 3}, "accuracy", True) == "-0.1 points (CI -1.0 to +1.0)"
    assert delta_text({"points": -0.0, "ci": [-1.0, 1.0], "pairs": 3}, "accuracy", True) == "0.0 points (CI -1.0 to +1.0)"


def test_a_difference_interval_stays_within_what_a_difference_can_be() -> None:
    """Two seeds, far apart: the paired t-interval of an accuracy gain is clipped to ±1 (±100 points), not past it."""
    from headstart.analysis.stats import difference_range, interval

    assert difference_range("accuracy") == (-1.0, 1.0) and difference_range("rmse") is None
    wide = interval([0.9, -0.6], None, bounds=difference_range("accuracy"))
    assert wide["ci_low"] == -1.0 and wide["ci_high"] == 1.0 and wide["p_value"] is not None


def test_seconds_per_step_leave_out_the_learning_rate_trials() -> None:
    """A tuned run's train_seconds holds its trials too; s / step read 6.13 s where the run itself took 0.43 s a step."""
    import dataclasses

    tuned = dataclasses.replace(run("lora", 16, 0, 0.7, seconds=10.0), steps=20, chosen={"lr": 1e-3, "tune_seconds": 8.0})
    plain = dataclasses.replace(run("lora", 16, 1, 0.7, seconds=4.0), steps=20)
    (row,) = analysis.curves([tuned, plain])
    assert row["seconds_per_step"] == pytest.approx((2.0 / 20 + 4.0 / 20) / 2)
    assert row["train_seconds"] == pytest.approx(7.0), "the train time column keeps what tuning cost"


def test_a_pick_on_two_seeds_says_its_intervals_decide_little() -> None:
    """The trial's 2-seed compare quoted 'CI -75.7 to +74.7' with no word on why: t with one degree of freedom."""
    two = grid({"lora": {16: [0.70, 0.72]}, "probe": {16: [0.60, 0.61]}}, {"lora": 2, "probe": 1})
    (band,) = analysis.recommend(two)
    assert "note: on 2 seeds an interval spans 12.7 standard errors" in band["text"] and "seeds=3 or more" in band["text"]
    three = grid({"lora": {16: [0.70, 0.72, 0.71]}, "probe": {16: [0.60, 0.61, 0.62]}}, {"lora": 2, "probe": 1})
    assert "12.7 standard errors" not in analysis.recommend(three)[0]["text"]


def shifted(strategy: str, seed: int, *, val: float, target: float, retention: float) -> RunResult:
    """A run scored in domain (validation ``val``, test ``val``), on a target's test split (``target``) and for
    retention; the runs store validation scores of the in-domain metric only, as the engine does."""
    spec = {"strategy": strategy, "n": 64, "n_requested": 64, "seed": seed, "backbone": "tiny",
            "data": {"name": "src", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", train_seconds=10.0 if strategy == "full-finetune" else 5.0,
                     metrics={"accuracy": val, "ood:tgt:accuracy": target, "ood:tgt:rmse": 1 - target, "retention:other": retention},
                     val_metrics={"accuracy": val}, trainable_params=1000)


def shifted_runs() -> list[RunResult]:
    """lora is best on the source's validation in every seed, full-finetune on the target's test and on retention."""
    return [r for seed in range(3) for r in (
        shifted("lora", seed, val=0.80 + 0.01 * seed, target=0.60 + 0.01 * seed, retention=0.90),
        shifted("full-finetune", seed, val=0.70 + 0.01 * seed, target=0.75 + 0.01 * seed, retention=0.99),
        shifted("linear-probe", seed, val=0.60 + 0.01 * seed, target=0.55 + 0.01 * seed, retention=1.0),
        shifted("scratch", seed, val=0.50 + 0.01 * seed, target=0.50, retention=0.5))]


def test_an_out_of_domain_metric_is_chosen_on_in_domain_validation_never_on_the_targets_test() -> None:
    summary = analysis.summarize(shifted_runs(), metric="ood:tgt:accuracy")
    (band,) = summary["recommendation"]
    assert band["strategy"] == "lora", "full-finetune is best on the target's test, which must choose nothing"
    assert "best on in-domain validation accuracy" in band["text"] and summary["scale"] == 100.0
    assert summary["head_start"]["strategy"] == "lora" and summary["head_start"]["chosen_on"] == "in-domain validation accuracy"
    assert summary["crossover"]["chosen_on"] == "in-domain validation accuracy"
    assert analysis.higher_is_better("ood:tgt:rmse") is False and analysis.higher_is_better("ood:tgt:accuracy") is True


def test_retention_chooses_nothing_for_no_validation_score_measures_it() -> None:
    summary = analysis.summarize(shifted_runs(), metric="retention:other")
    (band,) = summary["recommendation"]
    assert band["strategy"] is None and band["nothing_chosen"] is True and band["evidence"] == []
    assert band["text"].startswith("nothing chosen on retention:other: no validation score measures it")
    assert summary["head_start"]["strategy"] is None and summary["head_start"]["text"].startswith("not read on retention:other")
    assert summary["crossover"]["n"] is None and summary["crossover"]["text"].startswith("not read on retention:other")


def test_a_store_without_any_validation_score_chooses_nothing_on_test() -> None:
    runs = [dataclasses.replace(r, val_metrics={}) for r in shifted_runs()]
    (band,) = analysis.summarize(runs, metric="ood:tgt:accuracy")["recommendation"]
    assert band["strategy"] is None and "stored no validation scores" in band["text"]


def test_a_pick_on_two_seeds_says_its_intervals_decide_little_even_alone() -> None:
    """With one strategy (a multi-backbone report's experiment) it said "these differences decide little": there are
    none, only the pick's own interval."""
    results = grid({"linear-probe": {16: [0.6, 0.7]}}, {"linear-probe": 1})
    (text,) = [r["text"] for r in analysis.summarize(results)["recommendation"]]
    assert "on 2 seeds an interval spans 12.7 standard errors (t with 1 degree of freedom), so these intervals decide " \
           "little" in text and "differences" not in text, text


def test_an_arm_on_cached_features_says_their_part_of_its_train_time_and_its_steps_leave_it_out() -> None:
    """Each arm that reads the backbone's cached features counts them (``record["feature_seconds"]``): the recommendation
    says which part of its seconds they are, and s / step is its steps' own."""
    import dataclasses

    probe = dataclasses.replace(run("linear-probe", 16, 0, 0.8, seconds=5.0, record={"feature_seconds": 4.0}), steps=10)
    solved = run("embed-logreg", 16, 0, 0.7, seconds=4.5, record={"feature_seconds": 4.0})
    rows = {r["strategy"]: r for r in analysis.curves([probe, solved])}
    assert rows["linear-probe"]["seconds_per_step"] == pytest.approx(0.1)
    assert rows["linear-probe"]["feature_seconds"] == pytest.approx(4.0)
    (band,) = analysis.recommend([probe, solved])
    assert "5 s to train (4 s of it computing the backbone's features, counted for every arm that reads them)" in band["text"]
