"""Tests of headstart/report/html.py read from the page's data and text (the browser's checks are in test_browser.py)."""

from __future__ import annotations

import json

from matplotlib.colors import to_hex

from headstart.analysis import summarize
from headstart.report.chart import PALETTE, chart_figure
from headstart.report.html import _payload, report_html
from headstart.results import RunResult

STRATEGIES = ("full-finetune", "linear-probe", "lora", "scratch")


def stored(strategy: str, n: int | str, seed: int, accuracy: float, *, n_actual: int | None = None) -> RunResult:
    spec = {"strategy": strategy, "n": n_actual or n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", metrics={"accuracy": accuracy, "n": 40},
                     val_metrics={"accuracy": accuracy}, train_seconds=1.0, steps=4)


def four_arms() -> dict:
    return summarize([stored(s, n, seed, 0.3 + 0.1 * i + 0.05 * j + 0.01 * seed)
                      for i, s in enumerate(STRATEGIES) for j, n in enumerate((16, 64)) for seed in range(3)])


def data(html: str) -> dict:
    return json.loads(html.split('id="report-data">', 1)[1].split("</script>", 1)[0])


def test_a_strategy_has_one_colour_marker_and_dash_in_both_charts() -> None:
    """report.html and chart.png once gave the second strategy red and orange; now one palette (Okabe–Ito) serves
    both, and a marker and dash beside each colour tell strategies apart without hue."""
    summary = four_arms()
    styles = _payload(summary, "t", None)["styles"]
    (ax,) = chart_figure(summary, title="t").axes
    drawn = {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}
    assert set(drawn) == set(STRATEGIES) == set(styles)
    for strategy, line in drawn.items():
        assert to_hex(line.get_color()).upper() == styles[strategy]["color"].upper() and styles[strategy]["color"] in PALETTE
        assert line.get_marker() == styles[strategy]["marker"]
        assert (line.get_linestyle() == "-") == (not styles[strategy]["dash"])
    assert len({s["marker"] for s in styles.values()}) == 4 and len({tuple(s["dash"]) for s in styles.values()}) == 4
    html = report_html(summary, title="t", command=None)
    assert "#d62728" not in html and "COLORS" not in html  # no second palette in the page
    assert data(html)["styles"] == styles


def test_without_javascript_the_page_says_so_and_names_report_md() -> None:
    html = report_html(four_arms(), title="t", command=None)
    noscript = html.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
    assert "needs JavaScript" in noscript and "report.md" in noscript


def test_two_sizes_at_one_x_share_one_label_in_both_charts() -> None:
    """n = 56 and all (56) are one x: their labels were drawn over each other ("56" under "all (56)") on the page,
    and chart.png kept only "all (56)". Both now label it once: "56 = all"; the slider still steps through both."""
    summary = summarize([stored("linear-probe", n, seed, 0.6 + 0.01 * seed, n_actual=56 if n == "all" else None)
                         for n in (16, 56, "all") for seed in range(3)])
    payload = _payload(summary, "t", None)
    assert [t["label"] for t in payload["ticks"]] == ["16", "56 = all"]
    assert [s["label"] for s in payload["sizes"]] == ["16", "56", "all (56)"]
    (ax,) = chart_figure(summary, title="t").axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "56 = all"]
