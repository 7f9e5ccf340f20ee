"""Tests of headstart/adapt.py: which methods can apply, refused or left out before anything trains; what adapt
prints. (Training every method and the oracle on tiny data: tests/test_ood.py.)"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from conftest import assert_user_error, run_cli, tiny_backbone, tiny_cnn

from headstart.adapt import refusals


def test_a_method_applies_by_the_models_modules_the_task_and_the_strategy():
    """bn-adapt needs BatchNorm (the tiny text encoder has LayerNorm only, the tiny CNN has BatchNorm), tent a
    classification run, an alignment term features that train."""
    everything = ["source-only", "coral", "bn-adapt", "tent", "tent-episodic", "lp-ft"]
    text = refusals(everything, model=tiny_backbone(0), task="classification", strategy="full-finetune")
    assert list(text) == ["bn-adapt"] and "no BatchNorm layer" in text["bn-adapt"]
    assert refusals(everything, model=tiny_cnn(0), task="classification", strategy="full-finetune") == {}
    regression = refusals(everything, model=tiny_cnn(0), task="regression", strategy="full-finetune")
    assert list(regression) == ["tent", "tent-episodic"]
    fixed = refusals(["coral", "mmd", "importance"], model=tiny_backbone(0), task="classification", strategy="linear-probe")
    assert set(fixed) == {"coral", "mmd"}, fixed


def test_a_backbone_of_the_other_modality_is_named_before_the_methods_it_cannot_apply(tiny_registry, tmp_path,
                                                                                       monkeypatch, capsys):
    """Images with a text backbone and bn-adapt among the methods were told the model has no BatchNorm layer, not that
    the backbone cannot read them."""
    assert_user_error(run_cli(["adapt", "--source", "sklearn-digits", "--target", "mnist-5k", "--backbone", "tiny",
                               "--methods", "source-only,bn-adapt", "--sizes", "16", "--seeds", "1", "--out",
                               str(tmp_path / "a")], monkeypatch, capsys),
                      "'sklearn-digits' holds images but backbone", "reads texts; use --backbone")


def test_a_method_given_that_cannot_apply_is_refused_before_the_oracle_trains(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                              monkeypatch, capsys):
    out = tmp_path / "a"
    assert_user_error(run_cli(["adapt", "--source", str(toy_csv), "--target", str(other_csv), "--backbone", "tiny",
                               "--methods", "source-only,bn-adapt,coral", "--sizes", "16", "--seeds", "1", "--out", str(out)],
                              monkeypatch, capsys),
                      "--methods bn-adapt cannot apply to full-finetune on tiny: the model has no BatchNorm layer",
                      "drop it, e.g. --methods source-only,coral")
    assert not (out / "runs.sqlite").exists(), "nothing trained: no oracle left alone in a store"


def test_the_default_methods_leave_out_what_cannot_apply_and_the_summary_shows_the_floor_and_no_oracle(
        toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    out = tmp_path / "b"
    code, printed, err = run_cli(["adapt", "--source", str(toy_csv), "--target", f"{other_csv}[neutral=-]", "--backbone", "tiny",
                                  "--no-oracle", "--sizes", "16", "--seeds", "1", "--no-tune", "--max-steps", "2",
                                  "--min-steps", "2", "--out", str(out), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    lines = printed.splitlines()
    assert lines[0].startswith("note: left out of the default methods, as they cannot apply to full-finetune on tiny: "
                               "bn-adapt (the model has no BatchNorm layer"), printed
    assert sum(line.startswith("note: ") for line in lines) == 2
    (budget,) = [line for line in lines if line.startswith("note: budget as run")]
    assert "capped at 2 by max_steps" in budget, "the cap the scores were bought under is said, as compare's report says it"
    (floor,) = [line for line in lines if line.startswith("majority class n=16: ")]
    assert lines.index(floor) < next(i for i, line in enumerate(lines) if line.startswith("source-only n=16: "))
    saved = json.loads((out / "adaptation.json").read_text())
    methods = [r["method"] for r in saved["rows"]]
    assert methods == ["source-only", "dann", "coral", "mmd", "importance", "tent", "tent-episodic"]
    assert all(r["majority"] == saved["rows"][0]["majority"] for r in saved["rows"])
    for r in saved["rows"]:  # each flagged row says so on its line, and a sentence on it follows
        line = next(x for x in lines if x.startswith(f"{r['method']} n=16: "))
        assert ("[flagged: " in line) == bool(r["flags"]), line
        assert any(x.startswith(f"flag: {r['method']} (n = 16): ") for x in lines) == bool(r["flags"])
    written = (out / "adaptation.md").read_text()
    assert "| majority class | 16 |" in written and "- left out of the default methods" in written
    assert "ceiling only" not in written and "No oracle" in written


def test_the_summary_prints_the_oracle_once_a_size_beside_the_floor():
    from pathlib import Path

    from headstart.adapt import AdaptResult, summary_lines

    oracle = {"mean": 0.379, "ci_low": 0.35, "ci_high": 0.41, "seeds": 2}
    rows = [{"method": m, "n": 64, "mean": v, "ci_low": v, "ci_high": v, "seeds": 2, "over_baseline": None, "gap_closed": None,
             "oracle": oracle, "majority": 0.1, "one_class": 0, "flags": [], "under_trained": None} for m, v in
            (("source-only", 0.3), ("tent", 0.32))]
    lines = summary_lines(AdaptResult(Path("."), rows=rows))
    assert lines[:2] == ["majority class n=64: 10.0% on the target (always answering its most frequent class; a method at "
                         "or below it does no better)",
                         "oracle n=64: 37.9% on the target (CI 35.0 to 41.0) (the strategy trained on the target's own "
                         "labels: the ceiling the gaps below are shares of)"]
    assert sum(line.startswith("oracle ") for line in lines) == 1


def test_max_test_caps_the_source_and_the_target_test_rows_the_oracle_included(toy_csv, tiny_registry, tmp_path,
                                                                                monkeypatch, capsys):
    import pandas as pd
    from conftest import make_toy

    from headstart.store import Store

    data = make_toy(300, seed=7)  # the source's two labels: the oracle trains on them
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    out = tmp_path / "capped"
    code, printed, err = run_cli(["adapt", "--source", str(toy_csv), "--target", str(target), "--backbone", "tiny",
                                  "--methods", "source-only", "--sizes", "16", "--seeds", "1", "--no-tune", "--max-steps", "2",
                                  "--min-steps", "2", "--max-test", "12", "--out", str(out), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    with Store(out, create=False) as store:
        runs = store.results()
    assert runs and all(r.spec["data"]["split"]["max_test"] == 12 for r in runs)
    # uncapped the test splits are 20%: 40 and 60 rows; a stratified cut may pass the cap by a row a class
    assert all(r.metrics["n"] <= 12 + 2 for r in runs if "n" in r.metrics)
    scored = [o["test_rows"] for r in runs for o in (r.record or {}).get("ood") or ()]
    assert scored and all(n <= 12 for n in scored)
    assert any(line.startswith("oracle n=16: ") for line in printed.splitlines()), printed
    said = re.search(r"- scored on (\d+) test rows of the source and (\d+) of the target \(--max-test 12; each class "
                     r"rounds", (out / "adaptation.md").read_text())  # the counts themselves, as no table there gives them
    assert said and int(said[2]) in scored, said


def test_max_test_takes_all_as_continual_and_multitask_do_and_a_bad_one_is_named_in_each_surfaces_words(
        toy_csv, tmp_path, monkeypatch, capsys):
    import headstart.adapt
    from headstart.errors import ConfigError

    given = {}

    def record(*args, **kwargs):
        given.update(kwargs)
        raise ConfigError("stopped before training")

    monkeypatch.setattr(headstart.adapt, "adapt", record)
    command = ["adapt", "--source", str(toy_csv), "--target", str(toy_csv), "--out", str(tmp_path / "a"), "-q"]
    assert_user_error(run_cli([*command, "--max-test", "all"], monkeypatch, capsys), "stopped before training")
    assert given["max_test"] == "all", "all: every row, as continual's and multitask's --max-test all"
    monkeypatch.undo()  # adapt itself: its refusal, in the CLI's words
    assert_user_error(run_cli([*command, "--max-test", "0"], monkeypatch, capsys),
                      "--max-test must be a positive integer or all, got '0'; e.g. --max-test 1000")
    with pytest.raises(ConfigError, match=r"^max_test must be a positive integer or 'all', got 0; e\.g\. max_test=1000$"):
        headstart.adapt(str(toy_csv), str(toy_csv), out=tmp_path / "b", max_test=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("entry", ["adapt", "continual", "multitask"])
def test_python_takes_max_test_all_as_the_cli_does(entry, tmp_path, monkeypatch):
    """``max_test="all"`` from Python is ``--max-test all``: every test row ("all", which no data default caps), not a
    refusal."""
    import headstart
    import headstart.data.splits
    import headstart.outdir
    from headstart.errors import ConfigError

    def stop(out, kind):  # each entry claims its --out right after reading max_test: stop there
        raise ConfigError("stopped before training")

    monkeypatch.setattr(headstart.outdir, "claim", stop)
    real, read = headstart.data.splits.max_test_rows, []
    monkeypatch.setattr(headstart.data.splits, "max_test_rows", lambda value: read.append(real(value)) or read[-1])
    call = {"adapt": lambda **kw: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", **kw),
            "continual": lambda **kw: headstart.continual("text", **kw),
            "multitask": lambda **kw: headstart.multitask(**kw)}[entry]
    with pytest.raises(ConfigError, match="^stopped before training$"):
        call(max_test="all", out=tmp_path / "a")
    assert read == ["all"], "read as every test row before anything is claimed"
    with pytest.raises(ConfigError, match=r"^max_test must be a positive integer or 'all', got 'ten'; e\.g\. max_test=1000$"):
        call(max_test="ten", out=tmp_path / "a")


def test_adapt_refuses_a_compares_store_and_resumes_its_own(tmp_path):
    """adapt into a compare's --out replaced that store's recorded sweep and its report; a store adapt wrote resumes."""
    from headstart.store_command import check_not_a_compare
    from headstart.errors import ConfigError
    from headstart.results import RunResult
    from headstart.store import Store

    with Store(tmp_path / "cmp") as store:
        store.set_sweep("headstart compare --strategies lora --seeds 3", {})
        store.put(RunResult("k", {"strategy": "lora", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
    with pytest.raises(ConfigError, match=r"holds the store of another command \(headstart compare --strategies lora "
                                          r"--seeds 3\); adapt would add its runs to it .* e\.g\. '.*cmp-adapt'"):
        check_not_a_compare(tmp_path / "cmp")
    with Store(tmp_path / "mine") as store:
        store.set_sweep("headstart adapt --source rotten-tomatoes --target drug-reviews-sentiment", {}, by="adapt")
        store.put(RunResult("k", {"strategy": "full-finetune", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
    check_not_a_compare(tmp_path / "mine")
    with Store(tmp_path / "old") as store:  # written before the store kept whose it is: adapt's by its command
        store.conn.execute("INSERT OR REPLACE INTO meta VALUES ('sweep', ?)", (json.dumps(
            {"command": "headstart adapt --source rotten-tomatoes --target drug-reviews-sentiment", "sweep": {}}),))
        store.conn.commit()
        store.put(RunResult("k", {"strategy": "full-finetune", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
    check_not_a_compare(tmp_path / "old")
    check_not_a_compare(tmp_path / "new")
    from headstart.store_command import by_adapt

    assert by_adapt("headstart --device cpu adapt --source x") and by_adapt("headstart --device=cpu adapt --source x")
    assert by_adapt("headstart.adapt(source='x')") and not by_adapt("headstart compare --out runs/adapt-x")
    assert not by_adapt("headstart --device cpu compare --out adapt")
    with Store(tmp_path / "named") as store:  # a compare whose folder names adapt is still a compare's
        long = "headstart compare --arms 'linear-probe[head_lr=0.01],linear-probe[head_lr=0.003],linear-probe[head_lr=0.001]'"
        store.set_sweep(long, {})
        store.put(RunResult("k", {"strategy": "lora", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
    with pytest.raises(ConfigError, match=r"\(headstart compare --arms 'linear-probe\[head_lr=0\.01\],linear-probe\[head_lr=0\.003…\)"):
        check_not_a_compare(tmp_path / "named")  # a cut command shows where it was cut


def test_compare_refuses_an_adapt_store_as_adapt_refuses_a_compares(tmp_path):
    """compare into adapt's --out added its runs and replaced adapt's report, which then opened "This store was written
    by headstart adapt" above the compare's recommendation; adapt's own cells (its command) still go through."""
    import headstart
    from headstart.errors import ConfigError
    from headstart.results import RunResult
    from headstart.store import Store

    with Store(tmp_path / "ad") as store:
        store.set_sweep("headstart adapt --source rotten-tomatoes --target drug-reviews-sentiment --sizes 16", {}, by="adapt")
        store.put(RunResult("k", {"strategy": "linear-probe", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
    before = (tmp_path / "ad" / "runs.sqlite").read_bytes()
    with pytest.raises(ConfigError, match=r"holds the store of an adapt \(headstart adapt --source rotten-tomatoes .*\); "
                                          r"compare would add its runs .* e\.g\. '.*ad-compare'"):
        headstart.compare(strategies="linear-probe", sizes=16, seeds=1, out=tmp_path / "ad")
    assert (tmp_path / "ad" / "runs.sqlite").read_bytes() == before


def test_adapt_called_with_its_own_command_text_resumes_its_store_and_compare_still_refuses_it(toy_csv, tiny_registry,
                                                                                                tmp_path):
    """``adapt(command="...")`` recorded that text alone, which did not read as adapt's: its second call refused its own
    store as "another command's", and a compare took it. The store records whose it is beside the command."""
    import pandas as pd
    from conftest import make_toy

    import headstart
    from headstart.errors import ConfigError
    from headstart.store import Store

    data = make_toy(300, seed=7)  # the source's two labels
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    out = tmp_path / "mine"
    kwargs = dict(methods="source-only", sizes=16, seeds=1, tune=None, out=out, oracle=False,
                  config={"max_steps": 2, "min_steps": 2}, backbone="tiny", command="nightly adaptation job")
    first = headstart.adapt(str(toy_csv), str(target), **kwargs)
    assert first.trained == 1
    again = headstart.adapt(str(toy_csv), str(target), **kwargs)
    assert again.trained == 0, "resumed: its one run stored"
    with Store(out, create=False) as store:
        assert store.sweep()["by"] == "adapt" and store.commands() == ["nightly adaptation job"]
    before = (out / "runs.sqlite").read_bytes()
    with pytest.raises(ConfigError, match=r"holds the store of an adapt \(nightly adaptation job\); compare would add"):
        headstart.compare(strategies="linear-probe", sizes=16, seeds=1, out=out, backbone="tiny", data=str(toy_csv))
    assert (out / "runs.sqlite").read_bytes() == before


def test_a_command_that_stored_no_run_leaves_no_trace_in_the_stores_commands(tmp_path):
    """An adapt stopped before its first run left its command in the store's list; a compare then run there printed
    "run these in order": the adapt first, which would refuse the compare's runs. Commands before a store's first run
    are forgotten; after it each distinct one is kept, oldest first."""
    from headstart.results import RunResult
    from headstart.store import Store
    from headstart.store_command import check_not_an_adapt, recorded

    with Store(tmp_path / "s") as store:
        store.set_sweep("headstart adapt --source a --target b", {}, by="adapt")
        assert store.commands() == ["headstart adapt --source a --target b"]
    assert recorded(tmp_path / "s") == ("headstart adapt --source a --target b", 0, "adapt")
    check_not_an_adapt(tmp_path / "s")  # nothing stored yet: any store command may take it
    with Store(tmp_path / "s") as store:
        store.set_sweep("headstart compare --sizes 16", {})
        assert store.commands() == ["headstart compare --sizes 16"]
        store.put(RunResult("k", {"strategy": "lora", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
        store.set_sweep("headstart compare --sizes 16,64", {})
        store.set_sweep("headstart compare --sizes 16", {})
        assert store.commands() == ["headstart compare --sizes 16", "headstart compare --sizes 16,64"]
    assert recorded(tmp_path / "s")[1:] == (1, "compare")
    with Store(tmp_path / "c") as store:  # stopped during its first cell: a claimed row, no result
        store.set_sweep("headstart adapt --source a --target b", {}, by="adapt")
        assert store.claim("k1", {"strategy": "lora", "n": 16, "seed": 0}, "host:1:x", 60.0)
        store.mark("k1", {"strategy": "lora", "n": 16, "seed": 0}, "pending")
    assert recorded(tmp_path / "c") == ("headstart adapt --source a --target b", 0, "adapt")
    check_not_an_adapt(tmp_path / "c")
    with Store(tmp_path / "c") as store:
        store.set_sweep("headstart compare --sizes 16", {})
        assert store.commands() == ["headstart compare --sizes 16"]


def test_the_budget_note_names_arms_by_the_methods_that_train_them():
    """Two budgets: the note names "source-only, tent" (tent adapts the source-only runs) and "coral", not the arms'
    labels ("full-finetune+coral")."""
    from headstart.adapt import budget_notes, plan_methods
    from headstart.results import RunResult

    def run(arm, steps):
        return RunResult(key=f"{arm}{steps}", spec={"strategy": "full-finetune", "arm": arm, "n": 16, "seed": 0}, status="done",
                         metrics={"accuracy": 0.5}, record={"budget": {"planned_steps": steps, "epochs": 3, "min_steps": steps,
                                                                          "lr": 5e-5}})

    _, _, where = plan_methods(["source-only", "coral", "tent"], strategy="full-finetune", target="t")
    (note,) = budget_notes([run("full-finetune", 100), run("full-finetune+coral", 40)], [], None, where)
    assert note.startswith("budget as run: source-only, tent: 100 steps") and "; coral: 40 steps" in note, note
    assert "full-finetune" not in note, note


def test_a_method_given_twice_is_refused_as_continual_and_multitask_refuse_an_arm_twice(toy_csv, other_csv, tiny_registry,
                                                                                      tmp_path, monkeypatch, capsys):
    """--methods source-only,source-only was taken silently (one source-only trained), where continual's --arms and
    multitask's --weighting refuse a name given twice as a likely typo for another."""
    out = tmp_path / "twice"
    assert_user_error(run_cli(["adapt", "--source", str(toy_csv), "--target", str(other_csv), "--backbone", "tiny",
                               "--methods", "source-only,coral,source-only", "--sizes", "16", "--seeds", "1", "--out", str(out)],
                              monkeypatch, capsys),
                      "--methods lists a method twice (source-only, coral, source-only); give each once")
    assert not out.exists()


@pytest.mark.parametrize("typed, meant", [("bogus", None), ("xyz", None), ("tnet", "tent"), ("corall", "coral"),
                                          ("sourceonly", "source-only"), ("lpft", "lp-ft"), ("LoRA", "lora")])
def test_an_unknown_method_is_told_a_method_or_a_strategy_only_where_it_is_plausibly_the_one_meant(typed, meant, tmp_path):
    """headstart.adapt(methods="bogus") said "did you mean 'houlsby'?": every strategy was a candidate, and difflib
    calls 'bogus' and 'houlsby' half alike. A strategy is suggested only when very like the name typed."""
    import headstart
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^unknown adaptation method '{typed}'(; did you mean '{meant}'\?)? \(methods: ") as raised:
        headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", methods=f"{typed},source-only", out=tmp_path / "a")
    assert ("did you mean" in str(raised.value)) == (meant is not None), str(raised.value)
    assert not (tmp_path / "a").exists()


def test_an_out_holding_another_adapts_report_is_refused_before_training_and_the_same_run_resumes_or_grows(
        toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """adapt into an --out holding another adapt (--max-steps 2, then 3) trained, exited 0 and wrote an empty table:
    the store's arms were labelled apart (full-finetune[max_steps=2]) and matched no method, and the oracle note said
    there was none. Refused as continual and multitask refuse another run's folder; the same call resumes, and one
    that adds methods, sizes or seeds to the same settings grows the study."""
    import pandas as pd
    from conftest import make_toy

    from headstart.store import Store

    data = make_toy(300, seed=7)  # the source's two labels: the oracle trains on them
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    out = tmp_path / "a"

    def adapt(*extra: str) -> tuple[int, str, str]:
        return run_cli(["adapt", "--source", str(toy_csv), "--target", str(target), "--backbone", "tiny", "--sizes", "16",
                        "--seeds", "1", "--no-tune", "--min-steps", "2", "--out", str(out), "-q", *extra], monkeypatch, capsys)

    code, _, err = adapt("--methods", "source-only", "--max-steps", "2")
    assert code in (0, None), err
    stored, report = (out / "runs.sqlite").read_bytes(), (out / "adaptation.json").read_text()
    assert_user_error(adapt("--methods", "source-only", "--max-steps", "3"),
                      f"--out {str(out)!r} holds the report of another adapt run (max_steps 2, not 3), which this one would "
                      "replace; nothing was trained; give it its own folder, e.g.")
    assert (out / "runs.sqlite").read_bytes() == stored and (out / "adaptation.json").read_text() == report
    assert_user_error(adapt("--methods", "source-only,coral", "--max-steps", "2", "--no-oracle"), "(oracle True, not False)")
    code, _, err = adapt("--methods", "source-only", "--max-steps", "2")
    assert code in (0, None), err
    with Store(out, create=False) as store:
        assert len(store.results()) == 2, "resumed: the oracle and source-only, none trained again"
    code, _, err = adapt("--methods", "source-only,coral", "--max-steps", "2")  # a method added: the study grows
    assert code in (0, None), err
    saved = json.loads((out / "adaptation.json").read_text())
    assert [r["method"] for r in saved["rows"]] == ["source-only", "coral"]
    assert all(r["oracle"] is not None for r in saved["rows"]) and saved["settings"]["methods"] == ["source-only", "coral"]
    assert_user_error(adapt("--methods", "source-only", "--max-steps", "2"), "(methods source-only,coral, not source-only)")


def test_a_report_shows_only_this_calls_runs_and_no_oracle_where_this_call_has_none(toy_csv, tiny_registry, tmp_path,
                                                                                    monkeypatch, capsys):
    """adapt --target T, then --target 'T[a=b]' (no oracle) into the same --out: the notes said "no oracle: ... no
    ceiling ... is reported" while the table showed the first call's oracle, read from the store whatever this call
    ran. With the first call's report there the second is refused (another target); where none was written (a call
    stopped before it), the report holds this call's runs alone."""
    import pandas as pd
    from conftest import make_toy

    data = make_toy(300, seed=7)  # the source's two labels: the oracle trains on them
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    out = tmp_path / "a"

    def adapt(target_text: str, *extra: str) -> tuple[int, str, str]:
        return run_cli(["adapt", "--source", str(toy_csv), "--target", target_text, "--backbone", "tiny", "--sizes", "16",
                        "--seeds", "1", "--no-tune", "--max-steps", "2", "--min-steps", "2", "--methods", "source-only",
                        "--out", str(out), "-q", *extra], monkeypatch, capsys)

    code, printed, err = adapt(str(target))
    assert code in (0, None) and "oracle n=16: " in printed, err
    assert_user_error(adapt(f"{target}[{data.label_names[0]}={data.label_names[1]}]"),
                      f"holds the report of another adapt run (target {target}, not {target}[")
    for name in ("adaptation.json", "adaptation.md"):  # as a call stopped before its report leaves the store
        (out / name).unlink()
    code, printed, err = adapt(str(target), "--no-oracle")
    assert code in (0, None), err
    assert "oracle n=16" not in printed, printed
    saved = json.loads((out / "adaptation.json").read_text())
    assert [r["method"] for r in saved["rows"]] == ["source-only"] and saved["rows"][0]["oracle"] is None
    assert saved["rows"][0]["gap_closed"] is None and "the oracle" not in " ".join(saved["notes"])


def test_the_test_cap_note_gives_the_counts_it_speaks_of():
    """"…so more: report.md gives the count" also sat in adaptation.md, whose tables give no count: the note now gives
    the rows each side was scored on, read from the runs (the target's from their out-of-domain scores and the oracle's)."""
    from headstart.adapt import budget_notes
    from headstart.results import RunResult

    def run(key, source_rows, target_rows=None):
        ood = [{"data": "t", "metrics": {"accuracy": 0.4}, "test_rows": target_rows}] if target_rows else []
        return RunResult(key=key, spec={"strategy": "full-finetune", "n": 16, "seed": 0}, status="done",
                         metrics={"accuracy": 0.5, "n": source_rows}, record={"ood": ood})

    (note,) = budget_notes([run("a", 304, 300), run("b", 304, 302)], [run("oracle", 300)], 300)
    assert note == ("scored on 304 test rows of the source and 300 to 302 of the target (--max-test 300; each class rounds "
                    "its share up to whole rows and groups, so a count can pass it): each interval covers those rows' "
                    "sampling error, not the whole split's"), note
    (note,) = budget_notes([], [], 300)
    assert note.startswith("scored on about 300 test rows of the source and of the target (--max-test 300;"), note
    assert "report.md" not in note


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_stop_during_adapt_says_which_and_how_many_cells_are_stored(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                       monkeypatch, capsys, how):
    """adapt's cells run as compare's, which reads SIGTERM as Ctrl-C, but the command printed main's plain
    "interrupted; ..." without the signal or the count compare says."""
    from conftest import stop_in_run

    stop_in_run(monkeypatch, 2, how)
    code, printed, err = run_cli(["adapt", "--source", str(toy_csv), "--target", f"{other_csv}[neutral=-]", "--backbone",
                                  "tiny", "--no-oracle", "--methods", "source-only,coral", "--sizes", "16", "--seeds", "1", "--no-tune",
                                  "--max-steps", "4", "--min-steps", "4", "--out", str(tmp_path / "a"), "-q"], monkeypatch, capsys)
    by = "interrupted by SIGTERM" if how == "sigterm" else "interrupted"
    assert code == 130 and err == f"{by}: 1 of 2 cells stored; run the same command again to resume (stored cells are skipped)\n", err


def test_python_takes_adapts_training_flags_as_keywords_over_its_config(toy_csv, tmp_path, monkeypatch, capsys):
    """``headstart adapt --image-size 64 --max-steps 3 ...`` is ``adapt(..., image_size=64, max_steps=3)``: the same
    training settings (they were reachable only through ``config``); a keyword wins over ``config``'s field."""
    import headstart.sweep_cell
    from headstart.errors import ConfigError

    trained = []

    def captured(sweep):
        trained.append(sweep.train)
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.sweep_cell, "loaded_data", captured)
    flags = {"image_size": 64, "bn": "frozen", "max_steps": 3, "min_steps": 2, "epochs": 4}
    assert_user_error(run_cli(["adapt", "--source", str(toy_csv), "--target", str(toy_csv), "--out", str(tmp_path / "a"),
                               "-q", *(f for k, v in flags.items() for f in (f"--{k.replace('_', '-')}", str(v)))],
                              monkeypatch, capsys), "captured")
    with pytest.raises(ConfigError, match="^captured$"):
        headstart.adapt(str(toy_csv), str(toy_csv), out=tmp_path / "b", config={"max_steps": 9, "lr": 1e-4}, **flags)
    cli, python = trained
    assert python == dataclasses.replace(cli, lr=1e-4) and python.max_steps == 3 and python.image_size == 64
    with pytest.raises(ConfigError, match=r"min_steps=5 is above max_steps=3"):
        headstart.adapt(str(toy_csv), str(toy_csv), out=tmp_path / "c", min_steps=5, max_steps=3)


@pytest.mark.parametrize("surface", ["cli", "python"])
@pytest.mark.parametrize("target, said", [
    ("rotten-tomatoes[text=x]", "--target 'rotten-tomatoes': [text=x] names a file's columns, but 'rotten-tomatoes' is a "
                                "built-in dataset whose columns are fixed; drop [text=x]"),
    ("OTHER[text=x]", "text column 'x' not found in {other} (columns: text, label); name the file's columns in "
                      "brackets, e.g. --target '{path}[text=x, label=COLUMN]'"),
])
def test_a_targets_brackets_are_read_as_eval_datas_are(toy_csv, other_csv, tmp_path, monkeypatch, capsys, surface,
                                                       target, said):
    """--target reads NAME[text=C, label=C] by --eval-data's reader (ood.read_elsewhere): brackets on a built-in dataset
    are named as its brackets (adapt said "--text-column 'x' applies to files", a flag it has not), and a file's missing
    column offers the brackets (adapt said "adapt reads files by their column names")."""
    import headstart
    from headstart.errors import HeadstartError

    target = target.replace("OTHER", str(other_csv))
    expected = said.format(other=repr(str(other_csv)), path=other_csv)
    if surface == "cli":
        assert_user_error(run_cli(["adapt", "--source", str(toy_csv), "--target", target, "--methods", "source-only",
                                   "--sizes", "16", "--seeds", "1", "--max-steps", "3", "--out", str(tmp_path / "a")],
                                  monkeypatch, capsys), expected)
    else:
        with pytest.raises(HeadstartError) as error:
            headstart.adapt(str(toy_csv), target, methods="source-only", sizes=16, seeds=1, max_steps=3,
                            out=tmp_path / "a")
        python = expected.replace("--target 'rotten-tomatoes':", "target='rotten-tomatoes':")  # the keyword, from Python
        assert python.split("; ")[0] in str(error.value) and "[text=x" in str(error.value), str(error.value)
        assert "column names" not in str(error.value) and "--text-column" not in str(error.value), str(error.value)


def test_an_out_an_older_adapt_wrote_with_max_test_all_as_none_takes_max_test_all_again(toy_csv, tiny_registry, tmp_path,
                                                                                         monkeypatch, capsys):
    """An adapt before --max-test all was "all" stored it as None, as it stores no --max-test: the same rows on text
    (no data default caps its test split), so the same command again resumes that --out (it was refused as another
    adapt run, "max_test None, not all"); another cap is still refused."""
    import pandas as pd
    from conftest import make_toy

    from headstart.store import Store

    data = make_toy(300, seed=7)
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    out = tmp_path / "a"

    def adapt(max_test: str) -> tuple[int, str, str]:
        return run_cli(["adapt", "--source", str(toy_csv), "--target", str(target), "--backbone", "tiny", "--sizes", "16",
                        "--seeds", "1", "--no-tune", "--methods", "source-only", "--max-steps", "2", "--min-steps", "2",
                        "--max-test", max_test, "--out", str(out), "-q"], monkeypatch, capsys)

    code, _, err = adapt("all")
    assert code in (0, None), err
    report = json.loads((out / "adaptation.json").read_text())
    assert report["settings"]["max_test"] == "all"
    report["settings"]["max_test"] = None  # as an older adapt wrote --max-test all
    (out / "adaptation.json").write_text(json.dumps(report))
    code, _, err = adapt("all")
    assert code in (0, None), err
    with Store(out, create=False) as store:
        assert len(store.results()) == 2, "resumed: the oracle and source-only, none trained again"
    assert_user_error(adapt("50"), "(max_test all, not 50)")


def test_max_val_caps_the_validation_rows_keyed_in_the_runs_and_in_adaptation_json(toy_csv, tiny_registry, tmp_path,
                                                                                  monkeypatch, capsys):
    """adapt had no --max-val (train's and compare's): every check scored up to 300 validation rows. It caps the
    source's and the oracle's split, is kept in adaptation.json's settings as max_test is (an --out of another cap is
    refused, nothing lost), and a record from before the flag (no max_val: the default's runs) is the same run."""
    import headstart
    import pandas as pd
    from conftest import make_toy

    from headstart.errors import ConfigError
    from headstart.store import Store

    data = make_toy(300, seed=7)  # the source's two labels: the oracle trains on them
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)

    def adapt(out, *extra: str) -> tuple[int, str, str]:
        return run_cli(["adapt", "--source", str(toy_csv), "--target", str(target), "--backbone", "tiny", "--methods",
                        "source-only", "--sizes", "16", "--seeds", "1", "--no-tune", "--max-steps", "2", "--min-steps", "2",
                        "--out", str(out), "-q", *extra], monkeypatch, capsys)

    capped = tmp_path / "capped"
    code, _, err = adapt(capped, "--max-val", "8")
    assert code in (0, None), err
    with Store(capped, create=False) as store:
        runs = store.results()
    assert len(runs) == 2 and all(r.spec["data"]["split"]["max_val"] == 8 for r in runs), "source-only and the oracle"
    assert json.loads((capped / "adaptation.json").read_text())["settings"]["max_val"] == 8
    stored = (capped / "runs.sqlite").read_bytes()
    assert_user_error(adapt(capped), f"--out {str(capped)!r} holds the report of another adapt run (max_val 8, not 300)")
    assert (capped / "runs.sqlite").read_bytes() == stored
    assert_user_error(adapt(capped, "--max-val", "0"), "--max-val must be a positive integer")
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer"):
        headstart.adapt(str(toy_csv), str(target), out=tmp_path / "b", max_val=0)

    plain = tmp_path / "plain"
    code, _, err = adapt(plain)
    assert code in (0, None), err
    with Store(plain, create=False) as store:
        keys = {r.key for r in store.results()}
        assert all(r.spec["data"]["split"].get("max_val", 300) == 300 for r in store.results())
    record = json.loads((plain / "adaptation.json").read_text())
    assert record["settings"].pop("max_val") == 300
    (plain / "adaptation.json").write_text(json.dumps(record))  # as written before adapt took --max-val
    code, _, err = adapt(plain, "--max-val", "300")  # the default, typed: the same runs, resumed
    assert code in (0, None), err
    with Store(plain, create=False) as store:
        assert {r.key for r in store.results()} == keys, "resumed, none trained again"


def test_adapts_notes_on_star_ratings_name_no_task_adapt_does_not_take(tiny_registry, tmp_path, monkeypatch, capsys):
    """A source (and a target) of -1/0/1 ratings was noted "pass --task regression": adapt has no --task. The notes
    say how the labels were read; here the run is then refused (a method that cannot apply) before anything trains."""
    source, target = tmp_path / "source.csv", tmp_path / "target.csv"
    for path, seed in ((source, 0), (target, 1)):
        path.write_text("review,rating\n" + "".join(f"review {i} {seed} {['bad', 'fine', 'good'][i % 3]},{i % 3 - 1}\n"
                                                     for i in range(60)))
    code, _, err = run_cli(["adapt", "--source", str(source), "--target", str(target), "--backbone", "tiny", "--methods",
                            "source-only,bn-adapt", "--sizes", "16", "--seeds", "1", "--out", str(tmp_path / "a")],
                           monkeypatch, capsys)
    assert code == 2 and "note: source.csv: labels read as 3 classes (-1, 0, 1), not as a scale" in err.splitlines(), err
    assert "--task" not in err, err


def test_a_regression_sources_target_of_whole_number_ratings_is_read_as_numbers_the_oracle_too(tiny_registry, tmp_path,
                                                                                              monkeypatch):
    """A regression source (ratings with halves) beside a target of whole-number ratings under another column name was
    refused: the target's labels read as classes ("a text classification dataset; this run is a text regression run"). The target is read as
    the source's task says, and the oracle trains on it as a regression target."""
    import headstart
    import headstart.api_compare

    source, target = tmp_path / "source.csv", tmp_path / "target.csv"
    source.write_text("review,rating\n" + "".join(f"review {i} {['bad', 'fine', 'good'][i % 3]},{1 + i % 9 / 2}\n"
                                                  for i in range(90)))
    target.write_text("review,stars\n" + "".join(f"target {i} {['bad', 'fine', 'good'][i % 3]},{1 + i % 5}\n"
                                                  for i in range(90)))
    asked = []

    def stop(sweep, *args, **kwargs):
        asked.append(sweep)
        raise KeyboardInterrupt  # nothing needs to train: what the oracle would train on is asked of it

    monkeypatch.setattr(headstart.api_compare, "run_compare", stop)
    with pytest.raises(KeyboardInterrupt):
        headstart.adapt(str(source), str(target), backbone="tiny", methods="source-only", sizes=16, seeds=1,
                        max_steps=2, oracle=True, out=tmp_path / "a")
    assert asked and asked[0].data == str(target) and asked[0].task == "regression", asked


def _written_target(tmp_path):
    """A target file with the toy source's two labels (so the oracle could train on them)."""
    import pandas as pd
    from conftest import make_toy

    data = make_toy(300, seed=7)
    target = tmp_path / "target.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(target, index=False)
    return target


def test_test_time_methods_adapt_the_source_only_arm_alone(toy_csv, tiny_registry, tmp_path):
    """adapt ran tent on every arm (coral's, importance's ...), most of its time, for scores adaptation.md never shows:
    its method table reads tent on source-only only. Now only the source-only arm's runs are adapted and scored
    after tent."""
    import headstart
    from headstart.store import Store

    result = headstart.adapt(str(toy_csv), str(_written_target(tmp_path)), methods="source-only,coral,tent", sizes=16,
                             seeds=1, tune=None, out=tmp_path / "a", oracle=False, config={"max_steps": 2, "min_steps": 2},
                             backbone="tiny", progress=False)
    assert result.trained == 2 and {r["method"] for r in result.rows} == {"source-only", "coral", "tent"}
    with Store(tmp_path / "a", create=False) as store:
        after = {r.spec["strategy"] + ("+" + ",".join(r.spec["terms"]) if r.spec.get("terms") else ""):
                 [o["tta"] for o in r.record["ood"]] for r in store.results("done")}
    assert after == {"full-finetune": [None, "tent"], "full-finetune+coral": [None]}, after


def test_an_adapt_store_whose_every_arm_ran_tent_resumes_without_training_again(toy_csv, tiny_registry, tmp_path):
    """A store an earlier adapt wrote, its coral cells scored after tent too, keeps them: a cell that differs only in
    running more test-time adaptations stands for the one planned (sweep_plan.stood_in_by_more_tta)."""
    import headstart
    from headstart.api_compare import run_compare
    from headstart.data.splits import SplitConfig
    from headstart.specs import TrainConfig
    from headstart.sweep_spec import SweepSpec

    target, out = str(_written_target(tmp_path)), tmp_path / "a"
    train = TrainConfig(max_steps=2, min_steps=2)
    old = SweepSpec(data=str(toy_csv), backbone="tiny", arms=("full-finetune", f"full-finetune+coral[data={target}]"),
                    eval_data=(target,), tta=("tent",), sizes=(16,), seeds=1, train=train, tune=None, split=SplitConfig())
    assert run_compare(old, out, by="adapt").trained == 2
    result = headstart.adapt(str(toy_csv), target, methods="source-only,coral,tent", sizes=16, seeds=1, tune=None,
                             out=out, oracle=False, config=train, backbone="tiny", progress=False)
    assert result.trained == 0 and {r["method"] for r in result.rows} == {"source-only", "coral", "tent"}


def test_no_method_is_called_best_on_the_targets_test_labels_and_a_flagged_one_says_so():
    """AdaptResult's line named "best at n=16: tent 0.6629 (source-only 0.5787)": chosen on the target's test labels,
    which the module says choose nothing, and tent there answered one class for every row. It now gives each method's
    score, a flagged one marked, and calls none best; the largest size is "all" where the sizes end in it."""
    from pathlib import Path

    from headstart.adapt import AdaptResult

    row = lambda method, n, mean, flags=(): {"method": method, "n": n, "mean": mean, "flags": list(flags)}
    result = AdaptResult(Path("a1"), trained=3, rows=[row("source-only", 16, 0.5787, ["majority"]), row("coral", 16, 0.5787),
                                                       row("tent", 16, 0.6629, ["majority", "one_class"])])
    assert repr(result) == ("AdaptResult(3 method(s), 3 run(s) trained; on the target's test split at n=16: source-only "
                            "0.5787 (flagged), coral 0.5787, tent 0.6629 (flagged); out=a1)")
    grown = AdaptResult(Path("a1"), rows=[*result.rows, row("source-only", "all", 0.7), row("tent", "all", 0.8)])
    assert "at n=all: source-only 0.7, tent 0.8;" in repr(grown) and "best" not in repr(grown)
