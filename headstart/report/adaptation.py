"""``adaptation.md``: the domain-adaptation report of ``headstart adapt`` (methods against source-only and the oracle)."""

from __future__ import annotations

from typing import Any

from headstart.analysis.cell_stats import signed_points
from headstart.analysis.stats import range_text
from headstart.report.mdtext import md_text


def adaptation_markdown(rows: list[dict[str, Any]], *, source: str, target: str, strategy: str,
                        notes: list[str] | tuple[str, ...] = ()) -> str:
    """``adaptation.md``: per method and size, accuracy on the target's test split, the gain over source-only (paired
    by seed, the same target rows), and the share of the source-only → oracle gap closed; per size the target's
    majority-class rate as a reference row, and a flag (⚠) on a method at or below it or answering one class for every
    target row. ``target`` may carry a label mapping (``NAME[their=ours]``): the prose names the dataset alone, the
    scores' notes say how its labels were read. ``notes``: what the run decided (default methods left out)."""
    from headstart.analysis.adaptation import flag_text
    from headstart.ood_labels import parse_eval_data

    name = parse_eval_data(target)[0]
    ceiling = any(r.get("oracle") for r in rows)
    oracle = (f"The oracle ({md_text(strategy)} trained on {md_text(name)}'s own labels, from its pool, and scored on the "
              "same target test rows as every method) is the ceiling only."
              if ceiling else f"No oracle ({md_text(strategy)} trained on {md_text(name)}'s own labels) is part of this run, "
              "so there is no ceiling and no gap closed.")
    majority = {r["n"]: r["majority"] for r in rows if r.get("majority") is not None}
    lines = [f"# Domain adaptation: {md_text(source)} → {md_text(name)} ({md_text(strategy)})", "",
             f"Every method is trained on {md_text(source)}'s labels and chooses on its validation split; it is scored "
             f"on {md_text(name)}'s test split, whose labels nothing else reads. {oracle} Intervals are 95%, over seeds "
             "and the target's test rows.", ""]
    lines += [f"- {md_text(note)}" for note in notes] + ([""] if notes else [])
    if majority:
        lines += ["The majority class row is what always answering the target's most frequent class scores: a method "
                  "at or below it, or answering one class for every target row, is flagged ⚠ (see Flags).", ""]
    lines += ["| method | n | target accuracy (%) | 95% CI | − source-only (points) | 95% CI | gap closed | oracle (%) | seeds |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["n"] in majority:
            lines.append(f"| majority class | {r['n']} | {100 * majority.pop(r['n']):.1f} | – | – | – | – | – | – |")
        over = r["over_baseline"]
        gain = "–" if over is None else signed_points(100 * over["mean"])
        gain_ci = "–" if over is None else md_text(range_text(over, lambda v: signed_points(100 * v), joiner=" to "))
        gap = "–" if r["gap_closed"] is None else f"{100 * r['gap_closed']:.0f}%"
        oracle = "–" if r["oracle"] is None else f"{100 * r['oracle']['mean']:.1f}"
        flag = " ⚠" if r.get("flags") else ""
        ci = md_text(range_text(r, lambda v: f"{100 * v:.1f}"))
        lines.append(f"| {md_text(r['method'])}{flag} | {r['n']} | {100 * r['mean']:.1f} | {ci} | {gain} | {gain_ci} | {gap} | "
                     f"{oracle} | {r['seeds']} |")
    unshared = sorted({r["n"] for r in rows if r["oracle"] is not None and r["gap_closed"] is None and r["over_baseline"]},
                      key=lambda n: (isinstance(n, str), n))
    if unshared:  # a dash in "gap closed" beside an oracle: say why, not leave it to be read as missing
        bare = any(r["oracle"].get("ci_low") is None for r in rows if r["n"] in unshared)  # an oracle with no interval
        lines += ["", f"Gap closed is left out (–) at n = {', '.join(map(str, unshared))}: the oracle's interval "
                  f"{'(or, where it has none, its mean) ' if bare else ''}reaches down to source-only's mean there, so "
                  "there is no gap to share out."]
    flagged = [text for text in map(flag_text, rows) if text]
    if flagged:
        lines += ["", "Flags:"] + [f"- ⚠ {md_text(text)}" for text in flagged]
    noted: dict[str, list[str]] = {}  # a note -> the scores it is about, each note once
    for r in rows:
        for note in r.get("notes") or ():
            noted.setdefault(note, []).append(f"{r['method']} (n = {r['n']})")
    if noted:
        lines += ["", "Notes on the scores:"] + [
            f"- {'every method' if len(about) == len(rows) else md_text(', '.join(about))}: {md_text(note)}"
            for note, about in noted.items()]
    weighted = [r for r in rows if "importance" in (r.get("estimates") or {})]
    if weighted:
        lines += ["", "Importance weighting's domain classifier (pre-trained features, source vs target inputs) and what "
                  "its weights left of the n examples, mean over seeds: an accuracy near 1 means the domains are told "
                  "apart easily and a few examples carry the loss."]
        for r in weighted:
            e = r["estimates"]["importance"]
            lines.append(f"- n = {r['n']}: held-out accuracy {e.get('domain_accuracy', float('nan')):.2f}, effective "
                         f"sample size {e.get('ess', float('nan')):.1f} of {r['n']}, clipped {e.get('clipped', 0):.1f}")
    return "\n".join(lines) + "\n"
