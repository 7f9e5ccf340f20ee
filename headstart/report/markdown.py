"""Markdown report: results table, head start, crossover, recommendation and the producing command."""

from __future__ import annotations

from typing import Any

from headstart.analysis import REFERENCE_WORDS, format_n
from headstart.analysis.cells import LEAN_ALPHA
from headstart.analysis.cell_stats import signed_points
from headstart.analysis.stats import range_text
from headstart.report.chart import metric_label
from headstart.report.footnote import interval_text
from headstart.report.mdtext import bytes_text, md_code, md_fence, md_text


def value_text(summary: dict[str, Any], v: float) -> str:
    """A score as every report writes it: points to one decimal for a share (``"18.2"``), else 3 significant digits.
    report.html shows these strings, not its own rounding (``report.html._texts``)."""
    k = summary["scale"]
    return f"{v * k:.1f}" if k == 100.0 else f"{v:.3g}"


def signed_value(summary: dict[str, Any], v: float) -> str:
    """A difference of two scores as ``value_text`` writes a score, with its sign: +10.0 / -0.9 points (more decimals
    where one would read a non-zero difference as 0.0: ``cell_stats.signed_points``), +0.0123."""
    k = summary["scale"]
    return signed_points(v * k) if k == 100.0 else f"{v:+.3g}"


def score_ci_text(summary: dict[str, Any], ci: dict[str, Any]) -> str:
    """A score's interval in a table's CI column, ``"68.2 – 75.9"``, or why it has none (``stats.range_text``)."""
    return range_text(ci, lambda v: value_text(summary, v))


def difference_ci_text(summary: dict[str, Any], ci: dict[str, Any]) -> str:
    """A difference's interval, ``"+1.2 to +5.0"`` (with its one-seed caveat), or why it has none (``stats.range_text``)."""
    return range_text(ci, lambda v: signed_value(summary, v), joiner=" to ")


def superseded_text(summary: dict[str, Any]) -> str:
    """What the figures leave out (``analysis.current_runs``), or "" when nothing is."""
    count = summary["totals"].get("superseded", 0)
    return (f"{count} older run(s) of the same arm, size and seed (stored under another key, by another version of "
            "headstart) are in the store and left out of every figure (the newest run of each counts).") if count else ""


def reference_text(summary: dict[str, Any]) -> str:
    """``"majority class: 57.0% on test (56.3% on validation): a strategy at or below it learned nothing"``, or ""; for
    a metric where lower is better (rmse, loss) a strategy at or *above* the reference learned nothing."""
    ref = summary.get("reference")
    if not ref:
        return ""
    unit = "%" if summary["scale"] == 100.0 else ""
    val = f" ({value_text(summary, ref['val'])}{unit} on validation)" if isinstance(ref.get("val"), (int, float)) else ""
    what = REFERENCE_WORDS.get(ref["label"], REFERENCE_WORDS["majority class"])[0]
    apart = ""  # a small validation cut in whole groups can lean to one class: its "beat the majority" verdicts with it
    if ref["label"] == "majority class" and isinstance(ref.get("lean_p"), (int, float)) and ref["lean_p"] < LEAN_ALPHA:
        apart = ("; validation leans further to one class than test does, as a small validation split cut in whole "
                 "groups can, and the choices made against its majority rate lean with it (a larger max_val evens it)")
    return (f"{ref['label']}: {value_text(summary, ref['test'])}{unit} on test{val}, what {what} scores; "
            f"a strategy at or {'below' if summary.get('higher_is_better', True) else 'above'} it learned nothing{apart}")


def others_lead(summary: dict[str, Any]) -> str:
    """The other experiments' lead-in, plain text (report.md and report.html): which is the newest, and what sets the
    others apart from it (``summary["others_differ"]``: the test split's row cap, the data, the backbone ...)."""
    differ = summary.get("others_differ")
    return (f"The figures above are {summary.get('experiment', '')}, the newest experiment. The store also holds "
            + (f"runs that differ from them in {differ}" if differ else "other experiments")
            + "; each is summarised apart, never averaged or compared with it.")


def other_experiments_markdown(summary: dict[str, Any]) -> list[str]:
    """A section per other experiment in the store (``analysis.summarize``'s ``other_experiments``): its
    recommendation, the commands that train it (``train_markdown``), and curves, never compared with the main one."""
    others = summary.get("other_experiments") or []
    if not others:
        return []
    lines = ["", "## Other experiments in this store", "", md_text(others_lead(summary))]
    for i, other in enumerate(others, 2):
        inner = other["summary"]
        lines += ["", f"### {md_text(other['experiment'])} ({other['runs']} runs)", ""]
        lines += [f"- {md_text(band['text'])}" for band in inner["recommendation"]] or ["- no finished runs"]
        lines += train_markdown(inner)  # its own backbone's commands, as the main experiment's under its recommendation
        lines += ["", f"![{md_text(other['experiment'])}](chart-{i}.png)"]
        lines += ["", f"| strategy | n | {metric_label(inner)} | 95% CI | seeds |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {md_text(r['strategy'])} | {format_n(r['n'], r['n_actual'])} | {value_text(inner, r['mean'])} | "
                  f"{md_text(curve_ci_text(inner, r))} | {r['seeds']} |" for r in inner["curves"]]
    return lines


def curve_ci_text(summary: dict[str, Any], r: dict[str, Any]) -> str:
    """A curves row's CI column, plain text: its interval, or its note where it has none (one run with no rows, or
    every seed and resample agreed: ``cell_stats.curves``' "none")."""
    if r.get("interval", "seeds" if r["seeds"] > 1 else "none") != "none":
        return f"{value_text(summary, r['ci_low'])} – {value_text(summary, r['ci_high'])}"
    return r.get("note") or "no CI"


TRAIN_LEAD = ("what is recommended, trained as the compare ran it (its data, backbone, size, options, train settings and "
              "the learning rate tuning chose there); --out names its folder (default runs/latest), out= in Python")


def train_commands(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every recommendation band's ``train_commands`` (``analysis.train_command``), in band order; [] without any."""
    return [c for band in summary.get("recommendation") or [] for c in band.get("train_commands") or []]


def train_markdown(summary: dict[str, Any]) -> list[str]:
    """The "To train it" lines under the recommendation: the ``headstart train`` commands in one block (none for data
    passed from Python), then each ``headstart.fit`` call and its note (why it tunes, what its data variable is)."""
    commands = train_commands(summary)
    if not commands:
        return []
    shell = [c["cli"] for c in commands if c.get("cli")]  # none for data passed from Python
    lines = ["", f"**To train it:** {md_text(TRAIN_LEAD)}", *(["", md_fence("\n".join(shell))] if shell else []), "",
             "From Python: " + "; ".join(md_code(c["python"]) for c in commands)]
    return lines + [f"- {md_text(note)}" for note in dict.fromkeys(c.get("note") for c in commands) if note]


def report_markdown(summary: dict[str, Any], *, title: str, command: str | list[str] | None) -> str:
    """Render the report as Markdown.

    Args:
        summary: the output of ``analysis.summarize``.
        title: heading (plain text; escaped).
        command: the command line that produced the store, or every one oldest first (``Store.commands``), or None.

    Returns:
        The Markdown document, ending with a newline.
    """
    label = metric_label(summary)
    lines = [f"# {md_text(title)}", ""]
    if summary.get("preface"):
        lines += [f"*{md_text(summary['preface'])}*", ""]
    if summary.get("metric_note"):  # the metric shown, where it is not the runs' own accuracy (rmse)
        lines += [f"**Metric:** {md_text(summary['metric_note'])}", ""]
    if summary.get("unfinished"):  # a compare stopped early: what it planned has no result yet (every experiment's)
        lines += [f"**Not finished:** {md_text(summary['unfinished']['text'])}", ""]
    lines += ["![learning curves](chart.png)", "", "## Recommendation", ""]
    lines += [f"- {md_text(band['text'])}" for band in summary["recommendation"]] or ["- no finished runs yet"]
    lines += train_markdown(summary)
    hs = summary["head_start"]
    if summary.get("data"):  # what reading the data did: the columns read, rows dropped
        lines += ["", f"**Data:** {md_text(summary['data']['text'])}"]
    if reference_text(summary):
        lines += ["", f"**Reference:** {md_text(reference_text(summary))}"]
    lines += ["", f"**Head start:** {md_text(hs['text']) if hs else 'scratch was not run, so there is no baseline.'}", ""]
    if summary["crossover"].get("measured", True):
        lines += [f"**Crossover:** {md_text(summary['crossover']['text'])}", ""]
    leakage = summary.get("leakage")
    if leakage:
        lines += [f"**{'Warning — test-set leakage' if leakage['warn'] else 'Test-set leakage'}:** {md_text(leakage['text'])}", ""]
    split = summary.get("test_split")
    if split:
        lines += [f"**{split['label']}:** {md_text(split['text'])}", ""]
    found = summary.get("provenance")
    if not (found or {}).get("apart"):  # one experiment's runs: its lines beside its figures
        lines += provenance_markdown(found)
    lines += ["## Results", "",
              f"| strategy | n | {label} | 95% CI | seeds | chosen on validation | budget | train wall time (s) | wall s / step | trainable params | saved size |",
              "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in summary["curves"]:
        ci = md_text(curve_ci_text(summary, r))
        seeds = f"{r['seeds']} (the same run)" if r.get("runs", r["seeds"]) < r["seeds"] else str(r["seeds"])
        lines.append(f"| {md_text(r['strategy'])} | {format_n(r['n'], r['n_actual'])} | {value_text(summary, r['mean'])} | "
                     f"{ci} | {seeds} | {md_text(r.get('chosen') or '–')} | {md_text(r.get('budget') or '–')} | {seconds_text(r['train_seconds'])} | "
                     f"{per_step_text(r.get('seconds_per_step'))} | {r['trainable_params']:,} | "
                     f"{bytes_text(r['saved_bytes']) if r.get('saved_bytes') else '–'} |")
    retained = summary.get("retention") or []
    ref = summary.get("reference")
    if ref:
        lines.append(f"| {md_text(ref['label'])} | – | {value_text(summary, ref['test'])} | | | | | | | | |")
    for note in train_time_notes(summary):
        lines += ["", note]
    if retained:
        lines += ["", "## Forgetting", "",
                  "Retention: a linear probe on the adapted encoder's features over one on the original's, fitted on the "
                  "retained dataset and scored on its test split (1.00: nothing lost) — or, for a dataset too small for "
                  "both (`folds` in the test rows column), cross-fitted: every row scored once by a probe fit on other folds; "
                  "95% interval over seeds and, where stored, the retained test rows. The last column compares the arm with "
                  "full-finetune at the same size, paired by seed on the same retained rows (positive: it keeps more); it "
                  "needs two seeds or more (– otherwise).", "",
                  "| strategy | n | retained dataset | retention | 95% CI | probe accuracy, original → adapted (%) | test rows | seeds "
                  "| − full-finetune (95% CI) |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {md_text(r['strategy'])} | {r['n']} | {md_text(r['data'])} | {r['retention']:.3f} | "
                  f"{md_text(retention_ci_text(r))} | {100 * r['original']:.1f} → {100 * r['adapted']:.1f} | "
                  f"{r.get('test_rows') or '–'}{f' ({folds} folds)' if (folds := r.get('folds') or 0) > 1 else ''} | {r['seeds']} | "
                  f"{md_text(paired_retention_text(r.get('vs_full_finetune')))} |" for r in retained]
        lines += ["", "![target accuracy vs retention](forgetting.png)"]
    lines += _ood_lines(summary)
    flagged = summary.get("budget_flags") or []
    if flagged:
        lines += ["", "**Scores that may understate an arm:**", ""] + [f"- {md_text(f['text'])}" for f in flagged]
    edges = summary.get("grid_edges") or []
    if edges:
        lines += ["", "**Tuning at the edge of its grid:**", ""] + [f"- {md_text(e['text'])}" for e in edges]
    problems = [c for c in summary["counts"] if c["failed"] or c["diverged"]]
    if problems:
        lines += ["", "## Failed and diverged runs", "", "| strategy | n | failed | diverged | reasons |", "|---|---:|---:|---:|---|"]
        lines += [f"| {md_text(c['strategy'])} | {c['n']} | {c['failed']} | {c['diverged']} | "
                  f"{md_text('; '.join(c['errors']))} |" for c in problems]
    lines += ["", f"{runs_text(summary)} {md_text(interval_text(summary))}"]
    if superseded_text(summary):
        lines.append(superseded_text(summary))
    lines += other_experiments_markdown(summary)
    if (found or {}).get("apart"):  # every experiment's runs: once, after them all
        lines += ["", f"## {PROVENANCE_HEADING}", ""] + provenance_markdown(found)[:-1]
    lines += ranking_markdown(summary.get("backbone_ranking"))
    lines += ["", "## Produced by", ""] + produced_by_markdown(command, summary.get("report_command"),
                                                               elsewhere=summary.get("commands_elsewhere"))
    return "\n".join(lines) + "\n"


def train_time_notes(summary: dict[str, Any]) -> list[str]:
    """What the results table's train time holds, where tuning or cached features add to it (report.md and
    report.html write these under the table)."""
    notes = []
    if any(r.get("chosen") for r in summary["curves"]):
        notes.append("Train wall time holds a tuned run's learning-rate trials (what the result cost); wall s / step is the final "
                     "run's own, its validation checks included.")
    if any(r.get("feature_seconds") for r in summary["curves"]):
        notes.append("Train wall time counts the backbone's cached features in every arm that reads them, at what computing "
                     "them cost (run alone, an arm computes them itself), whichever arm of the sweep computed them first.")
    return notes


def runs_text(summary: dict[str, Any]) -> str:
    """``"Runs: 19 done, 0 failed, 0 diverged, 1 not finished."``: the store's runs by status."""
    totals = summary["totals"]
    return (f"Runs: {totals['done']} done, {totals['failed']} failed, {totals['diverged']} diverged, "
            f"{totals['pending'] + totals['running']} not finished.")


# The part that holds the Precision and Environment lines of a store of several experiments (``provenance["apart"]``):
# they cover every experiment's runs, so they follow them all rather than sit under the newest one's figures.
PROVENANCE_HEADING = "Where these numbers come from"


def provenance_markdown(found: dict[str, Any] | None) -> list[str]:
    """The precision the runs trained at and the machines and versions they ran on (``analysis.provenance``): beside
    the figures of a store's one experiment, or under ``PROVENANCE_HEADING`` after every experiment of a store that
    holds several (``found["apart"]``)."""
    if not found:
        return []
    return [f"**Precision:** {md_text(found['precision_text'])}", "", f"**Environment:** {md_text(found['environment_text'])}", ""]


def produced_by_markdown(command: str | list[str] | None, report_command: str | None = None, *,
                         elsewhere: list[int] | None = None) -> list[str]:
    """The "Produced by" lines: every command that wrote the store, oldest first (run in that order into one --out,
    they store its runs again), then the ``headstart report`` whose settings this report keeps, if any. ``elsewhere``:
    the indexes of the commands that ran into another folder than the last (``Store.commands_elsewhere``), whose store
    was copied into the last's: said, as their --out is not the last's."""
    commands = [command] if isinstance(command, str) else list(command or [])
    steps = commands + ([report_command] if report_command else [])
    if not commands:
        lines = ["(command not recorded)"] + (["", md_fence(report_command)] if report_command else [])
        return lines
    if len(steps) == 1:
        return [md_fence(steps[0])]
    elsewhere = [i for i in elsewhere or [] if 0 <= i < len(commands) - 1]
    copied = (f"the {and_list([ordinal(i + 1) for i in elsewhere])} ran into {'another folder' if len(elsewhere) == 1 else 'other folders'}, "
              "whose store was copied into the one the last ran into; " if elsewhere else "")
    said = (f"The {len(commands)} commands that wrote this store, oldest first ({copied}run in this order into one "
            "--out, they store its runs again)" if len(commands) > 1 else "The command that wrote this store")
    if report_command:
        said += ", and the report command whose settings this report keeps (a later compare into the store keeps them too)"
    return [said + ":", "", md_fence("\n".join(steps))]


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``22nd``."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def and_list(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def ranking_markdown(ranking: dict[str, Any] | None) -> list[str]:
    """The "Backbones ranked before training" section (``analysis.backbone_ranking.ranked_beside_measured``)."""
    if not ranking:
        return []
    measured = ranking["measured"]
    lines = ["", "## Backbones ranked before training", "", md_text(ranking["text"]), "",
             "| " + " | ".join(["backbone", *ranking["labels"], *ranking_heads(measured)]) + " |", "|---|---:|---:|---:|---:|---:|"]
    for r in ranking["rows"]:
        lines.append("| " + " | ".join([md_text(r["name"]), *ranking_cells(r)[1:]]) + " |")
    return lines


def ranking_heads(measured: dict[str, Any] | None) -> list[str]:
    """The measured columns' headers, naming the split: ``["measured test accuracy (%)", "95% CI"]``."""
    return [f"measured test {measured['metric']} (%)" if measured else "measured", "95% CI"]


def ranking_cells(row: dict[str, Any]) -> list[str]:
    """A ranked backbone's row: name, LogME, H-score, kNN-LOO, the measured test score in points and its interval as the
    results table gives it ("–": not run here)."""
    measured = "–" if row["measured"] is None else f"{100 * row['measured']:.1f}"
    ci = range_text(row["measured_ci"], lambda v: f"{100 * v:.1f}") if row.get("measured_ci") else "–"
    return [row["name"], f"{row['logme']:.4g}", f"{row['h_score']:.4g}", f"{row['knn_loo']:.3f}", measured, ci]


def paired_retention_text(diff: dict | None) -> str:
    """``"+0.012 (−0.004 to +0.028)"``, ``"+0.000 (no interval: …)"``, or ``"–"`` where there is no paired comparison."""
    if not diff:
        return "–"
    return f"{diff['mean']:+.3f} ({range_text(diff, lambda v: f'{v:+.3f}', joiner=' to ')})"


def retention_ci_text(row: dict[str, Any]) -> str:
    """A retention's interval, ``"0.912 – 0.988"``, or why it has none (``stats.range_text``)."""
    return range_text(row, lambda v: f"{v:.3f}")


def _ood_lines(summary: dict) -> list[str]:
    """The "Out of domain" section: each arm on another dataset's test split beside its in-domain score, and the gap."""
    rows = summary.get("ood") or []
    if not rows:
        return []
    k = summary["scale"]
    unit = " (points)" if k == 100.0 else ""
    lines = ["", "## Out of domain", "",
             "Each run also scored on another dataset's test split (`--eval-data`), with the task's labels; the gap is "
             "in-domain minus out-of-domain, paired by seed, its 95% interval carrying both test sets' sampling error.", ""]
    # each sentence once: a dataset's majority share is the same for every arm and test-time adaptation scored on it
    notes = list(dict.fromkeys(n for r in rows for n in (r.get("note"), r.get("majority_note")) if n))
    lines += [f"- {md_text(note if note.endswith('.') else note + '.')}" for note in notes] + ([""] if notes else [])
    warned = [r["one_class_note"] for r in rows if r.get("one_class_note")]
    lines += [f"- ⚠ {md_text(note)}" for note in warned] + ([""] if warned else [])
    lines += [f"| strategy | n | dataset | in domain | out of domain | 95% CI | gap{unit} | gap 95% CI | test rows | seeds |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        gap = r["gap"]
        mark = " ⚠" if r.get("one_class_note") else ""
        lines.append(f"| {md_text(r['strategy'])}{mark} | {r['n']} | {md_text(r['data'])} | {value_text(summary, r['in_domain'])} | "
                     f"{value_text(summary, r['mean'])} | {md_text(score_ci_text(summary, r))} | "
                     f"{signed_value(summary, gap['mean'])} | {md_text(difference_ci_text(summary, gap))} | "
                     f"{r.get('test_rows') or '–'} | {r['seeds']} |")
    return lines + ["", "![in domain vs out of domain](ood.png)"]


def seconds_text(seconds: float) -> str:
    """Seconds as every report writes them (train time, wall s / step; report.html shows these strings): three significant
    digits with their trailing zeros, so one column's numbers line up ("6.00" beside "5.87", where ``.3g`` wrote "6";
    "12.0", "0.250"), whole numbers from 100 ("120", not "120."), with a comma from 1,000 ("1,235", never the
    "1.23e+03" that ``.3g`` writes there)."""
    text = f"{seconds:#.3g}".rstrip(".")
    return f"{seconds:,.0f}" if "e+" in text else text


def per_step_text(seconds: float | None) -> str:
    """Seconds per optimiser step, or "–" for a cell that took none (a closed-form head)."""
    return seconds_text(seconds) if seconds else "–"
