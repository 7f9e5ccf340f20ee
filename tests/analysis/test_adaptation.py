"""Tests of headstart/analysis/adaptation.py: adapt's rows, the majority-class floor and the flags, and adaptation.md."""

from __future__ import annotations

import pytest

from headstart.analysis.adaptation import adaptation_rows, flag_text
from headstart.report.adaptation import adaptation_markdown
from headstart.results import RunResult

TARGET = [0] * 7 + [1] * 3  # the target's test rows: 70% in class 0


def run(seed: int, *, source: list[int], tent: list[int]) -> RunResult:
    """A source-only run scored on the target as trained (``source``: its predictions) and after tent (``tent``)."""
    def score(predicted: list[int], tta: str | None) -> dict:
        accuracy = sum(p == t for p, t in zip(predicted, TARGET)) / len(TARGET)
        return {"data": "target.csv", "tta": tta, "metrics": {"accuracy": accuracy}, "test_rows": len(TARGET),
                "note": None, "rows": {"predicted": predicted, "target": TARGET}, "majority": 0.7}

    spec = {"strategy": "full-finetune", "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
            "data": {"name": "source.csv", "hash": "s"}, "options": {}, "train": {}}
    return RunResult(key=f"ft/{seed}", spec=spec, status="done", metrics={"accuracy": 0.9},
                     record={"ood": [score(source, None), score(tent, "tent")]})


def rows() -> list[dict]:
    runs = [run(0, source=[0] * 6 + [1] * 4, tent=[0] * 10),  # source-only 90%; tent answers class 0 for every row
            run(1, source=[0] * 7 + [1, 1, 0], tent=[0] * 10)]
    return adaptation_rows(runs, [], methods={"source-only": ("full-finetune", "target.csv"),
                                              "tent": ("full-finetune", "target.csv after tent")}, baseline="source-only")


def test_each_row_carries_the_majority_rate_and_a_method_at_it_or_answering_one_class_is_flagged():
    found = {r["method"]: r for r in rows()}
    assert found["source-only"]["majority"] == pytest.approx(0.7) and found["source-only"]["flags"] == []
    tent = found["tent"]
    assert tent["mean"] == pytest.approx(0.7) and tent["over_baseline"]["mean"] < 0
    assert tent["flags"] == ["majority", "one-class"] and tent["one_class"] == 2, "at the floor counts: it is no better"
    assert flag_text(found["source-only"]) is None
    text = flag_text(tent)
    assert text.startswith("tent (n = 16): 70.0% on the target, at or below the 70.0% that always answering the "
                           "target's most frequent class scores and one class answered for every target test row in 2 of "
                           "2 seed(s); no better on the target than that constant answer, whatever its gain over source-only")
    assert "compare tent-episodic" in text, "the advice fits the method"
    below = {**found["source-only"], "mean": 0.6, "flags": ["majority"]}
    assert flag_text(below) == ("source-only (n = 16): 60.0% on the target, at or below the 70.0% that always answering "
                                "the target's most frequent class scores; no better on the target than that constant "
                                "answer; try more labelled source examples (sizes), more steps (max_steps) or tune='lr'")


def test_the_advice_names_flags_on_the_cli_and_adapts_arguments_from_python(monkeypatch):
    """adapt() from Python is told its arguments and config's fields, as its errors are; headstart adapt its flags."""
    from headstart.surface import SURFACE_ENV

    below = {**{r["method"]: r for r in rows()}["source-only"], "mean": 0.6, "flags": ["majority"]}
    budget = {**below, "flags": ["budget"], "under_trained": {"improving": 2}}
    assert flag_text(below).endswith("try more labelled source examples (sizes), more steps (max_steps) or tune='lr'")
    assert flag_text(budget).endswith("re-run with more steps (min_steps, max_steps) or tune='lr'")
    monkeypatch.setenv(SURFACE_ENV, "cli")
    assert flag_text(below).endswith("try more labelled source examples (--sizes), more steps (--max-steps) or --tune")
    assert flag_text(budget).endswith("re-run with more steps (--min-steps, --max-steps) or --tune")


def test_adaptation_md_shows_the_majority_row_and_flags_and_names_the_oracle_only_when_one_ran():
    found = rows()
    written = adaptation_markdown(found, source="rotten-tomatoes", strategy="full-finetune",
                                  target="drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]")
    table = written.splitlines()
    assert table.index("| majority class | 16 | 70.0 | – | – | – | – | – | – |") < table.index(
        next(line for line in table if line.startswith("| source-only | 16 |"))), "the floor heads its size's rows"
    assert "| tent ⚠ | 16 | 70.0 |" in written and "| source-only | 16 |" in written
    assert "- ⚠ tent (n = 16): 70.0% on the target, at or below" in written
    assert "ceiling only" not in written, "no oracle ran: no sentence about one"
    assert "No oracle (full-finetune trained on drug-reviews-sentiment's own labels) is part of this run" in written
    assert "\\[negative" not in written, "the dataset is named, not its mapping escaped into the prose"
    with_oracle = [{**r, "oracle": {"mean": 0.95, "ci_low": 0.9, "ci_high": 1.0, "seeds": 2}} for r in found]
    written = adaptation_markdown(with_oracle, source="a.csv", target="b.csv", strategy="full-finetune")
    assert "The oracle (full-finetune trained on b.csv's own labels, from its pool, and scored on the same target test rows as every method) is the ceiling only." in written
    written = adaptation_markdown(found, source="a", target="b", strategy="ft", notes=["bn-adapt left out"])
    assert "- bn-adapt left out" in written
    bare = [{**r, "majority": None, "flags": []} for r in found]  # a regression, or a store from before "majority"
    assert "majority class" not in adaptation_markdown(bare, source="a", target="b", strategy="ft")


def test_a_method_under_trained_on_the_source_is_flagged_in_its_row_and_in_adaptation_md():
    """Half or more of a method's source runs still improving when their budget ran out: flagged "budget", with the
    reason and the fix, in the summary's words and in adaptation.md — as the compare report flags such a cell."""
    runs = [run(0, source=[0] * 6 + [1] * 4, tent=[0] * 7 + [1] * 3), run(1, source=[0] * 7 + [1, 1, 0], tent=[0] * 7 + [1] * 3)]
    for r in runs:
        r.record.update(budget={"planned_steps": 100, "steps": 100, "metric": "accuracy"},
                        history=[{"step": 50, "phase": "train", "val_score": 0.60}, {"step": 100, "phase": "train", "val_score": 0.70}],
                        reference={"val": {"accuracy": 0.5}})
    found = {r["method"]: r for r in adaptation_rows(runs, [], methods={"source-only": ("full-finetune", "target.csv")},
                                                     baseline="source-only")}
    row = found["source-only"]
    assert row["flags"] == ["budget"] and row["under_trained"] == {"improving": 2}
    assert flag_text(row) == ("source-only (n = 16): on the source it was still improving when its budget ran out in 2 of "
                              "2 seed(s), so its target score may understate it; re-run with more steps (min_steps, "
                              "max_steps) or tune='lr'")
    both = {**row, "flags": ["majority", "budget"], "majority": 0.9}  # with another flag, the same words, no raw codes
    assert flag_text(both).endswith("(on the source it was still improving when its budget ran out in 2 of 2 seed(s))")
    written = adaptation_markdown(list(found.values()), source="s", strategy="full-finetune", target="t")
    assert "| source-only ⚠ | 16 |" in written and "- ⚠ source-only (n = 16): on the source it was still improving" in written


def test_a_dash_in_gap_closed_beside_an_oracle_is_explained():
    row = {"method": "coral", "n": 16, "mean": 0.8, "ci_low": 0.7, "ci_high": 0.9, "seeds": 2, "flags": [],
           "over_baseline": {"mean": 0.01, "ci_low": -0.02, "ci_high": 0.04}, "gap_closed": None,
           "oracle": {"mean": 0.8, "ci_low": 0.7, "ci_high": 0.9, "seeds": 2}, "majority": None, "notes": []}
    base = {**row, "method": "source-only", "over_baseline": None}
    written = adaptation_markdown([base, row], source="s", strategy="full-finetune", target="t")
    assert "Gap closed is left out (–) at n = 16: the oracle's interval reaches down to source-only's mean" in written
    assert "Gap closed is left out" not in adaptation_markdown([base], source="s", strategy="full-finetune", target="t")
    bare = {**row, "oracle": {"mean": 0.8, "ci_low": None, "ci_high": None, "seeds": 1}}  # one seed whose rows all agreed
    written = adaptation_markdown([base, bare], source="s", strategy="full-finetune", target="t")
    assert "the oracle's interval (or, where it has none, its mean) reaches down to source-only's mean" in written


def test_a_method_right_on_every_target_row_keeps_its_wilson_interval():
    """Both seeds right on all 10 target rows: every resample gives 100%, which is not certainty on 10 rows."""
    from headstart.analysis.stats import wilson

    runs = [run(seed, source=TARGET, tent=TARGET) for seed in (0, 1)]
    found = {r["method"]: r for r in adaptation_rows(runs, [], methods={"source-only": ("full-finetune", "target.csv")},
                                                     baseline="source-only")}
    assert found["source-only"]["mean"] == 1.0 and found["source-only"]["ci_low"] == wilson(1.0, 10)[0] < 0.75


def test_a_method_that_predicts_what_the_baseline_predicts_is_not_certain_to_add_nothing():
    """tent answering exactly what source-only answers (bn-adapt on an encoder without BatchNorm does) gave "+0.0 to +0.0"
    over the baseline: every resample of 10 rows agrees, which bounds the difference by the Wilson limit of 0
    disagreements in 10 rows, not by 0."""
    from headstart.analysis.stats import agreement_bound

    first, second = [0] * 6 + [1] * 4, [0] * 7 + [1, 1, 0]
    runs = [run(0, source=first, tent=first), run(1, source=second, tent=second)]
    found = {r["method"]: r for r in adaptation_rows(runs, [], methods={"source-only": ("full-finetune", "target.csv"),
                                                                       "tent": ("full-finetune", "target.csv after tent")},
                                                     baseline="source-only")}
    over = found["tent"]["over_baseline"]
    bound = agreement_bound(len(TARGET))
    assert over["mean"] == 0.0 and (over["ci_low"], over["ci_high"]) == (-bound, bound) and bound > 0.25
    text = adaptation_markdown(list(found.values()), source="s", strategy="full-finetune", target="t")
    assert "+0.0 to +0.0" not in text


def test_a_gain_on_one_seed_or_with_no_spread_and_an_oracle_with_no_spread_say_so_in_every_table():
    """One seed: "-7.7 to +27.7" over the target's rows alone, as if another seed could not train otherwise; two seeds
    whose stored scores differ by the same 20 points and an oracle whose seeds scored the same (no rows kept) read
    "-20.0 to -20.0" and "CI 80.0 to 80.0". Now the caveat and the "no interval" words of compare's report, in the rows
    (adaptation.json), adaptation.md and the printed summary."""
    import dataclasses
    from pathlib import Path

    from headstart.adapt import AdaptResult, summary_lines

    methods = {"source-only": ("full-finetune", "target.csv"), "tent": ("full-finetune", "target.csv after tent")}
    found = {r["method"]: r for r in adaptation_rows([run(0, source=[0] * 6 + [1] * 4, tent=TARGET)], [], methods=methods,
                                                     baseline="source-only")}
    over = found["tent"]["over_baseline"]
    assert over["caveat"] == "1 seed: training randomness is not in the interval" and not over["significant"]
    text = adaptation_markdown(list(found.values()), source="s", strategy="full-finetune", target="t")
    assert "; 1 seed: training randomness is not in the interval |" in text
    assert any(line.endswith("over source-only (CI -7.7 to +27.7; 1 seed: training randomness is not in the interval)")
               for line in summary_lines(AdaptResult(Path("."), rows=list(found.values())))), found["tent"]

    def stored_only(r: RunResult) -> RunResult:  # a store from before the rows were kept
        return dataclasses.replace(r, record={"ood": [{**f, "rows": None} for f in r.record["ood"]]})

    oracle = [RunResult(key=f"o/{s}", spec={**run(s, source=[], tent=[]).spec, "data": {"name": "target.csv", "hash": "t"}},
                        status="done", metrics={"accuracy": 0.8}, val_metrics={"accuracy": 0.8}) for s in (0, 1)]
    rows = adaptation_rows([stored_only(run(s, source=[0] * 6 + [1] * 4, tent=[1, 1] + [0] * 5 + [1] * 3)) for s in (0, 1)], oracle,
                           methods=methods, baseline="source-only")
    tent = next(r for r in rows if r["method"] == "tent")
    why = "every seed gave the same value and no test predictions are stored to resample"
    assert tent["over_baseline"]["no_interval"] == why and tent["oracle"]["no_interval"] == why
    text = adaptation_markdown(rows, source="s", strategy="full-finetune", target="t")
    assert f"| -10.0 | no interval: {why} |" in text and "-10.0 to -10.0" not in text
    lines = summary_lines(AdaptResult(Path("."), rows=rows))
    assert f"oracle n=16: 80.0% on the target (no interval: {why}) (the strategy" in lines[1]
    assert lines[-1].startswith(f"tent n=16: 80.0% on the target; -10.0 points over source-only (no interval: {why})")


def test_a_tiny_gain_over_source_only_is_not_written_as_none():
    """A method 0.04 points above source-only read "+0.0" in adaptation.md's gain column (its interval "-0.0 to +0.1")
    and "+0.0 points over source-only" in adapt's summary: both now carry the decimals that show it."""
    from pathlib import Path

    from headstart.adapt import AdaptResult, summary_lines

    row = {"method": "tent", "n": 16, "mean": 0.9004, "ci_low": 0.85, "ci_high": 0.95, "seeds": 3, "oracle": None,
           "gap_closed": None, "flags": [], "over_baseline": {"mean": 0.0004, "ci_low": -0.00003, "ci_high": 0.0009}}
    text = adaptation_markdown([row], source="s", strategy="full-finetune", target="t")
    assert "| tent | 16 | 90.0 | 85.0 – 95.0 | +0.04 | -0.003 to +0.1 | – | – | 3 |" in text, text
    (line,) = summary_lines(AdaptResult(Path("."), rows=[row]))
    assert line == "tent n=16: 90.0% on the target; +0.04 points over source-only (CI -0.003 to +0.1)", line
