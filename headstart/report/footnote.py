"""The report's footnote, as report.md and report.html both write it: what its intervals carry (seeds, test rows,
both or neither, row by row where they differ) and what its choices read (held-out validation scores, or each run's
best check and why, from each pick's ``held_out`` / ``best_check_why``; a tuned arm's rate chosen on all validation
rows). Plain text: ``md_text`` it for Markdown."""

from __future__ import annotations

from typing import Any

from headstart.analysis import format_n


# What an interval carries, by the curves' ``interval`` field (``analysis.curves``).
_COVERS = {
    "seeds and test rows": "carry both the seed variation and the test set's sampling error (a bootstrap over test rows)",
    "test rows": ("carry the test set's sampling error alone (a bootstrap over test rows): one run — one seed, or seeds "
                  "that are the same run (no rows drawn by seed and no optimiser step: a closed form with every label or "
                  "none) — so no seed variation is in them"),
    "seeds": ("carry the seed variation alone (Student-t; these runs stored no test predictions, so the test set's own "
              "sampling error is not in them)"),
    "none": ("are absent: one run with no stored test predictions, or every seed and every resample of the test rows "
             "gave the same value, which is no error seen rather than none (each such row says which)"),
}


def interval_text(summary: dict[str, Any]) -> str:
    """What the report's intervals cover, from the curves' ``interval`` fields: true of every row shown, naming the
    rows that carry another kind than most (one seed: no seed variation). Plain text: ``md_text`` it for Markdown."""
    from headstart.analysis.stats import SHARE_METRICS

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in summary["curves"]:
        groups.setdefault(r.get("interval", "seeds"), []).append(r)
    head = f"Intervals are {summary['confidence']:.0%}"
    if set(groups) == {"none"}:
        text = ("There are no intervals: every row is one run with no stored test predictions, or its seeds and "
                "resamples all gave the same value (each row says which)")
    elif len(groups) <= 1:
        text = f"{head} and {_COVERS.get(next(iter(groups), 'seeds and test rows'), _COVERS['seeds'])}"
    else:
        most = max(groups, key=lambda k: len(groups[k]))
        parts = [f"those of {_rows_named(rows)} {_COVERS.get(kind, kind)}" for kind, rows in groups.items() if kind != most]
        text = f"{head}; " + "; ".join(parts) + f"; the others {_COVERS.get(most, most)}"
    rows, share = any("test rows" in kind for kind in groups), summary.get("metric") in SHARE_METRICS
    text += "; differences are paired by seed" + (" and resample the same test rows for both." if rows else ".")
    if rows and share:
        text += (" An accuracy from one run (one seed, or seeds that all scored the same) has an interval never narrower "
                 "than the Wilson interval of its score on the test rows (a bootstrap of rows that are all right sees no "
                 "error at all); a mean of seeds that differ takes its rows' error from the bootstrap and may be "
                 "narrower, for seeds that disagree on rows average some of it away; where two arms agree on every test row the "
                 "report says so, and their difference's interval is as far as two accuracies can differ with no "
                 "disagreement on those rows (Wilson).")
    return text + " " + choice_text(summary)


def _rows_named(rows: list[dict[str, Any]]) -> str:
    """``"linear-probe n = 16, 64 and lora n = 16"``: table rows by strategy and size (plain text)."""
    sizes: dict[str, list[str]] = {}
    for r in rows:
        sizes.setdefault(r["strategy"], []).append(format_n(r["n"], r.get("n_actual")))
    return " and ".join(f"{strategy} n = {', '.join(ns)}" for strategy, ns in sizes.items())


def choice_text(summary: dict[str, Any]) -> str:
    """What the report's choices read: held-out validation scores where every run kept one, else validation maxima
    and why (each pick's ``held_out`` and ``best_check_why``, ``cells.choice_source``: data, never read back out of
    its ``chosen_on`` words); where arms were tuned (``summary["tuned"]``), that their learning rate was chosen on all validation rows, which
    is not held out."""
    picks = [p for band in summary.get("recommendation") or [] for p in band.get("evidence") or []]
    held = any(p.get("held_out") for p in picks)  # what each pick read, as data (``cells.choice_source``)
    why = next((p["best_check_why"] for p in picks if p.get("best_check_why")), None)
    tuned = summary.get("tuned") or []
    return ("Choices (recommendation, head start, crossover) are made on validation scores"
            + (" held out from each run's own checkpoint choice: a run keeps the checkpoint its validation split scores "
               "best, and that best is luckier the more often a run looks and the more its checks differ, so "
               "the choices read each run's pick on one half of its validation rows scored on the other half, both "
               "ways round and averaged" if held else "")
            + (f", each run's best check: optimistic, for a run keeps the checkpoint its validation split scores best, "
               f"and that best is luckier the more often a run looks ({why})" if why and not held else "")
            + ((f" (not held out from the learning rate that tuning chose for {', '.join(tuned)}: its search read all "
                "the validation rows)" if held else f" (the learning rate tuning chose for {', '.join(tuned)} was "
                "chosen on the same validation rows)") if tuned else "")
            + "; the figures quoted are test scores.")
