"""``CompareResult``: what ``compare`` (and ``run_compare``) return — the sweep's counts, the report's content and its
files — with the advice and flags as the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CompareResult:
    """What ``compare`` returns: the sweep's counts and the report's content (``results.json``).

    ``statuses`` counts this compare's cells in the store by status ("done", "diverged", "failed"): those already
    stored (``skipped``) and those trained now (``trained``, whose own count is ``trained_statuses``); a cell another
    compare on the store claimed first (``elsewhere``) is in neither.

    ``summary`` has ``curves``, ``head_start``, ``crossover``, ``recommendation``, ``grid_edges``, ``counts`` and
    ``totals`` (``analysis.summarize``; ``curves`` in the metric's own units, fractions for accuracy, while
    ``head_start`` and ``crossover`` are in points, as ``headstart.analysis`` says); ``reports`` maps each written file (report.html, report.md, chart.png,
    results.json) to its path; ``recommendation`` and ``flags`` its advice and its flags as lines of text.
    """

    out: Path
    total: int
    skipped: int
    trained: int
    statuses: dict[str, int]  # every cell of this compare in the store, by status: stored before, and trained now
    seconds: float
    summary: dict[str, Any] = field(repr=False)  # results.json's content: see ``recommendation`` and ``reports``
    reports: dict[str, Path]
    leakage: Any = None  # headstart.data.leakage.LeakageReport of the split
    notes: list[dict[str, str]] = field(default_factory=list)  # defaults the data decided (headstart.data_defaults)
    mlflow: dict[str, int] | None = None  # with report_to="mlflow": tracking.log_store's {logged, skipped}
    elsewhere: int = 0  # cells another compare on the same store claimed first (training there, or done meanwhile)
    elsewhere_training: int = 0  # of those, the cells a live compare still trained as this one ended (``_still_training``)
    keys: frozenset[str] = field(default=frozenset(), repr=False)  # every cell's run key: the runs this call stands for
    trained_statuses: dict[str, int] = field(default_factory=dict)  # the cells trained by this call, by status
    reused: int = 0  # cells this call stored as another seed's run, which each repeats (``sweep_plan.seed_repeats``)

    @property
    def recommendation(self) -> list[str]:
        """The report's advice as a list of lines, one per band of sizes with the same pick ("at every size tried:
        linear-probe (best on held-out validation; …)"), as the CLI prints them; ``summary["recommendation"]`` holds
        each band with its evidence. A band that names an arm's flags points to ``flags`` (the report's "flags below")."""
        return [band["text"].replace("(flags below)", "(see .flags)") for band in self.summary.get("recommendation", [])]

    @property
    def flags(self) -> list[str]:
        """Where a score may understate an arm, each line with what to try: the budget flags (``summary["budget_flags"]``),
        then the learning-rate grid's (``summary["grid_edges"]``), as the CLI prints them after ``budget:`` and
        ``tuning:``."""
        return [f["text"] for key in ("budget_flags", "grid_edges") for f in self.summary.get(key) or []]

    def __repr__(self) -> str:  # one line: the leakage report's texts and the summary made it pages long
        from headstart.errors import clipped

        others = ", ".join(f"{count} {status}" for status, count in self.statuses.items() if status != "done" and count)
        others += (", " if others else "") + f"{self.elsewhere} claimed by another compare" if self.elsewhere else ""
        advice = self.recommendation
        leaked = (getattr(self.leakage, "exact", 0) or 0) + (getattr(self.leakage, "near", 0) or 0)
        return (f"CompareResult({self.total} cells: {self.trained} trained, {self.skipped} already stored"
                + (f", {self.reused} stored from the seed they repeat" if self.reused else "")
                + (f", {others}" if others else "") + f"; {self.seconds:.1f} s"
                + (f"; recommendation: {clipped(advice[0], 90)}" + (f" (+{len(advice) - 1} more)" if len(advice) > 1 else "")
                   if advice else "") + f"; out={self.out}"
                + (f"; {leaked:,} of {self.leakage.n_test:,} test rows duplicate training rows" if leaked else "")
                + (f"; {len(self.flags)} flag(s) in .flags" if self.flags else "")
                + (f"; {len(self.notes)} note(s)" if self.notes else "") + ")")
