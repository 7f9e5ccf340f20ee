"""Tests of headstart/sweep_eta.py: a sweep's ETA weighs each cell by what its kind of cell has cost."""

from __future__ import annotations

import pytest

import headstart.progress as progress
from headstart.sweep_eta import SweepEta, planned_steps


def cell(arm: str, n: int, seed: int = 0) -> tuple[None, str, dict]:
    train = {"batch_size": 16, "accumulate": 1, "epochs": 3, "min_steps": 100, "max_steps": None}
    return None, f"{arm}/{n}/{seed}", {"arm": arm, "n": n, "train": train}


def test_planned_steps_follow_the_budget_floor_and_the_epochs():
    assert planned_steps(cell("ft", 64)[2]) == 100, "3 epochs of 64 rows are 12 steps: the 100-step floor"
    assert planned_steps(cell("ft", 8000)[2]) == 1500, "3 epochs of 500 batches"
    capped = cell("ft", 8000)[2]
    capped["train"] = {**capped["train"], "max_steps": 200}
    assert planned_steps(capped) == 200
    assert planned_steps({"n": 5}) == 1, "no train settings (an older spec): every cell weighs one"


def test_the_eta_weighs_a_large_cell_by_its_steps_and_each_arm_by_its_own_rate_and_overhead():
    """A default compare's order: the small sizes first, then all. Counting cells equally, two small cells finished
    in 140 s would leave "140 s" for two cells; the all-labels fine-tune plans 15 times the steps of its small one, the
    probe's step costs a tenth of the fine-tune's, and the first probe paid 101 s of feature caching. Until the probe
    has finished a cell, its cells count at the slowest timed arm's cost: an estimate that grows as arms are timed
    (the whole read "?" for the first round)."""
    now = [0.0]
    todo = [cell("ft", 64), cell("probe", 64), cell("ft", 8000), cell("probe", 8000)]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    assert eta.remaining() is None, "nothing finished: the bar keeps its own estimate"
    eta.started("ft/64/0")
    now[0] = 36.0
    eta.finished("ft/64/0", 30.0)  # 0.3 s a step and 6 s besides
    assert eta.remaining() == pytest.approx((6 + 100 * 0.3) + 2 * (6 + 1500 * 0.3)), "the probe's cells at ft's cost"
    eta.started("probe/64/0")
    now[0] = 140.0
    eta.finished("probe/64/0", 3.0)
    assert eta.remaining() == pytest.approx((6 + 1500 * 0.3) + (101 + 1500 * 0.03))
    eta.started("ft/8000/0")
    now[0] = 200.0  # its first step report, 60 s in (its setup is no step): the clock counts
    assert eta.remaining(current=0.05) == pytest.approx((456 - 60) + 146)
    now[0] = 240.0  # a fifth of its steps in the 40 s since: 120 s more
    assert eta.remaining(current=0.25) == pytest.approx(0.75 * 40 / 0.2 + 146)
    eta.dropped("probe/8000/0")  # another compare claimed it
    now[0] = 700.0
    eta.finished("ft/8000/0", 500.0)
    assert eta.remaining() == 0.0


def test_cells_run_side_by_side_divide_what_is_left():
    now = [0.0]
    todo = [cell("ft", 64, seed) for seed in range(6)]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/64/0")
    eta.started("ft/64/1")
    now[0] = 40.0
    eta.finished("ft/64/0", 30.0)  # 40 s a cell in a worker
    eta.started("ft/64/2")
    assert eta.remaining() == pytest.approx((0 + 40 + 3 * 40) / 2), "one running cell 40 s in, one just begun, three waiting"


def test_a_failed_cell_teaches_no_rate_and_the_wrapper_says_the_eta_is_unknown_until_known():
    """An arm whose every cell fails (out of memory on a large backbone) left the whole sweep's ETA unknown: its
    cells are expected to take what its failures took."""
    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("ft", 64, 1)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    seen = []
    update = eta.wrap(lambda done, total, info: seen.append(dict(info)))
    update(0, 2, {})
    eta.started("ft/64/0")
    now[0] = 5.0
    eta.finished("ft/64/0", 0.0)  # failed before training: no rate
    update(1, 2, {"cell": "ft n=64 seed=0"})
    assert seen == [{progress.ETA_KEY: None}, {"cell": "ft n=64 seed=0", progress.ETA_KEY: 5.0}], \
        "unknown, said so; then, with only a failure to go by, the time it took to fail"
    eta.started("ft/64/1")
    now[0] = 45.0
    eta.finished("ft/64/1", 30.0)
    update(2, 2, {})
    assert seen[-1] == {progress.ETA_KEY: 0.0}
    assert SweepEta([], str).wrap(None) is None


def test_the_running_cells_own_pace_times_its_arm_and_the_arms_not_yet_timed():
    """The first round of a sweep read "ETA ?" for minutes (no arm timed yet), the first half of a two-size sweep: the
    running cell's steps, once a tenth of them were seen, pace its arm, and an arm not yet timed counts at the slowest
    pace timed. Nothing timed at all is still unknown."""
    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("probe", 64), cell("ft", 8000)], lambda resolved: resolved["arm"],
                   clock=lambda: now[0])
    seen = []
    update = eta.wrap(lambda done, total, info: seen.append(dict(info)))
    eta.started("ft/64/0")
    now[0] = 30.0  # setup: its first step report
    update(0.05, 3, {"cell": "ft", "step": "5/100"})
    now[0] = 50.0  # a fifth of its steps in 20 s: three quarters left take 75 s; 1 s a step after 30 s of setup
    update(0.25, 3, {"cell": "ft", "step": "25/100"})
    now[0] = 120.0  # its steps done at 125 s in all; scoring: its own pace is kept, not remeasured on a still count
    update(0.999, 3, {"cell": "ft", "then": "scoring"})
    assert seen[0] == {"cell": "ft", "step": "5/100", progress.ETA_KEY: None}
    assert seen[1] == {"cell": "ft", "step": "25/100", progress.ETA_KEY: pytest.approx(75 + 130 + 1530)}
    assert seen[2] == {"cell": "ft", "then": "scoring", progress.ETA_KEY: pytest.approx(10 + 130 + 1530)}


def test_a_prompt_cell_counts_rows_paced_as_steps_are():
    """A prompt arm's cell takes no step: it counts rows scored (validation, then test), paced as steps are."""
    now = [0.0]
    eta = SweepEta([cell("zsp", 0), cell("ft", 64)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    seen = []
    update = eta.wrap(lambda done, total, info: seen.append(dict(info)))
    eta.started("zsp/0/0")
    now[0] = 10.0
    update(0.1, 2, {"cell": "zsp", "rows": "30/300"})
    now[0] = 30.0  # a fifth of its rows in 20 s: 70 s left; its setup 10 s and 100 "steps" (rows' share) at 1 s for ft
    update(0.3, 2, {"cell": "zsp", "rows": "90/300"})
    assert seen == [{"cell": "zsp", "rows": "30/300", progress.ETA_KEY: None},
                    {"cell": "zsp", "rows": "90/300", progress.ETA_KEY: pytest.approx(70 + 10 + 100 * 1.0)}]


def test_a_tuned_cells_own_time_left_is_its_eta_and_is_not_shown():
    """A tuned cell's trials reported none of its steps: "ETA ?" until its arm had a finished cell. Its trials' pace
    (``CELL_ETA_KEY``, from ``recipe``) is its own time left and its arm's pace; the key is read, not printed."""
    from headstart.sweep import _cell_progress

    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("ft", 64, 1)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    seen = []
    update = _cell_progress(eta.wrap(lambda done, total, info: seen.append(dict(info))), 0, 2, "ft")
    eta.started("ft/64/0")
    now[0] = 20.0
    update(0, 100, {"tuning": "lr 1e-05, trial 1 of 4, step 3/11"})
    update(0, 100, {"tuning": "lr 3e-05, trial 2 of 4, step 0/11", progress.ETA_KEY: 60.0})
    assert seen[0] == {"cell": "ft", "tuning": "lr 1e-05, trial 1 of 4, step 3/11", progress.ETA_KEY: None}
    # 60 s left of a cell 20 s in: 0.8 s a step, so the seed-1 cell's 100 steps take 80 s
    assert seen[1] == {"cell": "ft", "tuning": "lr 3e-05, trial 2 of 4, step 0/11", progress.ETA_KEY: pytest.approx(60 + 80)}


def test_a_log_line_shows_the_sweeps_own_eta_and_hides_the_key(monkeypatch, capsys):
    clock = iter([0.0, 1.0, 61.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("sweep")
    update(0.01, 12, {"cell": "ft n=8 seed=0"})
    update(2.0, 12, {"cell": "ft n=all seed=0", progress.ETA_KEY: 3600.4})
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == "sweep: 2/12 cell ft n=all seed=0 elapsed 61s ETA 3600s", lines


def test_a_log_line_of_a_fit_without_steps_shows_no_count_and_no_eta(monkeypatch, capsys):
    """tfidf-logreg's line read "0/0 phase tfidf-logreg elapsed 5s ETA 0s": a count of nothing and an ETA of nothing."""
    clock = iter([0.0, 5.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    progress._log_lines("tfidf-logreg n=16 seed=0")(0, 0, {"phase": "tfidf-logreg"})
    assert capsys.readouterr().err == "tfidf-logreg n=16 seed=0: phase tfidf-logreg elapsed 5s\n"


def test_the_terminal_bar_shows_the_sweeps_own_eta():
    from rich.progress import Progress

    column = progress._remaining_column()
    bar = Progress(column)
    task = bar.add_task("sweep", total=10, eta=3725.2)
    assert column.render(bar.tasks[0]).plain == "1:02:06"
    bar.update(task, eta=None)
    assert column.render(bar.tasks[0]).plain == "-:--:--", "no ETA of its own: rich's (unknown before any speed)"
    assert progress.clock_text(59.1) == "0:01:00"


def test_a_cells_last_step_leaves_it_short_of_done_on_the_bar():
    """Evaluation follows a cell's last step: the bar says 2/4 until the cell is recorded, and the ETA still counts
    the cell as running (a whole number read as the next cell's start gave it back its full prediction). The cell's
    steps are shown beside its name: the bar counts cells, and a cell's minutes showed nothing moving."""
    from headstart.sweep import _cell_progress

    seen = []
    update = _cell_progress(lambda done, total, info: seen.append((done, total, info)), 2, 4, "ft n=16 seed=0")
    update(20, 20, {"loss": 0.1})
    update(10, 20, {})
    assert seen == [(2.999, 4, {"cell": "ft n=16 seed=0", "step": "20/20"}), (2.5, 4, {"cell": "ft n=16 seed=0", "step": "10/20"})]
    seen.clear()  # what the cell does beside its steps is said in its place; a closed form counts no steps
    update(0, 20, {"tuning": "lr 2e-05, trial 1 of 3, step 4/10"})
    update(0, 20, {"setup": "preparing ewc before the first step"})
    update(20, 20, {"then": "scoring the test split", "eta_s": None})
    update(0, 0, {})
    assert [info for _, _, info in seen] == [
        {"cell": "ft n=16 seed=0", "tuning": "lr 2e-05, trial 1 of 3, step 4/10"},
        {"cell": "ft n=16 seed=0", "setup": "preparing ewc before the first step"},
        {"cell": "ft n=16 seed=0", "then": "scoring the test split"}, {"cell": "ft n=16 seed=0"}]
    assert _cell_progress(None, 0, 4, "x") is None


def test_a_sweep_weighs_one_strategy_on_two_backbones_apart(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """The arm of the ETA is the strategy on its backbone: a larger backbone costs more a step."""
    import headstart.sweep as sweep_module
    from headstart.specs import TrainConfig
    from headstart.sweep_spec import SweepSpec

    made = []
    original = sweep_module.SweepEta

    def recording(todo, arm, **kwargs):
        made.append({arm(resolved) for _, _, resolved in todo})
        return original(todo, arm, **kwargs)

    monkeypatch.setattr(sweep_module, "SweepEta", recording)
    sweep_module.run_sweep(SweepSpec(data=str(toy_csv), backbones=("tiny", "tiny-bert"), strategies=("linear-probe",),
                                     sizes=(16,), seeds=1, tune=None, train=TrainConfig(precision="fp32", max_steps=2)),
                           tmp_path / "two")
    assert len(made) == 1 and len(made[0]) == 2 and all(a.endswith(" linear-probe") for a in made[0]), made


def test_an_arm_whose_cells_all_fail_does_not_hide_the_sweeps_eta():
    now = [0.0]
    eta = SweepEta([cell(arm, n) for n in (16, 64) for arm in ("a", "b")], lambda resolved: resolved["arm"],
                   clock=lambda: now[0])
    for key, took, trained in (("a/16/0", 40.0, 30.0), ("b/16/0", 2.0, 0.0)):
        eta.started(key)
        now[0] += took
        eta.finished(key, trained)
    assert eta.remaining() == pytest.approx((10 + 100 * 0.3) + 2.0), "a's cost at 64, and b's two seconds to fail"


def test_a_cell_past_its_prediction_counts_as_long_again_as_it_has_overrun():
    """A tuned cell running longer than its arm's others read "ETA 0s" with a whole trial still to run, then "?"
    mid-sweep: it counts what it has overrun so far once more."""
    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("ft", 64, 1)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/64/0")
    now[0] = 36.0
    eta.finished("ft/64/0", 30.0)  # 36 s a cell
    eta.started("ft/64/1")
    now[0] = 46.0
    assert eta.remaining() == pytest.approx(26.0)
    now[0] = 80.0  # 44 s in: 8 s past the 36 s its arm's cell took
    assert eta.remaining() == pytest.approx(8.0)


def test_a_cell_is_named_by_the_options_it_sets_away_from_their_defaults_in_one_short_label():
    """An LLM compare's progress line named its icl cell by every resolved option, its label descriptions and prompt
    template included; a cell is named by what its arm sets apart from the defaults, cut at 60 characters."""
    from headstart.sweep import _label

    icl = {"strategy": "icl", "options": {"calibrate": True, "descriptions": [["rotten", "negative"], ["fresh", "positive"]],
                                          "instruction": "Classify the text. Answer with one of: {choices}.", "k": 4,
                                          "max_prompt_tokens": 1024}, "terms": {}, "n_requested": 8, "seed": 0}
    label = _label(icl)
    assert label.startswith("icl[calibrate=True, descriptions=") and label.endswith("… n=8 seed=0") and len(label) < 80
    assert "instruction" not in label and "max_prompt_tokens" not in label
    lora = {"strategy": "lora", "options": {"rank": 4}, "terms": {"ewc": {"weight": 10}}, "n_requested": 16, "seed": 1}
    assert _label(lora) == "lora[rank=4]+ewc[weight=10] n=16 seed=1"


def test_a_cells_scoring_after_its_steps_counts_the_time_its_arm_took_to_score():
    """While a cell scored after its steps (retention, the test split: its updates say ``then``), the sweep's ETA read
    its own steps' pace, all done: ~0 s for minutes of scoring. Its arm's finished cells time their scoring apart: a
    running cell's steps add it, and while it scores, what is left is that time less what it has scored so far."""
    now = [0.0]
    eta = SweepEta([cell("ft", 64, seed) for seed in range(2)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    seen = []
    update = eta.wrap(lambda done, total, info: seen.append(info[progress.ETA_KEY]))
    eta.started("ft/64/0")
    now[0] = 10.0
    update(0.5, 2, {"cell": "ft", "step": "50/100"})
    now[0] = 20.0
    update(0.999, 2, {"cell": "ft", "then": "scoring the test split"})  # its steps took 20 s, then 60 s of scoring
    now[0] = 80.0
    eta.finished("ft/64/0", 20.0)
    eta.started("ft/64/1")
    now[0] = 82.0  # its first step report
    update(1.05, 2, {"cell": "ft", "step": "5/100"})
    now[0] = 92.0  # half its steps in 10 s: 10 s more of steps, then its arm's 60 s of scoring
    update(1.5, 2, {"cell": "ft", "step": "50/100"})
    assert seen[-1] == pytest.approx(10.0 * 0.5 / 0.45 + 60.0)
    now[0] = 102.0
    update(1.999, 2, {"cell": "ft", "then": "scoring the test split"})
    now[0] = 132.0  # 30 s of its scoring done: 30 s left, not ~0
    update(1.999, 2, {"cell": "ft", "then": "scoring the test split, 300/600 rows"})
    assert seen[-1] == pytest.approx(30.0)
    now[0] = 170.0  # scoring 8 s longer than its arm's did: 8 s more, not "?" or 0
    update(1.999, 2, {"cell": "ft", "then": "scoring the test split, 590/600 rows"})
    assert seen[-1] == pytest.approx(8.0)


def test_the_eta_learns_an_arms_steps_without_the_cached_features_charged_to_every_arm_that_reads_them():
    """Each arm reading cached features is charged what computing them cost (``feature_seconds``), whichever arm
    computed them: a 3 s cell charged 120 s of features made the next such cell read 121 s left."""
    from headstart.results import RunResult
    from headstart.sweep import steps_seconds

    now = [0.0]
    todo = [cell("probe", 64, seed) for seed in range(2)]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    read = RunResult(key="probe/64/0", spec={}, status="done", train_seconds=121.0, record={"feature_seconds": 120.0})
    eta.started("probe/64/0")
    now[0] = 3.0  # its wall time: it read the features another arm computed
    eta.finished("probe/64/0", steps_seconds(read))
    assert eta.remaining() == pytest.approx(3.0), "the next cell costs what this one did"
    assert steps_seconds(RunResult(key="k", spec={}, status="failed", train_seconds=0.0)) == 0.0, "a failure stays one"


def test_an_untimed_arms_cell_counts_at_one_timed_arms_overhead_and_pace_the_slowest_at_that_cell():
    """The largest overhead (a probe's 100 s of feature caching) and the largest pace (a fine-tune's 1 s a step) came
    from two arms: an untimed arm's 10-step cell read 110 s, what no timed arm would take."""
    now = [0.0]
    todo = [cell("probe", 64), cell("ft", 64), cell("lora", 64)]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.steps = {key: 10 for key in eta.steps}
    eta.started("probe/64/0")
    now[0] = 100.1
    eta.finished("probe/64/0", 0.1)  # 100 s besides its 10 steps of 0.01 s
    eta.started("ft/64/0")
    now[0] = 111.1
    eta.finished("ft/64/0", 10.0)  # 1 s besides its 10 steps of 1 s
    assert eta.remaining() == pytest.approx(100.1), "the probe's cost for this cell, the slower of the two"


def test_a_closed_form_cell_counts_as_one_solve_not_its_settings_step_floor():
    """examples/tuning.toml at --max-steps 3: its embed-logreg, tfidf-logreg and embed-knn cells kept the 100-step
    floor in their settings (--max-steps caps steps they never take), so each counted 100 steps at the fine-tune's
    30 s a step: 'sweep: 2/7 ... ETA 4512s' for a sweep that ended 73 s later."""
    def solved(strategy: str) -> tuple[None, str, dict]:
        _, key, resolved = cell(strategy, 16)
        return None, key, {**resolved, "strategy": strategy}

    assert [planned_steps(solved(s)[2]) for s in ("embed-logreg", "tfidf-logreg", "embed-knn")] == [1, 1, 1]
    assert planned_steps(solved("full-finetune")[2]) == 100, "a strategy that steps keeps its floor"
    now = [0.0]
    todo = [cell("ft", 16), solved("embed-logreg")]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/16/0")
    now[0] = 36.0
    eta.finished("ft/16/0", 30.0)  # 0.3 s a step and 6 s besides
    assert eta.remaining() == pytest.approx(6 + 1 * 0.3), "the solve at the timed arm's cost of one step"


def test_a_cell_held_elsewhere_leaves_the_eta_at_once_and_counts_again_if_taken_back():
    """A compare skips the cells another compare holds and tries them once more at its end (``sweep._claimed``): they
    left its ETA only after that retry, so two compares into one store each counted the other's cells for the whole run
    (about twice the time). Dropped at the first failed claim, a cell taken back on the retry is this sweep's again."""
    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("ft", 64, seed=1)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/64/0")
    now[0] = 36.0
    eta.finished("ft/64/0", 30.0)
    assert eta.remaining() == pytest.approx(36.0)
    eta.dropped("ft/64/1")
    assert eta.remaining() == 0.0
    eta.started("ft/64/1")  # its owner died: taken on the retry
    assert eta.remaining() == pytest.approx(36.0)


def test_a_sweep_drops_a_held_cell_from_its_eta_at_the_first_failed_claim(monkeypatch):
    from headstart import sweep

    class Store:
        def __init__(self):
            self.tries = []

        def claim(self, key, resolved, owner, lease):
            self.tries.append(key)
            return key != "held"

    class Eta:
        dropped_at: list[int] = []

    store, outcome, eta = Store(), sweep.SweepOutcome(total=2, skipped=0), Eta()
    eta.dropped = lambda key: Eta.dropped_at.append(len(store.tries))
    todo = [(None, "held", {}), (None, "mine", {})]
    assert [key for _, key, _ in sweep._claimed(todo, store, "me", outcome, eta)] == ["mine"]
    assert Eta.dropped_at == [1], "dropped when its first claim failed, before the next cell was claimed"
    assert outcome.elsewhere == 1


def kinded(arm: str, strategy: str, n: int, seed: int = 0) -> tuple[None, str, dict]:
    _, key, resolved = cell(arm, n, seed)
    return None, key, {**resolved, "strategy": strategy, "backbone": "b"}


def test_a_workers_first_cell_carries_no_loading_into_the_eta():
    """A synthetic grid (a probe, two LoRA ranks and a fine-tune at 16, 64 and 1000 labels, 3 seeds) whose first cell
    paid 40 s of loading in its worker: that cell's wall minus training (46 s) was its arm's overhead and, through the
    slowest timed arm, every other arm's, so the ETA read 1.3-1.6 times the time left for the sweep's first third. Its
    overhead is now its scoring alone: the ETA is within 15% of the truth from the sweep's second cell on."""
    arms = {"probe": ("linear-probe", 0.02), "lora-r4": ("lora", 0.2), "lora-r16": ("lora", 0.22), "ft": ("full-finetune", 0.3)}
    todo = [kinded(arm, arms[arm][0], n, seed) for seed in range(3) for n in (16, 64, 1000) for arm in arms]
    now = [0.0]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    walls, ratios = [], []
    for i, (_, key, resolved) in enumerate(todo):  # setup 1 s, steps at the arm's pace, scoring 5 s; the first loads 40 s
        train = eta.steps[key] * arms[resolved["arm"]][1]
        walls.append((key, train, (40.0 if i == 0 else 0.0) + 1.0 + train + 5.0))
    for i, (key, train, wall) in enumerate(walls):
        eta.started(key)
        now[0] += wall
        eta.finished(key, train, eval_seconds=5.0, loaded=i == 0)
        left = sum(w for _, _, w in walls[i + 1:])
        if left:
            ratios.append(eta.remaining() / left)
    assert all(0.85 <= ratio <= 1.15 for ratio in ratios[1:]), [round(r, 2) for r in ratios]
    assert eta.overheads["probe"][0] == 5.0, "the loading cell's overhead is its scoring"


def test_a_loading_cell_without_its_scoring_time_teaches_no_overhead():
    now = [0.0]
    eta = SweepEta([cell("ft", 64), cell("ft", 64, seed=1)], lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/64/0")
    now[0] = 76.0
    eta.finished("ft/64/0", 30.0, loaded=True)  # 40 s of it loading
    assert eta.remaining() == pytest.approx(30.0), "its rate is learnt, no overhead"


def test_an_arm_not_yet_timed_is_costed_as_a_timed_arm_of_its_strategy():
    """An option grid's arms (LoRA ranks) beside a fine-tune: a rank not yet timed counted at the fine-tune's cost, the
    slowest timed arm, where another rank's was known; it counts at the timed rank's now, and an arm with no timed arm
    of its strategy at the slowest timed arm's, as before."""
    now = [0.0]
    todo = [kinded("ft", "full-finetune", 64), kinded("lora-r4", "lora", 64), kinded("lora-r16", "lora", 64),
            kinded("probe", "linear-probe", 64)]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    eta.started("ft/64/0")
    now[0] = 36.0
    eta.finished("ft/64/0", 30.0)  # 0.3 s a step, 6 s besides
    eta.started("lora-r4/64/0")
    now[0] = 62.0
    eta.finished("lora-r4/64/0", 20.0)  # 0.2 s a step, 6 s besides
    assert eta.remaining() == pytest.approx((6 + 100 * 0.2) + (6 + 100 * 0.3)), "r16 as r4, the probe as the fine-tune"


def test_the_inline_sweep_loads_a_cell_before_its_clock_starts(monkeypatch):
    """The inline sweep loaded the data and backbone inside its first cell, whose wall time then held them as its
    arm's overhead; it loads them before the cell's clock starts."""
    import threading

    from headstart import sweep
    from headstart.results import RunResult

    now = [0.0]

    def load(spec):
        now[0] += 40.0

    def run_cell(spec, progress=None):
        now[0] += 36.0
        return RunResult(spec["key"], {}, "done", train_seconds=30.0, eval_seconds=5.0)

    class Store:
        def claim(self, *args):
            return True

        def put(self, result):
            pass

    monkeypatch.setattr(sweep, "loaded_cell", load)
    monkeypatch.setattr(sweep, "run_cell", run_cell)
    todo = [({"key": key}, key, {**resolved, "strategy": "full-finetune", "n_requested": 64, "seed": seed})
            for seed, (_, key, resolved) in enumerate((cell("ft", 64), cell("ft", 64, seed=1)))]
    eta = SweepEta(todo, lambda resolved: resolved["arm"], clock=lambda: now[0])
    heartbeat = type("Beat", (), {"lock": threading.Lock(), "active": {}})()
    sweep._run_inline(todo[:1], Store(), "me", heartbeat, sweep.SweepOutcome(total=2, skipped=0), None, eta)
    assert eta.overheads["ft"] == [6.0] and eta.remaining() == pytest.approx(36.0)
