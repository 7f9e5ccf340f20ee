"""Tests of headstart/analysis/recommend.py: what the advice may claim from its validation and test intervals."""

from __future__ import annotations

import pytest

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


def stepped(strategy: str, seed: int, n: int | str, *, wrong: int, steps: int = 4) -> RunResult:
    """A run of ``steps`` optimiser steps (0: a closed form) that got ``wrong`` of 25 test rows wrong (the same rows
    whatever the seed) and scored 0.8 on validation."""
    target = [i % 2 for i in range(25)]
    predicted = [1 - t if i < wrong else t for i, t in enumerate(target)]
    spec = {"strategy": strategy, "n": 16 if n == "all" else n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": 1 - wrong / 25, "n": 25},
                     val_metrics={"accuracy": 0.8 + (strategy == "linear-probe") / 10}, train_seconds=1.0, steps=steps,
                     trainable_params=770, record={"test": {"predicted": predicted, "target": target}})


def test_seeds_that_score_alike_are_not_one_run_unless_they_are_the_same_run(tmp_path) -> None:
    """linear-probe's seeds at n = 16 draw different subsamples (and chose different rates) and happened to predict
    alike: the table said "3 (1 run)", and the notes that the arms ran on different seeds and that a difference over 2
    shared seeds spans 12.7 standard errors went missing. Only seeds that are the same run count as one: a closed form
    with every label (or none)."""
    from headstart.analysis.cells import cells
    from headstart.report import render
    from headstart.store import Store

    results = ([stepped("linear-probe", s, 16, wrong=0) for s in range(3)]
               + [stepped("full-finetune", s, 16, wrong=0, steps=4) for s in range(2)])
    table = cells(results)
    assert not table[("linear-probe", 16)].deterministic and not table[("full-finetune", 16)].deterministic
    (band,) = recommend(results)
    assert "the arms ran on different seeds at n = 16 (linear-probe 3 (0, 1, 2), full-finetune 2 (0, 1))" in band["text"]
    assert "on 2 seeds an interval spans 12.7 standard errors" in band["text"], band["text"]
    closed = [stepped("embed-logreg", s, "all", wrong=2, steps=0) for s in range(3)]
    assert cells(closed)[("embed-logreg", "all")].deterministic
    assert not cells([stepped("embed-logreg", s, 16, wrong=2, steps=0) for s in range(3)])[("embed-logreg", 16)].deterministic
    with Store(tmp_path) as store:
        for r in results + closed:
            store.put(r)
    rows = [line.split(" | ") for line in render(tmp_path)["report.md"].read_text().splitlines() if line.startswith("| ")]
    seeds = {row[0].lstrip("| "): row[4] for row in rows[1:] if row[1] != "–"}
    assert seeds == {"linear-probe": "3", "full-finetune": "2", "embed-logreg": "3 (the same run)"}, rows


def test_the_recommendations_test_difference_names_the_seeds_it_is_paired_over_as_the_crossover_does() -> None:
    """A third linear-probe seed: the band quoted "+8.0 points ... over linear-probe" with no word that it is paired over
    seeds 0 and 1 alone, while the table's means are over 2 and 3 seeds and the crossover line names them."""
    results = _by_seed({"full-finetune": (0.84, 0.84), "linear-probe": (0.80, 0.72, 0.92)})
    (band,) = recommend(results)
    assert band["strategy"] == "full-finetune", band["text"]
    assert ("over linear-probe, paired over seeds 0 and 1, the 2 both ran (linear-probe's mean in the table is over 3; "
            "an interval that includes 0" in band["text"]), band["text"]
    same = [r for r in results if r.spec["seed"] < 2]
    (band,) = recommend(same)
    assert "over linear-probe" in band["text"] and "paired over" not in band["text"], band["text"]


def test_a_paired_difference_whose_interval_includes_0_says_both_in_one_bracket() -> None:
    """"(linear-probe's mean in the table is over 3) (an interval that includes 0: ...)": two brackets side by side."""
    (band,) = recommend(_by_seed({"full-finetune": (0.86, 0.80), "linear-probe": (0.80, 0.84, 0.70)}))
    assert band["strategy"] == "full-finetune", band["text"]
    assert ("the 2 both ran (linear-probe's mean in the table is over 3; an interval that includes 0: on test the two "
            "are not told apart)") in band["text"], band["text"]
    assert ") (" not in band["text"], band["text"]


def _by_seed(scores: dict[str, tuple[float, ...]]) -> list:
    """A run per strategy and seed scoring its value on validation and test (full-finetune the slower)."""
    return [run(s, seed, v, v, seconds=100 if s == "full-finetune" else 1) for s, values in scores.items()
            for seed, v in enumerate(values)]


def termed(strategy: str, seed: int, val: float, *, seconds: float, params: int, terms: dict | None = None) -> RunResult:
    """A run of ``strategy`` with objective ``terms`` that scored ``val`` on validation and test."""
    spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}, **({"terms": terms} if terms else {})}
    return RunResult(key=f"{strategy}{sorted(terms or {})}/16/{seed}", spec=spec, status="done",
                     metrics={"accuracy": val, "n": 248}, val_metrics={"accuracy": val}, train_seconds=seconds,
                     trainable_params=params)


@pytest.mark.parametrize("reverse", [False, True])
def test_an_exact_tie_on_validation_names_the_simpler_arm_not_the_faster(reverse: bool) -> None:
    """full-finetune+ewc at a weight too small to act agreed with full-finetune on every row; the first cell's warm-up
    on a busy machine made plain fine-tuning 16 s against 1.8 s, so the tie named the arm with the term, and the other
    one with the arms given in the other order. With 3 seeds the tied faster arm also came in as "cheaper"."""
    plain = [termed("full-finetune", s, 0.5 + s / 100, seconds=15.96, params=22_000_000) for s in range(3)]
    ewc = [termed("full-finetune", s, 0.5 + s / 100, seconds=1.76, params=22_000_000, terms={"ewc": {}}) for s in range(3)]
    (band,) = recommend(ewc + plain if reverse else plain + ewc)
    assert band["strategy"] == "full-finetune", band["text"]
    assert "(best on validation, tied there with full-finetune+ewc: the simpler arm is named (fewer objective terms" \
        in band["text"], band["text"]


def test_a_tie_prefers_fewer_trained_parameters_then_the_name_never_the_time() -> None:
    """The probe over fine-tuning on a tie, however long each took; two arms alike in terms and parameters: name order."""
    probe = [termed("linear-probe", s, 0.9, seconds=30.0, params=770) for s in range(2)]
    tuned = [termed("full-finetune", s, 0.9, seconds=2.0, params=22_000_000) for s in range(2)]
    (band,) = recommend(tuned + probe)
    assert band["strategy"] == "linear-probe" and "tied there with full-finetune:" in band["text"], band["text"]
    same = [termed(name, s, 0.9, seconds=t, params=770) for name, t in (("zeta-probe", 1.0), ("alpha-probe", 9.0))
            for s in range(2)]
    (band,) = recommend(same)
    assert band["strategy"] == "alpha-probe", band["text"]
    ahead = [termed("full-finetune", s, 0.91, seconds=30.0, params=22_000_000, terms={"ewc": {}}) for s in range(2)]
    (band,) = recommend(tuned + ahead)
    assert band["strategy"] == "full-finetune+ewc" and "tied" not in band["text"], "no tie, no tie-break"


def test_a_tiny_validation_lead_is_printed_with_the_digits_that_show_it() -> None:
    """full-finetune led linear-probe on validation by 0.01–0.03 points: the advice said "full-finetune − linear-probe on
    validation: 0.0 points (CI 0.0 to 0.0)", a lead of nothing known exactly."""
    results = [r for s, gap in enumerate((0.0001, 0.0003, 0.0002))
               for r in (run("full-finetune", s, 0.86, 0.85 + gap, seconds=100), run("linear-probe", s, 0.85, 0.85, seconds=1))]
    (band,) = recommend(results)
    assert "CI 0.0 to 0.0" not in band["text"], band["text"]
    assert "full-finetune − linear-probe on validation: +0.02 points (CI -0.005 to +0.04)" in band["text"], band["text"]


def test_cheaper_says_it_is_wall_time_where_runs_keep_no_cpu_time() -> None:
    """"100× cheaper than full-finetune" compared the runs' train_seconds, their wall time (a busy machine moves it;
    runs store no CPU time), without saying so. A band that compares no cost says nothing of it."""
    results = [r for s in range(3) for r in (run("full-finetune", s, 0.86, 0.86, seconds=100),
                                             run("linear-probe", s, 0.85, 0.855 + s / 1000, seconds=1))]
    (band,) = recommend(results)
    assert band["strategy"] == "linear-probe", band["text"]
    assert "linear-probe — 100× cheaper in wall time than full-finetune, the best on validation" in band["text"], band["text"]
    assert ("; wall time: the seconds each arm took to train on the machine that ran it, which a busy machine moves "
            "(runs store no CPU time)") in band["text"], band["text"]
    alone = [run("full-finetune", s, 0.86, 0.86, seconds=100) for s in range(3)]
    (band,) = recommend(alone)
    assert "cheaper" not in band["text"] and "wall time" not in band["text"], band["text"]
