"""Tests of headstart/analysis/train_command.py: the report gives the command that trains the recommended arm as the
compare ran it (its tuned learning rate, options and train settings), and the command trains that cell again."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

from headstart.report import render
from headstart.report.html import script_json
from headstart.results import RunResult
from headstart.store import Store

SWEEP = {"data": "my data.csv", "backbone": "all-minilm-l6-v2", "backbones": [], "strategies": ["linear-probe", "lora"],
         "arms": [], "options": {"lora": {"rank": 4}}, "train": {"max_steps": 3, "batch_size": 16},
         "train_by_strategy": {}, "tune": "lr", "grids": {}, "split": {"max_test": 100, "max_val": 300, "seed": 0,
         "test_fraction": 0.2, "val_fraction": 0.1, "dedupe": False, "stratify": True},
         "text_column": None, "label_column": "sentiment", "task": None, "group_column": None, "split_column": None,
         "pooling": None, "retain": [], "eval_data": [], "tta": [], "sizes": [16, 32], "seeds": 2}


def run(strategy: str, n: int, seed: int, score: float, chosen: float, *, param: str = "head_lr") -> RunResult:
    options = {"rank": 4, "alpha": 16.0} if strategy == "lora" else {}
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "all-minilm-l6-v2",
            "data": {"name": "my data.csv", "hash": "h"}, "options": options,
            "train": {"max_steps": 3, "head_lr": 0.001, "lr": 1e-5, "batch_size": 16},
            "tune": {"param": param, "grid": [0.001, 0.003, 0.01]}}
    return RunResult(key=f"{strategy}-{n}-{seed}", spec=spec, status="done", metrics={"accuracy": score},
                     val_metrics={"accuracy": score}, train_seconds=1.0 if strategy == "linear-probe" else 9.0,
                     trainable_params=770, chosen={param: chosen, "tune_seconds": 1.0})


def store_of(tmp_path: Path, results: list[RunResult], *, plan: bool = True) -> Path:
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", SWEEP,
                        plan=[{"key": r.key, "n": r.spec["n"], "seed": r.spec["seed"]} for r in results] if plan else None)
    return tmp_path


def probe_wins(lora_lrs: tuple[float, float] = (1e-3, 1e-3), probe_lrs: tuple[float, float] = (0.01, 0.01)) -> list[RunResult]:
    out = []
    for seed in range(2):
        for n in (16, 32):
            out.append(run("linear-probe", n, seed, 0.8 + 0.01 * seed, probe_lrs[seed]))
            out.append(run("lora", n, seed, 0.6 + 0.01 * seed, lora_lrs[seed], param="lr"))
    return out


def test_the_report_gives_the_train_command_of_the_recommended_arm_with_its_tuned_rate(tmp_path: Path) -> None:
    """compare chose head_lr 0.01 for the probe, but train (untuned) ran it at 0.001 and no report line said how to
    train what was recommended."""
    paths = render(store_of(tmp_path, probe_wins()))
    doc = json.loads(paths["results.json"].read_text())
    band = doc["recommendation"][0]
    assert band["strategy"] == "linear-probe"
    commands = band["train_commands"]
    assert [c["n"] for c in commands] == [16, 32]
    assert commands[0]["cli"] == ("headstart train --data 'my data.csv' --label-column sentiment --strategy linear-probe "
                                  "--n 16 --head-lr 0.01 --max-steps 3 --max-test 100")
    assert commands[0]["python"] == ("headstart.fit('my data.csv', label_column='sentiment', strategy='linear-probe', "
                                     "n=16, config={'head_lr': 0.01, 'max_steps': 3}, max_test=100)")
    assert commands[0]["note"] == ""
    markdown, html = paths["report.md"].read_text(), paths["report.html"].read_text()
    assert "**To train it:**" in markdown and commands[1]["cli"] in markdown and commands[0]["python"] in markdown
    assert script_json(commands[0]["cli"])[1:-1] in html


def test_seeds_that_chose_different_rates_give_tune_with_the_reason(tmp_path: Path) -> None:
    doc = json.loads(render(store_of(tmp_path, probe_wins(probe_lrs=(0.01, 0.003))))["results.json"].read_text())
    command = doc["recommendation"][0]["train_commands"][0]
    assert "--tune lr" in command["cli"] and "--head-lr" not in command["cli"]
    assert "tune='lr'" in command["python"]
    assert "seeds chose different rates (0.01, 0.003)" in command["note"]


def test_a_seed_that_recorded_no_rate_is_said_so_not_shown_as_none(tmp_path: Path) -> None:
    """The note read 'its 2 seeds chose different rates (0.01, None)' where one seed recorded no tuned rate."""
    results = [dataclasses.replace(r, chosen={"tune_seconds": 1.0})  # tuned, but no head_lr kept
               if r.spec["strategy"] == "linear-probe" and r.spec["seed"] == 1 else r for r in probe_wins()]
    doc = json.loads(render(store_of(tmp_path, results))["results.json"].read_text())
    command = doc["recommendation"][0]["train_commands"][0]
    assert "--tune lr" in command["cli"] and "--head-lr" not in command["cli"]
    assert command["note"] == ("--tune lr, not one head_lr: 1 of its 2 seeds recorded no rate (the rest chose 0.01), "
                               "so train tunes on validation as compare did")
    assert "None" not in (tmp_path / "report.md").read_text().split("**To train it:**", 1)[1]


@pytest.mark.parametrize(("recorded", "seeds", "why"), [
    ([0.01, 0.003], 2, "its 2 seeds chose different rates (0.01, 0.003)"),
    ([0.01, 0.003], 3, "its 2 seeds that recorded one chose different rates (0.01, 0.003); 1 of its 3 seeds recorded no rate"),
    ([0.01], 2, "1 of its 2 seeds recorded no rate (the rest chose 0.01)"),
    ([], 2, "2 of its 2 seeds recorded no rate"),
])
def test_why_a_command_tunes_names_only_the_rates_seeds_recorded(recorded, seeds, why) -> None:
    from headstart.analysis.train_command import _why_tune

    assert _why_tune(recorded, seeds) == why


def test_a_recommended_arm_with_options_passes_them(tmp_path: Path) -> None:
    results = [run("lora", n, seed, 0.9, 3e-4, param="lr") if r.spec["strategy"] == "lora" else
               run("linear-probe", n, seed, 0.5, 0.01) for r in probe_wins()
               for n, seed in [(r.spec["n"], r.spec["seed"])]]
    doc = json.loads(render(store_of(tmp_path, results))["results.json"].read_text())
    band = doc["recommendation"][0]
    assert band["strategy"] == "lora"
    cli = band["train_commands"][0]["cli"]
    assert "--strategy lora" in cli and "--option rank=4" in cli and "--lr 0.0003" in cli
    assert shlex.split(cli)[:4] == ["headstart", "train", "--data", "my data.csv"]


def test_no_command_for_runs_the_store_keeps_no_settings_of(tmp_path: Path) -> None:
    """A store written before compare kept its plan: what the user asked is not known, so no command is guessed."""
    doc = json.loads(render(store_of(tmp_path, probe_wins(), plan=False))["results.json"].read_text())
    assert doc["recommendation"][0]["train_commands"] == []
    assert "**To train it:**" not in (tmp_path / "report.md").read_text()


def test_a_compares_printed_command_trains_the_cell_it_recommends(tiny_registry, toy_csv, tmp_path, monkeypatch,
                                                                   capsys) -> None:
    """The command compare prints, run as is, trains with the settings of the compare's seed-0 cell: the same
    resolved spec with the tuned rate fixed, and the same validation loss."""
    from conftest import run_cli

    store = tmp_path / "cmp"
    code, out, err = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies",
                              "linear-probe,full-finetune", "--sizes", "16", "--seeds", "2", "--max-steps", "3",
                              "--max-test", "40", "--out", str(store), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    doc = json.loads((store / "results.json").read_text())
    commands = [c for band in doc["recommendation"] for c in band["train_commands"]]
    assert commands, doc["recommendation"]
    command = commands[0]
    assert f"train it: {command['cli']}" in out
    args = shlex.split(command["cli"])
    assert args[:2] == ["headstart", "train"] and "--max-steps" in args and "--max-test" in args
    code, _, err = run_cli([*args[1:], "--out", str(tmp_path / "trained"), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    saved = json.loads((tmp_path / "trained" / "spec.json").read_text())
    with Store(store, create=False) as s:
        cell = next(r for r in s.results() if r.spec["strategy"] == args[args.index("--strategy") + 1]
                    and r.spec["seed"] == 0)
    param = cell.spec["tune"]["param"]
    mine = saved["resolved"]
    assert mine["train"][param] == cell.chosen[param]
    assert {k: v for k, v in mine["train"].items() if k != param} == {k: v for k, v in cell.spec["train"].items() if k != param}
    assert (mine["strategy"], mine["n"], mine["options"], mine["data"]) == (cell.spec["strategy"], cell.spec["n"],
                                                                           cell.spec["options"], cell.spec["data"])
    metrics = json.loads((tmp_path / "trained" / "metrics.json").read_text())
    for name in ("loss", "accuracy"):  # the same weights: the same validation scores (train scores no test rows)
        assert metrics["val"][name] == pytest.approx(cell.val_metrics[name], rel=1e-6)


def test_settings_the_recommended_arm_never_reads_are_left_out_of_its_command() -> None:
    """A compare's --max-steps / --lr / --class-weights reach the arms that read them; the command for a recommended
    embed-knn (or a probe, after --lr) copied them all, and train refused it: 'fitted in closed form ... drop it'."""
    from headstart.analysis.train_command import train_command

    sweep = {**SWEEP, "strategies": ["embed-knn", "linear-probe", "full-finetune"], "options": {}, "tune": None,
             "train": {"max_steps": 3, "lr": 5e-5, "class_weights": "balanced", "batch_size": 16}}
    runs = {}
    for strategy in sweep["strategies"]:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": 0, "backbone": "all-minilm-l6-v2",
                "data": {"name": "my data.csv", "hash": "h"}, "options": {}, "train": dict(sweep["train"])}
        runs[strategy] = [RunResult(key=strategy, spec=spec, status="done", metrics={"accuracy": 0.7})]
    record = {"sweep": sweep, "plan": [{"key": s} for s in runs]}
    knn = train_command(runs["embed-knn"], record, 16)["cli"]
    assert not any(f in knn for f in ("--max-steps", "--lr", "--class-weights")), knn
    probe = train_command(runs["linear-probe"], record, 16)["cli"]
    assert "--max-steps 3" in probe and "--class-weights balanced" in probe and "--lr" not in probe, probe
    full = train_command(runs["full-finetune"], record, 16)["cli"]
    assert "--lr 5e-05 --max-steps 3" in full and "--class-weights balanced" in full, full


def test_a_nested_option_value_is_written_as_json_that_option_reads_back() -> None:
    """Label descriptions are stored as (label, text) pairs; the command wrote them as bare comma text, which --option
    reads as one string, and the strategy refused it."""
    from headstart.analysis.train_command import train_command
    from headstart.arm_text import option_value

    pairs = [["fresh", "a positive review, glowing"], ["rotten", "a négative one"]]
    sweep = {**SWEEP, "strategies": ["zero-shot"], "options": {"zero-shot": {"descriptions": pairs}}, "tune": None,
             "train": {}}
    spec = {"strategy": "zero-shot", "n": 0, "n_requested": 0, "seed": 0, "backbone": "all-minilm-l6-v2",
            "data": {"name": "my data.csv", "hash": "h"}, "options": {"descriptions": pairs}, "train": {}}
    runs = [RunResult(key="zs", spec=spec, status="done", metrics={"accuracy": 0.7})]
    cli = train_command(runs, {"sweep": sweep, "plan": [{"key": "zs"}]}, 0)["cli"]
    words = shlex.split(cli)
    given = words[words.index("--option") + 1]
    assert given.startswith("descriptions=") and option_value(given.removeprefix("descriptions=")) == pairs, cli


def test_each_experiment_of_a_two_backbone_store_shows_its_own_command_in_the_report(tmp_path: Path) -> None:
    """compare --backbones A,B: results.json held each experiment's train_commands, but report.md and report.html
    showed only the main (newest) experiment's "To train it"; the other's shows under its own heading now."""
    import dataclasses

    other = "bge-small"
    results = probe_wins()
    results += [dataclasses.replace(r, key=f"{r.key}-{other}", spec={**r.spec, "backbone": other}) for r in results]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", {**SWEEP, "backbones": ["all-minilm-l6-v2", other]},
                        plan=[{"key": r.key, "n": r.spec["n"], "seed": r.spec["seed"], "backbone": r.spec["backbone"]}
                              for r in results])
    paths = render(tmp_path)
    doc = json.loads(paths["results.json"].read_text())
    assert len(doc["other_experiments"]) == 1
    commands = {"main": [c for band in doc["recommendation"] for c in band["train_commands"]],
                "other": [c for band in doc["other_experiments"][0]["summary"]["recommendation"] for c in band["train_commands"]]}
    assert commands["main"] and commands["other"], doc
    backbones = {k: {shlex.split(c["cli"])[shlex.split(c["cli"]).index("--backbone") + 1] if "--backbone" in c["cli"]
                     else "all-minilm-l6-v2" for c in found} for k, found in commands.items()}
    assert len(backbones["main"]) == len(backbones["other"]) == 1 and backbones["main"] != backbones["other"], backbones
    markdown, html = paths["report.md"].read_text(), paths["report.html"].read_text()
    section = markdown[markdown.index("## Other experiments in this store"):]
    assert section.count("**To train it:**") == 1 and markdown.count("**To train it:**") == 2, markdown
    for c in commands["other"]:
        assert c["cli"] in section and c["python"] in section, section
    for c in commands["main"]:
        assert c["cli"] not in section
    for c in commands["main"] + commands["other"]:
        assert script_json(c["cli"])[1:-1] in html


def test_a_compare_on_a_dataframe_gives_the_fit_call_on_that_dataframe(tiny_registry, toy_csv, tmp_path) -> None:
    """compare(df, ...) gave no command at all (train_commands == []); the fit call it gives now names the DataFrame
    as ``df``, says so in its note, gives no CLI line (the CLI cannot read it), and run as is trains the cell again."""
    import pandas as pd

    import headstart

    df = pd.read_csv(toy_csv)
    store = tmp_path / "cmp"
    result = headstart.compare(df, "tiny", strategies="linear-probe,full-finetune", sizes=[16], seeds=2, max_steps=3,
                               max_test=40, out=store, progress=False)
    commands = [c for band in result.summary["recommendation"] for c in band["train_commands"]]
    assert commands, result.summary["recommendation"]
    command = commands[0]
    assert command["cli"] is None and command["python"].startswith("headstart.fit(df, "), command
    assert "df is the DataFrame you passed to compare" in command["note"], command
    markdown = (store / "report.md").read_text()
    assert command["python"] in markdown and "headstart train --data" not in markdown
    run = eval(command["python"][:-1] + ", out=out)", {"headstart": headstart, "df": df, "out": tmp_path / "trained"})
    mine = json.loads((tmp_path / "trained" / "spec.json").read_text())["resolved"]
    with Store(store, create=False) as s:
        cell = next(r for r in s.results() if r.spec["strategy"] == mine["strategy"] and r.spec["seed"] == 0)
    param = cell.spec["tune"]["param"]
    assert mine["train"][param] == cell.chosen[param]
    assert (mine["strategy"], mine["n"], mine["data"]) == (cell.spec["strategy"], cell.spec["n"], cell.spec["data"])
    assert run.val_metrics["accuracy"] == pytest.approx(cell.val_metrics["accuracy"], rel=1e-6)


def test_seeds_an_earlier_compare_ran_as_the_last_one_would_get_the_command(tmp_path: Path) -> None:
    """compare --seeds 3, then --seeds 1 into the same store: the band at n = 16 rests on seeds 0-2, the last compare
    planned seed 0 alone, and the band lost its train it: line without a word; seeds made as a planned cell count."""
    results = probe_wins()
    cells = [{**r.spec, "key": r.key, "n_actual": r.spec["n"]} for r in results if r.spec["seed"] == 0]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", SWEEP, plan=[{k: v for k, v in c.items() if k != "n_requested"}
                                                             for c in cells])
    band = json.loads(render(tmp_path)["results.json"].read_text())["recommendation"][0]
    assert [c["n"] for c in band["train_commands"]] == [16, 32]
    assert "no command" not in band["text"]


def test_a_band_says_why_it_gives_no_command_for_an_arm_the_last_compare_did_not_run(tmp_path: Path) -> None:
    """compare lora,... then compare without lora: a band recommending lora showed no train it: line and no reason."""
    results = [run("lora", n, seed, 0.9, 3e-4, param="lr") if r.spec["strategy"] == "lora" else
               run("linear-probe", n, seed, 0.5, 0.01) for r in probe_wins()
               for n, seed in [(r.spec["n"], r.spec["seed"])]]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", {**SWEEP, "strategies": ["linear-probe"]},
                        plan=[{"key": r.key} for r in results if r.spec["strategy"] == "linear-probe"])
    paths = render(tmp_path)
    band = json.loads(paths["results.json"].read_text())["recommendation"][0]
    assert band["strategy"] == "lora" and band["train_commands"] == []
    assert "no command to train lora at n = 16, 32 is given: the store's last compare did not run it" in band["text"]
    assert "no command to train lora at n = 16, 32 is given" in paths["report.md"].read_text()


def test_a_split_cut_by_fractions_says_why_no_command_trains_it_and_what_gives_one(tmp_path: Path) -> None:
    """A sweep file's [split] test_fraction = 0.3 gave no train it: line, and the band said "which train takes no flag
    for" once per size: train and fit take the caps alone (--max-test, --max-val), which cut other rows than a
    fraction, so no command reproduces that split. The band says so once for its sizes, and what gives a command."""
    with Store(tmp_path) as store:
        for r in probe_wins():
            store.put(r)
        split = {**SWEEP["split"], "test_fraction": 0.3, "val_fraction": 0.15}
        store.set_sweep("headstart compare --config sweep.toml", {**SWEEP, "split": split},
                        plan=[{"key": r.key, "n": r.spec["n"], "seed": r.spec["seed"]} for r in probe_wins()])
    paths = render(tmp_path)
    band = json.loads(paths["results.json"].read_text())["recommendation"][0]
    assert band["strategy"] == "linear-probe" and band["train_commands"] == []
    said = ("no command to train linear-probe at n = 16, 32 is given: the compare cut its split with test_fraction 0.3, "
            "val_fraction 0.15, which no train flag (nor fit keyword) sets, so no command trains it on that split; a "
            "compare that leaves test_fraction and val_fraction at their defaults gives one (max_test and max_val cap "
            "the 20% test and 10% validation parts, as train's --max-test and --max-val do)")
    assert said in band["text"] and band["text"].count("no command to train") == 1, band["text"]
    assert "no command to train linear-probe at n = 16, 32 is given" in paths["report.md"].read_text()


def test_the_train_command_names_a_test_file_as_compare_read_it(tmp_path: Path) -> None:
    """compare --test-data test.csv: train without it would score a 20% cut of the training file instead."""
    global SWEEP
    kept, SWEEP = SWEEP, {**SWEEP, "test_data": "test.csv"}
    try:
        command = json.loads(render(store_of(tmp_path, probe_wins()))["results.json"].read_text())["recommendation"][0]["train_commands"][0]
    finally:
        SWEEP = kept
    assert "--label-column sentiment --test-data test.csv --strategy linear-probe" in command["cli"]
    assert "label_column='sentiment', test_data='test.csv', strategy=" in command["python"]


def test_a_command_for_an_arm_without_a_backbone_names_no_precision() -> None:
    """tfidf-logreg's command copied --precision bf16 (auto, as its runs resolved it), which means nothing to TF-IDF
    counts; embed-logreg keeps it: its features are the backbone's, computed at that precision."""
    from headstart.analysis.train_command import train_command

    sweep = {**SWEEP, "strategies": ["tfidf-logreg", "embed-logreg"], "options": {}, "tune": None, "train": {}}
    runs = {}
    for strategy in sweep["strategies"]:
        spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": 0, "backbone": "all-minilm-l6-v2",
                "data": {"name": "my data.csv", "hash": "h"}, "options": {}, "train": {"precision": "bf16"}}
        runs[strategy] = [RunResult(key=strategy, spec=spec, status="done", metrics={"accuracy": 0.7})]
    record = {"sweep": sweep, "plan": [{"key": s} for s in runs]}
    assert "--precision" not in train_command(runs["tfidf-logreg"], record, 16)["cli"]
    assert "--precision bf16" in train_command(runs["embed-logreg"], record, 16)["cli"]
