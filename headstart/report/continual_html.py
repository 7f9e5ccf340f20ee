"""``continual.html``: the continual report as one self-contained interactive page (inline SVG + vanilla JS).

The same safety as ``report/html.py``: every user string travels inside a ``<script type="application/json">`` block
(``script_json``: no ``<``, ``>`` or ``&`` survives) and is rendered with ``textContent`` / SVG text nodes; a
Content-Security-Policy forbids any request. A selector picks the arm whose accuracy matrix is drawn (hover a cell for
its value); the table gives every arm's ACC, BWT, plasticity, FWT and cost with their intervals; the command that
wrote it ends the page, as continual.md's "Produced by" does. Every number is
written here in Python, as continual.md writes it: JavaScript's ``toFixed`` rounds an exact half up where Python
rounds it to even (18.25 is 18.3 there, 18.2 here), and one value must read the same on every page.
"""

from __future__ import annotations

import math
from typing import Any

from headstart.analysis.continual import recommended_word, versus_text, withheld_text
from headstart.report.continual import ci_text, matrix_text
from headstart.report.html import script_json
from headstart.report.html_page import CSP, JS_HELPERS
from headstart.report.mdtext import bytes_text

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>headstart continual report</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:980px;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.best{font-weight:600}.note{color:#666;font-size:.9em}
#arms td:nth-child(n+2):nth-child(-n+5){white-space:nowrap}
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.scroll{overflow-x:auto}#matrix{position:relative}#matrix svg{display:block;max-width:100%;height:auto}#tip{position:absolute;pointer-events:none;background:#222;color:#fff;padding:.2rem .45rem;
border-radius:3px;font-size:12px;white-space:nowrap;display:none}svg text{font-size:12px;fill:#333}
svg text.value{fill:#222}svg text.on-dark{fill:#fff}
</style></head><body>
<noscript><p class="note">This page needs JavaScript to draw its tables and matrix; continual.md beside it holds the
same content.</p></noscript>
<h1 id="title"></h1>
<p id="tasks"></p>
<h2>Methods</h2>
<div class="scroll"><table id="arms"><thead><tr><th>arm</th><th>ACC (%)</th><th>BWT (points)</th><th>plasticity (%)</th><th>FWT (points)</th>
<th>seeds</th><th>train s / stream</th><th>kept between tasks</th></tr></thead><tbody></tbody></table></div>
<p id="recommended"></p>
<h2>Accuracy matrix</h2>
<label for="arm-select">arm </label><select id="arm-select"></select>
<div id="matrix"><div id="tip"></div></div>
<p class="note">Row i, column j: accuracy (%) on task j's test split after training task i; mean over seeds.</p>
<h2>Notes</h2><ul id="notes"></ul>
<h2>Produced by</h2><pre id="command"></pre>
<script type="application/json" id="report-data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("report-data").textContent);
__HELPERS__$("title").textContent = D.title;
document.title = D.title;
$("tasks").textContent = "Tasks in order: " + D.tasks.join(" \\u2192 ");
const body = $("arms").querySelector("tbody");
for (const r of D.arms) {
  const tr = el("tr", null, r.arm === D.recommended ? {class: "best"} : {});
  for (const v of r.cells) tr.appendChild(el("td", v));
  body.appendChild(tr);
}
$("recommended").textContent = D.recommended ? D.recommended_word + ": " + D.recommended + " (highest ACC on the tasks' validation splits; test scores never choose)" + (D.versus ? "; " + D.versus : "") + "." + (D.caveat ? " Caveat: " + D.caveat + "." : "") : (D.withheld ? "Recommendation withheld: " + D.withheld + "." : "");
for (const n of D.notes) $("notes").appendChild(el("li", n));
$("command").textContent = D.command || "(not recorded)";
const select = $("arm-select");
D.arms.forEach((r, i) => select.appendChild(el("option", r.arm, {value: i})));
const tip = $("tip");
function draw() {
  const r = D.arms[Number(select.value)];
  const old = $("matrix").querySelector("svg");
  if (old) old.remove();
  const t = D.tasks.length, cell = 56, pad = 70;
  const side = pad + t * cell + 10;
  const s = svg("svg", {width: side, height: side, viewBox: "0 0 " + side + " " + side, role: "img"});  // CSS: no wider than the page
  for (let j = 0; j < t; j++) s.appendChild(svg("text", {x: pad + j * cell + cell / 2, y: pad - 8, "text-anchor": "middle"}, "task " + j));
  for (let i = 0; i < t; i++) {
    s.appendChild(svg("text", {x: pad - 8, y: pad + i * cell + cell / 2 + 4, "text-anchor": "end"}, "after " + i));
    for (let j = 0; j < t; j++) {
      const v = r.matrix[i][j];
      if (v === null) continue;
      const light = Math.round(95 - 60 * v);
      const rect = svg("rect", {x: pad + j * cell, y: pad + i * cell, width: cell - 2, height: cell - 2,
                                fill: "hsl(210,60%," + light + "%)", class: "cell"});
      const label = "after task " + i + " (" + D.tasks[i] + "), on task " + j + " (" + D.tasks[j] + "): " + r.matrix_text[i][j] + " %";
      rect.addEventListener("mouseenter", (e) => { tip.textContent = label; tip.style.display = "block";
        const k = s.getBoundingClientRect().width / side;  // the matrix's scale on screen
        const right = (pad + j * cell + cell) * k + tip.offsetWidth > $("matrix").clientWidth;  // past the edge: left of the cell
        tip.style.left = (right ? Math.max(0, (pad + j * cell) * k - tip.offsetWidth) : (pad + j * cell + cell) * k) + "px";
        tip.style.top = (pad + i * cell) * k + "px"; });
      rect.addEventListener("mouseleave", () => { tip.style.display = "none"; });
      s.appendChild(rect);
      s.appendChild(svg("text", {x: pad + j * cell + cell / 2, y: pad + i * cell + cell / 2 + 4, "text-anchor": "middle",
                                 "pointer-events": "none", class: light < 60 ? "value on-dark" : "value"}, r.matrix_text[i][j]));
    }
  }
  $("matrix").appendChild(s);
}
select.addEventListener("change", draw);
draw();
</script></body></html>
"""


def _cells(row: dict[str, Any]) -> list[str]:
    """An arm's row of the table, each number as continual.md writes it; one seed says so in its cell."""
    def ci(summary: dict[str, Any] | None, signed: bool = False) -> str:
        text = ci_text(summary, signed=signed)
        return text + " (one seed: no interval)" if summary and summary.get("seeds", 2) < 2 else text

    return [row["arm"], ci(row["acc"]), ci(row.get("bwt"), True), ci(row.get("plasticity")), ci(row.get("fwt"), True),
            str(row["acc"]["seeds"]), f"{row['train_seconds']:.0f}", bytes_text(row["kept_bytes"])]


def continual_html(analysis: dict[str, Any], *, title: str, tasks: list[str], notes: list[str],
                   command: str | None = None) -> str:
    """The page for ``analysis`` (``analysis.continual.continual_rows``); NaN cells (joint's earlier rows) are empty.
    ``command``, the command that wrote it, ends the page under "Produced by" as report.html shows compare's ("(not
    recorded)" where None)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    data = {"title": title, "tasks": tasks, "notes": notes, "command": command, "arms": [{**clean(row), "cells": _cells(row), "matrix_text": matrix_text(row["matrix"])}
                                                         for row in analysis["arms"]], "recommended": analysis["recommended"],
            "recommended_word": recommended_word(analysis),
            "caveat": analysis.get("recommended_caveat"), "versus": versus_text(analysis.get("versus")) or None,
            "withheld": withheld_text(analysis["withheld"]) if analysis.get("withheld") else None}
    return _TEMPLATE.replace("__CSP__", CSP).replace("__HELPERS__", JS_HELPERS).replace("__DATA__", script_json(data))
