"""Tests of headstart/analysis/readings.py: the head start and the crossover, and what they may claim."""

from __future__ import annotations

import dataclasses

import numpy as np

from headstart.analysis.readings import crossover, head_start
from headstart.results import RunResult


def run(strategy: str, seed: int, test: float, *, val: float | None = None, n: int = 16,
        predicted: list[int] | None = None, target: list[int] | None = None) -> RunResult:
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    rows = {"test": {"predicted": predicted, "target": target}} if predicted is not None else {}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": test, "n": 300},
                     val_metrics={} if val is None and predicted is None else {"accuracy": test if val is None else val},
                     train_seconds=1.0, record=rows)


def one_seed_each(n: int = 16) -> list[RunResult]:
    """One seed per arm on 300 stored rows: lora right on ~80%, scratch and linear-probe on ~70%."""
    rng = np.random.default_rng(1)
    target = rng.integers(0, 2, 300)
    out = []
    for strategy, share in (("lora", 0.8), ("full-finetune", 0.8), ("scratch", 0.7), ("linear-probe", 0.7)):
        predicted = np.where(rng.random(300) < share, target, 1 - target)
        out.append(run(strategy, 0, float(np.mean(predicted == target)), n=n, predicted=predicted.tolist(),
                       target=target.tolist()))
    return out


def test_a_head_start_on_one_seed_is_never_significant_and_says_training_randomness_is_not_in_its_interval() -> None:
    """One seed per arm, 300 test rows: +17.0 points (CI +10.3 to +23.7) was called significant, an interval over the
    test rows alone, as if another seed could not have trained either arm otherwise."""
    hs = head_start(one_seed_each())
    assert hs["pairs"] == 1 and hs["significant"] is False and hs["ci"][0] > 0
    assert hs["caveat"] == "1 seed: training randomness is not in the interval"
    assert hs["text"].endswith("; 1 seed: training randomness is not in the interval)"), hs["text"]


def test_a_crossover_on_one_seed_is_not_called_significant() -> None:
    cross = crossover(one_seed_each())
    assert cross["significant"] is False and cross["caveat"]
    assert cross["text"].endswith("training randomness is not in the interval), not called significant on one seed")


def two_arms(vals: dict[int, tuple[float | None, float | None]]) -> list[RunResult]:
    """full-finetune and linear-probe at each size, three seeds, with the given validation means (None: not stored)."""
    out = []
    for n, (fine, probe) in vals.items():
        for s in range(3):
            out += [run("full-finetune", s, 0.80 + s / 100, val=fine, n=n), run("linear-probe", s, 0.70 + s / 200, val=probe, n=n)]
    return out


def test_a_tie_on_validation_is_level_not_overtaking() -> None:
    """Level at every size was read "full-finetune matches or beats linear-probe at every size tried (from 16)"."""
    cross = crossover(two_arms({16: (0.8, 0.8), 64: (0.8, 0.8)}))
    assert cross["n"] is None
    assert cross["text"] == ("not within the sizes tried (on validation): level with linear-probe at n = 64, which is "
                             "not overtaking it")
    cross = crossover(two_arms({16: (0.8, 0.8), 64: (0.9, 0.8)}))
    assert cross["n"] == 64 and cross["text"].startswith(
        "full-finetune is ahead of linear-probe on the validation mean only, from 64 ")  # every seed the same lead: no interval


def test_a_size_without_a_validation_score_is_named_not_dropped() -> None:
    """At 64 linear-probe stored no validation score: the crossover read 16 and 256 as if 64 had not been run."""
    cross = crossover(two_arms({16: (0.7, 0.8), 64: (0.9, None), 256: (0.9, 0.8)}))
    assert cross["n"] == 256
    assert cross["text"].endswith("; not read at n = 64 (linear-probe): no validation score stored there to compare on")


def with_majority(results: list[RunResult], rate: float) -> list[RunResult]:
    """``results`` with the majority-class rate ``rate`` recorded on validation and test."""

    reference = {"val": {"accuracy": rate}, "test": {"accuracy": rate}}
    return [dataclasses.replace(r, record={**(r.record or {}), "reference": reference}) for r in results]


def test_no_crossover_is_claimed_between_two_arms_that_learned_nothing() -> None:
    """fg2: full-finetune 0.52, linear-probe 0.51 on validation at both sizes, the majority class 0.55: "full-finetune
    beats linear-probe ... at every size tried" beside a recommendation that said neither learned anything. Such a
    size is left unread and named; where only those remain, the crossover says so."""
    nothing = with_majority(two_arms({16: (0.52, 0.51), 64: (0.52, 0.51)}), 0.55)
    cross = crossover(nothing)
    assert cross["n"] is None and cross["learned_nothing"] is True, cross
    assert cross["text"] == ("not read: neither full-finetune nor linear-probe beat the majority-class rate on "
                             "validation at n = 16, 64, so neither learned the task there and neither is ahead")
    later = crossover(with_majority(two_arms({16: (0.52, 0.51), 64: (0.8, 0.7)}), 0.55))
    assert later["n"] == 64 and "learned_nothing" not in later, later
    assert later["text"].startswith("full-finetune is ahead of linear-probe on the validation mean only, from 64 labelled "
                                    "examples on ("), later
    assert later["text"].endswith("; not read at n = 16: neither beat the majority-class rate on validation there, so "
                                  "neither learned the task"), later
    one_learned = crossover(with_majority(two_arms({16: (0.6, 0.51)}), 0.55))
    assert one_learned["n"] == 16 and "not read" not in one_learned["text"], "one arm above the line is a real lead"


def test_the_head_start_says_when_neither_arm_learned_anything() -> None:
    results = []
    for s in range(3):
        results += [run("linear-probe", s, 0.53 + s / 100, val=0.52), run("scratch", s, 0.50 + s / 100, val=0.50)]
    hs = head_start(with_majority(results, 0.55))
    assert hs["learned_nothing"] is True
    assert hs["text"].endswith("; but neither learned the task there — linear-probe scores 52.0% on validation on average, "
                               "no better than the majority-class rate (55.0%), scratch scores 50.0% on validation on "
                               "average, no better than the majority-class rate (55.0%) — so this is no head start"), hs["text"]
    assert "learned_nothing" not in head_start(with_majority(results, 0.45))


def test_a_difference_over_the_seeds_both_arms_ran_says_which_ones_where_the_means_are_over_more() -> None:
    """A third linear-probe seed: the table read 84.0 vs 81.3 at n = 64 and the crossover "+8.0 points" with no word
    that it is paired over seeds 0 and 1 alone; the head start quoted such a difference the same way."""
    scores = {"full-finetune": (0.84, 0.84), "linear-probe": (0.80, 0.72, 0.92), "scratch": (0.60, 0.62)}
    results = [run(s, seed, v, n=n, val=v - (0.05 if n == 16 and s == "full-finetune" else 0.0))
               for n in (16, 64) for s, values in scores.items() for seed, v in enumerate(values)]
    cross = crossover(results)
    assert cross["n"] == 64 and round(cross["points"], 6) == 8.0, cross
    assert ("on test at 64, paired over seeds 0 and 1, the 2 both ran (linear-probe's mean in the table is over 3): "
            "+8.0 points") in cross["text"], cross["text"]
    hs = head_start(results)
    assert ("vs scratch on test, paired over seeds 0 and 1, the 2 both ran (linear-probe's mean in the table is over 3)"
            in hs["text"]), hs["text"]
    same = [r for r in results if r.spec["seed"] < 2]
    assert "paired over" not in crossover(same)["text"] and "paired over" not in head_start(same)["text"]


def test_two_arms_each_one_run_whatever_their_seeds_are_not_said_paired_over_seeds() -> None:
    """Two closed-form arms at all labels (each seed the same run, ``Cell.deterministic``) that ran 3 and 2 seeds: their
    difference is one pair of runs, not "paired over seeds 0 and 1"."""
    from types import SimpleNamespace

    from headstart.analysis.cell_stats import paired_over

    def cell(name: str, seeds: int, same: bool) -> SimpleNamespace:
        return SimpleNamespace(strategy=name, by_seed={s: 0.8 for s in range(seeds)}, deterministic=same)

    table = {("embed-logreg", "all"): cell("embed-logreg", 3, True), ("tfidf-logreg", "all"): cell("tfidf-logreg", 2, True)}
    assert paired_over(table, "embed-logreg", "tfidf-logreg", "all") == ""
    table[("tfidf-logreg", "all")] = cell("tfidf-logreg", 2, False)  # seeds that are runs of their own: said
    # ... and embed-logreg's mean in the table is its one run's, not one "over 3"
    assert paired_over(table, "embed-logreg", "tfidf-logreg", "all") == ", paired over seeds 0 and 1, the 2 both ran"


def test_a_head_start_on_an_exact_tie_on_validation_names_the_arm_it_is_tied_with() -> None:
    """lora and full-finetune both 63.25 on validation: the head start named lora (fewer parameters) silently, and a
    seed more could name full-finetune; the recommendation said "tied there with", the head start said nothing."""
    results = [dataclasses.replace(run(s, seed, 0.60 + seed / 100, val=val), trainable_params=params)
               for seed in range(3)
               for s, val, params in (("lora", 0.6325, 1_000), ("full-finetune", 0.6325, 100_000), ("scratch", 0.5, 100_000))]
    hs = head_start(results)
    assert hs["strategy"] == "lora" and hs["tied"] == ["full-finetune"]
    assert ("lora (best transfer strategy on validation, tied there with full-finetune: the simpler arm is named (fewer "
            "objective terms, then fewer trainable parameters, then the name)) vs scratch") in hs["text"], hs["text"]


def test_a_crossover_says_beats_only_where_the_validation_interval_over_seeds_lies_above_zero() -> None:
    """full-finetune led linear-probe on validation by 0.01-0.02 points at each size, an interval over seeds that
    includes 0, and trailed on test by 10 points: the line read "full-finetune beats linear-probe on validation at every
    size tried (from 16)"."""
    def sweep(leads: tuple[float, ...]) -> list[RunResult]:
        return [r for n in (16, 64) for s, lead in enumerate(leads)
                for r in (run("full-finetune", s, 0.60 + s / 100, val=0.70 + lead, n=n),
                          run("linear-probe", s, 0.70 + s / 100, val=0.70, n=n))]

    close = crossover(sweep((0.0002, -0.0001, 0.0002)))
    assert close["n"] == 16 and close["unresolved"] == [16, 64], close
    assert close["text"].startswith(
        "full-finetune is ahead of linear-probe on the validation mean only, at every size tried (from 16) "
        "(full-finetune − linear-probe on validation at 16: +0.01 points (CI -0.03 to +0.1)"), close["text"]
    assert "): not resolved on validation (an interval that includes 0, or none, at n = 16, 64); on test at 16: " \
        in close["text"], close["text"]
    assert "beats" not in close["text"]
    clear = crossover(sweep((0.09, 0.10, 0.11)))
    assert clear["unresolved"] == [] and clear["val"]["ci"][0] > 0, clear
    assert clear["text"].startswith("full-finetune beats linear-probe on validation at every size tried (from 16) "
                                    "(full-finetune − linear-probe on validation at 16: +10.0 points (CI +7.5 to "
                                    "+12.5), over seeds only: the validation rows' sampling error is not in it); "
                                    "on test at 16: -10.0 points"), clear["text"]


def test_a_crossover_resolved_at_some_sizes_names_each_size_as_resolved_or_not() -> None:
    """full-finetune led at 256 within the seeds' spread and clearly at all (500): the line read "ahead of linear-probe
    on validation from 256 labelled examples on (...), but on the mean only at n = 256", which reads as ahead only at
    256, and never said where the lead was resolved."""
    leads = {16: (0.0002, -0.0001, 0.0002), 64: (0.09, 0.10, 0.11)}
    results = [r for n, by_seed in leads.items() for s, lead in enumerate(by_seed)
               for r in (run("full-finetune", s, 0.60 + s / 100, val=0.70 + lead, n=n),
                         run("linear-probe", s, 0.70 + s / 100, val=0.70, n=n))]
    mixed = crossover(results)
    assert mixed["n"] == 16 and mixed["unresolved"] == [16], mixed
    assert ("): resolved at n = 64 (an interval above 0); ahead on the mean only at n = 16, not resolved on validation "
            "there (an interval that includes 0, or none); on test at 16: ") in mixed["text"], mixed["text"]
    assert "but on the mean only" not in mixed["text"]


def budgeted(strategy: str, seed: int, test: float, *, val: float, n: int, improving: bool) -> RunResult:
    """A run whose 10 steps were capped by max_steps (its rule asked 300), still improving at its last check or not."""
    r = run(strategy, seed, test, val=val, n=n)
    history = [{"phase": "p", "step": s, "val_score": val - (0.1 - 0.01 * s if improving else 0)} for s in range(1, 11)]
    budget = {"capped": True, "epochs": 3, "min_steps": 300, "max_steps": 10, "planned_steps": 10, "steps": 10,
              "metric": "accuracy", "tuned": False, "epoch_steps": 3}
    return dataclasses.replace(r, steps=10, record={"history": history, "budget": budget})


def test_the_crossover_and_the_head_start_name_an_arm_whose_budget_was_cut_where_they_read_it() -> None:
    """linear-probe ran 10 of its 300-step floor (max_steps 10) and was still improving at 16 and 64; the crossover read
    "full-finetune beats linear-probe ..." and the head start its lead over scratch (cut the same way) without a word of
    it, while the recommendation named both."""
    results = [r for n in (16, 64) for s in range(3) for r in (
        budgeted("full-finetune", s, 0.80 + s / 100, val=0.80 + s / 100, n=n, improving=False),
        budgeted("linear-probe", s, 0.70 + s / 100, val=0.70 + s / 200, n=n, improving=True),
        budgeted("scratch", s, 0.55 + s / 100, val=0.55 + s / 200, n=n, improving=n == 16))]
    cut = ("; note: linear-probe capped at 10 steps by max_steps and was still improving when its budget ran out at "
           "n = 16, 64: its scores may understate it, so the gap may be the budget's (flags below)")
    cross = crossover(results)
    assert cross["n"] == 16 and cross["text"].endswith(cut), cross["text"]
    hs = head_start(results)
    assert hs["strategy"] == "full-finetune" and hs["text"].endswith(
        "; note: scratch capped at 10 steps by max_steps and was still improving when its budget ran out at n = 16: its "
        "scores may understate it, so the gap may be the budget's (flags below)"), hs["text"]
    assert "linear-probe" not in hs["text"] and "full-finetune capped" not in cross["text"]  # not read, or not flagged


def test_a_head_start_and_a_crossover_where_nothing_was_learned_name_the_arm_whose_budget_was_cut() -> None:
    """linear-probe, capped at 10 of its 300 steps and still improving, and scratch never beat the majority class: "so
    this is no head start" and the crossover's "neither learned the task there" read as the arms' limit, not the
    budget's."""
    results = with_majority([r for s in range(3) for r in (
        budgeted("linear-probe", s, 0.53 + s / 100, val=0.52, n=16, improving=True),
        budgeted("full-finetune", s, 0.53 + s / 100, val=0.51, n=16, improving=False),
        budgeted("scratch", s, 0.50 + s / 100, val=0.50, n=16, improving=False))], 0.55)
    cut = ("; note: linear-probe capped at 10 steps by max_steps and was still improving when its budget ran out at "
           "n = 16: its scores may understate it (flags below)")
    hs = head_start(results)
    assert hs["learned_nothing"] is True and hs["text"].endswith("so this is no head start" + cut), hs["text"]
    cross = crossover(results)
    assert cross["learned_nothing"] is True and cross["text"].endswith("neither is ahead" + cut), cross["text"]
