"""Does a wider learning-rate grid help a strategy whose tuned choice sat at the edge of its grid?

The report flags a strategy whose ``--tune lr`` choice sat at one end of its grid in most of its runs and suggests
the grid moved one step past that end (``analysis.grid_edges``). This compares the store of a tuned sweep with
the store of the same sweep re-run with the suggested ``--grid`` for those strategies: per strategy and size in
both stores, test accuracy (mean, 95% CI over seeds) under each grid, the paired per-seed difference (a seed draws
the same training rows in both), and what validation chose. Nothing is trained here.

Run:
    headstart compare --config examples/tuning.toml --strategies full-finetune,linear-probe --sizes 64,256 \\
        --grid full-finetune=2e-05,5e-05,0.00013 --grid linear-probe=0.003,0.01,0.033 --out runs/tune-wide
    python benchmarks/grid_width.py --base runs/tune-on --wide runs/tune-wide
"""

from __future__ import annotations

import argparse
from pathlib import Path

from headstart import analysis
from headstart.analysis.stats import range_text
from headstart.results import RunResult
from headstart.store import Store


def load(directory: str) -> list[RunResult]:
    if not (Path(directory) / "runs.sqlite").exists():
        raise SystemExit(f"no store at {directory!r}: run the compare in the module docstring first")
    with Store(directory, create=False) as store:
        return store.results()


def _grid(results: list[RunResult], strategy: str) -> str:
    grids = {tuple((r.spec.get("tune") or {}).get("grid") or ()) for r in analysis.current_runs(results)
             if r.spec.get("strategy") == strategy and r.status == "done"}
    return " / ".join(", ".join(f"{v:g}" for v in g) for g in sorted(grids) if g) or "–"


def report(base: list[RunResult], wide: list[RunResult], metric: str = "accuracy") -> str:
    """The markdown comparison of the two stores (cells present in both, paired by seed)."""
    t_base, t_wide = analysis.cells(base, metric), analysis.cells(wide, metric)
    k = analysis.scale(metric)
    lines = ["| strategy | n | grid searched: base / wide | base | wide | wide − base (paired, points) | p | chosen: base / wide |",
             "|---|---|---|---|---|---|---|---|"]
    for key in sorted(set(t_base) & set(t_wide), key=lambda c: (c[0], analysis.size_key(c[1]))):
        a, b = t_base[key], t_wide[key]
        seeds = sorted(set(a.by_seed) & set(b.by_seed))
        if len(seeds) < 2:
            continue
        diff = analysis.paired_test([k * (b.by_seed[s] - a.by_seed[s]) for s in seeds])
        cells = []
        for cell in (a, b):
            mean, low, high, _ = analysis.mean_ci([cell.by_seed[s] for s in seeds])
            cells.append(f"{k * mean:.1f} ({k * low:.1f}–{k * high:.1f})")
        lines.append(f"| {key[0]} | {analysis.format_n(key[1], a.n_actual)} | {_grid(base, key[0])} / {_grid(wide, key[0])} | "
                     f"{cells[0]} | {cells[1]} | {diff['mean']:+.1f} ({range_text(diff, lambda v: f'{v:+.1f}', joiner=' to ')}) | "
                     f"{'–' if diff['p_value'] is None else format(diff['p_value'], '.2f')} | {a.chosen or '–'} / {b.chosen or '–'} |")
    edges = [e["text"] for e in analysis.grid_edges(wide)]
    lines += ["", "Still at an edge of the wider grid more often than chance:" if edges else
              "No strategy's choice sits at an edge of the wider grid more often than chance (analysis.grid_edges)."]
    lines += [f"- {text}" for text in edges]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/grid_width.py --base runs/tune-on --wide runs/tune-wide")
    parser.add_argument("--base", default="runs/tune-on", help="store of the tuned sweep (the strategies' own grids)")
    parser.add_argument("--wide", default="runs/tune-wide", help="store of the same sweep with the suggested --grid")
    parser.add_argument("--metric", default="accuracy")
    args = parser.parse_args(argv)
    print(report(load(args.base), load(args.wide), args.metric))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
