"""continual.html in a real headless Chromium: offline, the matrix drawn per arm on selection, names kept as text."""

from __future__ import annotations

from typing import Any

import pytest

from test_browser import ARGS, CHROMIUM, EVIL, sync_api  # noqa: F401  (skips the module without chromium / playwright)

from headstart.report.continual_html import continual_html


def _summary(mean: float) -> dict[str, float]:
    return {"mean": mean, "ci_low": mean - 0.02, "ci_high": mean + 0.02, "seeds": 3}


def analysis() -> dict[str, Any]:
    arms = [{"arm": "naive", "method": "naive", "matrix": [[0.9, None, None], [0.3, 0.9, None], [0.1, 0.2, 0.95]],
             "acc": _summary(0.42), "bwt": _summary(-0.72), "plasticity": _summary(0.92), "train_seconds": 30.0, "kept_bytes": 0},
            {"arm": EVIL, "method": "replay", "matrix": [[0.9, None, None], [0.8, 0.85, None], [0.7, 0.75, 0.9]],
             "acc": _summary(0.78), "bwt": _summary(-0.15), "plasticity": _summary(0.88), "fwt": _summary(-0.01),
             "train_seconds": 41.0, "kept_bytes": 2_400_000},
            {"arm": "joint", "method": "joint", "matrix": [[None] * 3, [None] * 3, [0.9, 0.9, 0.92]], "acc": _summary(0.91),
             "train_seconds": 50.0, "kept_bytes": 0}]
    return {"arms": arms, "tried": [], "recommended": EVIL}


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("continual") / "continual.html"
    path.write_text(continual_html(analysis(), title="Continual learning: s<b>", tasks=["a", EVIL, "c"], notes=[EVIL],
                                   command=f"headstart continual --stream '{EVIL}'"))
    events: dict[str, list[str]] = {"requests": [], "errors": [], "dialogs": [], "console": []}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page()
        tab.on("console", lambda m: events["console"].append(f"{m.type}: {m.text}"))
        tab.on("pageerror", lambda e: events["errors"].append(str(e)))
        tab.on("request", lambda r: events["requests"].append(r.url))
        tab.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
        tab.goto(path.resolve().as_uri(), wait_until="load")
        yield tab, path.resolve().as_uri(), events
        browser.close()


def test_the_page_loads_offline_and_draws_the_first_arms_matrix(page: Any) -> None:
    tab, url, events = page
    assert events["requests"] == [url] and events["errors"] == [] and events["dialogs"] == []
    assert not [m for m in events["console"] if m.startswith(("error", "warning"))]
    assert tab.locator("#matrix rect.cell").count() == 6, "the lower triangle of a 3-task matrix"
    assert tab.locator("#arms tbody tr").count() == 3
    assert tab.locator("#arms tbody tr.best").inner_text().startswith(EVIL)
    assert "−" not in tab.inner_text("#arms") and "-72.0 (-74.0 to -70.0)" in tab.inner_text("#arms")


def test_choosing_an_arm_redraws_its_matrix_and_hover_names_the_cell(page: Any) -> None:
    tab, _, events = page
    tab.select_option("#arm-select", "2")
    assert tab.locator("#matrix rect.cell").count() == 3, "joint has only its last row"
    tab.select_option("#arm-select", "1")
    tab.locator("#matrix rect.cell").nth(1).dispatch_event("mouseenter")
    assert tab.text_content("#tip") == f"after task 1 ({EVIL}), on task 0 (a): 80.0 %"
    assert events["errors"] == []


def test_injected_names_stay_text(page: Any) -> None:
    tab, _, events = page
    assert events["dialogs"] == [] and tab.evaluate("document.scripts.length") == 2
    assert tab.locator("b, img").count() == 0
    assert EVIL in tab.inner_text("#notes") and EVIL in tab.inner_text("#tasks") and tab.title() == "Continual learning: s<b>"
    assert tab.inner_text("#command") == f"headstart continual --stream '{EVIL}'", "the command that wrote it, as text"


def test_a_value_on_a_half_reads_as_continual_md_writes_it(page: Any, tmp_path: Any) -> None:
    """ACC 0.1825 and R[1][1] 0.7025 are 18.25 and 70.25 points exactly: JavaScript's toFixed rounds them up (18.3,
    70.3), Python to even (18.2, 70.2); the page shows continual.md's digits."""
    from headstart.report.continual import continual_markdown

    half = {"mean": 0.1825, "ci_low": 0.1625, "ci_high": 0.2025, "seeds": 3}
    arms = [{"arm": "ewc", "method": "ewc", "matrix": [[0.9, None], [0.3, 0.7025]], "acc": half, "bwt": _summary(-0.6),
             "plasticity": _summary(0.8), "train_seconds": 2.5, "kept_bytes": 1_250_000}]
    data = {"arms": arms, "tried": [], "recommended": None}
    md = continual_markdown(data, stream="s", scenario="task", tasks=["a", "b"], notes=[])
    assert "| ewc | 18.2 (16.2 to 20.2) |" in md and "| 1 | 30.0 | 70.2 |" in md and "| 2 | 1.25 MB |" in md, md
    path = tmp_path / "continual.html"
    path.write_text(continual_html(data, title="t", tasks=["a", "b"], notes=[]))
    tab = page[0].context.browser.new_page()  # the module's browser: one sync Playwright at a time
    tab.goto(path.resolve().as_uri(), wait_until="load")
    assert tab.inner_text("#command") == "(not recorded)", "no command given: said, as report.html says it"
    cells = tab.locator("#arms tbody td").all_inner_texts()
    matrix = tab.locator("#matrix svg text").all_text_contents()
    tab.close()
    assert cells[1] == "18.2 (16.2 to 20.2)" and cells[6:] == ["2", "1.25 MB"], cells
    assert "70.2" in matrix and "70.3" not in matrix, matrix


def test_a_narrow_screen_scrolls_the_table_never_the_page(page: Any, tmp_path: Any) -> None:
    """At 400 px (eight tasks' matrix, a wide table) nothing pushes the page sideways: the matrix scales down and the
    table scrolls in its own box."""
    arms = analysis()["arms"]
    wide = {**arms[0], "matrix": [[0.5] * (i + 1) + [None] * (7 - i) for i in range(8)]}
    path = tmp_path / "continual.html"
    path.write_text(continual_html({"arms": [wide], "tried": [], "recommended": None}, title="t",
                                   tasks=[f"task-{i}" for i in range(8)], notes=[]))
    tab = page[0].context.browser.new_page(viewport={"width": 400, "height": 800})
    tab.goto(path.resolve().as_uri(), wait_until="load")
    widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    box = tab.evaluate("getComputedStyle(document.querySelector('#arms').parentElement).overflowX")
    tab.close()
    assert widths[0] <= widths[1] and box == "auto", (widths, box)


def test_at_400_px_each_interval_cell_stays_on_one_line(page: Any, tmp_path: Any) -> None:
    """At 400 px the table's ACC / BWT / plasticity / FWT cells ("42.0 (40.0–44.0)") wrapped onto three or four lines
    each: they keep to one line, and the table scrolls in its box (the page does not)."""
    path = tmp_path / "continual.html"
    path.write_text(continual_html(analysis(), title="t", tasks=["a", "b", "c"], notes=[]))
    tab = page[0].context.browser.new_page(viewport={"width": 400, "height": 800})
    tab.goto(path.resolve().as_uri(), wait_until="load")
    heights = tab.evaluate("""[...document.querySelectorAll('#arms tbody tr')].map(tr => [...tr.cells].slice(1, 6)
        .map(td => { const text = document.createRange(); text.selectNodeContents(td);
                     return Math.round(text.getBoundingClientRect().height); }))""")  # the text's lines, not the row's
    widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    tab.close()
    assert all(len(set(row)) == 1 for row in heights), heights  # every interval cell as tall as the one-line seeds cell
    assert widths[0] <= widths[1], widths


def test_a_value_on_a_dark_cell_is_drawn_light(page: Any) -> None:
    """The script asked for white text on dark cells (fill attribute), but the stylesheet's ``svg text`` rule won,
    so 0.9 on dark blue read #333; the light text now wins by a class rule."""
    tab, _, _ = page
    tab.select_option("#arm-select", "0")
    fills = tab.evaluate("[...document.querySelectorAll('#matrix text')].filter(t => t.textContent === '90.0')"
                         ".map(t => getComputedStyle(t).fill)")
    light = tab.evaluate("[...document.querySelectorAll('#matrix text')].filter(t => t.textContent === '10.0')"
                         ".map(t => getComputedStyle(t).fill)")
    assert fills and set(fills) == {"rgb(255, 255, 255)"}, fills
    assert light == ["rgb(34, 34, 34)"], light


def test_without_javascript_the_page_names_continual_md() -> None:
    html = continual_html(analysis(), title="t", tasks=["a", "b", "c"], notes=[])
    noscript = html.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
    assert "needs JavaScript" in noscript and "continual.md" in noscript


def test_a_cells_tooltip_stays_inside_a_narrow_page(page: Any) -> None:
    tab = page[0].context.browser.new_page(viewport={"width": 400, "height": 800})
    tab.goto(page[1], wait_until="load")
    tab.locator("#matrix rect.cell").last.dispatch_event("mouseenter")
    tip, matrix = tab.evaluate("['#tip', '#matrix'].map(s => document.querySelector(s).getBoundingClientRect().right)")
    tab.close()
    assert tip <= matrix + 0.5, (tip, matrix)
