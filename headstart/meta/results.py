"""``MetaResult``: what a ``meta-train`` run measured, as plain data (no torch), and its table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.analysis.stats import ONE_SEED
from headstart.report.mdtext import md_text

PLAIN = ("linear-probe", "fine-tune", "prototypes")  # the plain backbone's baselines, in table order


@dataclass
class MetaResult:
    """Attributes:
        config: ``MetaConfig.to_json()``.
        out: the folder the run wrote: meta.json, meta.md and each arm's backbone in ``out/<arm>/``.
        training: one dict per arm: arm, meta_steps, seconds, first_loss / last_loss (mean of the first / last tenth
            of the steps), saved (the backbone folder), meta_lr (the Adam rate kept; None for Reptile), validation
            (per shot count: shots, mean, ci95, episodes on held-out rows of the base classes, and ``no_interval``
            where every episode gave the same value; empty without validation) and, with ``--tune meta-lr``, tried (each rate with its validation mean and training seconds,
            or diverged); seconds is the kept rate's meta-training; ``kept`` where the arm was an earlier run's of the
            same settings, loaded from its folder, not trained again (its summary that run's where meta.json had it).
        rows: one dict per (novel, shots, method): novel, shots, method, kind ("meta" or "plain"), mean, ci95,
            episodes, accuracies (accuracy on the query sets, their mean, its 95% half-width t · sd / √episodes, and
            each episode's, in the same episode order for every method), vs_linear_probe (mean and 95% half-width
            of the per-episode difference from the plain linear probe on the same episodes; None on its own row);
            ``no_interval`` / ``vs_linear_probe_no_interval`` where every episode gave the same value or difference
            (a half-width of 0, no interval: ``episodes.no_spread``), and ``caveat`` (``stats.ONE_SEED``) on a
            meta-trained arm's row: it was meta-trained once, so its interval holds no training randomness.
        seconds: wall time of the whole run.
    """

    config: dict[str, Any]
    out: Path | None = None  # None only for a result built by hand: meta_train always writes one
    training: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # one line: the rows hold every episode's accuracy
        chosen = self.best_on_validation()
        arms = list(dict.fromkeys(r["method"] for r in self.rows if r.get("kind") == "meta"))
        alone = arms[0] if len(arms) == 1 else None  # one arm: nothing is chosen, none called best
        shown = [r for r in self.rows if r["method"] == (alone or chosen)]
        first = shown[0] if shown else None
        plain = next((r for r in self.rows if first and r.get("kind") == "plain" and r["novel"] == first["novel"]
                      and r["shots"] == first["shots"] and "linear" in r["method"]), None)
        named = alone if alone else f"best on validation {chosen}:"
        scored = (f"; {named} {first['mean']:.4g} on {first['novel']} {first['shots']}-shot"
                  + (f" ({plain['method']} {plain['mean']:.4g})" if plain else "") if first else "")
        return (f"MetaResult({len(self.training)} arm(s) meta-trained, {len(self.rows)} score(s){scored}; "
                f"{self.seconds:.1f} s" + (f"; out={self.out}" if self.out is not None else "")
                + (f"; {len(self.notes)} note(s)" if self.notes else "") + ")")

    def best_on_validation(self) -> str | None:
        """The meta-trained arm with the highest mean validation accuracy over its shot counts (episodes on held-out
        rows of the base classes; ties: the first in training order), or None where no arm was validated. The novel
        datasets' episodes are the test: they choose nothing (the repr named the arm highest on them "best")."""
        means = [(sum(v["mean"] for v in t["validation"]) / len(t["validation"]), -i, t["arm"])
                 for i, t in enumerate(self.training)
                 if t.get("validation") and all(v.get("mean") is not None for v in t["validation"])]
        return max(means)[2] if means else None

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "training": self.training, "rows": self.rows, "seconds": self.seconds, "notes": self.notes}

    def table(self) -> list[str]:
        """Markdown lines: one row per method, one column per (novel dataset, shots), "mean (low–high)" in percent."""
        columns = sorted({(r["novel"], r["shots"]) for r in self.rows}, key=lambda c: (self.config["novel"].index(c[0]), c[1]))
        methods = list(dict.fromkeys(r["method"] for r in self.rows))
        cell = {(r["method"], r["novel"], r["shots"]): r for r in self.rows}
        ways = self.config["ways"]
        lines = ["| method | " + " | ".join(f"{md_text(novel)} {ways}-way {shots}-shot" for novel, shots in columns) + " |",
                 "|---|" + "---:|" * len(columns)]
        for method in methods:
            values = []
            for novel, shots in columns:
                r = cell.get((method, novel, shots))
                values.append("" if r is None else with_interval(r["mean"], r["ci95"]))
            lines.append(f"| {method} | " + " | ".join(values) + " |")
        lines += ["", "Paired difference from plain linear-probe on the same episodes (points, mean and 95% interval over "
                  f"the episodes; each meta-trained arm is one meta-training run, {ONE_SEED}):", "", lines[0], lines[1]]
        for method in methods:
            pairs = [cell.get((method, novel, shots), {}).get("vs_linear_probe") for novel, shots in columns]
            if any(p is not None for p in pairs):
                lines.append(f"| {method} | " + " | ".join("" if p is None else with_interval(p[0], p[1], difference=True)
                                                           for p in pairs) + " |")
        episodes = {r["episodes"] for r in self.rows}
        lines.append("")
        lines.append(f"Query accuracy (%), mean and 95% interval (mean ± t·sd/√n, the episodes' sampling only, clipped to "
                     f"what an accuracy can be; none for one episode or where every episode gave the same value) over "
                     f"{', '.join(map(str, sorted(episodes)))} episodes of {self.config['queries']} queries "
                     "per class, the same seeded episodes for every method; "
                     f"meta-trained on {md_text(self.config['base'])} with {md_text(self.config['backbone'])} "
                     f"({self.config['meta_steps']} meta-steps of {self.config['meta_batch']} {ways}-way "
                     f"{self.config['train_shots']}-shot tasks); plain = the pre-trained backbone.")
        return lines + self.validation_table()

    def validation_table(self) -> list[str]:
        """Markdown lines: each arm's accuracy on the validation episodes (held-out base rows) and the rate kept; none
        without validation."""
        scored = [t for t in self.training if t.get("validation")]
        if not scored:
            return []
        shots = [v["shots"] for v in scored[0]["validation"]]
        tuned = any("tried" in t for t in scored)
        lines = ["", f"Validation: {self.config['val_episodes']} episodes per shot count on held-out rows of the base classes "
                 f"({md_text(self.config['base'])}; never a meta-training row, never a novel dataset)"
                 + (", where --tune meta-lr chose each arm's Adam rate (best mean over shot counts)" if tuned else "")
                 + ". They measure the meta-training task, not the novel classes. Query accuracy (%), mean and 95% interval "
                 "(clipped to 0–100):", "",
                 "| method | " + " | ".join(f"base {self.config['ways']}-way {k}-shot" for k in shots) + " | meta-lr |",
                 "|---|" + "---:|" * len(shots) + "---|"]
        for t in scored:
            cells = [with_interval(v["mean"], v["ci95"]) for v in t["validation"]]
            rate = "–" if t.get("meta_lr") is None else rate_text(t["meta_lr"])
            if "tried" in t:
                rate += " (" + ", ".join(f"{rate_text(r['meta_lr'])}: " + ("diverged" if r["validation"] is None else f"{100 * r['validation']:.1f}")
                                         for r in t["tried"]) + ")"
            lines.append(f"| {t['arm']} | " + " | ".join(cells) + f" | {rate} |")
        return lines


def rate_text(rate: float) -> str:
    """A learning rate as a flag takes it: 0.0001 -> 1e-4, 3e-05 -> 3e-5, 0.00025 -> 2.5e-4."""
    mantissa, exponent = f"{rate:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def with_interval(mean: float, half: float | None, *, difference: bool = False) -> str:
    """An accuracy (a fraction) in percent with its 95% interval, mean ± ``half`` clipped to what it can be
    (``stats.metric_range``, or ``stats.difference_range`` for a difference of two): t · sd / √n over two or three
    episodes reaches past 0–100% ("30.0 ± 211.8"). Just the mean without an interval (one episode: ``half`` None).

    Example: ``with_interval(0.3, 2.118)`` -> ``"30.0 (0.0–100.0)"``; ``with_interval(0.05, 0.1, difference=True)``
    -> ``"+5.0 (-5.0 to +15.0)"``; a half-width of 0 (every episode the same) is no interval: ``"80.0 (no interval:
    every episode gave the same value)"`` (``stats.range_text``)."""
    from headstart.analysis.cell_stats import signed_points
    from headstart.analysis.stats import difference_range, metric_range, range_text
    from headstart.meta.episodes import no_spread

    low, high = difference_range("accuracy") if difference else metric_range("accuracy")
    if difference:
        shown, fmt, joiner = signed_points(100 * mean), (lambda v: signed_points(100 * v)), " to "
    else:
        shown, fmt, joiner = f"{100 * mean:.1f}", (lambda v: f"{100 * v:.1f}"), "–"
    if half is None:
        return shown
    ci = {"ci_low": max(mean - half, low), "ci_high": min(mean + half, high), **no_spread(half)}
    return f"{shown} ({range_text(ci, fmt, joiner=joiner)})"
