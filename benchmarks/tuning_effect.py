"""Does tuning the learning rate on validation change which strategy wins? Two stores of the same sweep compared.

Reads the store of a sweep run with ``--tune lr`` and the store of the same sweep run with ``--no-tune``
(examples/tuning.toml) and prints, per labelled-set size:

- each strategy's test accuracy (mean, 95% CI over seeds) without and with tuning, its rank in each, the paired
  per-seed gain from tuning (same seeds draw the same subsample, so the pairs share their training rows) and
  the learning rates validation chose;
- how much the ranking changed: Kendall's tau between the two rankings and whether the best strategy is the same;
- the recommendation each store gives (``headstart.analysis.recommend``);
- ``embed-logreg`` (a convex solver, C chosen on validation) against ``linear-probe`` (AdamW with early
  stopping on validation) on the same frozen features, paired by seed, in each store.

Only the cells (strategy, size, seed) done in both stores count, so a sweep still running compares like with like.
Then the tuning overhead: per strategy, mean training seconds per run with and without tuning (tuning's trials
included; the two stores may have been run under different machine load), and, within the tuned store alone, the
trials' share of each run: wall time (trials + final run) / final run, and the same for step budgets. Nothing is
trained here.

Run: python benchmarks/tuning_effect.py --off runs/tune-off --on runs/tune-on
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from scipy import stats

from headstart import analysis
from headstart.analysis.stats import range_text
from headstart.results import RunResult
from headstart.recipe import budget_for
from headstart.specs import TrainConfig
from headstart.store import Store


def load(directory: str) -> list[RunResult]:
    if not (Path(directory) / "runs.sqlite").exists():
        sys.exit(f"error: no store at {directory!r} (runs.sqlite); run the sweep first: see examples/tuning.toml")
    with Store(directory, create=False) as store:  # the newest run of each cell, as the report counts them
        return [r for r in analysis.current_runs(store.results()) if r.status == "done"]


def _final_budget(r: RunResult) -> int:
    """The step budget of a tuned run's final training (what its trials' budgets are fractions of)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in r.spec["train"].items() if k in fields and k != "precision"})
    return budget_for(cfg, int(r.spec["n"])).steps


def ranking(table: dict, n: int | str) -> list[str]:
    """Strategies at size n, best mean first."""
    here = [c for (_, m), c in table.items() if m == n]
    return [c.strategy for c in sorted(here, key=lambda c: -analysis.mean_ci(c.values)[0])]


def pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def mean_ci_text(cell: analysis.Cell | None) -> str:
    if cell is None:
        return "–"
    mean, low, high, _ = analysis.mean_ci(cell.values)
    return f"{pct(mean)} ({pct(low)}–{pct(high)})" if len(cell.values) > 1 else pct(mean)


def report(off: list[RunResult], on: list[RunResult], metric: str = "accuracy", *, untimed: frozenset[str] = frozenset()) -> str:
    """The markdown comparison; runs whose key is in ``untimed`` (their wall time is known to be wrong, e.g. the sweep
    was paused) keep their scores but stay out of the overhead table."""
    def cell(r: RunResult) -> tuple[str, int | str, int]:
        return r.spec["strategy"], analysis.requested(r.spec), int(r.spec.get("seed", 0))

    shared_cells = {cell(r) for r in off} & {cell(r) for r in on}
    off = [r for r in off if cell(r) in shared_cells]  # like with like: a cell and seed done in both, the overhead too
    on = [r for r in on if cell(r) in shared_cells]
    t_off, t_on = analysis.cells(off, metric), analysis.cells(on, metric)
    lines = []
    taus = []
    for n in sorted(set(analysis.sizes(t_off)) & set(analysis.sizes(t_on)), key=analysis.size_key):
        r_off, r_on = ranking(t_off, n), ranking(t_on, n)
        shared = [s for s in r_on if s in r_off]
        tau = stats.kendalltau([r_off.index(s) for s in shared], [r_on.index(s) for s in shared]).statistic if len(shared) > 1 else math.nan
        taus += [tau] if math.isfinite(tau) else []
        n_actual = max(c.n_actual for (_, m), c in t_on.items() if m == n)
        tau_text = f"{tau:.2f}" if math.isfinite(tau) else "– (one strategy done in both)"
        lines += [f"### n = {analysis.format_n(n, n_actual)}", "",
                  f"Kendall's tau between the rankings: {tau_text}; best without tuning: {r_off[0]}, with tuning: {r_on[0]}"
                  f"{' (same)' if r_off[0] == r_on[0] else ' (changed)'}.", "",
                  "| strategy | no tuning | rank | tuned | rank | tuned − untuned (paired, points) | chosen on validation |",
                  "|---|---|---|---|---|---|---|"]
        for s in shared:
            a, b = t_off[(s, n)], t_on[(s, n)]
            seeds = sorted(set(a.by_seed) & set(b.by_seed))
            diff = analysis.paired_test([100 * (b.by_seed[k] - a.by_seed[k]) for k in seeds])
            gain = (f"{diff['mean']:+.1f} ({range_text(diff, lambda v: f'{v:+.1f}', joiner=' to ')})" if diff["pairs"] > 1
                    else f"{diff['mean']:+.1f}" if seeds else "–")
            lines.append(f"| {s} | {mean_ci_text(a)} | {r_off.index(s) + 1} | {mean_ci_text(b)} | {r_on.index(s) + 1} | {gain} | "
                         f"{b.chosen.replace('|', '/') or '–'} |")
        lines.append("")
    lines += ["### Recommendations", "", "Without tuning:", ""]
    lines += [f"- {band['text']}" for band in analysis.recommend(off, metric)]
    lines += ["", "With tuning:", ""]
    lines += [f"- {band['text']}" for band in analysis.recommend(on, metric)]
    lines += ["", "### embed-logreg against linear-probe (same features; paired by seed, points)", "",
              "| store | n | embed-logreg − linear-probe (95% CI) | p | chosen (embed-logreg / linear-probe) |", "|---|---|---|---|---|"]
    for name, table in (("no tuning", t_off), ("tuned", t_on)):
        for n in sorted(analysis.sizes(table), key=analysis.size_key):
            a, b = table.get(("embed-logreg", n)), table.get(("linear-probe", n))
            if a is None or b is None:
                continue
            seeds = sorted(set(a.by_seed) & set(b.by_seed))
            diff = analysis.paired_test([100 * (a.by_seed[k] - b.by_seed[k]) for k in seeds])
            if diff["pairs"] > 1:
                p = "–" if diff["p_value"] is None else f"{diff['p_value']:.2f}"  # seeds that all agreed: no test
                lines.append(f"| {name} | {analysis.format_n(n, a.n_actual)} | {diff['mean']:+.1f} "
                             f"({range_text(diff, lambda v: f'{v:+.1f}', joiner=' to ')}) | {p} | "
                             f"{a.chosen.replace('|', '/') or '–'} / {b.chosen.replace('|', '/') or '–'} |")
    lines += ["", "### Tuning overhead (training wall time, trials included)", "",
              "| strategy | mean s / run, no tuning | mean s / run, tuned | ratio | tuned store: (trials + final) / final, wall time | same, step budgets |",
              "|---|---|---|---|---|---|"]
    total_off = total_on = 0.0
    timed = {cell(r) for r in off + on if r.key not in untimed}
    timed -= {cell(r) for r in off + on if r.key in untimed}  # a cell leaves both halves of the comparison
    off_t, on_t = [r for r in off if cell(r) in timed], [r for r in on if cell(r) in timed]
    for s in sorted({r.spec["strategy"] for r in on_t}):
        a = [r.train_seconds for r in off_t if r.spec["strategy"] == s]
        b = [r.train_seconds for r in on_t if r.spec["strategy"] == s]
        total_off, total_on = total_off + sum(a), total_on + sum(b)
        tuned = [r for r in on_t if r.spec["strategy"] == s and r.chosen.get("trials")]
        wall = sum(r.train_seconds for r in tuned) / max(1e-9, sum(r.train_seconds - r.chosen.get("tune_seconds", 0) for r in tuned))
        budget = [(sum(t["steps"] for t in r.chosen["trials"]), _final_budget(r)) for r in tuned]
        step_ratio = sum(t + f for t, f in budget) / sum(f for _, f in budget) if budget and all(f for _, f in budget) else None
        share = (f"{wall:.2f}x" if tuned else "– (nothing to tune)") + " | " + (f"{step_ratio:.2f}x" if step_ratio else "–")
        if a and b:
            ma, mb = sum(a) / len(a), sum(b) / len(b)
            lines.append(f"| {s} | {ma:.3g} | {mb:.3g} | {mb / ma:.2f}x | {share} |" if ma > 0 else f"| {s} | {ma:.3g} | {mb:.3g} | – | {share} |")
    tau_text = f"; mean Kendall's tau over sizes {sum(taus) / len(taus):.2f}" if taus else ""
    lines += ["", f"Whole sweep: {total_off:.0f} s of training without tuning, {total_on:.0f} s with "
              f"({total_on / total_off:.2f}x){tau_text}." if total_off else ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/tuning_effect.py --off runs/tune-off --on runs/tune-on")
    parser.add_argument("--off", default="runs/tune-off", help="store of the --no-tune sweep")
    parser.add_argument("--on", default="runs/tune-on", help="store of the --tune lr sweep")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--untimed", nargs="*", default=[], metavar="KEY",
                        help="run keys whose wall time is wrong (the sweep was paused): left out of the overhead table")
    args = parser.parse_args(argv)
    print(report(load(args.off), load(args.on), args.metric, untimed=frozenset(args.untimed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
