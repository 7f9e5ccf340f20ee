"""Tests of headstart/analysis/unfinished.py: what a stopped compare planned and has no result for, in a reader's
groups (an arm with no run at any size, a size with no run of any arm, the rest with their seeds)."""

from __future__ import annotations

from headstart.analysis.unfinished import unfinished
from headstart.results import RunResult


def cell(arm, n, seed, backbone="minilm"):
    return {"key": f"{backbone}-{arm}-{n}-{seed}", "arm": arm, "n": n, "seed": seed, "backbone": backbone}


def finished(c, status="done"):
    return RunResult(c["key"], {"strategy": c["arm"], "n": c["n"], "seed": c["seed"]}, status, metrics={"accuracy": 0.7})


def test_an_arm_and_a_size_with_nothing_are_named_whole_and_the_rest_by_seeds():
    plan = [cell(a, n, s) for a in ("linear-probe", "full-finetune", "lora") for n in (16, 64) for s in (0, 1)]
    done = [finished(c) for c in plan if c["arm"] != "full-finetune" and c["n"] == 16 and (c["arm"], c["seed"]) != ("lora", 1)]
    found = unfinished(plan, done)
    assert (found["planned"], found["missing"]) == (12, 9)
    assert found["text"] == ("9 of the last compare's 12 planned runs have no result: full-finetune (no run at any size); "
                             "n = 64 (no run of any arm); lora at n = 16 (1 of 2 seeds). The recommendation and the curves "
                             "are over what finished; run the same command again to resume (finished runs are skipped)")


def test_a_failed_or_diverged_run_is_a_result_and_a_complete_or_unrecorded_plan_says_nothing():
    plan = [cell("lora", 16, 0), cell("lora", 16, 1)]
    assert unfinished(plan, [finished(plan[0], "failed"), finished(plan[1], "diverged")]) is None
    assert unfinished(None, []) is None and unfinished([], []) is None  # a store from before plans were kept
    running = [finished(plan[0]), RunResult(plan[1]["key"], {}, "pending")]
    assert unfinished(plan, running)["text"].startswith("1 of the last compare's 2 planned runs has no result: lora at "
                                                        "n = 16 (1 of 2 seeds).")


def test_two_backbones_are_named_and_a_long_list_is_cut_with_a_count():
    plan = [cell("lora", n, 0, b) for b in ("minilm", "mpnet") for n in (8, 16, 32, 64)]
    done = [finished(c) for c in plan if c["n"] in (8, 32)]
    text = unfinished(plan, done)["text"]
    assert "n = 16 (no run of any arm); n = 64 (no run of any arm)" in text
    many = [cell(f"arm{i}", 16, s) for i in range(9) for s in (0, 1)] + [cell(f"arm{i}", 64, 0) for i in range(9)]
    text = unfinished(many, [finished(c) for c in many if c["seed"] == 0])["text"]
    assert "arm0 at n = 16 (1 of 2 seeds)" in text and "; and 3 more." in text
