"""Tests of headstart/analysis/unfinished.py: what a stopped compare planned and has no result for, in a reader's
groups (an arm with no run at any size, a size with no run of any arm, the rest with their seeds)."""

from __future__ import annotations

from headstart.analysis.unfinished import unfinished
from headstart.results import RunResult


def cell(arm, n, seed, backbone="minilm", **options):
    return {"key": f"{backbone}-{arm}-{n}-{seed}-{options}", "strategy": arm, "options": options, "n": n, "n_actual": n,
            "seed": seed, "backbone": backbone}


def finished(c, status="done"):
    return RunResult(c["key"], {"strategy": c["strategy"], "n": c["n"], "seed": c["seed"]}, status, metrics={"accuracy": 0.7})


def test_an_arm_and_a_size_with_nothing_are_named_whole_and_the_rest_by_seeds():
    plan = [cell(a, n, s) for a in ("linear-probe", "full-finetune", "lora") for n in (16, 64) for s in (0, 1)]
    done = [finished(c) for c in plan if c["strategy"] != "full-finetune" and c["n"] == 16 and (c["strategy"], c["seed"]) != ("lora", 1)]
    found = unfinished(plan, done)
    assert (found["planned"], found["missing"]) == (12, 9)
    assert found["text"] == ("9 of the last compare's 12 planned runs have no result: full-finetune (no run at any size); "
                             "n = 64 (no run of any arm); lora at n = 16 (1 of 2 seeds). The recommendation and the curves "
                             "are over what finished; run the same command again to resume (finished runs are skipped)")


def test_a_failed_or_diverged_run_is_a_result_and_a_complete_or_unrecorded_plan_says_nothing():
    plan = [cell("lora", 16, 0), cell("lora", 16, 1)]
    assert unfinished(plan, [finished(plan[0], "failed"), finished(plan[1], "diverged")]) is None
    assert unfinished(None, []) is None and unfinished([], []) is None  # a store from before plans were kept
    stopped = [finished(plan[0]), RunResult(plan[1]["key"], {}, "pending")]
    assert unfinished(plan, stopped)["text"].startswith("1 of the last compare's 2 planned runs has no result: lora at "
                                                        "n = 16 (1 of 2 seeds).")


def test_a_cell_another_compare_trains_now_is_said_apart_without_resume_advice():
    """Two compares into one store: the first to end rendered the others' running cells as 'run the same command
    again to resume', where its own summary said to run headstart report once the other ends."""
    plan = [cell("lora", 16, 0), cell("lora", 16, 1), cell("lora", 64, 0)]
    found = unfinished(plan, [finished(plan[0]), RunResult(plan[1]["key"], {}, "running")])
    assert found["text"] == ("2 of the last compare's 3 planned runs have no result: lora at n = 64 (1 of 1 seed); 1 is "
                             "being trained now by a compare into this store (headstart report once it ends). The "
                             "recommendation and the curves are over what finished; run the same command again to resume "
                             "(finished runs are skipped)")
    only = unfinished(plan[:2], [finished(plan[0]), RunResult(plan[1]["key"], {}, "running")])["text"]
    assert only.endswith("no result: 1 is being trained now by a compare into this store (headstart report once it ends). "
                         "The recommendation and the curves are over what finished"), only


def test_arms_are_labelled_as_the_report_labels_them_and_all_with_its_rows():
    """The plan held each arm's resolved options (every default filled in): 'lora[alpha=16, dropout=0.1, rank=8]'
    where the report said 'lora'; only settings in which arms of one strategy differ are shown."""
    plan = [cell("lora", 16, 0, rank=8, alpha=16), cell("lora", 16, 1, rank=8, alpha=16), cell("lora", "all", 0, rank=8, alpha=16),
            cell("lora", 16, 0, rank=4, alpha=16)]
    plan[2]["n_actual"] = 987
    text = unfinished(plan, [finished(plan[0])])["text"]
    assert "lora[rank=8] at n = 16 (1 of 2 seeds)" in text and "n = all (987) (no run of any arm)" in text
    assert "lora[rank=4] (no run at any size)" in text and "alpha" not in text


def test_two_backbones_are_named_and_a_long_list_is_cut_with_a_count():
    plan = [cell("lora", n, 0, b) for b in ("minilm", "mpnet") for n in (8, 16, 32, 64)]
    done = [finished(c) for c in plan if c["n"] in (8, 32)]
    text = unfinished(plan, done)["text"]
    assert "n = 16 (no run of any arm); n = 64 (no run of any arm)" in text
    many = [cell(f"arm{i}", 16, s) for i in range(9) for s in (0, 1)] + [cell(f"arm{i}", 64, 0) for i in range(9)]
    text = unfinished(many, [finished(c) for c in many if c["seed"] == 0])["text"]
    assert "arm0 at n = 16 (1 of 2 seeds)" in text and "; and 3 more." in text


def test_an_arm_planned_beside_a_stored_one_of_its_strategy_is_named_by_their_difference_as_the_report_names_it():
    """A tuned compare, then an untuned one stopped after its first run: 'not finished' said plain 'linear-probe' (the
    plan's cells alone) where the report's recommendation said the tuned one as plain 'linear-probe' too. A plan stored
    before its cells recorded their data is placed by backbone."""
    from headstart.analysis import summarize

    def stored(c, tune):
        spec = {"strategy": c["strategy"], "n": c["n"], "n_requested": c["n"], "seed": c["seed"], "backbone": "minilm",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}, "tune": tune}
        return RunResult(f"{c['key']}-{tune}", spec, "done", metrics={"accuracy": 0.7}, val_metrics={"accuracy": 0.7})

    tuned = {"param": "lr", "grid": [0.001, 0.01]}
    plan = [{**cell(a, 16, 0), "train": {}, "tune": None} for a in ("scratch", "linear-probe")]
    results = [stored(c, tuned) for c in plan] + [stored(plan[0], None)]
    plan[0]["key"] = results[-1].key  # the untuned scratch ran, the untuned linear-probe did not
    for with_data in (False, True):
        cells = [{**c, "data": {"name": "toy", "hash": "h"}, "backbone_config": None} if with_data else c for c in plan]
        text = unfinished(cells, results)["text"]
        assert "no result: linear-probe[tuned=no] (no run at any size)." in text, text
        arms = {r["strategy"] for r in summarize(results, plan=cells)["curves"]}
        assert arms == {"scratch[grid=0.001,0.01, tuned=yes]", "scratch[tuned=no]",
                        "linear-probe[grid=0.001,0.01, tuned=yes]"}, arms
