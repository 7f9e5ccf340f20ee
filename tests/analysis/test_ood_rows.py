"""``analysis.ood``: out-of-domain rows warn where a model answered one class for every test row (tent's collapse)."""

from __future__ import annotations

from headstart.analysis import summarize
from headstart.analysis.ood import ood_rows
from headstart.report.html import report_html
from headstart.report.markdown import report_markdown
from headstart.results import RunResult

TARGET = [0, 1, 1, 0, 1, 1]


def _run(seed: int, predicted: list[int]) -> RunResult:
    spec = {"strategy": "full-finetune", "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    accuracy = sum(p == t for p, t in zip(predicted, TARGET)) / len(TARGET)
    found = {"data": "shift", "tta": "tent", "metrics": {"accuracy": accuracy}, "test_rows": len(TARGET),
             "rows": {"target": TARGET, "predicted": predicted}}
    return RunResult(key=f"ft/{seed}", spec=spec, status="done", metrics={"accuracy": 0.8}, val_metrics={"accuracy": 0.8},
                     train_seconds=1.0, record={"ood": [found]})


def test_a_score_that_is_one_class_for_every_row_is_flagged_with_its_seeds_and_said_in_the_report():
    runs = [_run(0, [1] * 6), _run(1, [0, 1, 1, 0, 0, 1])]
    (row,) = ood_rows(runs)
    assert row["one_class"] == 1
    assert row["one_class_note"] == ("full-finetune (n = 16) on shift after tent answered '1' for every test row in 1 of 2 "
                                     "seed(s): its score there is that class's share, not what it learnt (tent's entropy "
                                     "minimum is one confident class: compare tent-episodic).")
    summary = summarize(runs)
    md = report_markdown(summary, title="t", command=None)
    assert "- ⚠ full-finetune (n = 16) on shift after tent answered '1'" in md and "| full-finetune ⚠ | 16 | shift after tent |" in md
    assert '"one_class_note": "full-finetune (n = 16) on shift after tent' in report_html(summary, title="t", command=None)
    (clean,) = ood_rows([_run(0, [0, 1, 1, 0, 0, 1]), _run(1, [0, 1, 1, 0, 1, 0])])
    assert clean["one_class"] == 0 and clean["one_class_note"] is None


def test_the_majority_floor_is_given_for_accuracy_only():
    """Always answering the most frequent class scores its share in accuracy (4 of 6 here); its macro-F1 is another
    number, so a macro-F1 row carries no such floor to be compared with."""
    import dataclasses

    runs = [_run(0, [0, 1, 1, 0, 0, 1]), _run(1, [0, 1, 1, 0, 1, 0])]
    (row,) = ood_rows(runs)
    assert row["majority"] == 4 / 6
    f1 = [dataclasses.replace(r, metrics={"macro_f1": 0.8}, record={"ood": [{**r.record["ood"][0], "metrics": {"macro_f1": 0.5}}]})
          for r in runs]
    (row,) = ood_rows(f1, "macro_f1")
    assert row["majority"] is None


def test_a_perfect_score_out_of_domain_keeps_its_wilson_interval_on_the_rows():
    """Every row right in both seeds: every resample gives 100%, which is not certainty on 6 rows; the interval holds
    the Wilson interval of 6 of 6 (as compare's and evaluate's do)."""
    from headstart.analysis.stats import wilson

    (row,) = ood_rows([_run(0, TARGET), _run(1, TARGET)])
    assert row["mean"] == 1.0 and row["ci_high"] == 1.0
    assert row["ci_low"] == wilson(1.0, len(TARGET))[0] < 0.7


def test_a_perfect_balanced_accuracy_out_of_domain_keeps_its_per_class_wilson_interval():
    """Balanced accuracy had no floor out of domain: both seeds right on every row gave 1.0 (1.0–1.0), as if 6 rows
    proved it; now the mean of each class's Wilson interval of its recall (``stats.recall_cover``), as compare's rows."""
    import dataclasses

    import numpy as np

    from headstart.analysis.stats import recall_cover

    runs = []
    for seed in (0, 1):
        run = _run(seed, list(TARGET))
        run.record["ood"][0]["metrics"]["balanced_accuracy"] = 1.0
        runs.append(dataclasses.replace(run, metrics={**run.metrics, "balanced_accuracy": 0.8}))
    (row,) = ood_rows(runs, "balanced_accuracy")
    low, high = recall_cover(np.asarray(TARGET), np.asarray(TARGET))
    assert row["mean"] == 1.0 and row["ci_high"] == high == 1.0
    assert row["ci_low"] == low < 0.6


def test_a_score_or_gap_with_no_spread_shows_no_interval_and_a_gap_on_one_seed_says_what_it_leaves_out():
    """Macro-F1 right on every row in both seeds read "100.0 – 100.0" and its gap "-20.0 to -20.0" (a zero-width
    interval shown as certainty); a gap on one seed, over its two test sets' rows alone, was as significant as three
    seeds'. Now both say what compare says, in the row's JSON and in the tables."""
    import dataclasses

    perfect = [dataclasses.replace(r, metrics={"macro_f1": 0.8},
                                   record={"ood": [{**r.record["ood"][0], "metrics": {"macro_f1": 1.0}}]})
               for r in (_run(0, TARGET), _run(1, TARGET))]
    (row,) = ood_rows(perfect, "macro_f1")
    assert row["no_interval"] == "every seed and every resample of the test rows gave the same value"
    assert row["interval"] == "none" and row["gap"]["p_value"] is None and not row["gap"]["significant"]
    assert row["gap"]["no_interval"] == "every seed gave the same value and no test predictions are stored to resample"
    md = report_markdown(summarize(perfect, "macro_f1"), title="t", command=None)
    assert "| 100.0 | no interval: every seed and every resample of the test rows gave the same value | -20.0 | no interval: " in md
    assert "100.0 – 100.0" not in md
    html = report_html(summarize(perfect, "macro_f1"), title="t", command=None)
    assert '"ci_text": "no interval: every seed and every resample of the test rows gave the same value"' in html

    one = _run(0, [0, 1, 1, 0, 0, 1])
    one = dataclasses.replace(one, record={**one.record, "test": {"predicted": [1, 1, 0, 0, 1, 1] * 5, "target": [1, 0] * 15}})
    (row,) = ood_rows([one])
    assert row["gap"]["caveat"] == "1 seed: training randomness is not in the interval" and not row["gap"]["significant"]
    md = report_markdown(summarize([one]), title="t", command=None)
    assert "; 1 seed: training randomness is not in the interval |" in md
