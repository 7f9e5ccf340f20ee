"""The HTML report in a real headless Chromium: offline, interactive, and immune to injected names.

Needs Debian's chromium (``apt-get install -y chromium``) and ``pip install playwright==1.65.2``; the
browser bundled by ``playwright install`` is not used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from headstart.analysis import curves, summarize
from headstart.report import render
from headstart.report.chart import chart_figure
from headstart.results import RunResult
from headstart.store import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
EVIL = "<script>alert(1)</script>"
COMMAND = "headstart compare --data \"x</script><img src=x onerror=alert(2)>\""

if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    if os.environ.get("HEADSTART_REQUIRE_BROWSER") == "1":  # CI sets it: there the check must run, not skip
        raise RuntimeError(f"HEADSTART_REQUIRE_BROWSER=1 but chromium is not installed at {CHROMIUM}")
    pytest.skip(f"chromium is not installed at {CHROMIUM}; install it with `apt-get install -y chromium`",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed; pip install playwright==1.65.2")


def results() -> list[RunResult]:
    means = {"scratch": (0.30, 0.20), "linear-probe": (0.60, 0.08), EVIL: (0.40, 0.10)}
    out = []
    for strategy, (start, gain) in means.items():
        for i, n in enumerate((16, 64, 256, "all")):
            for seed in range(3):
                spec = {"strategy": strategy, "n": 900 if n == "all" else n, "n_requested": n, "seed": seed,
                        "backbone": "tiny<b>", "data": {"name": "toy<i>", "hash": "h"}, "options": {}, "train": {}}
                value = start + gain * i + 0.01 * ((seed * 5 + i + len(strategy)) % 3)
                chosen = {}
                if strategy == "linear-probe":  # tuned, at the top of its grid every time
                    spec["tune"], chosen = {"param": "head_lr", "grid": [0.001, 0.003, 0.01]}, {"head_lr": 0.01}
                scores = [0.45, 0.48, 0.5] if strategy == "scratch" else [value - 0.02, value, value]  # scratch: never above 0.5
                record = {"reference": {"test": {"accuracy": 0.5}, "val": {"accuracy": 0.5}},
                          "budget": {"planned_steps": 24, "steps": 24, "lr": 3e-4, "tuned": False, "metric": "accuracy"},
                          "history": [{"step": 8 * (i + 1), "phase": "train", "val_score": v} for i, v in enumerate(scores)],
                          # a gap of 10 points give or take a seed's (the same gap in every seed is no interval)
                          "ood": [{"data": "shift<i>", "metrics": {"accuracy": value - 0.1 + 0.01 * (seed - 1)}, "test_rows": 50,
                                   "note": f"shift's labels read as the run's: {EVIL} as pos"}]}
                out.append(RunResult(key=f"{strategy}/{n}/{seed}", spec=spec, status="done", chosen=chosen,
                                     metrics={"accuracy": value, "n": 40}, val_metrics={"accuracy": value},
                                     train_seconds=1.0 + len(strategy), record=record))
    return out


def superseded() -> RunResult:
    """An older run of linear-probe n=16 seed 0 — the same arm, stored under another key (another version of
    headstart) — far off the newer one."""
    (newer,) = [r for r in results() if r.key == "linear-probe/16/0"]
    return RunResult(key="older/linear-probe/16/0", spec=newer.spec, status="done", metrics={"accuracy": 0.99}, train_seconds=1.0)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("report")
    with Store(directory) as store:
        store.put(superseded())  # stored first: the newer linear-probe n=16 seed 0 run replaces it in every figure
        for r in results():
            store.put(r)
        store.set_sweep(COMMAND, {"seeds": 3})
    ranking = {"data": "toy<i>", "data_hash": "h", "n": 64, "n_requested": 64, "seed": 0,
               "backbones": [{"name": EVIL, "logme": -0.4, "h_score": 1.2, "knn_loo": 0.7},
                             {"name": "tiny<b>", "logme": -0.5, "h_score": 0.9, "knn_loo": 0.6}]}
    (directory / "rank.json").write_text(json.dumps(ranking))  # rank-backbones --out DIR: the section below the results
    url = render(directory)["report.html"].resolve().as_uri()
    events: dict[str, list[str]] = {"console": [], "requests": [], "dialogs": [], "errors": []}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page()
        tab.on("console", lambda m: events["console"].append(f"{m.type}: {m.text}"))
        tab.on("pageerror", lambda e: events["errors"].append(str(e)))
        tab.on("request", lambda r: events["requests"].append(r.url))
        tab.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
        tab.goto(url, wait_until="load")
        yield tab, url, events
        browser.close()


def test_loads_offline_without_errors(page: Any) -> None:
    tab, url, events = page
    assert events["requests"] == [url]
    assert not [m for m in events["console"] if m.startswith(("error", "warning"))]
    assert events["errors"] == []
    assert tab.locator("#chart svg .point").count() == 12


def test_slider_changes_displayed_values(page: Any) -> None:
    tab, _, events = page
    slider = tab.locator("#size-slider")
    slider.fill("0")
    assert tab.text_content("#size-label") == "n = 16"
    first = tab.inner_text("#at-size tbody")
    slider.fill("3")
    assert tab.text_content("#size-label") == "n = all (900)"
    last = tab.inner_text("#at-size tbody")
    assert first != last
    (lp,) = [r for r in curves(results()) if r["strategy"] == "linear-probe" and r["n"] == "all"]
    half = (lp["ci_high"] - lp["ci_low"]) / 2 * 100
    assert f"linear-probe\t{lp['mean'] * 100:.1f} ± {half:.1f} %" in last
    assert tab.locator("#at-size tbody tr").count() == 4  # three strategies and the majority-class row
    assert tab.locator("#at-size tbody tr.note").inner_text().split("\t")[:2] == ["majority class", "50.0 %"]
    # scratch is best on validation here but never above the majority class: no arm is recommended, none is bold
    assert tab.locator("#at-size tbody tr.best").count() == 0 and tab.text_content("#pick-note") == ""
    slider.fill("0")
    assert tab.locator("#at-size tbody tr.best").inner_text().startswith("linear-probe\t")  # the recommendation's pick
    assert tab.text_content("#pick-note").startswith("In bold: linear-probe, the recommendation at this size (chosen on validation")
    assert events["errors"] == []


def test_an_older_run_of_a_cell_is_left_out_and_said_so(page: Any) -> None:
    tab, _, _ = page
    assert tab.text_content("#superseded").startswith("1 older run(s) of the same arm, size and seed")
    (lp,) = [r for r in curves(results()) if r["strategy"] == "linear-probe" and r["n"] == 16]
    row = [line for line in tab.inner_text("#table tbody").splitlines() if line.startswith("linear-probe\t16\t")]
    assert row and row[0].split("\t")[2].startswith(f"{lp['mean'] * 100:.1f} ± ")  # the newer runs only, not 0.99


def test_hover_shows_the_value(page: Any) -> None:
    tab, _, _ = page
    tab.locator("#chart .point").last.dispatch_event("mouseenter")
    tip = tab.text_content("#tip")
    assert "n = all (900)" in tip and "%" in tip and "3 seeds" in tip


def test_injected_names_are_text(page: Any) -> None:
    tab, _, events = page
    assert events["dialogs"] == []
    assert tab.evaluate("document.scripts.length") == 2
    assert tab.locator("img").count() == 0 and tab.locator("b, i").count() == 0
    assert EVIL in tab.inner_text("#legend")
    assert EVIL in tab.inner_text("#table")
    assert tab.text_content("#command") == COMMAND
    assert tab.title() == "toy<i> · tiny<b> — accuracy vs labelled examples"


def test_a_choice_at_the_edge_of_its_grid_is_flagged(page: Any) -> None:
    tab, _, _ = page
    text = tab.inner_text("#edges")
    assert text.startswith("Tuning at the edge of its grid:")
    assert "linear-probe chose head_lr 0.01, the top of its grid (0.001, 0.003, 0.01), in 12 of 12 tuned runs" in text
    assert "try grids={'linear-probe': (0.003, 0.01, 0.033)}" in text  # rendered from Python: compare's argument


def test_the_majority_line_is_drawn_at_its_rate(page: Any) -> None:
    """A dashed line at the majority-class rate (50% here) with its label; scratch sits on it and is flagged."""
    tab, _, _ = page
    line = tab.locator("#majority-line")
    assert line.count() == 1 and line.get_attribute("stroke-dasharray")
    assert tab.text_content("#majority-label") == "majority class 50.0 %"
    ticks = [(float(t.text_content()), float(t.get_attribute("y")) - 4)
             for t in tab.locator("#chart svg text[text-anchor=end]").all() if t.get_attribute("id") is None]
    (v0, y0), (v1, y1) = ticks[0], ticks[-1]  # the y axis is linear: place 50.0 between two of its labels
    assert float(line.get_attribute("y1")) == pytest.approx(y0 + (50.0 - v0) * (y1 - y0) / (v1 - v0), abs=0.01)
    assert tab.text_content("#reference").startswith("Reference: majority class: 50.0% on test")
    flags = tab.inner_text("#budget-flags")
    assert "scratch never beat the majority-class rate on validation at n = 16 (3 of 3 seeds" in flags


def test_the_out_of_domain_table_sits_beside_the_in_domain_scores(page: Any) -> None:
    """--eval-data rows: one per arm and size, in domain beside out of domain and the gap; names and notes are text."""
    tab, _, events = page
    table = tab.locator("#ood-table")
    assert table.locator("tr").count() == 1 + 3 * 4
    row = table.locator("tr", has_text="linear-probe").first
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["linear-probe", "16", "shift<i>"] and cells[6] == "+10.0", cells
    gaps = [r.locator("td").all_inner_texts()[7] for r in table.locator("tr").all()[1:]]  # "8.5 to 11.5": no sign
    assert all(re.fullmatch(r"[+\u2212]\d+\.\d to [+\u2212]\d+\.\d", g) for g in gaps), gaps
    assert EVIL in tab.locator("#ood").inner_text() and events["dialogs"] == []


def test_the_backbone_ranking_sits_beside_what_the_store_measured(page: Any) -> None:
    """rank.json's scores in a table, the measured mean beside the backbone the store ran, "–" beside one it did not;
    names are text."""
    tab, _, events = page
    table = tab.locator("#ranking-table")
    assert table.locator("tr").first.locator("th").all_inner_texts() == ["backbone", "LogME", "H-score", "kNN-LOO",
                                                                          "measured test accuracy (%)", "95% CI"]
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tr").all()[1:]]
    (lp,) = [r for r in curves(results()) if r["strategy"] == "linear-probe" and r["n"] == "all"]
    assert rows == [[EVIL, "-0.4", "1.2", "0.700", "\u2013", "\u2013"], ["tiny<b>", "-0.5", "0.9", "0.600", f"{100 * lp['mean']:.1f}",
                                                                      f"{100 * lp['ci_low']:.1f} \u2013 {100 * lp['ci_high']:.1f}"]]
    assert "64 pool rows of toy<i>" in tab.inner_text("#ranking") and events["dialogs"] == [] and events["errors"] == []


def test_a_small_test_split_and_what_the_intervals_carry_are_said(page: Any) -> None:
    """40 test rows: a line says so with the error, in the warning style; the intervals' note is the Markdown's."""
    tab, _, events = page
    split = tab.locator("#test-split")
    assert split.text_content() == ("Small test split: 40 rows; an accuracy measured on them is uncertain by up to "
                                    "±14.8 points (95% Wilson interval at 50%), so differences smaller than that are not "
                                    "resolved by this test set")
    assert split.get_attribute("class") == "warn"
    assert tab.text_content("#intervals").startswith("Intervals are 95% and carry the seed variation alone (Student-t; these runs stored no test predictions")
    assert tab.locator("#command-note").count() == 0 and events["errors"] == []


def two_probe_seeds(folder: Path, accuracies: tuple[float, float], *, scored: int) -> None:
    """A store of two linear-probe seeds at n = 16 with these test (and validation) accuracies on ``scored`` rows."""
    with Store(folder) as store:
        for seed, value in enumerate(accuracies):
            spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": seed, "backbone": "b",
                    "data": {"name": "d", "hash": "h"}, "options": {}, "train": {}}
            store.put(RunResult(key=f"lp/{seed}", spec=spec, status="done", metrics={"accuracy": value, "n": scored},
                                val_metrics={"accuracy": value}, train_seconds=1.0))


def test_a_clipped_interval_is_never_shown_as_mean_plus_minus_half(page: Any, tmp_path: Path) -> None:
    """Two seeds far apart: the interval is clipped at 0 and 100 %, and "48.5 ± 50.0" read as -1.5 to 98.5. The
    tables show the mean beside its CI column, the chart's tooltip the mean with (low – high)."""
    two_probe_seeds(tmp_path, (0.1, 0.87), scored=40)
    (row,) = [r for r in curves(Store(tmp_path).results()) if r["strategy"] == "linear-probe"]
    assert row["ci_low"] == 0.0 and row["ci_high"] == 1.0, row
    url = render(tmp_path)["report.html"].resolve().as_uri()
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(url, wait_until="load")
    cells = tab.inner_text("#table tbody").splitlines()[0].split("\t")
    tab.locator("#chart .point").first.dispatch_event("mouseenter")
    tip = tab.text_content("#tip")
    tab.close()
    assert cells[2] == "48.5 %" and cells[3] == "0.0 – 100.0", cells
    assert "48.5 (0.0 – 100.0) %" in tip and "±" not in tip.split("48.5")[1][:8], tip


def test_a_score_on_a_half_reads_as_report_md_writes_it(page: Any, tmp_path: Path) -> None:
    """Seeds at 18.0 % and 18.5 %: the mean is 18.25 points exactly, which JavaScript's toFixed rounds up (18.3) and
    Python to even (18.2); the page shows report.md's digits in its tables and its tooltip."""
    two_probe_seeds(tmp_path, (0.18, 0.185), scored=400)
    paths = render(tmp_path)
    md_row = [line for line in paths["report.md"].read_text().splitlines() if line.startswith("| linear-probe | 16 |")]
    assert md_row and md_row[0].split(" | ")[2] == "18.2", md_row
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(paths["report.html"].resolve().as_uri(), wait_until="load")
    cells = tab.inner_text("#table tbody").splitlines()[0].split("\t")
    at_size = tab.inner_text("#at-size tbody").splitlines()[0].split("\t")
    tab.locator("#chart .point").first.dispatch_event("mouseenter")
    tip = tab.text_content("#tip")
    tab.close()
    assert cells[2].startswith("18.2 ") and at_size[1].startswith("18.2 ") and ": 18.2 " in tip, (cells, at_size, tip)
    assert cells[3] == md_row[0].split(" | ")[3], (cells, md_row)
    # seconds, seconds per step, trainable parameters, saved size: report.md's cells too (the page wrote "1 s", "0")
    assert cells[7:11] == md_row[0].removesuffix(" |").split(" | ")[7:11], (cells, md_row)
    assert at_size[4:7] == [cells[7], cells[9], cells[10]], (at_size, cells)


def test_the_seeds_column_says_the_same_run_only_where_the_seeds_are_one_run(page: Any, tmp_path: Path) -> None:
    """report.md's seeds column says "3 (the same run)" for a closed form with every label and "3" for a probe's seeds
    that merely predicted alike; the page wrote its own column from the JavaScript and nothing read it there."""
    target = [i % 2 for i in range(25)]
    with Store(tmp_path) as store:
        for strategy, n, steps in (("embed-logreg", "all", 0), ("linear-probe", 16, 4)):
            for seed in range(3):  # the same 2 of 25 rows wrong in every seed
                spec = {"strategy": strategy, "n": 16 if n == "all" else n, "n_requested": n, "seed": seed, "backbone": "b",
                        "data": {"name": "d", "hash": "h"}, "options": {}, "train": {}}
                store.put(RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": 0.92, "n": 25},
                                    val_metrics={"accuracy": 0.8}, train_seconds=1.0, steps=steps, trainable_params=770,
                                    record={"test": {"predicted": [1 - t if i < 2 else t for i, t in enumerate(target)],
                                                     "target": target}}))
    paths = render(tmp_path)
    md = {row.split(" | ")[0].lstrip("| "): row.split(" | ")[4] for row in paths["report.md"].read_text().splitlines()
          if row.startswith(("| embed-logreg |", "| linear-probe |"))}
    assert md == {"embed-logreg": "3 (the same run)", "linear-probe": "3"}, md
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(paths["report.html"].resolve().as_uri(), wait_until="load")
    rows = [line.split("\t") for line in tab.inner_text("#table tbody").splitlines()]
    at_size = {}
    for position in ("0", "1"):  # n = 16, then n = all
        tab.locator("#size-slider").fill(position)
        at_size.update({r.split("\t")[0]: r.split("\t")[3] for r in tab.inner_text("#at-size tbody").splitlines()
                        if r.startswith(("embed-logreg\t", "linear-probe\t"))})
    tab.close()
    assert {r[0]: r[4] for r in rows if r[0] in md} == md, rows
    assert at_size == md, at_size


def test_an_arm_at_one_size_shows_its_interval_as_an_error_bar(page: Any, tmp_path: Path) -> None:
    """One size alone: the band was a polygon of two points (nothing drawn); chart.png drew an error bar, and so
    does the page now, from the low to the high end of the interval."""
    two_probe_seeds(tmp_path, (0.55, 0.6), scored=400)
    (row,) = [r for r in curves(Store(tmp_path).results()) if r["strategy"] == "linear-probe"]
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(render(tmp_path)["report.html"].resolve().as_uri(), wait_until="load")
    bars = [[float(b.get_attribute(a)) for a in ("x1", "x2", "y1", "y2")] for b in tab.locator("#chart .errorbar").all()]
    tab.close()
    (stem,) = [b for b in bars if b[0] == b[1]]
    caps = sorted(b[2] for b in bars if b[0] != b[1])
    assert len(caps) == 2 and caps == sorted(stem[2:]) and stem[3] - stem[2] > 20, bars  # tens of points on the axis
    assert 0 < row["ci_low"] < row["ci_high"] < 1


def test_a_narrow_screen_scrolls_a_table_never_the_page(page: Any) -> None:
    """At 400 px the 760 px chart and the wide tables pushed the page sideways; the chart now scales to the page and
    each table scrolls in its own box."""
    tab = page[0].context.browser.new_page(viewport={"width": 400, "height": 800})
    tab.goto(page[1], wait_until="load")
    widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                          " document.querySelector('#chart svg').getBoundingClientRect().width]")
    boxes = tab.evaluate("[...document.querySelectorAll('table')].map(t => getComputedStyle(t.parentElement).overflowX)")
    tab.close()
    assert widths[0] <= widths[1] and widths[2] <= 400, widths
    assert boxes and set(boxes) == {"auto"}, boxes


def test_the_legend_keeps_its_colours_in_print(page: Any) -> None:
    """The swatches were CSS backgrounds, which print leaves out; they are drawn now (a line in the strategy's colour
    and dash with its marker), as the chart is."""
    tab, _, _ = page
    tab.emulate_media(media="print")
    strokes = tab.evaluate("[...document.querySelectorAll('#legend svg.swatch line')].map(l => getComputedStyle(l).stroke)")
    backgrounds = tab.evaluate("[...document.querySelectorAll('#legend *')].map(e => getComputedStyle(e).backgroundColor)")
    tab.emulate_media(media="screen")
    assert len(strokes) == 3 and len(set(strokes)) == 3 and "none" not in strokes, strokes
    assert set(backgrounds) == {"rgba(0, 0, 0, 0)"}, backgrounds


def test_bands_lie_under_every_curve_and_the_majority_label_over_them(page: Any) -> None:
    """Each strategy's band was drawn just before its line, so a later band covered the earlier lines and points, and
    the majority-class label was drawn first, under them all. Now every band comes first (as in chart.png), and the
    label last, on a white backing."""
    tab, _, _ = page
    order = tab.evaluate("[...document.querySelector('#chart svg').children].map(e => e.id || e.getAttribute('class') || e.tagName)")
    bands = [i for i, name in enumerate(order) if name == "band"]
    curves_at = [i for i, name in enumerate(order) if name in ("polyline", "point", "errorbar")]
    assert len(bands) == 3 and max(bands) < min(curves_at), order
    assert order.index("majority-backing") + 1 == order.index("majority-label") and order.index("majority-label") > max(curves_at)


def test_the_legend_says_what_the_bands_are_and_the_slider_line_is_labelled(page: Any) -> None:
    """chart.png's legend says the bands are 95% CIs; the page's said nothing, and its dashed slider line was unnamed."""
    tab, _, _ = page
    (ax,) = chart_figure(summarize(results()), title="t").axes
    assert tab.inner_text("#legend").startswith(ax.get_legend().get_title().get_text() + ":")
    assert "95% CI" in ax.get_legend().get_title().get_text()
    tab.locator("#size-slider").fill("1")
    label = tab.locator("#size-marker-label")
    assert label.text_content() == "n = 64 (the table below)"
    assert abs(float(label.get_attribute("x")) - float(tab.locator("#size-marker").get_attribute("x1"))) < 5
    tab.locator("#size-slider").fill("0")


def test_the_run_counts_and_train_time_notes_are_report_mds(page: Any) -> None:
    """report.md's "Runs: … done, … failed …" line and its notes on the train time were missing from the page."""
    tab, url, _ = page
    md = (Path(url.removeprefix("file://")).parent / "report.md").read_text().split("\n\n")
    (runs,) = [p for p in md if p.startswith("Runs: ")]
    assert runs.startswith(tab.text_content("#runs") + " ") and tab.text_content("#runs") == "Runs: 36 done, 0 failed, 0 diverged, 0 not finished."
    notes = tab.locator("#train-notes p").all_text_contents()
    assert notes and all(note in md for note in notes) and notes[0].startswith("Train wall time holds a tuned run's")


def test_the_tooltip_says_one_seed_and_stays_inside_the_chart(page: Any, tmp_path: Path) -> None:
    """One seed read "(1 seeds)"; the rightmost point's tooltip ran past the chart's right edge (cut off on a phone)."""
    two_probe_seeds(tmp_path, (0.6,), scored=400)
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(render(tmp_path)["report.html"].resolve().as_uri(), wait_until="load")
    tab.locator("#chart .point").first.dispatch_event("mouseenter")
    one = tab.text_content("#tip")
    tab.close()
    assert one.endswith("(1 seed)"), one
    tab = page[0].context.browser.new_page(viewport={"width": 400, "height": 800})
    tab.goto(page[1], wait_until="load")
    tab.locator("#chart .point").last.dispatch_event("mouseenter")
    tip, chart = tab.evaluate("['#tip', '#chart'].map(s => document.querySelector(s).getBoundingClientRect().right)")
    tab.close()
    assert tip <= chart + 0.5, (tip, chart)


def test_the_stores_precision_and_environment_follow_every_experiment(page: Any, tmp_path: Path) -> None:
    """A store of two experiments: the Precision and Environment lines (every experiment's runs) sat among the newest
    experiment's figures; the page moves them to a part of their own after the other experiments, as report.md does."""
    def run(backbone: str, seed: int) -> RunResult:
        spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": seed, "backbone": backbone,
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {"precision": "fp32"}}
        return RunResult(key=f"{backbone}/{seed}", spec=spec, status="done", metrics={"accuracy": 0.7 + seed / 100, "n": 100},
                         val_metrics={"accuracy": 0.7}, train_seconds=1.0, record={"environment": {"cpu": "Xeon A"}})

    with Store(tmp_path) as store:
        for backbone in ("tiny-a", "tiny-b"):
            for seed in range(2):
                store.put(run(backbone, seed))
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(render(tmp_path)["report.html"].resolve().as_uri(), wait_until="load")
    part = tab.locator("#provenance-part")
    said = (part.locator("h2").text_content(), part.locator("#precision").text_content(), part.locator("#environment").text_content())
    after_others = tab.evaluate("() => !!(document.getElementById('others').compareDocumentPosition("
                                "document.getElementById('precision')) & Node.DOCUMENT_POSITION_FOLLOWING)")
    tab.close()
    assert said[0] == "Where these numbers come from" and said[1].startswith("Precision: "), said
    assert said[2].startswith("Environment: the 4 finished runs of the store's 2 experiments ran on"), said
    assert after_others
