"""Tests of headstart/analysis/flags.py: budget-bound and majority flags from validation histories."""

from __future__ import annotations

import dataclasses
import json

import pytest

from headstart.analysis import budgets, flags, grids
from headstart.surface import SURFACE_ENV
from headstart.results import RunResult


@pytest.fixture(autouse=True)
def _on_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the texts ``headstart compare`` / ``headstart report`` print (CLI flags); the texts a Python
    caller of ``compare`` / ``fit`` gets are read in ``test_the_advice_names_arguments_to_a_python_caller``."""
    monkeypatch.setenv(SURFACE_ENV, "cli")


def run(strategy: str, n: int, seed: int, scores: list[float], *, planned: int = 100, steps: int | None = None,
        majority: float = 0.57, phases: list[str] | None = None, tuned: bool = False) -> RunResult:
    """A done run whose validation checks scored ``scores``, evenly over its budget."""
    checks = len(scores)
    history = [{"step": (i + 1) * planned // checks, "phase": (phases or ["train"] * checks)[i], "val_score": v}
               for i, v in enumerate(scores)]
    budget = {"planned_steps": planned, "steps": planned if steps is None else steps, "epochs": 1, "min_steps": planned,
              "lr": 1e-5, "head_lr": 1e-3, "tuned": tuned, "metric": "accuracy"}
    record = {"history": history, "budget": budget, "reference": {"val": {"accuracy": majority}, "test": {"accuracy": majority}}}
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": max(scores)},
                     val_metrics={"accuracy": max(scores)}, steps=budget["steps"], record=record)


def test_still_improving_at_the_end_of_the_budget() -> None:
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.64, 0.66, 0.70])) == ["improving"]
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.70, 0.69, 0.70])) == [], "a tie with an earlier check is a plateau"
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.70, 0.69, 0.708])) == [], "so is a gain of less than a point"
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.64, 0.66, 0.70], steps=60)) == [], "early stopping ended it"


def test_one_check_at_the_end_cannot_tell() -> None:
    assert flags.run_flags(run("ft", 256, 0, [0.70])) == ["unchecked"]


def test_never_beating_the_majority_rate_on_validation() -> None:
    assert flags.run_flags(run("ft", 16, 0, [0.55, 0.57, 0.56])) == ["majority"]
    assert flags.run_flags(run("ft", 16, 0, [0.55])) == ["unchecked", "majority"]


def test_the_flag_names_the_reference_the_task_computes() -> None:
    """"Never beat the majority class" is the classification reference; on regression the reference predicts the
    pool's mean, on multilabel each label's frequency: the flag's text and the recommendation's say which."""
    import dataclasses

    from headstart.analysis import recommend

    def on(task: str) -> list[RunResult]:
        runs = [run("ft", 16, seed, [0.55, 0.57, 0.56]) for seed in range(2)]
        return [dataclasses.replace(r, spec={**r.spec, "data": {"name": "d", "hash": "h", "task": task}}) for r in runs]

    assert "never beat the majority-class rate" in flags.budget_flags(on("classification"))[0]["text"]
    (regression,) = flags.budget_flags(on("regression"))
    assert "never beat predicting the training pool's mean on validation" in regression["text"]
    assert "majority" not in regression["text"].split(":")[0]
    assert "each label's training frequency" in flags.budget_flags(on("multilabel"))[0]["text"]
    assert "never beat predicting the training pool's mean" in recommend(on("regression"), metric="accuracy")[0]["text"]


def test_only_the_final_phase_counts_for_improving() -> None:
    """LP-FT: the probe phase may end on its best check; the fine-tune phase plateaued."""
    r = run("lp-ft", 64, 0, [0.60, 0.65, 0.70, 0.72, 0.71], phases=["probe", "probe", "finetune", "finetune", "finetune"])
    assert flags.run_flags(r) == []


def test_runs_without_a_record_are_never_flagged() -> None:
    bare = RunResult(key="k", spec={"strategy": "ft", "n": 16, "seed": 0}, status="done", metrics={"accuracy": 0.5})
    assert flags.run_flags(bare) == []


def test_a_cell_is_flagged_when_at_least_half_its_seeds_are_and_the_text_names_budget_and_fix() -> None:
    results = [run("full-finetune", 256, 0, [0.60, 0.62, 0.65]), run("full-finetune", 256, 1, [0.60, 0.63, 0.645]),
               run("full-finetune", 256, 2, [0.60, 0.66, 0.65]), run("full-finetune", 64, 0, [0.60, 0.62, 0.65]),
               run("full-finetune", 64, 1, [0.60, 0.66, 0.65]), run("full-finetune", 64, 2, [0.60, 0.66, 0.65])]
    (flag,) = flags.budget_flags(results)
    assert (flag["strategy"], flag["n"], flag["reason"], flag["count"], flag["runs"]) == ("full-finetune", 256, "improving", 2, 3)
    assert flag["text"].startswith("full-finetune was still improving at its last validation check when its step budget "
                                   "ran out at n = 256 (2 of 3 seeds; budget: 100 steps (1 epoch, at least 100 steps), lr 1e-05, head lr 0.001, untuned): "
                                   "its scores may understate it; re-run with a larger budget (--min-steps 200 for every strategy, or "
                                   "min_steps = 200 in [train_by_strategy.full-finetune] of a --config file for full-finetune alone")


def test_a_closed_form_budget_says_so() -> None:
    r = run("embed-logreg", 16, 0, [0.6], planned=0, steps=0)
    assert budgets.budget_text([r]) == "closed form (no optimiser steps)"


def test_a_closed_form_arm_at_the_majority_rate_is_flagged_and_not_told_to_train_longer() -> None:
    """A zero-shot head that answers one class (validation 0.55 against a majority rate of 0.55) learned nothing."""
    def solved(seed: int, val: float) -> RunResult:
        r = run("zero-shot-prompt", 0, seed, [val], planned=0, steps=0, majority=0.55)
        r.record["history"] = [{"step": 0, "phase": "solve", "val_score": val, "solved": True}]
        return dataclasses.replace(r, val_metrics={"accuracy": val})

    assert flags.run_flags(solved(0, 0.55)) == ["majority"] and flags.run_flags(solved(0, 0.66)) == []
    (flag,) = flags.budget_flags([solved(0, 0.55), solved(1, 0.55)])
    assert flag["reason"] == "majority" and "reads no labels and takes no optimiser steps" in flag["text"], flag["text"]
    assert "--min-steps" not in flag["text"] and "--label-descriptions" in flag["text"], "n = 0: no label was read"
    labelled = [dataclasses.replace(solved(s, 0.55), spec={**solved(s, 0.55).spec, "n": 8, "n_requested": 8}) for s in range(2)]
    (flag,) = flags.budget_flags(labelled)  # icl's k examples: closed form, but it read labels
    assert "no budget would change it" in flag["text"] and "--label-descriptions" not in flag["text"], flag["text"]
    assert "may understate it" not in flag["text"], "no budget would change it, so nothing says it may be understated"


def test_a_run_that_learned_late_is_flagged_slow() -> None:
    """drug-reviews full fine-tuning at 1e-5 (measured, macro-F1): nothing by half-way, then a late climb; at 5e-5 the
    first half already made a third of the gain. Flat runs, runs with under four checks and smooth climbs are not slow."""
    assert flags.run_flags(run("ft", 256, 0, [0.075, 0.052, 0.211, 0.261, 0.261], majority=0.05)) == ["improving", "slow"]
    assert flags.run_flags(run("ft", 256, 0, [0.051, 0.295, 0.782, 0.713, 0.664], majority=0.05)) == []
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.605, 0.60, 0.604, 0.603], majority=0.57)) == [], "flat: no gain to share"
    assert "slow" not in flags.run_flags(run("ft", 256, 0, [0.60, 0.60, 0.70], majority=0.57)), "three checks show no first half"
    assert flags.run_flags(run("ft", 256, 0, [0.60, 0.64, 0.66, 0.68, 0.69], majority=0.57)) == []
    stopped = run("ft", 256, 0, [0.5, 0.5, 0.5, 0.7, 0.69, 0.68, 0.67], planned=100, majority=0.4)  # 7 of 10 checks
    stopped.record["history"] = [{**h, "step": 10 * (i + 1)} for i, h in enumerate(stopped.record["history"])]
    stopped.record["budget"]["steps"] = 70
    assert flags.run_flags(stopped) == [], "it learned by 40% of its budget and stopped early on a plateau"


def test_slow_is_read_in_the_final_phase_only() -> None:
    """LP-FT: a probe phase that climbed from the start, then a fine-tuning phase that learned only at its end."""
    scores = [0.60, 0.70, 0.72, 0.73, 0.73, 0.731, 0.732, 0.733, 0.76, 0.78]
    assert "slow" in flags.run_flags(run("lp-ft", 256, 0, scores, phases=["probe"] * 5 + ["finetune"] * 5))
    assert "slow" not in flags.run_flags(run("lp-ft", 256, 0, scores[:5] * 2, phases=["probe"] * 5 + ["finetune"] * 5))


def test_a_slow_cell_names_the_fix() -> None:
    runs = [run("ft", 256, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05) for s in range(2)]
    assert [f["reason"] for f in flags.budget_flags(runs)] == ["improving", "slow"]  # a rise whose last two checks tie
    (flag,) = [f for f in flags.budget_flags(runs) if f["reason"] == "slow"]
    assert flag["reason"] == "slow" and flag["count"] == 2 and "higher learning rate" in flag["text"]
    tuned = [run("ft", 256, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05, tuned=True) for s in range(2)]
    (flag,) = [f for f in flags.budget_flags(tuned) if f["reason"] == "slow"]
    assert "higher grid (--grid ft=RATES, above" in flag["text"], flag["text"]  # no grid recorded: a placeholder
    assert "capped" not in flag["text"]
    for r in tuned:
        r.spec["tune"] = {"param": "lr", "grid": [1e-5, 2e-5, 5e-5]}
    (flag,) = [f for f in flags.budget_flags(tuned) if f["reason"] == "slow"]
    assert "higher grid (--grid ft=2e-05,5e-05,0.00013, above the rates tried)" in flag["text"], flag["text"]
    capped = [run("ft", 256, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05, planned=30) for s in range(2)]
    for r in capped:
        r.record["budget"]["max_steps"] = 30  # the user's --max-steps cut the budget: the first thing to raise
    (flag,) = [f for f in flags.budget_flags(capped) if f["reason"] == "slow"]
    assert "max_steps 30 capped these runs: raise it first (--max-steps 60 for every strategy" in flag["text"], flag["text"]


def test_a_majority_cell_that_stopped_early_is_not_told_to_take_more_steps() -> None:
    """Early stopping on a validation plateau ended most seeds: a larger budget would go unused, so it is not the fix."""
    stopped = [run("probe", 16, s, [0.55, 0.56, 0.55, 0.54], planned=300, steps=120, tuned=True) for s in range(3)]
    (flag,) = flags.budget_flags(stopped)
    assert flag["reason"] == "majority" and "3 of 3 stopped early" in flag["text"], flag["text"]
    assert "larger budget" not in flag["text"] and "--min-steps" not in flag["text"], flag["text"]
    assert "stopped improving before the budget ended in 3 of these 3 seeds" in flag["text"], flag["text"]
    assert "--tune lr" not in flag["text"], "already tuned"
    untuned = [run("probe", 16, s, [0.55, 0.56, 0.55, 0.54], planned=300, steps=120) for s in range(3)]
    assert "re-run with --tune lr, or read it as" in flags.budget_flags(untuned)[0]["text"]
    full = [run("probe", 16, s, [0.55, 0.56, 0.55, 0.54], planned=300, steps=300 if s else 120) for s in range(3)]
    (flag,) = flags.budget_flags(full)
    assert "re-run with a larger budget (--min-steps 600 " in flag["text"], "two of three took the whole budget"


def test_the_recommendation_says_in_how_many_seeds_an_arm_learned_nothing() -> None:
    """A majority flag fires when half the seeds agree; the recommendation's note gives the count where not all do."""
    from headstart.analysis.recommend import recommend

    def seeds(strategy: str, n: int, per_seed: list[list[float]]) -> list[RunResult]:
        return [run(strategy, n, s, scores, majority=0.60) for s, scores in enumerate(per_seed)]

    every = seeds("ft", 16, [[0.59, 0.58, 0.55]] * 2) + seeds("probe", 16, [[0.7, 0.7, 0.7]] * 2)
    (band,) = recommend(every)
    assert "ft never beat the majority-class rate on validation at n = 16: within its budget it learned nothing there" in band["text"]
    some = seeds("ft", 32, [[0.59, 0.58, 0.55], [0.66, 0.65, 0.62]]) + seeds("probe", 32, [[0.7, 0.7, 0.7]] * 2)
    (band,) = recommend(some)
    assert ("ft never beat the majority-class rate on validation at n = 32 (1 of 2 seeds): in those seeds it learned "
            "nothing within its budget") in band["text"], band["text"]


def test_a_note_over_sizes_with_different_counts_gives_each_sizes_count() -> None:
    """ft never beat the majority-class rate at n = 16 in 2 of 2 seeds and at 32 in 1 of 2: the note read "at n = 16,
    32 (1 of 2 seeds)", as if the count were both sizes'. Each size now says its own."""
    from headstart.analysis.recommend import recommend

    def seeds(strategy: str, n: int, per_seed: list[list[float]]) -> list[RunResult]:
        return [run(strategy, n, s, scores, majority=0.60) for s, scores in enumerate(per_seed)]

    results = (seeds("ft", 16, [[0.59, 0.58, 0.55]] * 2) + seeds("probe", 16, [[0.7, 0.7, 0.7]] * 2)
               + seeds("ft", 32, [[0.59, 0.58, 0.55], [0.66, 0.65, 0.62]]) + seeds("probe", 32, [[0.7, 0.7, 0.7]] * 2))
    (band,) = recommend(results)
    assert ("ft never beat the majority-class rate on validation at n = 16 (2 of 2 seeds), 32 (1 of 2 seeds): in those "
            "seeds it learned nothing within its budget") in band["text"], band["text"]
    results += seeds("ft", 64, [[0.59, 0.58, 0.55]] * 2) + seeds("probe", 64, [[0.7, 0.7, 0.7]] * 2)
    (band,) = recommend([r for r in results if r.spec["n"] != 32])
    assert "ft never beat the majority-class rate on validation at n = 16, 64: within its budget" in band["text"], band["text"]


def test_the_budget_says_when_max_steps_cut_it() -> None:
    """"3 steps (30 epochs, at least 300 steps, capped at 3 by max_steps)" read as 30 epochs run: a capped budget says
    its rule as one, then how many epochs of the rows the steps that ran were."""
    capped = run("ft", 16, 0, [0.6, 0.7], planned=40)
    capped.record["budget"].update(epochs=3, min_steps=100, max_steps=40)
    assert budgets.budget_text([capped]).startswith("40 steps (the rule: 3 epochs, at least 100 steps; capped at 40 by max_steps)")
    capped.spec.update(train={"batch_size": 8})  # 16 rows, 2 steps an epoch: "3 epochs" was the rule, 20 ran
    assert budgets.budget_text([capped]).startswith(
        "40 steps (the rule: 3 epochs, at least 100 steps; capped at 40 by max_steps: 20 epochs run)"), budgets.budget_text([capped])
    capped.record["budget"].update(epoch_steps=240, max_steps=40)  # the record's count wins: 80 steps an epoch
    assert "capped at 40 by max_steps: 0.5 epochs run)" in budgets.budget_text([capped]), budgets.budget_text([capped])
    free = run("ft", 16, 0, [0.6, 0.7], planned=100)
    free.record["budget"].update(epochs=3, min_steps=100, max_steps=1000)
    assert budgets.budget_text([free]).startswith("100 steps (3 epochs, at least 100 steps), ")
    free.spec.update(n=16, train={"batch_size": 16})  # with its rows and batch known: which term of the rule set it
    assert budgets.budget_text([free]).startswith("100 steps (the 100-step floor, where 3 epochs would be 3), "), \
        "'3 epochs' read as what ran, where the floor made it 100"
    lpft = run("lp-ft", 16, 0, [0.6, 0.7], planned=400)  # as recorded since: the epochs' own steps and each phase's
    lpft.record["budget"].update(epochs=3, min_steps=100, max_steps=None, epoch_steps=3, phases=[["probe", 300], ["finetune", 100]])
    assert budgets.budget_text([lpft]).startswith("400 steps (probe 300 + finetune 100; budget: the 100-step floor, where 3 "
                                                "epochs would be 3), "), "a phased arm's planned steps never equal the floor"
    many = run("gradual-unfreeze", 16, 0, [0.6, 0.7], planned=120)
    many.record["budget"].update(epochs=3, min_steps=100, max_steps=None, epoch_steps=3,
                                 phases=[*([f"unfreeze-{k}", 14] for k in range(1, 7)), ["unfreeze-all", 36]])
    assert budgets.budget_text([many]).startswith("120 steps (7 phases; budget: the 100-step floor, where 3 epochs would be 3), ")
    big = run("ft", 2048, 0, [0.6, 0.7], planned=384)
    big.record["budget"].update(epochs=3, min_steps=100, max_steps=None)
    big.spec.update(n=2048, train={"batch_size": 16})
    assert budgets.budget_text([big]).startswith("384 steps (3 epochs, at least 100 steps), "), "the epochs set it"
    improving = [run("ft", 16, s, [0.60, 0.64, 0.66, 0.70], planned=40) for s in range(2)]
    for r in improving:
        r.record["budget"].update(epochs=3, min_steps=100, max_steps=40)
    (flag,) = flags.budget_flags(improving)
    assert flag["reason"] == "improving" and "(--max-steps 80 for every strategy, or max_steps = 80 in" in flag["text"], flag["text"]


def test_a_solved_phase_with_steps_of_its_own_says_them() -> None:
    setfit = run("setfit", 8, 0, [0.6], planned=0)
    setfit.record["budget"].update(planned_steps=0, steps=0)
    assert budgets.budget_text([setfit]) == "closed form (no optimiser steps)"
    other = run("setfit", 8, 1, [0.6], planned=0)
    other.record["budget"].update(planned_steps=0, steps=0)
    setfit, other = (dataclasses.replace(setfit, chosen={"pair_steps": 20, "C": 1.0}),
                     dataclasses.replace(other, chosen={"pair_steps": 80}))
    assert budgets.budget_text([setfit, other]) == "20–80 encoder steps on sentence pairs, then a closed-form head"


def test_a_single_runs_advice_names_the_cap_the_user_set_and_has_none_for_steps_it_never_takes() -> None:
    from headstart.fit_checks import budget_notes

    capped = run("ft", 32, 0, [0.60, 0.64, 0.66, 0.70], planned=40)
    capped.record["budget"].update(max_steps=40)
    (note,) = budget_notes(capped)
    assert note["reason"] == "improving" and note["advice"].endswith("(--max-steps 40 capped this run: raise it first)")
    free = run("ft", 32, 0, [0.60, 0.64, 0.66, 0.70], planned=100)
    free.record["budget"].update(max_steps=1000)
    assert "--max-steps" not in budget_notes(free)[0]["advice"]
    solved = dataclasses.replace(run("zero-shot", 0, 0, [0.5], planned=0, steps=0, majority=0.55), val_metrics={"accuracy": 0.5})
    solved.record["history"] = [{"step": 0, "phase": "solve", "val_score": 0.5, "solved": True}]
    (note,) = budget_notes(solved)
    assert note["reason"] == "majority" and note["advice"].startswith("it reads no labels and takes no optimiser steps")
    solved.spec.update(n=8, n_requested=8)  # icl's k examples: it read labels
    (note,) = budget_notes(solved)
    assert note["advice"].startswith("it takes no optimiser steps; with these labels it learned nothing")


def test_train_and_compare_agree_whether_max_steps_bound_a_run() -> None:
    """full-finetune --n 32 --max-steps 30: the cap cut the planned budget either way. A run that took all 30 steps was
    bound by it; one that validation stopped at step 24 was not. train said "(--max-steps 30 capped this run: raise it
    first)" of both, while compare said the stopped one would leave more steps unused; both read
    ``flags.capped_by_max_steps`` now."""
    from headstart.fit_checks import budget_notes

    def capped_run(steps: int) -> RunResult:
        r = run("full-finetune", 32, 0, [0.55, 0.55, 0.55, 0.55, 0.55][: steps // 6], planned=30, steps=steps, majority=0.60)
        r.record["budget"].update(max_steps=30, capped=True)
        return r

    reached, stopped = capped_run(30), capped_run(24)
    assert flags.capped_by_max_steps(reached) and not flags.capped_by_max_steps(stopped)
    (note,) = budget_notes(reached)
    (flag,) = flags.budget_flags([reached])
    assert note["advice"].endswith("(--max-steps 30 capped this run: raise it first)"), note["advice"]
    assert "--max-steps 60" in flag["text"], flag["text"]
    (note,) = budget_notes(stopped)
    (flag,) = flags.budget_flags([stopped])
    assert "capped" not in note["advice"] and "--max-steps" not in flag["text"], (note["advice"], flag["text"])
    assert note["advice"].startswith("validation stopped improving before its budget ended"), note["advice"]
    assert "validation stopped improving before the budget ended in that seed, so" in flag["text"], flag["text"]
    assert "at n = 32 (1 of 1 seed; budget: " in flag["text"], "one seed is not 'seeds'"


def test_a_cap_on_each_phase_of_a_two_phase_arm_is_named_too() -> None:
    """lp-ft with --max-steps 30 plans 60 steps (a probe phase and a fine-tuning phase, each capped at 30): the record
    says max_steps cut it, so the advice names the cap where it used to offer only --epochs / --min-steps."""
    from headstart.fit_checks import budget_notes

    lpft = run("lp-ft", 32, 0, [0.60, 0.64, 0.66, 0.70], planned=60)
    lpft.record["budget"].update(max_steps=30, capped=True, epochs=3, min_steps=100)
    (note,) = budget_notes(lpft)
    assert note["advice"].endswith("(--max-steps 30 capped this run: raise it first)"), note["advice"]
    assert "60 steps (the rule: 3 epochs, at least 100 steps; capped at 30 by max_steps in each phase)" in budgets.budget_text([lpft])
    (flag,) = flags.budget_flags([lpft, dataclasses.replace(lpft, key="b", spec={**lpft.spec, "seed": 1})])
    assert "--max-steps 60 for every strategy" in flag["text"], "twice the cap, per phase, not twice the 60 planned"
    lpft.record["budget"].update(capped=False)
    assert "--max-steps" not in budget_notes(lpft)[0]["advice"]


def test_setfit_at_the_majority_rate_is_told_about_its_pair_steps_not_that_it_takes_none() -> None:
    """setfit's encoder steps happen in its solve (chosen["pair_steps"]); the engine plans none. Its advice names the
    --max-steps that capped those steps, or more pairs, never 'takes no optimiser steps'."""
    from headstart.fit_checks import budget_notes

    def setfit(seed: int, cap: int | None) -> RunResult:
        r = run("setfit", 16, seed, [0.55], planned=0, steps=0, majority=0.55)
        r.record["history"] = [{"step": 0, "phase": "setfit", "val_score": 0.55, "solved": True}]
        r.record["budget"].update(max_steps=cap)
        return dataclasses.replace(r, val_metrics={"accuracy": 0.55}, chosen={"pair_steps": 8 if cap == 8 else 40, "C": 1.0})

    (flag,) = flags.budget_flags([setfit(0, 8), setfit(1, 8)])
    assert "max_steps 8 capped its pair steps: raise it first (--max-steps 16 for every strategy" in flag["text"] \
        and "no optimiser steps" not in flag["text"], flag["text"]
    (flag,) = flags.budget_flags([setfit(0, None), setfit(1, None)])
    assert "its encoder took 40 pair steps: draw more pairs (--option setfit.iterations=…)" in flag["text"], flag["text"]
    (note,) = budget_notes(setfit(0, 8))
    assert note["advice"].endswith("(--max-steps 8 capped this run: raise it first)"), note["advice"]
    (note,) = budget_notes(setfit(0, None))
    assert note["advice"].startswith("draw more pairs (--option iterations=…)") and "no optimiser steps" not in note["advice"]


def test_a_rise_whose_last_two_checks_tie_is_still_improving() -> None:
    """Checks 0.50, 0.60, 0.70, 0.70: the last two tie at the top of a rise (validation accuracy moves in steps of one
    row), so the budget may still be what held it back; a last check below the one before is not flagged."""
    assert flags.run_flags(run("ft", 64, 0, [0.50, 0.60, 0.70, 0.70])) == ["improving"]
    assert flags.run_flags(run("ft", 64, 0, [0.60, 0.70, 0.70, 0.70])) == []
    assert flags.run_flags(run("ft", 64, 0, [0.60, 0.66, 0.65])) == []


def test_a_best_arm_that_learned_nothing_is_not_recommended_as_a_choice() -> None:
    """Every seed of the best arm on validation stayed at the majority-class rate: the band says no arm is to be
    recommended, and still quotes its figures."""
    from headstart.analysis.recommend import recommend

    results = [run(s, 16, seed, [0.59, 0.58, 0.60], majority=0.60) for s in ("ft", "probe") for seed in range(2)]
    (band,) = recommend(results)
    assert band["text"].startswith("at every size tried: no arm to recommend — the best on validation, ") and band["learned_nothing"]
    assert "Its figures: " in band["text"] and "never beat the majority-class rate on validation" in band["text"]


def test_a_size_where_the_pick_learned_nothing_is_not_merged_with_one_where_it_learned() -> None:
    """probe best on validation at 16 and 32, but at 16 no seed beat the majority-class rate: the two sizes made one
    band, "at every size tried: probe", quoting its n = 16 test score. n = 16 is now a band of its own with no arm
    recommended, probe recommended from 32, and the report's text, results.json and the HTML read the same."""
    from headstart.analysis import summarize
    from headstart.analysis.recommend import recommend
    from headstart.report.html import report_html
    from headstart.report.markdown import report_markdown

    def arm(strategy: str, n: int, scores: list[float], seeds: int = 2) -> list[RunResult]:
        return [run(strategy, n, seed, scores, majority=0.60) for seed in range(seeds)]

    results = (arm("probe", 16, [0.58, 0.59, 0.59]) + arm("lora", 16, [0.55, 0.55, 0.55])
               + arm("probe", 32, [0.66, 0.68, 0.70]) + arm("lora", 32, [0.62, 0.63, 0.64]))
    nothing, probe = recommend(results)
    assert (nothing["from_n"], nothing["to_n"], probe["from_n"], probe["to_n"]) == (16, 16, 32, 32)
    assert nothing["learned_nothing"] and nothing["text"].startswith(
        "up to 16 labelled examples: no arm to recommend — the best on validation, probe, never beat the "
        "majority-class rate there in any seed"), nothing["text"]
    assert "learned_nothing" not in probe and probe["text"].startswith(
        "from 32 labelled examples: probe (best on validation; test 70.0% "), probe["text"]
    assert "n = 16" not in probe["text"], probe["text"]
    summary = summarize(results)
    assert [b["text"] for b in summary["recommendation"]] == [nothing["text"], probe["text"]]
    html = report_html(summary, title="t", command=None)
    data = json.loads(html.split('id="report-data">')[1].split("</script>")[0])
    assert data["picks"] == {"32": "probe"} and data["recommendation"] == [nothing["text"], probe["text"]]
    assert f"- {nothing['text']}" in report_markdown(summary, title="t", command=None)


def test_a_band_says_where_at_a_later_size_its_pick_trails_on_test() -> None:
    """lora best on validation at 16 and 64; at 64 it is 2 points below the probe on test: the band quoted only 16."""
    from headstart.analysis.recommend import recommend

    def arm(strategy: str, n: int, val: float, test: list[float]) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, n, seed, [val]), metrics={"accuracy": t}, val_metrics={"accuracy": val})
                for seed, t in enumerate(test)]

    results = (arm("lora", 16, 0.80, [0.70, 0.72, 0.71]) + arm("probe", 16, 0.60, [0.60, 0.61, 0.62])
               + arm("lora", 64, 0.85, [0.70, 0.71, 0.72]) + arm("probe", 64, 0.70, [0.715, 0.73, 0.745]))
    (band,) = recommend(results)
    assert band["strategy"] == "lora" and "; at n = 64 it trails probe on test by 2.0 points (CI " in band["text"], band["text"]


def test_a_label_free_pick_quotes_its_test_lead_over_an_arm_that_ran_only_at_a_later_size() -> None:
    """zero-shot (n = 0 only, so it stands at every size) best on validation at 0 and 16, probe run at 16: the band
    "at every size tried" quoted its n = 0 evidence, where no other arm ran, and so no difference over the probe at 16.
    It now gives that paired test difference with its interval, as a band gives its first size's."""
    from headstart.analysis.recommend import recommend

    zero = [dataclasses.replace(run("zero-shot", 0, seed, [0.70], planned=0, steps=0), val_metrics={"accuracy": 0.70},
                                metrics={"accuracy": 0.70}, steps=0) for seed in range(3)]
    probe = [dataclasses.replace(run("probe", 16, seed, [0.60]), val_metrics={"accuracy": 0.60}, metrics={"accuracy": t})
             for seed, t in enumerate([0.60, 0.61, 0.62])]
    (band,) = recommend(zero + probe)
    assert band["strategy"] == "zero-shot" and band["text"].startswith("at every size tried: zero-shot"), band["text"]
    assert "; at n = 16 on test +9.0 points (CI " in band["text"] and ") over probe" in band["text"], band["text"]


def test_a_label_free_pick_chosen_as_cheaper_at_a_later_size_says_so_there() -> None:
    """zero-shot best at n = 0 and, at 16, within the margin of the probe, which leads on validation: the band "at every
    size tried" said only "best on validation" (its n = 0 reason); it now says at 16 that the probe is the best there and
    zero-shot the cheaper pick no worse by more than the margin, with the paired differences."""
    from headstart.analysis.recommend import recommend

    zero = [dataclasses.replace(run("zero-shot", 0, seed, [0.70], planned=0, steps=0), val_metrics={"accuracy": 0.70},
                                metrics={"accuracy": 0.70}, steps=0, train_seconds=1.0) for seed in range(3)]
    probe = [dataclasses.replace(run("probe", 16, seed, [v]), val_metrics={"accuracy": v}, metrics={"accuracy": v},
                                 train_seconds=20.0) for seed, v in enumerate([0.709, 0.71, 0.711])]
    (band,) = recommend(zero + probe)
    assert band["strategy"] == "zero-shot" and band["text"].startswith("at every size tried: zero-shot (best on"), band["text"]
    assert ("; at n = 16 probe is the best on held-out validation and zero-shot 20× cheaper in wall time, no worse by more than 2 "
            "points there (probe − zero-shot: +1.0 points (CI ") in band["text"], band["text"]
    assert "; on test probe − zero-shot: +1.0 points" in band["text"], band["text"]


def test_a_label_free_picks_lead_over_an_arm_at_its_later_sizes_is_said_once_with_each_sizes_interval() -> None:
    """zero-shot (n = 0) best on validation at every size, probe run at 16, 32 and 64: the band repeated "at n = N on
    test ... over probe" at each size. It now names the lead once, at 16, and folds 32 and 64 into it, each with its own
    paired difference and interval, and says which of those intervals include 0."""
    from headstart.analysis.recommend import recommend

    zero = [dataclasses.replace(run("zero-shot", 0, seed, [0.70], planned=0, steps=0), val_metrics={"accuracy": 0.70},
                                metrics={"accuracy": 0.70}, steps=0) for seed in range(3)]
    probe = [dataclasses.replace(run("probe", n, seed, [0.60]), val_metrics={"accuracy": 0.60}, metrics={"accuracy": t})
             for n, scores in ((16, [0.60, 0.61, 0.62]), (32, [0.64, 0.65, 0.66]), (64, [0.58, 0.66, 0.80]))
             for seed, t in enumerate(scores)]
    (band,) = recommend(zero + probe)
    text = band["text"]
    assert band["strategy"] == "zero-shot" and text.count("over probe") == 1 and text.count(" on test +") == 1, text
    assert "; at n = 16 on test +9.0 points (CI " in text and ") over probe, and at n = 32 +5.0 points (CI " in text, text
    assert "), and at n = 64 +2.0 points (CI " in text, text
    assert "+29.7) (at n = 64 an interval that includes 0: on test the two are not told apart there);" in text, text


def test_a_pick_at_or_below_the_majority_rate_on_average_is_not_recommended() -> None:
    """lora beat the majority rate (0.50) on validation in one seed of three but not on average (0.483): the band
    withholds it as it withholds an arm that never beat the rate."""
    from headstart.analysis.recommend import recommend

    def arm(strategy: str, vals: list[float]) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, 64, seed, [v, v], majority=0.50), val_metrics={"accuracy": v},
                                    metrics={"accuracy": v}) for seed, v in enumerate(vals)]

    (band,) = recommend(arm("lora", [0.46, 0.47, 0.52]) + arm("probe", [0.45, 0.46, 0.47]))
    assert band["learned_nothing"] and band["text"].startswith(
        "at every size tried: no arm to recommend — the best on validation, lora, scores 48.3% on validation on average, "
        "no better than the majority-class rate (50.0%)")
    (band,) = recommend(arm("lora", [0.46, 0.47, 0.60]) + arm("probe", [0.45, 0.46, 0.47]))
    assert "learned_nothing" not in band and band["strategy"] == "lora", "0.51 on average: above the rate"
    multilabel = [dataclasses.replace(r, spec={**r.spec, "data": {"name": "d", "hash": "h", "task": "multilabel"}})
                  for r in arm("lora", [0.46, 0.47, 0.52]) + arm("probe", [0.45, 0.46, 0.47])]
    (band,) = recommend(multilabel)
    assert "no better than predicting each label's frequency (50.0%)" in band["text"], band["text"]


def test_a_label_free_pick_that_learned_nothing_is_not_recommended_at_the_sizes_it_stands_at() -> None:
    """zero-shot ran at n = 0 only and stands at every size; at 0.49 on validation (majority 0.50) it is withheld at
    n = 16 too, where the flag keyed at its own size, 0, used to miss it."""
    from headstart.analysis.recommend import recommend

    zero = [dataclasses.replace(run("zero-shot", 0, seed, [0.49], majority=0.50), val_metrics={"accuracy": 0.49},
                                metrics={"accuracy": 0.49}, steps=0) for seed in range(3)]
    probe = [dataclasses.replace(run("probe", 16, seed, [0.45, 0.45], majority=0.50), val_metrics={"accuracy": 0.45},
                                 metrics={"accuracy": 0.45}) for seed in range(3)]
    bands = recommend(zero + probe)
    assert bands and all(b.get("learned_nothing") for b in bands), [b["text"] for b in bands]


def test_a_cheaper_arm_at_the_majority_rate_is_passed_over_and_the_best_that_beat_it_recommended() -> None:
    """full-finetune beat the rate (51.5% against 50%); the probe is cheaper and within the margin on validation but
    at the rate itself: the band recommends full-finetune, not "no arm", and never the probe."""
    from headstart.analysis.recommend import recommend

    def arm(strategy: str, vals: list[float], seconds: float) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, 64, seed, [v, v], majority=0.50), val_metrics={"accuracy": v},
                                    metrics={"accuracy": v}, train_seconds=seconds) for seed, v in enumerate(vals)]

    (band,) = recommend(arm("full-finetune", [0.51, 0.515, 0.52], 100.0) + arm("probe", [0.495, 0.50, 0.505], 5.0))
    assert band["strategy"] == "full-finetune" and "learned_nothing" not in band, band["text"]


def test_an_error_metric_is_withheld_at_or_above_predicting_the_mean() -> None:
    from headstart.analysis.recommend import recommend

    def arm(strategy: str, vals: list[float]) -> list[RunResult]:
        out = []
        for seed, v in enumerate(vals):
            r = run(strategy, 64, seed, [v, v])
            record = {**r.record, "reference": {"val": {"rmse": 0.30}, "test": {"rmse": 0.30}}}
            out.append(dataclasses.replace(r, val_metrics={"rmse": v}, metrics={"rmse": v}, record=record))
        return out

    (band,) = recommend(arm("lora", [0.31, 0.311, 0.312]) + arm("probe", [0.33, 0.33, 0.34]), "rmse")
    assert band["learned_nothing"] and "scores 0.311 on validation on average, no better than predicting the mean (0.3)" in band["text"]
    (band,) = recommend(arm("lora", [0.25, 0.26, 0.27]) + arm("probe", [0.33, 0.33, 0.34]), "rmse")
    assert "learned_nothing" not in band and band["strategy"] == "lora"


def test_the_advice_names_arguments_to_a_python_caller(monkeypatch) -> None:
    """``headstart.compare(...)`` / ``headstart.fit(...)`` from Python: the report's advice and a run's flags name the
    function's arguments and its config's fields (``train_by_strategy={...}``, ``grids={...}``, ``tune='lr'``,
    ``min_steps=200``: compare's keyword as --min-steps is the CLI's), never the CLI's flags; the CLI keeps its flags
    (the tests above)."""
    from headstart.fit_checks import budget_notes

    monkeypatch.delenv(SURFACE_ENV)
    improving = [run("full-finetune", 256, s, [0.60, 0.62, 0.65]) for s in range(2)]
    (flag,) = flags.budget_flags(improving)
    assert flag["text"].endswith("re-run with a larger budget (train_by_strategy={'full-finetune': {'min_steps': 200}}, "
                                 "or min_steps=200 for every arm)"), flag["text"]
    tuned = [run("ft", 256, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05, tuned=True) for s in range(2)]
    for r in tuned:
        r.spec["tune"] = {"param": "lr", "grid": [1e-5, 2e-5, 5e-5]}
    (slow,) = [f for f in flags.budget_flags(tuned) if f["reason"] == "slow"]
    assert "re-run on a higher grid (grids={'ft': (2e-05, 5e-05, 0.00013)}, above the rates tried)" in slow["text"], slow["text"]
    capped = [run("ft", 256, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05, planned=30) for s in range(2)]
    for r in capped:
        r.record["budget"]["max_steps"] = 30
    (slow,) = [f for f in flags.budget_flags(capped) if f["reason"] == "slow"]
    assert slow["text"].endswith("re-run with a higher learning rate (tune='lr' searches one on validation; or lr)"), slow["text"]
    untuned = [run("probe", 16, s, [0.55, 0.56, 0.55, 0.54], planned=300, steps=120) for s in range(3)]
    assert "re-run with tune='lr', or read it as" in flags.budget_flags(untuned)[0]["text"]
    edges = [dataclasses.replace(run("lora", 16, s, [0.6, 0.7]), chosen={"lr": 9e-4}) for s in range(3)]
    for r in edges:
        r.spec["tune"] = {"param": "lr", "grid": [1e-4, 3e-4, 9e-4]}
    (edge,) = grids.grid_edges(edges)
    assert edge["text"].endswith("try grids={'lora': (0.0003, 0.0009, 0.0027)}"), edge["text"]
    advice = " ".join(n["advice"] for n in budget_notes(capped[0]))
    assert "(max_steps=30 capped this run: raise it first)" in advice and "tune='lr' searches one" in advice, advice
    for text in [flag["text"], slow["text"], edge["text"], advice]:
        assert " --" not in text and "(--" not in text, text


def test_a_closed_form_grid_choice_at_its_end_is_flagged_with_the_option_that_widens_it() -> None:
    """embed-logreg's C and embed-knn's k are chosen on validation from the arm's own grid, with no --tune: choosing
    the top C in 2 of 2 runs (1 in 5 by chance) said nothing before."""
    def solved(strategy: str, n: int, seed: int, chosen: dict, grid: list) -> RunResult:
        r = dataclasses.replace(run(strategy, n, seed, [0.6]), chosen=chosen)
        r.spec["options"] = {"grid": grid}
        return r

    C = [0.01, 0.1, 1.0, 10.0, 100.0]
    (edge,) = grids.grid_edges([solved("embed-logreg", 16, s, {"C": 100.0}, C) for s in range(2)])
    assert (edge["param"], edge["edge"], edge["count"], edge["suggested"]) == ("C", "top", 2, [0.1, 1, 10, 100, 1000])
    assert "embed-logreg chose C 100, the top of its grid (0.01, 0.1, 1, 10, 100), in 2 of 2 runs" in edge["text"]
    assert edge["text"].endswith("try --option embed-logreg.grid=0.1,1,10,100,1000"), edge["text"]
    assert grids.grid_edges([solved("embed-logreg", 16, s, {"C": v}, C) for s, v in enumerate((100.0, 1.0))]) == []
    ridge = grids.grid_edges([solved("tfidf-logreg", 16, s, {"alpha": 100.0}, C) for s in range(2)])  # alpha = 1 / C
    assert [(e["param"], e["edge"], e["value"]) for e in ridge] == [("C", "bottom", 0.01)]

    knn = [solved("embed-knn", 64, s, {"k": 15}, [1, 3, 5, 9, 15]) for s in range(2)]
    (edge,) = grids.grid_edges(knn)
    assert (edge["param"], edge["suggested"]) == ("k", [3, 5, 9, 15, 25]) and "embed-knn.grid=3,5,9,15,25" in edge["text"]
    capped = [solved("embed-knn", 8, s, {"k": 8}, [1, 3, 5, 9, 15]) for s in range(3)]  # k capped by the 8 rows
    assert grids.grid_edges(capped) == [], "no larger k exists"
    assert grids.grid_edges([solved("embed-knn", 64, s, {"k": 1}, [1, 3, 5, 9, 15]) for s in range(3)]) == []


def test_a_closed_form_grid_edge_speaks_python_to_a_python_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SURFACE_ENV, "python")
    runs = [dataclasses.replace(run("embed-logreg", 16, s, [0.6]), chosen={"C": 0.01}) for s in range(2)]
    for r in runs:
        r.spec["options"] = {"grid": [0.01, 0.1, 1.0, 10.0, 100.0]}
    (edge,) = grids.grid_edges(runs)
    assert edge["text"].endswith("try options={'embed-logreg': {'grid': (0.001, 0.01, 0.1, 1, 10)}}"), edge["text"]


def test_a_pick_no_better_than_the_majority_class_on_test_is_said_not_acted_on() -> None:
    """full-finetune+l2sp was recommended at 53.6% on test beside a majority class of 54.2%, with no word: it beat the
    majority on validation, which alone chooses. The pick stands (test never chooses); the band says it."""
    from headstart.analysis.recommend import recommend

    def seeds(strategy: str, val: float, test: float) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, 16, s, [0.58, val], majority=0.60), metrics={"accuracy": test})
                for s in range(2)]

    (band,) = recommend(seeds("ft", 0.66, 0.59) + seeds("probe", 0.64, 0.62))
    assert band["strategy"] == "ft", "chosen on validation, as before"
    assert ("; on test at n = 16 ft scores 59.0%, no better than the majority-class rate (60.0%): its lead on validation did "
            "not hold there, so read this pick with care") in band["text"], band["text"]
    (band,) = recommend(seeds("ft", 0.66, 0.61) + seeds("probe", 0.64, 0.62))
    assert "on test at n = 16" not in band["text"]
    wide = [dataclasses.replace(r, metrics={"accuracy": t}) for r, t in zip(seeds("ft", 0.66, 0.0), (0.50, 0.69))]
    (band,) = recommend(wide + seeds("probe", 0.64, 0.62))
    assert "; on test at n = 16 ft scores 59.5% (CI " in band["text"], band["text"]
    assert "not above the majority-class rate (60.0%): on test it cannot be told from it" in band["text"], "a mean inside a wide interval"
    assert "did not hold" not in band["text"]


def test_a_band_writes_its_scores_as_the_rest_of_the_report_does() -> None:
    """The band said "tfidf-logreg scores 51 (CI 40.4–61.5), not above the majority-class rate (51.5)" beside "test
    51.0%" in the same band and "51.5% on test" on the reference line: 3 significant digits, no %."""
    from headstart.analysis.recommend import recommend

    def seeds(strategy: str, val: float, tests: tuple[float, float]) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, 16, s, [0.58, val], majority=0.515), metrics={"accuracy": t})
                for s, t in enumerate(tests)]

    (band,) = recommend(seeds("ft", 0.66, (0.41, 0.61)) + seeds("probe", 0.64, (0.62, 0.62)))
    assert "; on test at n = 16 ft scores 51.0% (CI " in band["text"], band["text"]
    assert "not above the majority-class rate (51.5%): on test it cannot be told from it" in band["text"], band["text"]


def test_the_budget_hint_names_each_way_to_raise_a_cap_or_floor_that_works_wherever_it_was_set() -> None:
    """A run records the cap it ran under, not whether ``--max-steps`` or a ``--config`` file set it: the hint said
    "max_steps = 6 for it in the config ([train_by_strategy.linear-probe])" to a compare whose cap was the flag's, and
    the flag replaces the file's value. It names the flag for every strategy, and the file's table for this strategy
    alone with no flag typed; a floor raised past a recorded cap raises the cap beside it (else refused)."""
    capped = [run("ft", 16, s, [0.60, 0.64, 0.66, 0.70], planned=40) for s in range(2)]
    for r in capped:
        r.record["budget"].update(epochs=3, min_steps=100, max_steps=40, capped=True)
    (flag,) = flags.budget_flags(capped)
    assert flag["text"].endswith("re-run with a larger budget (--max-steps 80 for every strategy, or max_steps = 80 in "
                                 "[train_by_strategy.ft] of a --config file for ft alone, with no --max-steps typed, which "
                                 "would replace it there)"), flag["text"]
    assert "for it in the config" not in flag["text"]
    floored = [run("ft", 16, s, [0.60, 0.64, 0.66, 0.70], planned=40) for s in range(2)]
    for r in floored:  # the floor set 40 steps under a cap of 50: twice the floor needs a cap of 80 beside it
        r.record["budget"].update(epochs=3, min_steps=40, max_steps=50, capped=False)
    (flag,) = flags.budget_flags(floored)
    assert flag["text"].endswith("re-run with a larger budget (--min-steps 80 --max-steps 80 for every strategy, or "
                                 "min_steps = 80 and max_steps = 80 in [train_by_strategy.ft] of a --config file for ft "
                                 "alone, with no --min-steps or --max-steps typed, which would replace them there)"), flag["text"]
    for r in floored:  # a cap at or above twice the floor stays out of it
        r.record["budget"]["max_steps"] = 80
    assert "--min-steps 80 for every strategy, or min_steps = 80 in" in flags.budget_flags(floored)[0]["text"]


def test_a_compare_results_advice_is_what_compare_takes(monkeypatch, tiny_registry, toy_csv, tmp_path) -> None:
    """The keywords a Python compare's flags advise go back into compare as written and compare takes them: every
    training setting is a keyword of compare's (``evals_per_phase=5``, ``lr``), not a sweep file's ``evals_per_phase = 5``."""
    from conftest import advised_keywords

    import headstart

    monkeypatch.delenv(SURFACE_ENV)
    texts = []
    improving = [run("lora", 16, s, [0.60, 0.62, 0.65], planned=4) for s in range(2)]
    unchecked = [run("lora", 16, s, [0.70], planned=4) for s in range(2)]
    texts += [f["text"] for f in flags.budget_flags(improving) + flags.budget_flags(unchecked)]
    capped = [run("lora", 16, s, [0.051, 0.051, 0.25, 0.33, 0.33], majority=0.05, planned=4) for s in range(2)]
    for r in capped:
        r.record["budget"]["max_steps"] = 4
    (slow,) = [f for f in flags.budget_flags(capped) if f["reason"] == "slow"]
    assert slow["text"].endswith("(tune='lr' searches one on validation; or lr)"), slow["text"]
    texts.append(slow["text"])
    edges = [dataclasses.replace(run("lora", 16, s, [0.6, 0.7]), chosen={"lr": 9e-4}) for s in range(3)]
    for r in edges:
        r.spec["tune"] = {"param": "lr", "grid": [1e-4, 3e-4, 9e-4]}
    closed = [dataclasses.replace(run("tfidf-logreg", 16, s, [0.6]), chosen={"C": 10.0}) for s in range(3)]
    for r in closed:
        r.spec["options"] = {"grid": [0.1, 1, 10]}
    texts += [e["text"] for e in grids.grid_edges(edges + closed)]
    assert any("config={'evals_per_phase': 5}" in t for t in texts), texts
    for i, text in enumerate(texts):
        keywords = advised_keywords(text)
        assert keywords, text
        strategy = "tfidf-logreg" if "tfidf-logreg" in text else "lora"
        if strategy == "lora" and not {"min_steps", "max_steps", "train_by_strategy"} & set(keywords):
            keywords["max_steps"] = 2
        result = headstart.compare(str(toy_csv), "tiny-bert", strategies=strategy, sizes=[16], seeds=1, max_test=20,
                                   tune=keywords.pop("tune", None) if "grids" not in keywords else "lr",
                                   out=tmp_path / str(i), progress=False, **keywords)
        assert result.statuses.get("done") == 1, (text, result.statuses)


def test_the_settings_each_call_takes_as_keywords_are_its_signatures() -> None:
    import dataclasses
    import inspect

    import headstart
    from headstart.specs import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, function in (("compare", headstart.compare), ("fit", headstart.fit)):
        assert flags.keyword_settings(name) == fields & set(inspect.signature(function).parameters), name


def test_a_withheld_recommendation_names_the_flags_that_would_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """"No arm to recommend" said "add labels, seeds or budget before choosing", where the budget flags below it named
    the flags. It now names them, from why it was withheld: the larger budget and --tune lr of its arm's "majority"
    flag, more labelled examples at the sweep's last sizes (--sizes twice its largest), more seeds where some seeds beat
    the majority rate but not the mean, class descriptions for a label-free arm; as keywords to a Python caller."""
    from headstart.analysis.recommend import recommend

    never = [run(s, 16, seed, [0.59, 0.58, 0.60], majority=0.60) for s in ("ft", "probe") for seed in range(2)]
    (band,) = recommend(never)
    assert "add labels, seeds or budget" not in band["text"]
    assert ("so none learned the task within its budget; re-run with more labelled examples (--sizes 32), a larger "
            "budget (--min-steps 200) or --tune lr before choosing. Its figures: ") in band["text"], band["text"]

    def arm(strategy: str, vals: list[float], n: int | str = 64) -> list[RunResult]:
        return [dataclasses.replace(run(strategy, n, seed, [v, v], majority=0.50, tuned=True), val_metrics={"accuracy": v},
                                    metrics={"accuracy": v}) for seed, v in enumerate(vals)]

    (band,) = recommend(arm("lora", [0.46, 0.47, 0.52]) + arm("probe", [0.45, 0.46, 0.47]))  # one seed of three beat it
    assert ("re-run with more labelled examples (--sizes 128), a larger budget (--min-steps 200) or more seeds "
            "(--seeds 5) before choosing") in band["text"], band["text"]  # tuned already: no --tune lr
    everything = [dataclasses.replace(r, spec={**r.spec, "n": 500}) for r in arm("lora", [0.46, 0.47, 0.48], "all")]
    (band,) = recommend(everything)
    assert "--sizes" not in band["text"] and "re-run with a larger budget (--min-steps 200) before choosing" in band["text"]
    zero = [dataclasses.replace(run("zero-shot", 0, seed, [0.49], planned=0, steps=0, majority=0.50),
                                val_metrics={"accuracy": 0.49}, metrics={"accuracy": 0.49}, steps=0) for seed in range(3)]
    (band,) = recommend(zero)
    assert "re-run with better class descriptions (--label-descriptions) before choosing" in band["text"], band["text"]
    monkeypatch.setenv(SURFACE_ENV, "python")
    (band,) = recommend(never)
    assert "re-run with more labelled examples (sizes=32), a larger budget (min_steps=200) or tune='lr' before" in band["text"]
