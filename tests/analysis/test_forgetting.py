"""Tests of headstart/analysis/forgetting.py: retention rows with intervals over seeds and retained test rows."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.analysis.arms import with_arms
from headstart.analysis.forgetting import retention_rows
from headstart.results import RunResult


def run(seed: int, original: np.ndarray, adapted: np.ndarray, target: np.ndarray, *, rows: bool = True,
        strategy: str = "full-finetune", terms: dict | None = None) -> RunResult:
    acc_o, acc_a = float((original == target).mean()), float((adapted == target).mean())
    found = {"data": "drug-reviews", "original": acc_o, "adapted": acc_a, "retention": acc_a / acc_o, "test_rows": len(target)}
    if rows:
        found["rows"] = {"target": target.tolist(), "original": original.tolist(), "adapted": adapted.tolist()}
    spec = {"strategy": strategy, "n": 256, "n_requested": 256, "seed": seed, "data": {"name": "rt"}, "backbone": "b",
            **({"terms": terms} if terms else {})}
    return RunResult(key=f"k{strategy}{terms}{seed}", spec=spec, status="done", metrics={"accuracy": 0.7}, record={"retention": [found]})


def test_the_retained_test_set_error_enters_the_interval():
    """Three seeds with the same retention on 105 test rows: over seeds alone the interval has no width; the rows give
    it the width 105 reviews deserve."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 11, 105)
    original = np.where(rng.random(105) < 0.82, target, (target + 1) % 11)
    adapted = original.copy()
    adapted[np.flatnonzero(original == target)[:3]] = (target[np.flatnonzero(original == target)[:3]] + 1) % 11
    results = [run(seed, original, adapted, target) for seed in range(3)]
    (row,) = retention_rows(results)
    assert row["retention"] == pytest.approx((adapted == target).mean() / (original == target).mean())
    assert row["interval"] == "seeds and test rows" and row["ci_high"] - row["ci_low"] > 0.02
    (seeds_only,) = retention_rows([run(seed, original, adapted, target, rows=False) for seed in range(3)])
    assert seeds_only["ci_high"] - seeds_only["ci_low"] == pytest.approx(0.0)
    assert seeds_only["interval"] == "none", "no spread over seeds and no rows: no interval, not one over seeds"


def test_a_retention_or_difference_whose_seeds_all_agreed_shows_no_interval_in_every_table():
    """Three seeds with the same retention and no stored rows read "0.962 – 0.962" in report.md, report.html and the
    summary line, and lora − full-finetune "+0.038 (+0.038 to +0.038)": no spread seen, not certainty."""
    from headstart.analysis import summarize
    from headstart.cli.summary import forgetting_lines
    from headstart.report.html import report_html
    from headstart.report.markdown import report_markdown

    rng = np.random.default_rng(0)
    target = rng.integers(0, 11, 105)
    original = np.where(rng.random(105) < 0.82, target, (target + 1) % 11)
    adapted = original.copy()
    adapted[np.flatnonzero(original == target)[:3]] = (target[np.flatnonzero(original == target)[:3]] + 1) % 11
    results = [r for seed in range(3) for r in (run(seed, original, adapted, target, rows=False),
                                                run(seed, original, original, target, rows=False, strategy="lora"))]
    rows = {r["strategy"]: r for r in retention_rows(with_arms(results))}
    why = "every seed gave the same value and no test predictions are stored to resample"
    assert rows["full-finetune"]["no_interval"] == why and rows["lora"]["vs_full_finetune"]["no_interval"] == why
    summary = summarize(with_arms(results))
    md = report_markdown(summary, title="t", command=None)
    assert f"| 0.962 | no interval: {why} |" in md and f"| +0.038 (no interval: {why}) |" in md
    assert "0.962 – 0.962" not in md
    html = report_html(summary, title="t", command=None)
    assert f'"ci_text": "no interval: {why}"' in html and f'"vs_text": "+0.038 (no interval: {why})"' in html
    assert f"full-finetune 0.962 (no interval: {why})" in forgetting_lines(summary["retention"])[0]


def test_each_arm_is_compared_with_full_finetuning_paired_by_seed_on_the_same_rows():
    """lora keeps every row full fine-tuning lost (5 right rows per seed): the paired difference is +5/right and excludes
    0; full-finetune itself and an arm on one shared seed get no comparison."""
    rng = np.random.default_rng(1)
    target = rng.integers(0, 11, 105)
    original = np.where(rng.random(105) < 0.82, target, (target + 1) % 11)
    right = np.flatnonzero(original == target)
    results = []
    for seed in range(3):
        forgot = original.copy()
        lost = right[seed * 2:seed * 2 + 5]
        forgot[lost] = (target[lost] + 1) % 11
        results += [run(seed, original, forgot, target), run(seed, original, original, target, strategy="lora")]
    results.append(run(0, original, original, target, strategy="full-finetune", terms={"l2sp": {"weight": 1.0}}))
    rows = {r["strategy"]: r for r in retention_rows(with_arms(results))}
    assert rows["full-finetune"]["vs_full_finetune"] is None and rows["full-finetune+l2sp"]["vs_full_finetune"] is None
    diff = rows["lora"]["vs_full_finetune"]
    assert diff["pairs"] == 3 and diff["mean"] == pytest.approx(5 / len(right))
    assert diff["ci_low"] > 0 and diff["significant"]
