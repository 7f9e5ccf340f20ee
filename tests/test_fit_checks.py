"""Tests of headstart/fit_checks.py: the advice ``train`` prints beside a run's flags."""

from headstart.results import RunResult
from headstart.surface import SURFACE_ENV

GRID = (0.0003, 0.001, 0.003)


def tuned_lora(chosen: float, scores: list[float], *, planned: int = 3, max_steps: int | None = 3,
               tuned: bool = True) -> RunResult:
    """A lora run of ``planned`` steps (capped there by ``max_steps``) whose validation checks scored ``scores`` against a
    majority rate of 0.5, its lr chosen from ``GRID`` by ``--tune lr`` (``tuned``)."""
    history = [{"step": (i + 1) * planned // len(scores), "phase": "adapter", "val_score": v} for i, v in enumerate(scores)]
    budget = {"planned_steps": planned, "steps": planned, "max_steps": max_steps, "capped": max_steps is not None,
              "tuned": tuned, "metric": "accuracy"}
    spec = {"strategy": "lora", "n": 32, "n_requested": 32, "seed": 0, "data": {"name": "d", "task": "classification"},
            "tune": {"param": "lr", "grid": list(GRID)}}
    return RunResult(key="k", spec=spec, status="done", val_metrics={"accuracy": max(scores)}, chosen={"lr": chosen},
                     record={"history": history, "budget": budget, "reference": {"val": {"accuracy": 0.5}}})


def test_a_tuned_run_is_not_told_to_tune_its_rate_nor_pointed_both_up_and_down(monkeypatch):
    """``train --strategy lora --n 32 --max-steps 3 --tune lr`` said "give it more steps or a higher learning rate
    (--tune lr searches one)" although --tune lr had searched it, and beside it "chose lr 0.0003, the bottom of its
    grid ... try --grid 9e-05,…": up and down at once. Its trials took one step each, the run still improving: the
    budget is what to raise, said first, and the lower grid only after."""
    from headstart.fit_checks import budget_notes, grid_edge_note

    monkeypatch.setenv(SURFACE_ENV, "cli")
    run = tuned_lora(0.0003, [0.75, 0.75, 0.8333])
    (improving,) = budget_notes(run)
    assert improving["reason"] == "improving" and "higher learning rate" not in improving["advice"]
    assert "--tune lr searches" not in improving["advice"] and "--tune lr already chose its lr (0.0003)" in improving["advice"]
    assert "(--max-steps 3 capped this run: raise it first)" in improving["advice"]
    (edge,) = grid_edge_note(run)
    assert "on trials of 1 step each, and the run was still improving when its budget ran out" in edge["text"], edge
    assert "may lie below it" not in edge["text"]
    assert edge["advice"] == ("first raise --max-steps (3 capped this run) and tune again; if it still chooses the bottom, "
                              "try --grid 9e-05,0.0003,0.001")
    untuned = tuned_lora(0.0003, [0.75, 0.75, 0.8333], tuned=False)  # a grid recorded, no search: advice as before
    assert "--tune lr searches one on validation" in budget_notes(untuned)[0]["advice"]


def test_a_tuned_run_at_the_bottom_of_its_grid_that_learned_well_is_still_told_the_rate_may_lie_below():
    """Without a budget flag the bottom of the grid is the rate's own news: the note stays as it was."""
    from headstart.fit_checks import grid_edge_note

    (edge,) = grid_edge_note(tuned_lora(0.0003, [0.8, 0.8, 0.8]))
    assert "the best lr may lie below it" in edge["text"] and edge["advice"].startswith("try ")


def test_a_tuned_run_that_learned_late_below_the_top_of_its_grid_may_search_higher(monkeypatch):
    """"slow" (a rate too small for the budget) on a tuned run: more steps, or rates above those searched."""
    from headstart.fit_checks import budget_notes

    monkeypatch.setenv(SURFACE_ENV, "cli")
    slow = tuned_lora(0.001, [0.6, 0.6, 0.6, 0.61, 0.62, 0.7, 0.8, 0.9], planned=80, max_steps=None)
    notes = {n["reason"]: n["advice"] for n in budget_notes(slow)}
    assert notes["slow"] == ("give it more steps (--epochs, --min-steps) or rates above those it searched "
                             "(--grid 0.001,0.003,0.009); --tune lr already chose its lr (0.001) on validation"), notes


def test_rung_steps_are_the_steps_halve_gives_its_trials():
    from headstart import tuning

    for values, full in ((3, 3), (3, 100), (9, 30), (2, 7)):
        taken: list[int] = []

        class Report:
            status, best_score, val_metrics = "done", 0.5, {"loss": 1.0}

        def trial(value, steps, evals, taken=taken):
            taken.append(steps)
            return Report()

        tuning.halve(tuple(range(1, values + 1)), param="lr", full_steps=full, evals_per_phase=3, trial=trial)
        assert sorted(set(taken)) == sorted(set(tuning.rung_steps(values, full))), (values, full)


def test_a_fit_result_advice_is_what_fit_takes(monkeypatch, tiny_registry, toy_csv, tmp_path):
    """fit's flags advised compare's spellings, which fit refuses: "options={'tfidf-logreg': {'grid': (…)}}" ("option
    'tfidf-logreg' does not apply"); "max_steps=3 capped this run" is fit's keyword (train's --max-steps).
    Each keyword its advice names now goes back into fit as written, and fit takes it."""
    from conftest import advised_keywords

    import headstart
    from headstart.fit_checks import budget_notes, grid_edge_note

    monkeypatch.delenv(SURFACE_ENV, raising=False)
    lora = tuned_lora(0.0003, [0.75, 0.75, 0.8333])
    logreg = RunResult(key="t", spec={"strategy": "tfidf-logreg", "n": 32, "n_requested": 32, "seed": 0,
                                      "data": {"name": "d", "task": "classification"}, "options": {"grid": [0.1, 1, 10]}},
                       status="done", val_metrics={"accuracy": 0.8}, chosen={"C": 10.0})
    notes = [("lora", n["advice"]) for n in budget_notes(lora) + grid_edge_note(lora)]
    notes += [("tfidf-logreg", n["advice"]) for n in grid_edge_note(logreg)]
    said = " ".join(advice for _, advice in notes)
    assert "max_steps=3 capped this run" in said and "options={'grid': (1, 10, 100)}" in said, said
    for strategy, advice in notes:
        keywords = advised_keywords(advice)
        assert keywords, advice
        if "grid" in keywords:  # fit's grid is what tune='lr' searches
            keywords["tune"] = "lr"
        # a short run where the advice does not set its cap itself (a keyword given in config too is refused)
        config = {**({"max_steps": 2} if strategy == "lora" and "max_steps" not in keywords else {}),
                  **keywords.pop("config", {})}
        result = headstart.fit(str(toy_csv), "tiny-bert", strategy=strategy, n=16, max_test=20, config=config,
                               progress=False, **keywords)
        assert result.status == "done", (advice, result.error)
