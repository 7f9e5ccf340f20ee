"""Tests of headstart/analysis/provenance.py: a compare's report names the machines, versions and commit its runs
recorded and the precision each arm trained at (``--precision auto`` resolved), in report.md, report.html and
results.json, and its train command carries that precision."""

from __future__ import annotations

import json
from pathlib import Path

from headstart.report import render
from headstart.results import RunResult
from headstart.store import Store

SWEEP = {"data": "my data.csv", "backbone": "all-minilm-l6-v2", "backbones": [], "strategies": ["linear-probe", "lora"],
         "arms": [], "options": {}, "train": {"max_steps": 3, "precision": "auto"}, "train_by_strategy": {}, "tune": None,
         "grids": {}, "split": {"max_test": 100, "max_val": 300, "seed": 0, "test_fraction": 0.2, "val_fraction": 0.1,
                                "dedupe": False, "stratify": True},
         "text_column": None, "label_column": "label", "task": None, "group_column": None, "split_column": None,
         "pooling": None, "retain": [], "eval_data": [], "tta": [], "sizes": [16], "seeds": 3}


def run(strategy: str, seed: int, score: float, cpu: str, precision: str, backbone: str = "all-minilm-l6-v2") -> RunResult:
    spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": backbone,
            "data": {"name": "my data.csv", "hash": "h"}, "options": {},
            "train": {"max_steps": 3, "head_lr": 0.001, "lr": 1e-5, "precision": precision}}
    environment = {"cpu": cpu, "device": "cpu", "git": "abc123", "headstart": "0.1.0", "python": "3.11.7",
                   "libraries": {"torch": "2.13.0+cpu", "transformers": "5.23.0"}}
    return RunResult(key=f"{backbone}-{strategy}-{seed}", spec=spec, status="done", metrics={"accuracy": score, "n": 100},
                     val_metrics={"accuracy": score}, train_seconds=1.0, trainable_params=770,
                     record={"environment": environment})


def store_of(tmp_path: Path) -> Path:
    results = [run("linear-probe", s, 0.8 + 0.01 * s, "Xeon A" if s < 2 else "EPYC B", "bf16") for s in range(3)]
    results += [run("lora", s, 0.6 + 0.01 * s, "Xeon A", "fp32") for s in range(3)]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", SWEEP, plan=[{"key": r.key, "n": 16, "seed": r.spec["seed"]} for r in results])
    return tmp_path


def test_the_report_names_the_runs_environment_and_the_precision_they_used(tmp_path: Path) -> None:
    """results.json said only "precision": "auto" and no report file named bf16, a CPU, a version or a commit."""
    paths = render(store_of(tmp_path))
    doc = json.loads(paths["results.json"].read_text())
    found = doc["provenance"]
    env = {e["name"]: e["values"] for e in found["environment"]}
    assert env["CPU"] == [{"value": "Xeon A", "runs": 5}, {"value": "EPYC B", "runs": 1}]
    assert env["torch"] == [{"value": "2.13.0+cpu", "runs": 6}] and env["git commit"][0]["value"] == "abc123"
    arms = {p["arm"]: p["values"] for p in found["precision"]}
    assert arms == {"linear-probe": [{"value": "bf16", "runs": 3}], "lora": [{"value": "fp32", "runs": 3}]}
    markdown, html = paths["report.md"].read_text(), paths["report.html"].read_text()
    for text in (markdown, html):
        assert "Xeon A (5 runs), EPYC B (1 run)" in text and "torch 2.13.0+cpu" in text and "abc123" in text
        assert "linear-probe bf16; lora fp32" in text and "asked: auto" in text
    assert "**Precision:**" in markdown and "**Environment:**" in markdown


def test_the_train_command_carries_the_precision_auto_resolved_to(tmp_path: Path) -> None:
    """`train it:` left --precision at auto, which another CPU's probe may resolve to the other arithmetic."""
    doc = json.loads(render(store_of(tmp_path))["results.json"].read_text())
    command = doc["recommendation"][0]["train_commands"][0]
    assert "--strategy linear-probe" in command["cli"] and "--precision bf16" in command["cli"]
    assert "'precision': 'bf16'" in command["python"]


def test_compares_printed_summary_names_the_precision_once(tmp_path: Path, capsys) -> None:
    """report.md and report.html said which precision each arm trained at; the lines compare printed did not."""
    from headstart.cli.summary import print_report

    print_report(render(store_of(tmp_path)), tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("precision: ")]
    assert lines == ["precision: linear-probe bf16; lora fp32 (asked: auto, which each run resolved on its machine)"], lines


def test_a_store_of_two_experiments_names_every_experiments_runs_once(tmp_path: Path, capsys) -> None:
    """`compare --backbones a,b`: the Precision and Environment lines read the newest experiment's runs alone ("every
    run trained at fp32 ... the 3 finished runs ran on ... Xeon A"), silent on the other backbone's bf16 runs on EPYC B."""
    from headstart.cli.summary import print_report

    results = [run("linear-probe", s, 0.8, "EPYC B", "bf16", backbone="bge-small-en-v1.5") for s in range(3)]
    results += [run("linear-probe", s, 0.7, "Xeon A", "fp32") for s in range(3)]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", {**SWEEP, "backbones": ["bge-small-en-v1.5", "all-minilm-l6-v2"]},
                        plan=[{"key": r.key, "n": 16, "seed": r.spec["seed"]} for r in results])
    paths = render(tmp_path)
    doc = json.loads(paths["results.json"].read_text())
    assert len(doc["other_experiments"]) == 1 and "provenance" not in doc["other_experiments"][0]["summary"]
    found = doc["provenance"]
    assert found["runs"] == 6 and found["experiments"] == 2
    assert {e["name"]: e["values"] for e in found["environment"]}["CPU"] == [{"value": "Xeon A", "runs": 3},
                                                                            {"value": "EPYC B", "runs": 3}]
    assert [(p["experiment"], p["values"]) for p in found["precision"]] == [
        ("my data.csv · all-minilm-l6-v2", [{"value": "fp32", "runs": 3}]),
        ("my data.csv · bge-small-en-v1.5", [{"value": "bf16", "runs": 3}])]
    said = "linear-probe (my data.csv · all-minilm-l6-v2) fp32; linear-probe (my data.csv · bge-small-en-v1.5) bf16"
    markdown, html = paths["report.md"].read_text(), paths["report.html"].read_text()
    for text in (markdown, html):
        assert said in text
        assert "the 6 finished runs of the store's 2 experiments ran on CPU Xeon A (3 runs), EPYC B (3 runs)" in text
    assert markdown.count("**Precision:**") == 1 and markdown.count("**Environment:**") == 1
    print_report(paths, tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("precision: ")]
    assert lines == [f"precision: {said} (asked: auto, which each run resolved on its machine)"], lines


def two_experiments(tmp_path: Path) -> Path:
    """A store of `compare --backbones bge-small-en-v1.5,all-minilm-l6-v2`: each backbone's runs on another machine."""
    results = [run("linear-probe", s, 0.8, "EPYC B", "bf16", backbone="bge-small-en-v1.5") for s in range(3)]
    results += [run("linear-probe", s, 0.7, "Xeon A", "fp32") for s in range(3)]
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep("headstart compare ...", {**SWEEP, "backbones": ["bge-small-en-v1.5", "all-minilm-l6-v2"]},
                        plan=[{"key": r.key, "n": 16, "seed": r.spec["seed"]} for r in results])
    return tmp_path


def test_the_stores_lines_stand_after_every_experiment_not_under_the_newest(tmp_path: Path) -> None:
    """The Precision and Environment lines, over every experiment's runs, were printed among the newest experiment's
    figures (above its results table), as if they were its own; they now stand once, after the other experiments, under
    a heading of their own, in report.md and report.html, and results.json says so (``provenance["apart"]``)."""
    paths = render(two_experiments(tmp_path))
    markdown = paths["report.md"].read_text()
    heading = "## Where these numbers come from"
    assert markdown.count(heading) == 1 and markdown.count("**Precision:**") == 1, markdown
    assert markdown.index("## Results") < markdown.index("## Other experiments in this store") < markdown.index(heading)
    assert markdown.index(heading) < markdown.index("**Precision:**") < markdown.index("**Environment:**")
    assert markdown.index("**Environment:**") < markdown.index("## Produced by")
    doc = json.loads(paths["results.json"].read_text())
    assert doc["provenance"]["apart"] is True and doc["provenance"]["experiments"] == 2
    from headstart.report.html import _payload
    from headstart.analysis import summarize

    with Store(tmp_path) as store:
        payload = _payload(summarize(store.results(), sweep=store.sweep()), "t", None)
    assert payload["provenance"]["apart"] and payload["provenance_heading"] == "Where these numbers come from"


def test_a_store_of_one_experiment_keeps_its_lines_beside_its_figures_without_a_heading(tmp_path: Path) -> None:
    """One experiment: its runs are the store's, so the lines stay where they read as its, with no extra heading."""
    paths = render(store_of(tmp_path))
    markdown = paths["report.md"].read_text()
    assert "Where these numbers come from" not in markdown
    assert markdown.index("**Precision:**") < markdown.index("## Results")
    assert json.loads(paths["results.json"].read_text())["provenance"]["apart"] is False
