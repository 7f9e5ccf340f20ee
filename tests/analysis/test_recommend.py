"""Tests of headstart/analysis/recommend.py: what the advice may claim from its validation and test intervals."""

from __future__ import annotations

from headstart.analysis.recommend import recommend
from headstart.results import RunResult


def run(strategy: str, seed: int, test: float, val: float, *, seconds: float, n: int = 64) -> RunResult:
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": test, "n": 300},
                     val_metrics={"accuracy": val}, train_seconds=seconds, trainable_params=int(seconds * 1000))


def test_a_cheaper_arm_is_not_called_no_worse_on_a_zero_width_validation_interval() -> None:
    """Every seed 1 point behind on validation: the paired interval was [+1.0, +1.0], inside the 2-point margin, and
    the cheaper arm was recommended as no worse; identical differences are no evidence of certainty."""
    results = [r for s in range(3) for r in (run("full-finetune", s, 0.86 + s / 100, 0.86 + s / 100, seconds=100),
                                             run("linear-probe", s, 0.80 + s / 100, 0.85 + s / 100, seconds=1))]
    (band,) = recommend(results)
    assert band["strategy"] == "full-finetune", band["text"]
    assert "trails on validation by 1.0 points (no interval: every seed gave the same value" in band["text"]


def test_the_validation_interval_that_lets_a_cheaper_arm_in_is_said_to_be_over_seeds_only() -> None:
    """About 300 validation rows carry 1–2 points of sampling error that the seeds-only interval leaves out; the
    advice quoted it as if it were the whole error."""
    results = [r for s, gap in enumerate((0.010, 0.013, 0.007))
               for r in (run("full-finetune", s, 0.86, 0.85 + gap, seconds=100), run("linear-probe", s, 0.85, 0.85, seconds=1))]
    (band,) = recommend(results)
    assert band["strategy"] == "linear-probe", band["text"]
    assert "3 seeds, over seeds only: the validation rows' sampling error is not in it)" in band["text"], band["text"]
    behind = [r for s, gap in enumerate((0.010, 0.030, 0.005))
              for r in (run("full-finetune", s, 0.86, 0.85 + gap, seconds=100), run("linear-probe", s, 0.85, 0.85, seconds=1))]
    (band,) = recommend(behind)
    assert band["strategy"] == "full-finetune" and "(over seeds only: the validation rows' sampling error is not in it): " \
        "whether it is no worse" in band["text"], band["text"]
