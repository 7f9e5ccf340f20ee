"""Self-contained interactive HTML report: one file, inline SVG + vanilla JS, no network requests.

Safety: every user-supplied string (strategy, dataset and backbone names, the command) travels only inside
a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as JSON ``\\u`` escapes,
so no value can close the block; the page script renders it with ``textContent`` / SVG text nodes,
never ``innerHTML``. A Content-Security-Policy forbids any fetch, so the page stays offline. The page itself (markup,
style, script) is ``html_page.PAGE``; this module builds the data it renders (``_payload``).
"""

from __future__ import annotations

import json
from typing import Any

from headstart.analysis import format_n, size_key
from headstart.report.chart import LEGEND_TITLE, log_x, metric_label, size_ticks, strategy_styles
from headstart.report.html_page import CSP, JS_HELPERS, PAGE
from headstart.report.mdtext import bytes_text
from headstart.report.footnote import interval_text
from headstart.report.markdown import (curve_ci_text, difference_ci_text, paired_retention_text,
                                       others_lead, per_step_text, produced_by_markdown, PROVENANCE_HEADING, ranking_cells, ranking_heads, reference_text,
                                       retention_ci_text, runs_text, score_ci_text, seconds_text, signed_value,
                                       superseded_text, TRAIN_LEAD, train_commands, train_time_notes, value_text)

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
        "provenance_heading": PROVENANCE_HEADING,
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
    return (PAGE.replace("__CSP__", CSP).replace("__HELPERS__", JS_HELPERS)
            .replace("__DATA__", script_json(_payload(summary, title, command))))
