"""Tests of headstart/report/chart.py: the learning-curve chart draws what the tables state."""

from __future__ import annotations

import numpy as np

from headstart.analysis import summarize
from headstart.report.chart import chart_figure, log_x
from headstart.report.markdown import curve_ci_text
from headstart.results import RunResult


def stored(strategy: str, n: int, seed: int, wrong: int) -> RunResult:
    """A run that got ``wrong`` of 40 test rows wrong (its first ones), its predictions stored for the row bootstrap."""
    target = [i % 2 for i in range(40)]
    predicted = [1 - t if i < wrong else t for i, t in enumerate(target)]
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": 1 - wrong / 40, "n": 40},
                     val_metrics={"accuracy": 1 - wrong / 40}, train_seconds=1.0, steps=4,
                     record={"test": {"predicted": predicted, "target": target}})


def test_the_charts_band_is_the_interval_the_tables_state() -> None:
    """The band around each curve is the 95% interval of the table's CI column (seeds and test rows, Wilson-floored
    where the seeds agree), not a spread of its own (mean ± std, seeds alone): a reader compares the two."""
    results = ([stored("linear-probe", n, s, w) for n, ws in ((16, (12, 4, 9)), (64, (6, 6, 6))) for s, w in enumerate(ws)]
               + [stored("full-finetune", n, s, w) for n, ws in ((16, (20, 10, 15)), (64, (3, 8, 1))) for s, w in enumerate(ws)])
    summary = summarize(results)
    fig = chart_figure(summary, title="t")
    (ax,) = fig.axes
    bands = {}
    drawn = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]  # the curves, in plot order
    for collection, strategy in zip(ax.collections, drawn):  # each curve's fill_between
        vertices = collection.get_paths()[0].vertices
        for x in {float(v) for v in vertices[:, 0]}:
            ys = vertices[np.isclose(vertices[:, 0], x), 1]
            bands[(strategy, x)] = (float(ys.min()), float(ys.max()))
    at = log_x([r["n_actual"] for r in summary["curves"]])
    assert {r["strategy"] for r in summary["curves"]} == {"full-finetune", "linear-probe"}
    for r in summary["curves"]:
        low, high = bands[(r["strategy"], at[r["n_actual"]])]
        assert curve_ci_text(summary, r) == f"{low:.1f} – {high:.1f}", (r, low, high)  # the table's column, to its digits
        assert np.isclose(low, 100 * r["ci_low"]) and np.isclose(high, 100 * r["ci_high"]), (r, low, high)
