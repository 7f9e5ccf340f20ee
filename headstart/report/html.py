"""Self-contained interactive HTML report: one file, inline SVG + vanilla JS, no network requests.

Safety: every user-supplied string (strategy, dataset and backbone names, the command) travels only inside
a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as JSON ``\\u`` escapes,
so no value can close the block; the page script renders it with ``textContent`` / SVG text nodes,
never ``innerHTML``. A Content-Security-Policy forbids any fetch, so the page stays offline.
"""

from __future__ import annotations

import json
from typing import Any

from headstart.analysis import format_n, size_key
from headstart.report.chart import LEGEND_TITLE, log_x, metric_label, size_ticks, strategy_styles
from headstart.report.mdtext import bytes_text
from headstart.report.markdown import (curve_ci_text, difference_ci_text, interval_text, paired_retention_text,
                                       others_lead, per_step_text, produced_by_markdown, ranking_cells, ranking_heads, reference_text,
                                       retention_ci_text, runs_text, score_ci_text, seconds_text, signed_value,
                                       superseded_text, TRAIN_LEAD, train_commands, train_time_notes, value_text)

_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

# Building text nodes and SVG elements (never innerHTML: user strings stay text); shared with report/continual_html.py.
JS_HELPERS = """const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>headstart report</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:980px;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.best{font-weight:600}.scroll{overflow-x:auto}
#chart{position:relative;max-width:760px}#chart svg{display:block;width:100%;height:auto}#tip{position:absolute;pointer-events:none;background:#222;color:#fff;padding:.2rem .45rem;
border-radius:3px;font-size:12px;white-space:nowrap;display:none}
.legend span{display:inline-block;margin-right:1rem}.swatch{margin-right:4px;vertical-align:-1px}pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.note{color:#666;font-size:.9em}.warn{color:#9a3b00;font-weight:600}svg text{font-size:12px;fill:#333}
</style></head><body>
<noscript><p class="warn">This page needs JavaScript to draw its chart and tables; report.md beside it holds the same
content.</p></noscript>
<h1 id="title"></h1>
<p class="note" id="preface"></p>
<p class="note" id="metric-note"></p>
<p class="note" id="unfinished"></p>
<div id="chart"><div id="tip"></div></div>
<div class="legend" id="legend"></div>
<h2>At one size</h2>
<label for="size-slider" id="size-label"></label>
<input type="range" id="size-slider" min="0" step="1" value="0">
<div class="scroll"><table id="at-size"><thead><tr><th>strategy</th><th id="at-metric"></th><th>95% CI</th><th>seeds</th>
<th>train wall time (s)</th><th>trainable params</th><th>saved size</th></tr></thead><tbody></tbody></table></div>
<p class="note" id="pick-note"></p>
<h2>Recommendation</h2><ul id="advice"></ul>
<div id="train"></div>
<p id="data"></p><p id="reference"></p><p id="head-start"></p><p id="crossover"></p><p id="leakage"></p><p id="test-split"></p><p id="precision"></p><p id="environment"></p>
<h2>All results</h2>
<div class="scroll"><table id="table"><thead><tr><th>strategy</th><th>n</th><th id="table-metric"></th><th>95% CI</th>
<th>seeds</th><th>chosen on validation</th><th>budget</th><th>train wall time (s)</th><th>wall s / step</th><th>trainable params</th><th>saved size</th></tr></thead><tbody></tbody></table></div>
<div id="train-notes"></div>
<p class="note"><span id="runs"></span> <span id="intervals"></span></p>
<div id="forgetting"></div><div id="ood"></div><div id="flags"></div><div id="edges"></div><div id="others"></div><div id="ranking"></div><div id="problems"></div><p id="superseded"></p>
<h2>Produced by</h2><p class="note" id="command-note"></p><pre id="command"></pre>
<script type="application/json" id="report-data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("report-data").textContent);
__HELPERS__// Only the y axis's own labels are written here; every stored value arrives written by Python (_texts).
const tick = (v) => D.scale === 100 ? (v * 100).toFixed(1) : String(Number(v.toPrecision(3)));
const seedsText = (r) => r.runs < r.seeds ? r.seeds + " (the same run)" : String(r.seeds);
const color = new Map(D.strategies.map((s) => [s, D.styles[s].color]));  // chart.png's look, from Python (strategy_styles)
function mark(m, x, y, c) {  // a point drawn with chart.png's marker for its strategy: o s ^ D v
  const r = 5, tri = (d) => [x, y - d * r * 1.2, x - r * 1.1, y + d * r * 0.8, x + r * 1.1, y + d * r * 0.8].join(" ");
  if (m === "s") return svg("rect", {x: x - r * 0.9, y: y - r * 0.9, width: r * 1.8, height: r * 1.8, fill: c, "data-marker": m});
  if (m === "^" || m === "v") return svg("polygon", {points: tri(m === "^" ? 1 : -1), fill: c, "data-marker": m});
  if (m === "D") return svg("polygon", {points: [x, y - r * 1.2, x - r, y, x, y + r * 1.2, x + r, y].join(" "), fill: c, "data-marker": m});
  return svg("circle", {cx: x, cy: y, r: r, fill: c, "data-marker": "o"});
}

document.title = D.title;
$("title").textContent = D.title;
if (D.preface) $("preface").textContent = D.preface; else $("preface").remove();
if (D.metric_note) $("metric-note").textContent = "Metric: " + D.metric_note; else $("metric-note").remove();
if (D.unfinished) $("unfinished").textContent = "Not finished: " + D.unfinished; else $("unfinished").remove();
$("at-metric").textContent = D.metric_label;
$("table-metric").textContent = D.metric_label;
$("command").textContent = D.command || "(not recorded)";
if (D.command_note) $("command-note").textContent = D.command_note; else $("command-note").remove();
$("intervals").textContent = D.intervals;
$("runs").textContent = D.runs;  // report.md's line, and its notes on the train time below the table
for (const note of D.train_notes) $("train-notes").append(el("p", note, {class: "note"}));

const W = 760, H = 420, M = {l: 60, r: 50, t: 15, b: 55};
const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img"});  // scales with the page (CSS width: 100%)
const wide = (t) => { const d = el("div", null, {class: "scroll"}); d.append(t); return d; };  // a table scrolls, not the page
$("chart").prepend(chart);
const REF = D.reference ? [D.reference.test] : [];
const xs = D.sizes.map((s) => s.x), lows = D.curves.map((r) => r.ci_low).concat(REF), highs = D.curves.map((r) => r.ci_high).concat(REF);
const lx0 = Math.log(Math.min(...xs)), lx1 = Math.log(Math.max(...xs));
const ypad = (Math.max(...highs) - Math.min(...lows)) * 0.08 || 0.01;
const y0 = Math.min(...lows) - ypad, y1 = Math.max(...highs) + ypad;
const X = (x) => lx1 > lx0 ? M.l + 15 + (Math.log(x) - lx0) / (lx1 - lx0) * (W - M.l - M.r - 30) : (W + M.l - M.r) / 2;
const Y = (y) => H - M.b - (y - y0) / (y1 - y0) * (H - M.t - M.b);
if (D.curves.length) {
  chart.append(svg("line", {x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, stroke: "#999"}));
  chart.append(svg("line", {x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, stroke: "#999"}));
  for (const t of D.ticks) chart.append(svg("text", {x: X(t.x), y: H - M.b + 16, "text-anchor": "middle", class: "tick"}, t.label));
  const raw = (y1 - y0) / 5, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  for (let v = Math.ceil(y0 / step) * step; v <= y1; v += step) {
    chart.append(svg("line", {x1: M.l, x2: W - M.r, y1: Y(v), y2: Y(v), stroke: "#eee"}));
    chart.append(svg("text", {x: M.l - 6, y: Y(v) + 4, "text-anchor": "end"}, tick(v)));
  }
  chart.append(svg("text", {x: (W + M.l) / 2, y: H - 12, "text-anchor": "middle"}, "labelled training examples (log scale)"));
  chart.append(svg("text", {x: 14, y: (H - M.b) / 2, "text-anchor": "middle",
                            transform: "rotate(-90 14 " + (H - M.b) / 2 + ")"}, D.metric_label));
} else {
  chart.append(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no finished runs yet"));
}
if (D.curves.length && D.reference) {  // past this line (below it, or above where lower is better) a strategy learned nothing
  const y = Y(D.reference.test);
  chart.append(svg("line", {x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#555", "stroke-dasharray": "7 4", "stroke-width": 1.5, id: "majority-line"}));
}
const marker = svg("line", {y1: M.t, y2: H - M.b, stroke: "#888", "stroke-dasharray": "4 3", id: "size-marker"});
const markerLabel = svg("text", {y: M.t + 10, id: "size-marker-label"}, "");  // says what the dashed line is
chart.append(marker, markerLabel);
if (D.curves.length) $("legend").append(el("span", D.legend_title + ":", {class: "note"}));
const tip = $("tip");
for (const s of D.strategies) {  // every band first, then every line and point on top of them all (as chart.png)
  const rows = D.curves.filter((r) => r.strategy === s);
  const band = rows.map((r) => X(r.x) + "," + Y(r.ci_high)).concat(rows.slice().reverse().map((r) => X(r.x) + "," + Y(r.ci_low)));
  chart.append(svg("polygon", {points: band.join(" "), fill: color.get(s), "fill-opacity": 0.15, class: "band"}));
}
for (const s of D.strategies) {
  const rows = D.curves.filter((r) => r.strategy === s);
  const c = color.get(s);
  chart.append(svg("polyline", {points: rows.map((r) => X(r.x) + "," + Y(r.mean)).join(" "), fill: "none", stroke: c, "stroke-width": 2,
                                 "stroke-dasharray": D.styles[s].dash.join(" ") || "none"}));
  if (new Set(rows.map((r) => r.x)).size === 1) {  // a band at one x is invisible (one size alone): its interval as a bar
    for (const r of rows) {
      const x = X(r.x), attrs = {stroke: c, "stroke-width": 1.5, class: "errorbar"};
      chart.append(svg("line", {...attrs, x1: x, x2: x, y1: Y(r.ci_high), y2: Y(r.ci_low)}));
      for (const v of [r.ci_high, r.ci_low]) chart.append(svg("line", {...attrs, x1: x - 5, x2: x + 5, y1: Y(v), y2: Y(v)}));
    }
  }
  for (const r of rows) {
    const dot = mark(D.styles[s].marker, X(r.x), Y(r.mean), c);
    dot.setAttribute("class", "point");
    dot.addEventListener("mouseenter", () => {
      tip.textContent = r.strategy + " \\u00b7 n = " + r.label + ": " + r.tip_text + " (" + r.seeds + (r.seeds === 1 ? " seed)" : " seeds)");
      const k = chart.getBoundingClientRect().width / W;  // the chart's scale on screen
      tip.style.display = "block";
      const right = X(r.x) * k + 10 + tip.offsetWidth > $("chart").clientWidth;  // would pass the edge: left of the point
      tip.style.left = (right ? Math.max(0, X(r.x) * k - 10 - tip.offsetWidth) : X(r.x) * k + 10) + "px";
      tip.style.top = (Y(r.mean) * k - 30) + "px";
    });
    dot.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    chart.append(dot);
  }
  const item = el("span"), swatch = svg("svg", {class: "swatch", width: 28, height: 12, viewBox: "0 0 28 12"});
  // drawn, not a CSS background: a printed page keeps its colours (browsers leave backgrounds out of print)
  swatch.append(svg("line", {x1: 1, x2: 27, y1: 6, y2: 6, stroke: c, "stroke-width": 2, "stroke-dasharray": D.styles[s].dash.join(" ") || "none"}),
                mark(D.styles[s].marker, 14, 6, c));
  item.append(swatch, document.createTextNode(s));
  $("legend").append(item);
}
if (D.curves.length && D.reference) {  // the line's label above the curves, on a backing that keeps it readable
  const y = Y(D.reference.test);
  const label = svg("text", {x: W - M.r, y: y - 5, "text-anchor": "end", id: "majority-label"}, D.reference.label + " " + D.reference.test_text);
  chart.append(label);
  const b = label.getBBox();
  label.before(svg("rect", {x: b.x - 3, y: b.y - 1, width: b.width + 6, height: b.height + 2, fill: "#fff", "fill-opacity": 0.85,
                            id: "majority-backing"}));
}

const slider = $("size-slider");
slider.max = String(Math.max(D.sizes.length - 1, 0));
function showSize() {
  const s = D.sizes[Number(slider.value)];
  const body = $("at-size").tBodies[0];
  body.replaceChildren();
  if (!s) { $("size-label").textContent = "no sizes"; return; }
  $("size-label").textContent = "n = " + s.label;
  marker.setAttribute("x1", X(s.x)); marker.setAttribute("x2", X(s.x));
  markerLabel.textContent = "n = " + s.label + " (the table below)";
  const left = X(s.x) > (W + M.l - M.r) / 2;  // the label on the side with room
  markerLabel.setAttribute("x", X(s.x) + (left ? -4 : 4)); markerLabel.setAttribute("text-anchor", left ? "end" : "start");
  const rows = D.curves.filter((r) => r.label === s.label);
  const pick = D.picks[s.label];  // the recommendation's strategy here, chosen on validation (never the test mean)
  $("pick-note").textContent = rows.some((r) => r.strategy === pick)
    ? "In bold: " + pick + ", the recommendation at this size (chosen on validation; the test scores here chose nothing)." : "";
  for (const r of rows) {
    const tr = el("tr", null, r.strategy === pick ? {class: "best"} : {});
    for (const v of [r.strategy, r.mean_text, r.interval_text, seedsText(r), r.seconds_text, r.params_text, r.size_text]) tr.append(el("td", v));
    body.append(tr);
  }
  if (D.reference) {
    const tr = el("tr", null, {class: "note"});
    for (const v of [D.reference.label, D.reference.test_text, "", "", "", "", ""]) tr.append(el("td", v));
    body.append(tr);
  }
}
slider.addEventListener("input", showSize);
showSize();

for (const text of D.recommendation) $("advice").append(el("li", text));
if (!D.recommendation.length) $("advice").append(el("li", "no finished runs yet"));
if (D.train.length) {  // the headstart train commands (and headstart.fit calls) that train the recommended arm
  const shell = D.train.filter((c) => c.cli);  // none for data passed from Python
  $("train").append(el("p", "To train it: " + D.train_lead));
  if (shell.length) $("train").append(el("pre", shell.map((c) => c.cli).join("\\n")));
  $("train").append(el("p", "From Python:"), el("pre", D.train.map((c) => c.python).join("\\n")));
  for (const c of D.train) if (c.note) $("train").append(el("p", c.note));
} else $("train").remove();
if (D.data) $("data").textContent = "Data: " + D.data.text; else $("data").remove();
$("head-start").textContent = D.head_start ? "Head start: " + D.head_start : "Head start: scratch was not run, so there is no baseline.";
if (D.crossover) $("crossover").textContent = "Crossover: " + D.crossover;
if (D.reference) $("reference").textContent = "Reference: " + D.reference.text;
if (D.leakage) {
  $("leakage").textContent = "Test-set leakage: " + D.leakage.text;
  if (D.leakage.warn) $("leakage").className = "warn";
}
if (D.test_split) {
  $("test-split").textContent = D.test_split.label + ": " + D.test_split.text;
  if (D.test_split.small) $("test-split").className = "warn";
} else $("test-split").remove();
if (D.provenance) {
  $("precision").textContent = "Precision: " + D.provenance.precision_text;
  $("environment").textContent = "Environment: " + D.provenance.environment_text;
} else { $("precision").remove(); $("environment").remove(); }
const tbody = $("table").tBodies[0];
for (const r of D.curves) {
  const tr = el("tr");
  for (const v of [r.strategy, r.label, r.mean_text, r.interval_text, seedsText(r), r.chosen || "–", r.budget || "–", r.seconds_text, r.per_step_text, r.params_text, r.size_text]) tr.append(el("td", v));
  tbody.append(tr);
}
if (D.retention.length) {
  $("forgetting").append(el("h2", "Forgetting"));
  $("forgetting").append(el("p", "Retention: a probe on the adapted encoder over one on the original, on the retained dataset's test split (1.00: nothing lost); 95% interval. Chart: forgetting.png beside this file.", {class: "note"}));
  const t = el("table", null, {id: "retention"});
  const head = el("tr");
  for (const h of ["strategy", "n", "retained dataset", "retention", "95% CI", "probe, original \u2192 adapted", "seeds", "\u2212 full-finetune (95% CI)"]) head.append(el("th", h));
  t.append(head);
  for (const r of D.retention) {
    const tr = el("tr");
    for (const v of [r.strategy, r.n, r.data, r.retention_text, r.ci_text, r.probe_text, r.seeds, r.vs_text]) tr.append(el("td", v));
    t.append(tr);
  }
  $("forgetting").append(wide(t));
}
if (D.ood.length) {
  $("ood").append(el("h2", "Out of domain"));
  $("ood").append(el("p", "Each run also scored on another dataset's test split (--eval-data), with the task's labels; gap = in domain \u2212 out of domain, paired by seed, 95% interval over seeds and both test sets. Chart: ood.png beside this file.", {class: "note"}));
  for (const note of [...new Set(D.ood.flatMap(r => [r.note, r.majority_note]).filter(Boolean))]) $("ood").append(el("p", note, {class: "note"}));
  for (const r of D.ood.filter(r => r.one_class_note)) $("ood").append(el("p", "\u26a0 " + r.one_class_note, {class: "warn"}));
  const t = el("table", null, {id: "ood-table"});
  const head = el("tr");
  for (const h of ["strategy", "n", "dataset", "in domain", "out of domain", "95% CI", "gap", "gap 95% CI", "seeds"]) head.append(el("th", h));
  t.append(head);
  for (const r of D.ood) {
    const tr = el("tr");
    for (const v of [r.strategy + (r.one_class_note ? " \u26a0" : ""), r.n, r.data, r.in_domain_text, r.mean_text, r.ci_text,
                     r.gap_text, r.gap_ci_text, r.seeds]) tr.append(el("td", v));
    t.append(tr);
  }
  $("ood").append(wide(t));
}
if (D.budget_flags.length) {
  $("flags").append(el("p", "Scores that may understate an arm:", {class: "warn"}));
  const list = el("ul", null, {id: "budget-flags"});
  for (const text of D.budget_flags) list.append(el("li", text));
  $("flags").append(list);
}
if (D.grid_edges.length) {
  $("edges").append(el("p", "Tuning at the edge of its grid:"));
  const list = el("ul");
  for (const text of D.grid_edges) list.append(el("li", text));
  $("edges").append(list);
}
$("superseded").textContent = D.superseded;
if (D.others.length) {
  $("others").append(el("h2", "Other experiments in this store"));
  $("others").append(el("p", D.others_lead, {class: "note"}));
  for (const o of D.others) {
    $("others").append(el("h3", o.experiment + " (" + o.runs + " runs)"));
    const list = el("ul");
    for (const text of o.recommendation) list.append(el("li", text));
    $("others").append(list);
    if (o.train.length) {  // this experiment's own commands (its backbone), as the main one's under "To train it"
      const shell = o.train.filter((c) => c.cli);
      $("others").append(el("p", "To train it: " + D.train_lead));
      if (shell.length) $("others").append(el("pre", shell.map((c) => c.cli).join("\\n")));
      $("others").append(el("p", "From Python:"), el("pre", o.train.map((c) => c.python).join("\\n")));
      for (const c of o.train) if (c.note) $("others").append(el("p", c.note));
    }
  }
}
if (D.ranking) {
  $("ranking").append(el("h2", "Backbones ranked before training"));
  $("ranking").append(el("p", D.ranking.text));
  const t = el("table", null, {id: "ranking-table"});
  const head = el("tr");
  for (const h of ["backbone", ...D.ranking.labels, ...D.ranking.heads]) head.append(el("th", h));
  t.append(head);
  for (const r of D.ranking.rows) {
    const tr = el("tr");
    for (const v of r.cells) tr.append(el("td", v));
    t.append(tr);
  }
  $("ranking").append(wide(t));
}
if (D.problems.length) {
  $("problems").append(el("h2", "Failed and diverged runs"));
  const t = el("table");
  const head = el("tr");
  for (const h of ["strategy", "n", "failed", "diverged", "reasons"]) head.append(el("th", h));
  t.append(head);
  for (const p of D.problems) {
    const tr = el("tr");
    for (const v of [p.strategy, p.n, p.failed, p.diverged, p.errors.join("; ")]) tr.append(el("td", v));
    t.append(tr);
  }
  $("problems").append(wide(t));
}
</script></body></html>
"""


def _payload(summary: dict[str, Any], title: str, command: str | list[str] | None) -> dict[str, Any]:
    rows = sorted(summary["curves"], key=lambda r: size_key(r["n"]))
    at = log_x([r["n_actual"] for r in rows])  # n = 0 (zero-shot) left of the smallest size
    sizes = {format_n(r["n"], r["n_actual"]): at[r["n_actual"]] for r in rows}
    curves = [{**r, **_texts(summary, r), "label": format_n(r["n"], r["n_actual"]), "x": at[r["n_actual"]]}
              for r in sorted(rows, key=lambda r: (r["strategy"], size_key(r["n"])))]
    commands = [command] if isinstance(command, str) else list(command or [])
    steps = commands + ([summary["report_command"]] if summary.get("report_command") else [])
    note = (produced_by_markdown(commands, summary.get("report_command"), elsewhere=summary.get("commands_elsewhere"))[0]
            if len(steps) > 1 and commands else None)
    return {
        "title": title, "preface": summary.get("preface"), **({"metric_note": summary["metric_note"]} if summary.get("metric_note") else {}), "command": "\n".join(steps) or None,
        "command_note": note,
        "intervals": interval_text(summary) if summary["curves"] else "",
        "runs": runs_text(summary), "train_notes": train_time_notes(summary),
        "test_split": summary.get("test_split"), "provenance": summary.get("provenance"),
        "metric": summary["metric"], "metric_label": metric_label(summary),
        "scale": summary["scale"], "higher_is_better": summary["higher_is_better"],
        "strategies": list(dict.fromkeys(r["strategy"] for r in curves)), "styles": strategy_styles([r["strategy"] for r in curves]),
        "legend_title": LEGEND_TITLE,
        "sizes": [{"label": k, "x": x} for k, x in sizes.items()], "curves": curves,
        "ticks": [{"x": x, "label": label} for x, label in size_ticks(rows).items()],  # one label where sizes share an x
        "recommendation": [band["text"] for band in summary["recommendation"]],
        "train": train_commands(summary), "train_lead": TRAIN_LEAD, "data": summary.get("data"),
        "unfinished": (summary.get("unfinished") or {}).get("text"),
        "picks": {format_n(e["n"], e["n_actual"]): e["strategy"] for band in summary["recommendation"] for e in band["evidence"]
                  if not band.get("learned_nothing")},  # no arm learned there: nothing is shown as the pick
        "head_start": summary["head_start"]["text"] if summary["head_start"] else None,
        "crossover": summary["crossover"]["text"] if summary["crossover"].get("measured", True) else None,
        "leakage": summary.get("leakage"),
        "superseded": superseded_text(summary),
        "grid_edges": [e["text"] for e in summary.get("grid_edges") or []],
        "budget_flags": [f["text"] for f in summary.get("budget_flags") or []],
        "reference": reference_payload(summary),
        "experiment": summary.get("experiment", ""),
        "retention": [{**r, "n": str(r["n"]), "ci_text": retention_ci_text(r), "retention_text": f"{r['retention']:.3f}",
                       "probe_text": f"{100 * r['original']:.1f} \u2192 {100 * r['adapted']:.1f} %",
                       "vs_text": paired_retention_text(r.get("vs_full_finetune"))} for r in summary.get("retention") or []],
        "ood": [{"strategy": r["strategy"], "n": str(r["n"]), "data": r["data"], "in_domain_text": value_text(summary, r["in_domain"]),
                 "mean_text": value_text(summary, r["mean"]), "gap_text": signed_value(summary, r["gap"]["mean"]),
                 "ci_text": score_ci_text(summary, r),
                 "gap_ci_text": difference_ci_text(summary, r["gap"]), "seeds": r["seeds"], "note": r.get("note"),
                 "majority_note": r.get("majority_note"), "one_class_note": r.get("one_class_note")}
                for r in summary.get("ood") or []],
        "others_lead": others_lead(summary),
        "others": [{"experiment": o["experiment"], "runs": o["runs"], "recommendation": [b["text"] for b in o["summary"]["recommendation"]],
                    "train": train_commands(o["summary"])}
                   for o in summary.get("other_experiments") or []],
        "problems": [{**c, "n": str(c["n"])} for c in summary["counts"] if c["failed"] or c["diverged"]],
        "ranking": _ranking(summary.get("backbone_ranking")),
    }


def _texts(summary: dict[str, Any], r: dict[str, Any]) -> dict[str, str]:
    """A curves row's numbers as the page shows them, written here as report.md writes them (``value_text``, its
    seconds, parameter counts and sizes too): JavaScript's ``toFixed`` rounds an exact half up where Python rounds it to
    even (18.25 % is 18.3 there, 18.2 here), and one value must read the same on every page.

    ``mean_text`` is "mean ± half" only where the interval is symmetric as shown: one clipped at 0 or 100 % (or a
    Wilson floor) is not, and "48.5 ± 50.0" would read as -1.5 to 98.5; the tables' CI column (``interval_text``),
    or the tooltip's (low – high) (``tip_text``), says it then."""
    unit = " %" if summary["scale"] == 100.0 else ""
    mean, ci = value_text(summary, r["mean"]), curve_ci_text(summary, r)
    costs = {"seconds_text": seconds_text(r["train_seconds"]), "per_step_text": per_step_text(r.get("seconds_per_step")),
             "params_text": f"{r['trainable_params']:,}", "size_text": bytes_text(r["saved_bytes"]) if r.get("saved_bytes") else "–"}
    if r.get("interval", "seeds" if r["seeds"] > 1 else "none") == "none":  # as curve_ci_text reads it
        return {**costs, "mean_text": mean + unit, "tip_text": mean + unit, "interval_text": ci}
    if value_text(summary, r["mean"] - r["ci_low"]) == value_text(summary, r["ci_high"] - r["mean"]):
        pm = f"{mean} \u00b1 {value_text(summary, (r['ci_high'] - r['ci_low']) / 2)}{unit}"
        return {**costs, "mean_text": pm, "tip_text": pm, "interval_text": ci}
    return {**costs, "mean_text": mean + unit, "tip_text": f"{mean} ({ci}){unit}", "interval_text": ci}


def _ranking(ranking: dict[str, Any] | None) -> dict[str, Any] | None:
    """rank.json's section with each row's cells written as report.md writes them (``ranking_cells``)."""
    return {**ranking, "heads": ranking_heads(ranking["measured"]),
            "rows": [{**r, "cells": ranking_cells(r)} for r in ranking["rows"]]} if ranking else None


def reference_payload(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The majority-class line: ``{test, label, text}``, or None when the runs carry no reference."""
    ref = summary.get("reference")
    if not ref:
        return None
    unit = " %" if summary["scale"] == 100.0 else ""
    return {"test": ref["test"], "test_text": value_text(summary, ref["test"]) + unit, "label": ref["label"],
            "text": reference_text(summary)}


def script_json(data: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survives."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def report_html(summary: dict[str, Any], *, title: str, command: str | list[str] | None) -> str:
    """Render the interactive report.

    Args:
        summary: the output of ``analysis.summarize``.
        title: page heading (plain text).
        command: the command line that produced the store, or every one oldest first (``Store.commands``), or None
            when unknown.

    Returns:
        The complete HTML document as a string: curves with hover values and CI bands, a size slider
        showing each strategy's mean ± CI at the chosen size, the recommendation and the results table.
    """
    return (_TEMPLATE.replace("__CSP__", _CSP).replace("__HELPERS__", JS_HELPERS)
            .replace("__DATA__", script_json(_payload(summary, title, command))))
