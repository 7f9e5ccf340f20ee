"""What ``compare`` (and ``report``) print after a sweep: the leakage line, the data line, the precision the runs trained
at (report.md's, once for the store), then per experiment the reference, the test
split, the head start, the crossover, the recommendation with the command that trains it, the flags, retention and out-of-domain lines, as report.md
says them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from headstart.ood import BELOW_MAJORITY


def print_leakage(report: Any, *, dedupe: bool, err: bool = False) -> None:
    from headstart.data.leakage import leakage_warning

    typer.echo(report.summary(removed=dedupe), err=err)
    if report.conflicts:
        typer.echo(f"warning: {report.conflicts_summary()} (headstart check-leakage shows them)", err=err)
    if said := leakage_warning(report, dedupe=dedupe):
        typer.echo(f"warning: {said}", err=err)


def print_report(paths: dict[str, Path], out_dir: Path, *, quiet: bool = False) -> None:
    """The report's summary lines (experiment, recommendation, ...) and the line naming its files; ``quiet``: that
    line alone (``headstart report --quiet``)."""
    if quiet:
        typer.echo(f"report: {paths['report.html']} (also chart.png, report.md, results.json in {out_dir})")
        return
    summary = json.loads(paths["results.json"].read_text())
    from headstart.report.markdown import reference_text

    others = summary.get("other_experiments") or []
    if summary.get("data"):  # the columns read, rows dropped: said on stderr while loading, kept in the report
        typer.echo(f"data: {summary['data']['text']}")
    if summary.get("metric_note"):
        typer.echo(f"metric: {summary['metric_note']}")
    if (summary.get("provenance") or {}).get("precision_text"):  # what --precision auto became: report.md's Precision
        typer.echo(f"precision: {summary['provenance']['precision_text']}")
    # Several experiments in one store (--backbones a,b): each its own block, named, never ranked together
    for name, one in [(summary.get("experiment", ""), summary), *((o["experiment"], o["summary"]) for o in others)]:
        if others:
            typer.echo(f"experiment: {name}")
        if reference_text(one):
            typer.echo(f"reference: {reference_text(one)}")
        split = summary.get("test_split") if one is summary else None
        if split:
            typer.echo(f"{split['label'].lower()}: {split['text']}")
        head = one.get("head_start")
        if head:
            typer.echo(f"head-start: {head['text']}")
        cross = one.get("crossover") or {}
        if cross.get("text") and cross.get("measured", True):
            typer.echo(f"crossover: {cross['text']}")
        for band in one.get("recommendation", []):
            typer.echo(f"recommendation: {band['text']}")
            for command in band.get("train_commands") or []:  # the recommended arm as the compare ran it
                said = command.get("cli") or command["python"]  # data passed from Python: its fit call alone
                typer.echo(f"train it: {said}" + (f" ({command['note']})" if command.get("note") else ""))
        for flag in one.get("budget_flags", []):
            typer.echo(f"budget: {flag['text']}")
        for edge in one.get("grid_edges", []):
            typer.echo(f"tuning: {edge['text']}")
        for line in forgetting_lines(one.get("retention") or []) + ood_lines(one.get("ood") or [], one.get("scale", 1.0)):
            typer.echo(line)
    if others:
        differ = summary.get("others_differ") or "data, split or backbone"
        typer.echo(f"note: {1 + len(others)} experiments (they differ in {differ}) are reported apart, never averaged or "
                   "ranked together" + ("; headstart rank-backbones --measured compares backbones" if "backbone" in differ else ""))
    if summary.get("unfinished"):  # the store's, not one experiment's: after every block
        typer.echo(f"not finished: {summary['unfinished']['text']}")
    typer.echo(f"report: {paths['report.html']} (also chart.png, report.md, results.json in {out_dir})")


def _by_data_and_size(rows: list[dict[str, Any]]) -> dict[tuple[str, Any], list[dict[str, Any]]]:
    """Summary rows (retention, out of domain) grouped by (dataset, size), in the order they come."""
    grouped: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault((r["data"], r["n"]), []).append(r)
    return grouped


def forgetting_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A line per retained dataset and size: each arm's retention (adapted over original probe accuracy)."""
    from headstart.analysis.stats import range_text

    return [f"retention on {data} at n = {n}: " + ", ".join(
                f"{r['strategy']} {r['retention']:.3f}" + (f" ({range_text(r, lambda v: f'{v:.3f}', joiner='–')})"
                                                           if r["seeds"] > 1 else "")
                for r in found) + " (1.000: nothing lost" + ("; report.md has the paired differences)" if any(
                r.get("vs_full_finetune") for r in found) else ")")  # paired with full-finetune's, on 2+ shared seeds
            for (data, n), found in _by_data_and_size(rows).items()]


def _ood_ci(shown: dict[str, Any], row: dict[str, Any]) -> str:
    """An out-of-domain score's interval and rows as the report's table gives them: ``"CI 62.0–93.1, 16 test rows"``."""
    from headstart.analysis.stats import has_interval, range_text
    from headstart.report.markdown import value_text

    ci = range_text(row, lambda v: value_text(shown, v), joiner="–")
    rows = row.get("test_rows")
    return (f"CI {ci}" if has_interval(row) else ci) + (f", {rows:,} test rows" if isinstance(rows, int) else "")


def ood_lines(rows: list[dict[str, Any]], scale: float) -> list[str]:
    """A line per out-of-domain dataset and size (each arm's score there with its interval and test rows, as the report's
    table gives them, and its gap to in-domain), then the warnings."""
    from headstart.report.markdown import signed_value, value_text

    points, shown = scale == 100.0, {"scale": scale}
    lines = []
    for (data, n), found in _by_data_and_size(rows).items():
        majority = found[0].get("majority") if points else None
        lines.append(f"out of domain on {data} at n = {n}: " + ", ".join(
            f"{r['strategy']} {value_text(shown, r['mean'])}{'%' if points else ''} ({_ood_ci(shown, r)}; in domain − out: "
            f"{signed_value(shown, r['gap']['mean'])}{' points' if points else ''})" for r in found)
            + (f"; its most frequent class alone: {100 * majority:.1f}%" if majority is not None else ""))
        below = [r["strategy"] for r in found if majority is not None and r["mean"] <= majority + 1e-12]
        if below:
            lines.append(f"warning: on {data} at n = {n}, " + ("every arm scores" if len(below) == len(found) else
                         ", ".join(below) + (" scores" if len(below) == 1 else " score"))
                         + f" {BELOW_MAJORITY}: nothing learned shows on those rows")
    return lines + [f"warning: {r['one_class_note']}" for r in rows if r.get("one_class_note")]
