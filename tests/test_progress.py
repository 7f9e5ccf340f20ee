"""Tests of headstart/progress.py: the plain progress lines a log file gets."""

from __future__ import annotations

import headstart.progress as progress


def test_the_eta_counts_from_the_first_step_not_from_setup(monkeypatch, capsys):
    """4 s of setup, then 1 s a step: the first line cannot know the rate ("?"), later ones use the steps' own rate."""
    clock = iter([0.0, 4.0, 5.0, 20.0, 304.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("lp")  # created at t = 0, before setup
    update(1.0, 300, {"loss": 0.7})  # t = 4: the first step
    update(2.0, 300, {})  # t = 5: inside LOG_EVERY, no line
    update(17.0, 300, {})  # t = 20: 16 steps in 16 s since the first
    update(300.0, 300, {})  # t = 304: the last
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["lp: 1/300 loss 0.7 elapsed 4s ETA ?", "lp: 17/300 elapsed 20s ETA 283s", "lp: 300/300 elapsed 304s ETA 0s"]


def test_a_sweeps_fractional_progress_shows_whole_cells_and_keeps_the_eta(monkeypatch, capsys):
    """The sweep reports a cell's steps as a share of that cell (2.0333 of 12 cells): the line says 2/12, as the
    terminal bar does, and the ETA still uses the share."""
    clock = iter([0.0, 1.0, 61.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("sweep")
    update(0.01, 12, {"cell": "linear-probe n=8 seed=0"})  # t = 1: a hundredth of the first cell
    update(2.0 + 1 / 30, 12, {})  # t = 61: 2.0233 cells more in 60 s
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["sweep: 0/12 cell linear-probe n=8 seed=0 elapsed 1s ETA ?", "sweep: 2/12 elapsed 61s ETA 296s"]


def test_a_phase_with_its_own_eta_says_it_and_not_the_steps_rate(monkeypatch, capsys):
    """sft's test-prompt generation after its last step: "ETA ?" until a prompt is answered, then its own seconds,
    in the log's lines and on the terminal's bar, never the finished steps' "0s"."""
    from rich.progress import Progress

    clock = iter([0.0, 1.0, 100.0, 200.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("sft")
    update(60, 60, {"loss": 0.5})  # t = 1: the last step
    update(0, 32, {"generating": "answers to 32 test prompts", progress.ETA_KEY: None})  # t = 100
    update(16, 32, {"generating": "answers to 32 test prompts", progress.ETA_KEY: 95.0})  # t = 200
    lines = capsys.readouterr().err.splitlines()
    assert lines[1:] == ["sft: 0/32 generating answers to 32 test prompts elapsed 100s ETA ?",
                         "sft: 16/32 generating answers to 32 test prompts elapsed 200s ETA 95s"]
    column = progress._remaining_column()
    with Progress(column, disable=True) as bar:
        task = bar.add_task("sft", total=32, completed=0, eta=progress.UNKNOWN)
        assert column.render(bar.tasks[task]).plain == "-:--:--"
        bar.update(task, completed=16, eta=95.0)
        assert column.render(bar.tasks[task]).plain == "0:01:35"
        bar.update(task, completed=32, eta=progress.UNKNOWN)  # the steps done, a scoring stage of unknown length running
        assert column.render(bar.tasks[task]).plain == "-:--:--", "a full bar whose stage is still running read 0:00:00"


def test_a_new_count_is_said_at_once_inside_the_log_interval(monkeypatch, capsys):
    """sft's test answers began 2 s after its last step's line: the throttle swallowed "0/4 generating ...", and the log
    said nothing for the 2 minutes the answers took after a line ending "ETA 0s"."""
    clock = iter([0.0, 44.0, 46.0, 47.0, 166.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("sft")
    update(1, 1, {"loss": 4.8})  # t = 44: the last step
    update(0, 1, {"generating": "answers to 1 test prompt", progress.ETA_KEY: None})  # t = 46: the same total, a new count
    update(0, 4, {"generating": "answers to 4 test prompts", progress.ETA_KEY: None})  # t = 47: another total
    update(4, 4, {"generating": "answers to 4 test prompts", progress.ETA_KEY: 0.0})  # t = 166
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["sft: 1/1 loss 4.8 elapsed 44s ETA 0s", "sft: 0/1 generating answers to 1 test prompt elapsed 46s ETA ?",
                     "sft: 0/4 generating answers to 4 test prompts elapsed 47s ETA ?",
                     "sft: 4/4 generating answers to 4 test prompts elapsed 166s ETA 0s"]


def test_a_new_count_measures_its_own_rate(monkeypatch, capsys):
    """Ten quick steps, then a count of slow units with no ETA of its own: its rate is its own, not the steps'."""
    clock = iter([0.0, 1.0, 10.0, 20.0, 80.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("job")
    update(1, 10, {})  # t = 1
    update(10, 10, {})  # t = 10: the steps' rate, 1 a second
    update(0, 4, {"phase": "slow"})  # t = 20: a new count
    update(1, 4, {"phase": "slow"})  # t = 80: one unit in 60 s, so 3 more are 180 s (the steps' rate said ~3 s)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-2:] == ["job: 0/4 phase slow elapsed 20s ETA ?", "job: 1/4 phase slow elapsed 80s ETA 180s"], lines


def test_a_notebooks_or_terminals_long_call_shows_progress_by_default(monkeypatch):
    """compare in a notebook ran for minutes with no output (progress=False); None, the default of compare, continual,
    multitask and adapt, is on where stderr is a terminal or a Jupyter kernel's, off in a script's log."""
    import inspect
    import io
    import sys

    import headstart
    from headstart.progress import progress_default

    for name in ("compare", "continual", "multitask", "adapt"):
        assert inspect.signature(getattr(headstart, name)).parameters["progress"].default is None, name

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_default(None) is False and progress_default(True) is True
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress_default(None) is True and progress_default(False) is False
    kernel = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(sys, "stderr", kernel())
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules[__name__])
    assert progress_default(None) is True


def test_compare_passes_the_default_progress_on_at_a_terminal(monkeypatch, tmp_path):
    import io
    import sys

    import headstart
    import headstart.api_compare as api_compare

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    seen = {}
    monkeypatch.setattr(api_compare, "run_compare", lambda sweep, out, **kw: seen.update(kw))
    monkeypatch.setattr(sys, "stderr", Terminal())
    headstart.compare("rotten-tomatoes", strategies="linear-probe", sizes="16", seeds=1, out=tmp_path / "c")
    assert seen["progress"] is True
    headstart.compare("rotten-tomatoes", strategies="linear-probe", sizes="16", seeds=1, out=tmp_path / "c", progress=False)
    assert seen["progress"] is False


def test_the_eta_weighs_each_kind_by_its_own_pace_and_an_unseen_kind_by_the_mean():
    """continual's ETA after its first (naive) tasks said 202 s of a 683 s run: lwf's tasks cost 3-6x naive's, and one
    mean over every finished task priced them as naive's."""
    from headstart.progress import eta_by_kind

    assert eta_by_kind({"naive": 0, "lwf": 5}, {"naive": [2.0] * 5, "lwf": [10.0]}) == 50.0, "lwf at its own 10 s"
    assert eta_by_kind({"naive": 2, "lwf": 5}, {"naive": [2.0, 4.0]}) == 2 * 3.0 + 5 * 3.0, "lwf unseen: the mean so far"
    assert eta_by_kind({"naive": 3}, {}) == 0.0, "nothing finished: nothing to price with"


def test_caching_features_is_said_with_the_time_it_has_left():
    """A compare's first probe cell read "ETA ?" for the minutes its backbone's features were cached, with no word of
    what it did: the cell's bar says it caches them, at none of its steps, with the caching's own time left once a
    batch has set its pace (before that, that it is unknown)."""
    seen = []
    now = [10.0]
    told = progress.caching_counter(lambda done, total, info: seen.append((done, total, info)), 40, clock=lambda: now[0])
    told(0, 1000)
    now[0] = 14.0
    told(250, 1000)  # 4 s for a quarter: 12 s more
    told(1000, 1000)
    assert seen == [(0, 40, {"setup": "caching the backbone's features, 0/1000 rows, time left unknown until its first batch"}),
                    (0, 40, {"setup": "caching the backbone's features, 250/1000 rows, ~12s left"}),
                    (0, 40, {"setup": "caching the backbone's features, 1000/1000 rows"})]
    assert progress.caching_counter(None, 40) is None


def test_the_eta_counts_from_the_first_step_not_from_the_caching_said_before_it(monkeypatch, capsys):
    """A probe's bar now says its feature caching at none of its steps: 100 s of it must not count as the steps' time."""
    clock = iter([0.0, 1.0, 101.0, 102.0, 117.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("lp")
    update(0, 300, {"setup": "caching the backbone's features, 0/1000 rows"})  # t = 1
    update(0, 300, {"setup": "caching the backbone's features, 1000/1000 rows"})  # t = 101: cached
    update(1.0, 300, {})  # t = 102: the first step, inside LOG_EVERY
    update(16.0, 300, {})  # t = 117: 16 steps in 16 s since the caching ended
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "lp: 16/300 elapsed 117s ETA 284s", lines


def test_the_scoring_after_the_steps_counts_each_part_with_the_time_it_has_left():
    """Retention's feature pass and probe fits, then another dataset's scoring, took 1.6x the steps' time with one line
    unchanged ("10/10 then measuring retention on drug-reviews ... ETA ?"): each part now says its count and the time
    it has left at its own pace as the bar's one ETA (not also in the words: "~490s left ... ETA ?"), the bar still
    where the steps ended, its ETA unknown before a part's first batch."""
    seen = []
    now = [100.0]
    told = progress.scoring_counter(lambda done, total, info: seen.append((done, total, info)), (10, 10), clock=lambda: now[0])
    retaining = progress.part_of(told, "measuring retention on sst2")
    retaining("the adapted backbone's features", 0, 800)
    now[0] = 110.0
    retaining("the adapted backbone's features", 200, 800)  # 10 s a quarter: 30 s more
    retaining("fitting its probes", 0, 12, "fits")  # another part: its own pace, from its 0
    now[0] = 113.0
    retaining("fitting its probes", 3, 12, "fits")
    scoring = progress.part_of(told, "scoring sst2")
    scoring("", 0, 100)  # a part that names none: the stage alone
    now[0] = 114.0
    scoring("", 25, 100)
    assert [info["then"] for _, _, info in seen] == [
        "measuring retention on sst2, the adapted backbone's features, 0/800 rows, time left unknown until its first batch",
        "measuring retention on sst2, the adapted backbone's features, 200/800 rows",
        "measuring retention on sst2, fitting its probes, 0/12 fits, time left unknown until its first fit",
        "measuring retention on sst2, fitting its probes, 3/12 fits",
        "scoring sst2, 0/100 rows, time left unknown until its first batch", "scoring sst2, 25/100 rows"]
    assert [info[progress.ETA_KEY] for _, _, info in seen] == [None, 30.0, None, 9.0, None, 3.0]
    assert all((done, total) == (10, 10) for done, total, _ in seen)
    assert progress.scoring_counter(None, (10, 10)) is None and progress.part_of(None, "x") is None


def test_the_log_says_each_scoring_part_once_not_a_line_per_batch_and_never_the_steps_eta(monkeypatch, capsys):
    """At a full bar every update was printed: a retention pass counting its rows would write a line per batch. A part
    is said when it starts and ends, every LOG_EVERY seconds between; its ETA stays "?", the steps' rate not its."""
    clock = iter([0.0, 10.0, 11.0, 12.0, 13.0, 14.0, 30.0, 31.0, 32.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    update = progress._log_lines("ft")
    update(10, 10, {"loss": 0.5})  # t = 10: the last step
    retain = "measuring retention on sst2, the adapted backbone's features"
    for done, left in ((0, ", time left unknown until its first batch"), (64, ", ~20s left"), (128, ", ~19s left"),
                       (192, ", ~18s left"), (640, ", ~5s left"), (800, "")):  # t = 11, 12, 13, 14, 30, 31
        update(10, 10, {"then": f"{retain}, {done}/800 rows{left}", progress.ETA_KEY: None})
    update(10, 10, {"then": "scoring sst2, 0/100 rows, time left unknown until its first batch", progress.ETA_KEY: None})  # t = 32
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["ft: 10/10 loss 0.5 elapsed 10s ETA 0s",
                     f"ft: 10/10 then {retain}, 0/800 rows, time left unknown until its first batch elapsed 11s ETA ?",
                     f"ft: 10/10 then {retain}, 64/800 rows, ~20s left elapsed 12s ETA ?",
                     f"ft: 10/10 then {retain}, 640/800 rows, ~5s left elapsed 30s ETA ?",
                     f"ft: 10/10 then {retain}, 800/800 rows elapsed 31s ETA ?",
                     "ft: 10/10 then scoring sst2, 0/100 rows, time left unknown until its first batch elapsed 32s ETA ?"], lines


def test_an_evaluate_bar_is_each_part_s_own_count_with_the_time_it_has_left():
    """evaluate scores with no steps before it: with no ``at`` the bar is each part's count (its unit beside the part's
    name), and its ETA that part's time left at its own pace, unknown before its first batch and again at another part."""
    seen = []
    now = [100.0]
    told = progress.scoring_counter(lambda done, total, info: seen.append((done, total, info)), None, clock=lambda: now[0])
    test = progress.part_of(told, "scoring the test split")
    test("caching the backbone's features", 0, 400)
    now[0] = 104.0
    test("caching the backbone's features", 100, 400)  # 4 s a quarter: 12 s more
    test("", 0, 400)
    now[0] = 105.0
    test("", 400, 400)
    progress.part_of(told, "scoring sst2 after tent")("adapting to its pool", 0, 8, "batches")  # its own pace
    assert seen == [(0, 400, {"rows": "scoring the test split, caching the backbone's features", progress.ETA_KEY: None}),
                    (100, 400, {"rows": "scoring the test split, caching the backbone's features", progress.ETA_KEY: 12.0}),
                    (0, 400, {"rows": "scoring the test split", progress.ETA_KEY: None}),
                    (400, 400, {"rows": "scoring the test split", progress.ETA_KEY: 0.0}),
                    (0, 8, {"batches": "scoring sst2 after tent, adapting to its pool", progress.ETA_KEY: None})]
    assert progress.scoring_counter(None, None) is None


def test_a_runs_scoring_parts_are_named_by_one_helper_for_a_trained_run_and_a_loaded_one():
    """record.py and loaded.py each built "caching the backbone's features" and "scoring DATA after TTA" in lambdas of
    their own: progress.caching_part and scoring_part name them for both (and ood's caching)."""
    seen = []

    def told(what, done, total, unit="rows"):
        seen.append((what, done, total, unit))

    progress.caching_part(told)(100, 400)
    progress.scoring_part(told, "sst2", "tent")("adapting to its pool", 0, 8, "batches")
    progress.scoring_part(told, "sst2")("", 3, 9)
    assert seen == [("caching the backbone's features", 100, 400, "rows"),
                    ("scoring sst2 after tent, adapting to its pool", 0, 8, "batches"), ("scoring sst2", 3, 9, "rows")]
    assert progress.caching_part(None) is None and progress.scoring_part(None, "sst2") is None


def test_a_scoring_parts_log_line_has_one_eta_its_own(monkeypatch, capsys):
    """'caching the pre-trained backbone's features, 267/495 rows, ~490s left elapsed 723s ETA ?': the part's time
    left is the line's ETA, and the words say no other."""
    clock = iter([0.0, 0.0, 10.0, 30.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    now = [100.0]
    update = progress._log_lines("ft")
    told = progress.part_of(progress.scoring_counter(update, (3, 3), clock=lambda: now[0]), "measuring retention on d")
    told("caching the pre-trained backbone's features", 0, 495)  # t = 0
    now[0] = 110.0
    told("caching the pre-trained backbone's features", 99, 495)  # t = 10: 10 s a fifth, 40 s more
    now[0] = 130.0
    told("caching the pre-trained backbone's features", 297, 495)  # t = 30: 20 s more
    lines = capsys.readouterr().err.splitlines()
    assert lines[1:] == ["ft: 3/3 then measuring retention on d, caching the pre-trained backbone's features, 99/495 rows "
                         "elapsed 10s ETA 40s",
                         "ft: 3/3 then measuring retention on d, caching the pre-trained backbone's features, 297/495 rows "
                         "elapsed 30s ETA 20s"], lines
    from rich.progress import Progress

    column = progress._remaining_column()
    with Progress(column, disable=True) as bar:  # the terminal's bar: full after the steps, the part's ETA shown
        task = bar.add_task("ft", total=3, completed=3, eta=20.0, after=True)
        assert column.render(bar.tasks[task]).plain == "0:00:20"
        bar.update(task, after=False)  # a finished bar of no scoring part: nothing left
        assert column.render(bar.tasks[task]).plain == "0:00:00"


def test_rows_scored_have_an_eta_from_the_first_batch_on(monkeypatch, capsys):
    """icl's validation on a CPU: 'icl n=8 seed=0: 128/320 rows 128/320 elapsed 136s ETA ?' after its first batch
    had taken 136 s, for the count's first word came with that batch; it starts at 0 now, so the first batch paces it."""
    import numpy as np
    import torch
    from torch import nn

    from headstart.evaluation import model_outputs

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])

    class Slow(nn.Module):  # a forward pass of 100 s a batch
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(1, 2)
            self.backbone = type("B", (), {"collate": staticmethod(lambda items: {"x": torch.ones(len(items), 1)})})()

        def forward(self, collated):
            now[0] += 100.0
            return self.head(collated["x"])

    rows = progress.row_counter(progress._log_lines("icl"), 6)
    model_outputs(Slow(), [np.ones(3, dtype=np.int64)] * 6, np.arange(6), batch_size=2, progress=rows)
    lines = capsys.readouterr().err.splitlines()
    assert "icl: 2/6 rows 2/6 elapsed 100s ETA 200s" in lines, lines
