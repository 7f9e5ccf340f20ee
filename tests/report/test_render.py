"""Tests of headstart/report/render.py (and the chart, html, markdown parts it writes)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from headstart.errors import StoreError
from headstart.report import render
from headstart.report.html import report_html, script_json
from headstart.report.mdtext import md_text
from headstart.results import RunResult
from headstart.store import Store
from headstart.surface import SURFACE_ENV, cli_surface, reset_surface

EVIL = "<script>alert(1)</script>"
COMMAND = "headstart compare --data 'toy</script><img src=x onerror=alert(2)>' --seeds 3"


def run(strategy: str, n: int | str, seed: int, value: float, *, seconds: float = 1.0, status: str = "done",
        metric: str = "accuracy", data: str = "toy") -> RunResult:
    spec = {"strategy": strategy, "n": 500 if n == "all" else n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": data, "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status=status,
                     metrics={metric: value} if status == "done" else {}, train_seconds=seconds, trainable_params=1234,
                     val_metrics={metric: value} if status == "done" else {},
                     error=None if status == "done" else "loss became nan at step 7")


def sweep_results(metric: str = "accuracy") -> list[RunResult]:
    base = {"scratch": (0.30, 0.10, 20.0), "linear-probe": (0.60, 0.05, 1.0), "full-finetune": (0.45, 0.30, 40.0),
            EVIL: (0.50, 0.0, 2.0)}
    out = []
    for k, (strategy, (start, gain, seconds)) in enumerate(base.items()):
        for i, n in enumerate((16, 64, 256, "all")):
            for seed in range(3):
                noise = 0.01 * ((seed * (k + 2) + i) % 3)
                out.append(run(strategy, n, seed, start + gain * i / 3 + noise, seconds=seconds, metric=metric))
    out.append(run("lora", 16, 0, 0.0, status="diverged", metric=metric))
    return out


def make_store(path: Path, results: list[RunResult], command: str | None = COMMAND) -> Path:
    with Store(path) as store:
        for r in results:
            store.put(r)
        if command is not None:
            store.set_sweep(command, {"strategies": ["scratch"], "sizes": [16, 64, 256, "all"], "seeds": 3})
    return path


def test_render_writes_four_files(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, sweep_results()))
    assert set(paths) == {"chart.png", "report.html", "report.md", "results.json"}
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in paths.values())
    assert paths["chart.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_results_json_shape(tmp_path: Path) -> None:
    doc = json.loads(render(make_store(tmp_path, sweep_results()))["results.json"].read_text())
    assert doc["command"] == COMMAND and doc["sweep"]["seeds"] == 3
    assert {"strategy", "n", "mean", "ci_low", "ci_high", "seeds"} <= set(doc["curves"][0])
    assert set(doc["head_start"]) >= {"n", "points", "strategy", "ci"}
    assert doc["head_start"]["strategy"] == "linear-probe" and doc["head_start"]["n"] == 16
    assert doc["crossover"]["n"] == 256
    assert doc["recommendation"] and all({"from_n", "to_n", "strategy", "text"} <= set(b) for b in doc["recommendation"])
    lora = [c for c in doc["counts"] if c["strategy"] == "lora"]
    assert lora[0]["diverged"] == 1


def test_markdown_has_table_advice_command_and_failures(tmp_path: Path) -> None:
    text = render(make_store(tmp_path, sweep_results()))["report.md"].read_text()
    assert "| strategy | n | test accuracy (%) |" in text
    assert "**Head start:**" in text and "**Crossover:**" in text and "## Recommendation" in text
    assert COMMAND in text  # verbatim inside a code fence
    assert "## Failed and diverged runs" in text and "loss became nan at step 7" in text
    assert EVIL not in text.split("## Produced by")[0]
    assert "all (500)" in text
    assert "headstart adapt" not in text, "a compare's report has no adapt preface"


def test_no_crossover_line_names_strategies_the_store_does_not_hold(tmp_path: Path) -> None:
    results = [r for r in sweep_results() if r.spec["strategy"] in ("scratch", "linear-probe")]
    paths = render(make_store(tmp_path, results))
    assert "Crossover" not in paths["report.md"].read_text() and "full-finetune" not in paths["report.md"].read_text()
    assert '"crossover": null' in paths["report.html"].read_text()


def test_markdown_escapes_user_strings() -> None:
    assert md_text("a|b<i>*x*") == r"a\|b&lt;i&gt;\*x\*"


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    html = render(make_store(tmp_path, sweep_results()))["report.html"].read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert html.count("<script") == 2 and "<img" not in html  # the data block and the page script only
    block = html.split('id="report-data">')[1].split("</script>")[0]
    data = json.loads(block)
    assert EVIL in data["strategies"] and data["command"] == COMMAND
    assert "innerHTML" not in html


def test_the_html_table_bolds_the_recommendation_not_the_best_test_mean() -> None:
    """At one size the bold row is the strategy the recommendation chose on validation, even where another strategy
    has the higher test mean (the winner's curse the choice avoids)."""
    from headstart.analysis import summarize

    runs = []
    for strategy, val, test in (("lora", 0.80, 0.70), ("linear-probe", 0.70, 0.75)):
        for seed in range(3):
            spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                    "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
            runs.append(RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", train_seconds=1.0,
                                  metrics={"accuracy": test + 0.01 * seed}, val_metrics={"accuracy": val + 0.01 * seed}))
    html = report_html(summarize(runs), title="t", command=None)
    data = json.loads(html.split('id="report-data">')[1].split("</script>")[0])
    assert data["picks"] == {"16": "lora"}
    assert 'r.strategy === pick ? {class: "best"}' in html and "better(r.mean" not in html


def test_script_json_cannot_close_its_block() -> None:
    text = script_json({"s": "</script><!-- & >"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"s": "</script><!-- & >"}


def test_report_html_without_runs_or_command() -> None:
    from headstart.analysis import summarize

    html = report_html(summarize([]), title="empty", command=None)
    assert "report-data" in html


def test_regression_store_renders_rmse(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, sweep_results("rmse")))
    doc = json.loads(paths["results.json"].read_text())
    assert doc["metric"] == "rmse" and doc["higher_is_better"] is False
    assert "lower is better" in paths["report.md"].read_text()


def test_render_reads_only_the_store_and_rerenders_atomically(tmp_path: Path) -> None:
    make_store(tmp_path, sweep_results()[:6], command=None)
    first = render(tmp_path)["report.md"].read_text()
    make_store(tmp_path, sweep_results())
    second = render(tmp_path)["report.md"].read_text()
    assert first != second and "(command not recorded)" in first


def test_render_of_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results store"):
        render(tmp_path / "missing")


def test_render_with_only_failures(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, [run("lora", 16, 0, 0, status="failed")]))
    assert "no finished runs yet" in paths["report.md"].read_text()
    assert json.loads(paths["results.json"].read_text())["totals"]["failed"] == 1


@pytest.mark.parametrize("exact, removed, warned", [(30, 0, True), (5, 0, False), (30, 30, False)])
def test_report_states_leakage_and_warns_above_one_percent(tmp_path: Path, exact: int, removed: int, warned: bool) -> None:
    make_store(tmp_path, sweep_results())
    (tmp_path / "leakage.json").write_text(json.dumps({"n_test": 1000, "exact": exact, "near": 2, "fraction": (exact + 2) / 1000,
                                                       "threshold": 0.8, "examples": [], "removed_from_test": removed}))
    paths = render(tmp_path)
    summary = json.loads(paths["results.json"].read_text())
    assert summary["leakage"]["warn"] is warned
    assert f"{exact} exact, 2 near" in summary["leakage"]["text"]
    markdown = paths["report.md"].read_text()
    assert ("Warning — test-set leakage" in markdown) is warned
    assert ("--dedupe" in markdown) is (warned or removed > 0)
    assert '"leakage"' in paths["report.html"].read_text()


def test_report_names_label_conflicts(tmp_path: Path) -> None:
    make_store(tmp_path, sweep_results())
    found = {"n_test": 1000, "exact": 1, "near": 0, "fraction": 0.001, "threshold": 0.8, "examples": [], "removed_from_test": 0}
    (tmp_path / "leakage.json").write_text(json.dumps({**found, "conflicts": 3, "conflict_rows": 7}))
    text = json.loads(render(tmp_path)["results.json"].read_text())["leakage"]["text"]
    assert text.endswith(". Label conflicts: 3 inputs carry two or more different labels (7 rows); no model can be right "
                         "on all of them, so fix or drop them in the data")
    (tmp_path / "leakage.json").write_text(json.dumps(found))  # written before the count existed
    assert "conflicts" not in json.loads(render(tmp_path)["results.json"].read_text())["leakage"]["text"]
    (tmp_path / "leakage.json").write_text(json.dumps({**found, "conflicts": "three", "conflict_rows": 7}))  # damaged
    assert "conflicts" not in json.loads(render(tmp_path)["results.json"].read_text())["leakage"]["text"]


def test_report_without_leakage_file_or_with_a_damaged_one(tmp_path: Path) -> None:
    make_store(tmp_path, sweep_results())
    assert json.loads(render(tmp_path)["results.json"].read_text())["leakage"] is None
    (tmp_path / "leakage.json").write_text("{not json")
    assert json.loads(render(tmp_path)["results.json"].read_text())["leakage"] is None


def test_cli_report_margin_changes_the_recommendation_and_a_bad_one_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    from conftest import run_cli

    close = [run("full-finetune", 16, s, v, seconds=60.0) for s, v in enumerate((0.615, 0.605, 0.6))]
    close += [run("linear-probe", 16, s, v, seconds=2.0) for s, v in enumerate((0.60, 0.595, 0.59))]
    store = make_store(tmp_path, close)
    code, out, err = run_cli(["report", str(store)], monkeypatch, capsys)
    assert code in (0, None) and "recommendation: at every size tried: linear-probe — 30× cheaper in wall time than full-finetune" in out
    code, quiet, err = run_cli(["report", str(store), "-q"], monkeypatch, capsys)  # it said "No such option: -q"
    assert code in (0, None) and quiet.splitlines() == [out.splitlines()[-1]] and out.splitlines()[-1].startswith("report: ")
    code, out, err = run_cli(["report", str(store), "--margin", "1"], monkeypatch, capsys)
    assert code in (0, None) and "recommendation: at every size tried: full-finetune (best on validation; test 60.7%" in out
    assert json.loads((store / "results.json").read_text())["margin_points"] == 1.0
    code, out, err = run_cli(["report", str(store), "--margin", "-1"], monkeypatch, capsys)
    assert code == 2 and err.strip().splitlines() == ["error: --margin must be a number of points >= 0, got -1.0; e.g. --margin 1"]
    assert "note: --margin" not in err
    two = make_store(tmp_path / "two", [r for r in close if r.spec["seed"] < 2])
    code, out, err = run_cli(["report", str(two), "--margin", "1"], monkeypatch, capsys)
    assert code in (0, None) and "note: --margin weighs a cheaper strategy only where it and the best share 3 or more seeds; " \
                                 "this store has at most 2 per cell" in err


def test_chart_png_draws_the_majority_line(tmp_path: Path) -> None:
    from headstart.analysis import summarize
    from headstart.report.chart import chart_figure

    results = [dataclasses.replace(r, record={"reference": {"test": {"accuracy": 0.57}, "val": {"accuracy": 0.56}}})
               for r in sweep_results()]
    (ax,) = chart_figure(summarize(results), title="t").axes
    (line,) = [line for line in ax.get_lines() if line.get_label().startswith("majority class")]
    assert line.get_label() == "majority class (57.0%)" and line.get_linestyle() == "--"
    assert list(line.get_ydata()) == pytest.approx([57.0, 57.0])
    md = (render(make_store(tmp_path, results))["report.md"]).read_text()
    assert "**Reference:** majority class: 57.0% on test (56.0% on validation)" in md
    assert "| majority class | – | 57.0 |" in md


def test_a_store_with_two_experiments_reports_the_newest_and_lists_the_other(tmp_path: Path) -> None:
    first = [dataclasses.replace(r, key="sst2/" + r.key, spec={**r.spec, "data": {"name": "sst2", "hash": "a"}}) for r in sweep_results()]
    second = [dataclasses.replace(r, key="imdb/" + r.key, spec={**r.spec, "data": {"name": "imdb", "hash": "b"}})
              for r in sweep_results() if r.spec["strategy"] == "linear-probe"]
    paths = render(make_store(tmp_path, first + second))
    md = paths["report.md"].read_text()
    assert md.startswith("# imdb · tiny — accuracy vs labelled examples")
    assert "## Other experiments in this store" in md and "### sst2 · tiny (" in md
    results = json.loads(paths["results.json"].read_text())
    assert results["experiment"] == "imdb · tiny" and {r["strategy"] for r in results["curves"]} == {"linear-probe"}
    assert results["other_experiments"][0]["experiment"] == "sst2 · tiny"
    assert '"others": [{"experiment": "sst2 · tiny"' in paths["report.html"].read_text()
    assert paths["chart-2.png"].read_bytes().startswith(b"\x89PNG") and "![sst2 · tiny](chart-2.png)" in md


def test_forgetting_is_charted_and_tabled_only_when_retention_was_measured(tmp_path: Path) -> None:
    plain = render(make_store(tmp_path / "plain", sweep_results()))
    assert "forgetting.png" not in plain and "## Forgetting" not in plain["report.md"].read_text()
    found = {"data": "drug-reviews", "original": 0.8, "adapted": 0.76, "retention": 0.95, "test_rows": 495, "folds": 5}
    results = [dataclasses.replace(r, record={"retention": [found]}) if r.status == "done" else r for r in sweep_results()]
    paths = render(make_store(tmp_path / "retained", results))
    assert paths["forgetting.png"].read_bytes().startswith(b"\x89PNG")
    md = paths["report.md"].read_text()
    assert "## Forgetting" in md and "![target accuracy vs retention](forgetting.png)" in md
    assert "| 495 (5 folds) |" in md and "cross-fitted" in md, "a cross-fitted dataset's rows are all scored: said so"
    assert '"retention": [{' in paths["report.html"].read_text()


@pytest.mark.parametrize("kind", ["continual", "multitask"])
def test_a_continual_or_multitask_store_is_refused_and_its_own_report_kept(tmp_path: Path, kind: str) -> None:
    """report on a store whose report another command writes: one line naming that command, the report untouched
    (it overwrote the multitask report.md with a compare report that chose on test)."""
    stepped = dataclasses.replace(run("full-finetune", 16, 0, 0.8), spec={**run("full-finetune", 16, 0, 0.8).spec, kind: {}})
    make_store(tmp_path, [stepped], command=None)
    (tmp_path / "report.md").write_text("its own report")
    with pytest.raises(StoreError, match=rf"is a {kind} store: its report is written by headstart\.{kind}\(\.\.\.\); "
                       "call it again with the same arguments"):
        render(tmp_path)  # from Python: Python's words, as every other message (a first user read the CLI's)
    marked = cli_surface()
    try:
        with pytest.raises(StoreError, match=f"is a {kind} store: its report is written by 'headstart {kind}'; run it again"):
            render(tmp_path)
    finally:
        reset_surface(marked)
    assert (tmp_path / "report.md").read_text() == "its own report" and not (tmp_path / "results.json").exists()


def test_a_store_whose_every_run_is_damaged_keeps_its_report(tmp_path: Path) -> None:
    """Every row's JSON damaged: re-rendering wrote "no finished runs yet" over the report, the last readable copy of
    the results; it is refused and the report kept."""
    import sqlite3

    out = make_store(tmp_path / "s", sweep_results())
    render(out)
    before = (out / "report.md").read_text()
    conn = sqlite3.connect(out / "runs.sqlite")
    with conn:
        conn.execute("UPDATE runs SET spec = '[1'")
    conn.close()
    with pytest.raises(StoreError, match=r"none of the 49 runs in .* can be read .*the existing report was kept"):
        render(out)
    assert (out / "report.md").read_text() == before


def scored(strategy: str, seed: int, rows: int, wrong: int = 0) -> RunResult:
    """A run with its predictions on ``rows`` test rows stored, ``wrong`` of them wrong (the seed moves which)."""
    target = [i % 2 for i in range(rows)]
    predicted = [1 - t if (i + seed) % rows < wrong else t for i, t in enumerate(target)]
    accuracy = 1 - wrong / rows
    r = run(strategy, 16, seed, accuracy)
    return dataclasses.replace(r, key=f"{strategy}/{seed}", metrics={"accuracy": accuracy, "n": rows},
                               record={"test": {"predicted": predicted, "target": target}})


def test_a_small_test_split_is_said_with_its_rows_its_error_and_what_dedupe_cut(tmp_path: Path) -> None:
    """--dedupe left 3 of 120 test rows: the report said 100.0% (CI 100.0–100.0) and never the 3 rows."""
    store = make_store(tmp_path / "small", [scored(s, seed, 3) for s in ("a", "b") for seed in range(2)])
    (store / "leakage.json").write_text(json.dumps({"n_test": 120, "exact": 117, "near": 0, "fraction": 0.975,
                                                    "removed_from_test": 117}))
    paths = render(store)
    line = ("3 rows (--dedupe cut it from 120); an accuracy measured on them is uncertain by up to ±37.5 points (95% "
            "Wilson interval at 50%), so differences smaller than that are not resolved by this test set")
    assert f"**Small test split:** {line}" in paths["report.md"].read_text()
    split = json.loads(paths["results.json"].read_text())["test_split"]
    assert split["small"] and split["rows"] == 3 and split["before_dedupe"] == 120
    assert '"test_split": {' in paths["report.html"].read_text()
    assert "(CI 100.0–100.0)" not in paths["report.md"].read_text()
    large = make_store(tmp_path / "large", [scored(s, seed, 200, wrong=20) for s in ("a", "b") for seed in range(2)])
    assert json.loads(render(large)["results.json"].read_text())["test_split"] is None
    assert "test split:**" not in (large / "report.md").read_text().lower()


def test_a_test_split_capped_by_max_test_is_said(tmp_path: Path, monkeypatch) -> None:
    """compare --max-test 200 scored 248 of 2,589 test reviews, and the report never said the test set was a part."""
    monkeypatch.setenv(SURFACE_ENV, "cli")  # headstart report / compare: the flag
    capped = [dataclasses.replace(r, spec={**r.spec, "data": {**r.spec["data"], "split": {"max_test": 200}}})
              for r in (scored(s, seed, 248, wrong=40) for s in ("a", "b") for seed in range(2))]
    paths = render(make_store(tmp_path, capped))
    assert ("**Test split:** 248 rows (a part of the whole test split, capped at 200 by --max-test; 48 over it: each class rounds its share up to whole rows, and to whole groups where rows stay "
            "together, such as one movie's reviews)") in paths["report.md"].read_text(), "248 beside 'capped at 200' read as a bug"
    assert not json.loads(paths["results.json"].read_text())["test_split"]["small"]
    monkeypatch.delenv(SURFACE_ENV, raising=False)  # rendered from Python (compare's report): compare's keyword
    text = render(make_store(tmp_path / "py", capped))["report.md"].read_text()
    assert "capped at 200 by max\\_test; 48 over it" in text, text  # markdown escapes the underscore
    # A cap above the split's size cut nothing: all 248 rows were scored, and the report does not say otherwise.
    under = [dataclasses.replace(r, spec={**r.spec, "data": {**r.spec["data"], "split": {"max_test": 1000}}}) for r in capped]
    whole = render(make_store(tmp_path / "whole", under))
    assert "capped at" not in whole["report.md"].read_text()
    assert json.loads(whole["results.json"].read_text())["test_split"] is None
    # A cap of 200 fills whole groups and may keep 248 rows of a 248-row split: the runs' record says it cut nothing.
    recorded = [dataclasses.replace(r, record={**r.record, "test_split_rows": 248}) for r in capped]
    assert "capped at" not in render(make_store(tmp_path / "bound-nothing", recorded))["report.md"].read_text()
    cut = [dataclasses.replace(r, record={**r.record, "test_split_rows": 2589}) for r in capped]
    assert "248 rows (a part of the whole test split, capped at 200" in render(make_store(tmp_path / "cut", cut))["report.md"].read_text()
    # with --dedupe the recorded size is the uncapped split as scored (deduplicated too), set against the rows scored
    for whole_rows, said in ((248, False), (2500, True)):
        store = make_store(tmp_path / f"dedupe-{whole_rows}",
                           [dataclasses.replace(r, record={**r.record, "test_split_rows": whole_rows}) for r in capped])
        (store / "leakage.json").write_text(json.dumps({"n_test": 256, "exact": 8, "near": 0, "fraction": 0.03,
                                                        "removed_from_test": 8}))
        assert ("capped at 200" in render(store)["report.md"].read_text()) is said, whole_rows


def test_the_intervals_footer_is_true_of_a_row_with_one_seed(tmp_path: Path) -> None:
    """A one-seed row carries the test rows' error alone; the footer said every interval carried the seeds' too."""
    runs = [scored("a", seed, 200, wrong=20 + 3 * seed) for seed in range(3)] + [scored("b", 0, 200, wrong=30)]
    text = render(make_store(tmp_path, runs))["report.md"].read_text()
    footer = next(line for line in text.splitlines() if line.startswith("Runs:"))
    assert ("Intervals are 95%; those of b n = 16 carry the test set's sampling error alone (a bootstrap over test rows): "
            "one run — one seed, or seeds that are the same run (no rows drawn by seed and no optimiser step: a closed "
            "form with every label or none) — so no seed variation is in them; the others carry both the seed variation and the test set's sampling error") in footer


def test_produced_by_lists_every_command_that_wrote_the_store(tmp_path: Path) -> None:
    """Two compares into one store: the report named only the last, so the first one's runs could not be rebuilt."""
    first = "headstart compare --strategies scratch,linear-probe --seeds 3 --out x"
    store = make_store(tmp_path, sweep_results(), command=first)
    with Store(store) as s:
        s.set_sweep(COMMAND, {"seeds": 3})
    paths = render(store)
    text = paths["report.md"].read_text()
    section = text.split("## Produced by", 1)[1]
    assert "The 2 commands that wrote this store, oldest first" in section
    assert section.index(first) < section.index(COMMAND)
    doc = json.loads(paths["results.json"].read_text())
    assert doc["commands"] == [first, COMMAND] and doc["command"] == COMMAND


def test_produced_by_says_a_command_ran_into_another_folder_whose_store_was_copied(tmp_path: Path) -> None:
    """A store copied into a new --out and resumed there: the report listed both commands "run in this order into one
    --out" though the first named another --out. It says the first ran into another folder, copied into the last's;
    two commands into one folder keep the plain words."""
    import shutil

    first = "headstart compare --strategies scratch --seeds 3 --out a"
    make_store(tmp_path / "a", sweep_results(), command=first)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with Store(tmp_path / "b") as s:
        s.set_sweep(COMMAND, {"seeds": 3})
    with Store(tmp_path / "a") as s:  # the original, resumed in its own folder by another command
        s.set_sweep(COMMAND, {"seeds": 3})
    copied = render(tmp_path / "b")["report.md"].read_text().split("## Produced by", 1)[1]
    assert ("The 2 commands that wrote this store, oldest first (the 1st ran into another folder, whose store was copied "
            "into the one the last ran into; run in this order into one --out, they store its runs again)") in copied
    assert json.loads((tmp_path / "b" / "results.json").read_text())["commands_elsewhere"] == [0]
    kept = render(tmp_path / "a")["report.md"].read_text().split("## Produced by", 1)[1]
    assert "oldest first (run in this order into one --out, they store its runs again)" in kept
    assert "ran into another folder" in render(tmp_path / "b")["report.html"].read_text()


def test_a_compare_keeps_the_margin_of_the_stores_last_report_and_says_so(tiny_registry, toy_csv, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    """report --margin 1, then a compare into the store: the compare re-rendered with the default 2, silently."""
    from conftest import run_cli

    store = tmp_path / "cmp"
    common = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--sizes", "16", "--seeds", "1", "--out", str(store)]
    code, _, err = run_cli([*common, "--strategies", "tfidf-logreg"], monkeypatch, capsys)
    assert code in (0, None), err
    code, _, err = run_cli(["report", str(store), "--margin", "1"], monkeypatch, capsys)
    assert code in (0, None), err
    code, out, err = run_cli([*common, "--strategies", "embed-knn"], monkeypatch, capsys)
    assert code in (0, None), err
    doc = json.loads((store / "results.json").read_text())
    assert doc["margin_points"] == 1.0 and doc["report_settings"] == {"margin": 1.0}
    assert f"note: the report keeps the settings of this store's last report (headstart report {store} --margin 1)" in out + err
    section = (store / "report.md").read_text().split("## Produced by", 1)[1]
    assert "tfidf-logreg" in section and "embed-knn" in section and f"headstart report {store} --margin 1" in section
    code, _, err = run_cli(["report", str(store)], monkeypatch, capsys)  # a report without --margin: the default again
    assert json.loads((store / "results.json").read_text())["report_settings"] == {}


def chose_on(results: list[RunResult], chosen: str | None, *, task: str = "classification") -> list[RunResult]:
    """``results`` as compare stores them: each finished run with accuracy and macro-F1, and the metric it chose its
    checkpoints on (``record["budget"]["metric"]``, ``metrics.selection_metric``; "auto" at training; None: stored
    before runs recorded it)."""
    out = []
    for r in results:
        both = {"accuracy": r.metrics["accuracy"], "macro_f1": r.metrics["accuracy"] / 2} if r.status == "done" else {}
        spec = {**r.spec, "data": {**r.spec["data"], "task": task}, "train": {"metric": "auto"}}
        out.append(dataclasses.replace(r, spec=spec, metrics=both, val_metrics=dict(both),
                                       record={"budget": {"planned_steps": 10, "steps": 10}
                                               | ({"metric": chosen} if chosen else {})} if r.status == "done" else {}))
    return out


def test_an_imbalanced_store_reports_the_metric_its_runs_chose_on_and_says_why(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, chose_on(sweep_results(), "macro_f1")))
    doc, text = json.loads(paths["results.json"].read_text()), paths["report.md"].read_text()
    assert doc["metric"] == "macro_f1" and doc["report_settings"] == {}  # the default, not a setting
    assert "macro\\_f1 vs labelled examples" in text and "| test macro f1 (%) |" in text
    assert ("**Metric:** scores are macro-F1, the metric every run chose its checkpoints on (its classes are more than 3:1 "
            "imbalanced") in text and "--metric accuracy shows accuracy" in text
    assert "Metric: " in paths["report.html"].read_text() and doc["metric_note"].startswith("scores are macro-F1")
    # the recommendation chooses on validation macro-F1: its means are half the accuracies
    assert all(p["best_val_mean"] < 0.5 for band in doc["recommendation"] for p in band["evidence"])
    # --metric still overrides, and the report says what the runs chose on instead
    paths = render(tmp_path, metric="accuracy")
    doc = json.loads(paths["results.json"].read_text())
    assert doc["metric"] == "accuracy" and doc["report_settings"] == {"metric": "accuracy"}
    assert "scores are accuracy, while the runs chose their checkpoints on macro-F1" in doc["metric_note"]


def test_runs_that_chose_on_different_metrics_are_reported_on_accuracy_and_said_so(tmp_path: Path) -> None:
    results = chose_on(sweep_results(), "macro_f1")
    mixed = [dataclasses.replace(r, record={"budget": {"metric": "accuracy"}}) if r.spec["n"] == 16 and r.status == "done"
             else r for r in results]  # the smallest training sets drew near-balanced classes
    doc = json.loads(render(make_store(tmp_path, mixed))["results.json"].read_text())
    assert doc["metric"] == "accuracy" and doc["metric_note"] == (
        f"scores are accuracy; the runs chose their checkpoints on different metrics (accuracy, macro-F1: auto picks "
        f"macro-F1 where a size's training rows are more than 3:1 imbalanced), and the report compares them all on one; "
        f"headstart report {tmp_path} --metric macro_f1 shows macro-F1")


def test_a_store_mixing_runs_from_before_the_metric_was_recorded_claims_nothing_of_every_run(tmp_path: Path) -> None:
    """Runs stored before ``budget.metric`` existed chose on what is not known: the report stays on accuracy and says
    nothing of what "every run" chose on (macro-F1 from the newer runs alone was said of all of them)."""
    results = chose_on(sweep_results(), "macro_f1")
    mixed = [dataclasses.replace(r, record={"budget": {"planned_steps": 10, "steps": 10}}) if r.spec["n"] == 16
             and r.status == "done" else r for r in results]
    doc = json.loads(render(make_store(tmp_path, mixed))["results.json"].read_text())
    assert doc["metric"] == "accuracy" and not doc.get("metric_note")


def test_a_multilabel_store_names_exact_match_accuracy(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, chose_on(sweep_results(), "macro_f1", task="multilabel")), metric="accuracy")
    note = json.loads(paths["results.json"].read_text())["metric_note"]
    assert note.startswith("scores are exact-match accuracy (every label of a row right), while the runs chose")


def test_a_balanced_store_reads_as_before(tmp_path: Path) -> None:
    old = render(make_store(tmp_path / "old", chose_on(sweep_results(), None)))  # stored before runs recorded their choice
    new = render(make_store(tmp_path / "new", chose_on(sweep_results(), "accuracy")))
    assert json.loads(new["results.json"].read_text())["metric"] == "accuracy"
    assert "metric_note" not in json.loads(new["results.json"].read_text())
    assert "**Metric:**" not in new["report.md"].read_text()
    assert old["report.md"].read_text() == new["report.md"].read_text()


def test_a_tuned_and_a_stopped_untuned_compare_name_each_arm_by_its_tuning_everywhere(tiny_registry, toy_csv, tmp_path,
                                                                                        monkeypatch) -> None:
    """A compare, then the same with tune=None stopped in its second run: the report recommended "linear-probe" (the
    tuned one) and said "not finished: linear-probe (no run at any size)" (the untuned one); an arm planned beside
    another of its strategy is labelled by the setting they differ in before both have results."""
    import headstart
    from conftest import stop_in_run

    store = tmp_path / "cmp"
    common = dict(strategies="scratch,linear-probe,full-finetune", sizes=16, seeds=1, max_steps=3, out=store,
                  progress=False)
    headstart.compare(str(toy_csv), "tiny", **common)
    stop_in_run(monkeypatch, 2, "ctrl-c")  # the untuned scratch finishes; linear-probe and full-finetune do not
    with pytest.raises(KeyboardInterrupt):
        headstart.compare(str(toy_csv), "tiny", tune=None, **common)
    render(store, margin=1)
    doc = json.loads((store / "results.json").read_text())
    arms = {r["strategy"] for r in doc["curves"]}
    assert {a.split("[")[0] for a in arms} == {"scratch", "linear-probe", "full-finetune"}
    assert all("tuned=" in a for a in arms), arms  # each strategy was planned tuned and untuned
    text = doc["unfinished"]["text"]
    assert ("no result: linear-probe[tuned=no] (no run at any size); full-finetune[tuned=no] (no run at any size)."
            in text), text
    recommended = " ".join(band["text"] for band in doc["recommendation"])
    named = set(re.findall(r"(?:scratch|linear-probe|full-finetune)(?:\[[^\]]*\])?", recommended))
    assert named and named <= arms, (named, arms)  # the arm it recommends (or names as best) as the table names it
    markdown, html = (store / "report.md").read_text(), (store / "report.html").read_text()
    assert md_text(text) in markdown and script_json(text)[1:-1] in html
    for arm in arms:
        assert md_text(arm) in markdown and script_json(arm)[1:-1] in html
    assert not re.search(r"(?<![\w-])(linear-probe|full-finetune) \(no run", markdown + html)
    listed = {row["arm"] for row in headstart.runs(store)}  # headstart runs lists them by the report's labels
    assert arms <= listed and "linear-probe[tuned=no]" in listed, listed


def test_the_report_says_which_columns_it_read_and_which_rows_it_dropped(tiny_registry, toy_csv, tmp_path, monkeypatch,
                                                                          capsys) -> None:
    """compare said "dropped 2 rows with empty text" on stderr alone: report.md, report.html and results.json named no
    dropped row, and results.json's text_column / label_column were null where the columns were guessed."""
    import pandas as pd
    from conftest import run_cli

    frame = pd.read_csv(toy_csv).rename(columns={"text": "review", "label": "sentiment"})
    frame.loc[3, "review"], frame.loc[5, "review"], frame.loc[7, "sentiment"] = "", None, None
    data = tmp_path / "reviews.csv"
    frame.to_csv(data, index=False)
    store = tmp_path / "cmp"
    code, out, err = run_cli(["compare", "--data", str(data), "--backbone", "tiny", "--strategies", "tfidf-logreg",
                              "--sizes", "16", "--seeds", "1", "--out", str(store), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    said = json.loads((store / "results.json").read_text())["data"]
    assert (said["text_column"], said["label_column"]) == ("review", "sentiment")
    assert said["text"].startswith("reviews.csv: text from column 'review', labels from 'sentiment' (text column and "
                                   "label column guessed, not named)")
    assert "dropped 2 rows with empty text" in said["text"] and "dropped 1 row with no label" in said["text"]
    assert f"**Data:** {md_text(said['text'])}" in (store / "report.md").read_text()
    assert script_json(said["text"])[1:-1] in (store / "report.html").read_text()
    assert f"data: {said['text']}" in out
    code, out, err = run_cli(["compare", "--data", str(data), "--backbone", "tiny", "--strategies", "tfidf-logreg",
                              "--sizes", "16", "--seeds", "1", "--text-column", "review", "--label-column", "sentiment",
                              "--out", str(tmp_path / "named"), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    text = json.loads((tmp_path / "named" / "results.json").read_text())["data"]["text"]
    assert "guessed" not in text and "dropped 2 rows with empty text" in text


def test_a_store_from_before_the_data_was_kept_has_no_data_line(tmp_path: Path) -> None:
    paths = render(make_store(tmp_path, sweep_results()))
    assert json.loads(paths["results.json"].read_text())["data"] is None
    assert "**Data:**" not in paths["report.md"].read_text()


def test_a_cell_whose_compare_is_gone_is_not_reported_as_being_trained(tmp_path: Path) -> None:
    """A compare killed with -9 leaves its cell 'running': the report said "1 is being trained now by a compare into
    this store" forever, where headstart runs called it abandoned. Both now give the same verdict (Store.abandoned)."""
    import os
    import socket
    import subprocess
    import sys

    import headstart

    results = [run("linear-probe", 16, seed, 0.6 + seed / 100) for seed in range(2)]
    plan = [{"key": r.key, "strategy": "linear-probe", "options": {}, "n": 16, "n_actual": 16, "seed": r.spec["seed"],
             "backbone": "tiny"} for r in results]
    plan += [{**plan[0], "key": key, "seed": seed} for seed, key in ((2, "gone"), (3, "live"))]
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with Store(tmp_path) as store:
        for r in results:
            store.put(r)
        store.set_sweep(COMMAND, {"strategies": ["linear-probe"]}, plan=plan)
        assert store.claim("gone", {**results[0].spec, "seed": 2}, f"{socket.gethostname()}:{gone.stdout.strip()}:x", 3600)
        assert store.claim("live", {**results[0].spec, "seed": 3}, f"{socket.gethostname()}:{os.getpid()}:y", 3600)
    render(tmp_path)
    text = json.loads((tmp_path / "results.json").read_text())["unfinished"]["text"]
    assert "1 is being trained now by a compare into this store" in text, text  # the live one alone
    assert "linear-probe at n = 16 (1 of 4 seeds)" in text and "run the same command again to resume" in text, text
    assert {r["key"] for r in headstart.runs(tmp_path) if r["abandoned"]} == {"gone"}


def test_a_store_in_a_folder_that_cannot_be_written_is_reported_elsewhere_with_to(tmp_path: Path, monkeypatch, capsys) -> None:
    """`headstart report STORE` on a read-only folder read the store and stopped at the write ("check its permissions,
    or copy the folder"): no way to get its report. The refusal now names --to, and --to DIR (to= from Python) writes
    the report files there, the store only read."""
    import headstart
    from conftest import run_cli, unwritable

    store = make_store(tmp_path / "ro", sweep_results())
    before = sorted(p.name for p in store.iterdir())
    with unwritable(store):
        code, _, err = run_cli(["report", str(store)], monkeypatch, capsys)
        assert code == 2 and f"cannot write the report into {str(store)!r}" in err, err
        assert f"--to (headstart report {store} --to DIR: the store is only read where it is)" in err, err
        code, printed, err = run_cli(["report", str(store), "--to", str(tmp_path / "out" / "cmp")], monkeypatch, capsys)
        assert code == 0, err
        assert f"report: {tmp_path / 'out' / 'cmp' / 'report.html'} (also chart.png, report.md, results.json in " \
               f"{tmp_path / 'out' / 'cmp'})" in printed, printed
        assert "## Recommendation" in (tmp_path / "out" / "cmp" / "report.md").read_text()
        paths = headstart.report(store, to=tmp_path / "py")  # the Python API takes the same
        assert paths["report.md"] == tmp_path / "py" / "report.md" and paths["report.md"].exists()
        with pytest.raises(StoreError, match=r"to= \(headstart\.report\("):
            headstart.report(store)
    assert sorted(p.name for p in store.iterdir()) == before  # nothing written beside the store


def test_to_never_replaces_another_stores_report(tmp_path: Path, monkeypatch, capsys) -> None:
    """--to a folder holding another store would replace that store's report with this one's: refused, one line."""
    from conftest import run_cli

    store, other = make_store(tmp_path / "a", sweep_results()), make_store(tmp_path / "b", sweep_results())
    code, _, err = run_cli(["report", str(store), "--to", str(other)], monkeypatch, capsys)
    assert code == 2 and f"--to {str(other)!r} holds another store" in err and "Traceback" not in err, err
    assert not (other / "report.md").exists()
    code, _, err = run_cli(["report", str(store), "--to", str(store)], monkeypatch, capsys)  # its own folder: as without
    assert code == 0 and (store / "report.md").exists(), err
