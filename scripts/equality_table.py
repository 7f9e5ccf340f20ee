"""Before vs after a rework: the same compare run on two versions, per arm and size — test means with intervals, and
the per-seed differences (same rows, same seeds), with a paired interval over the seeds.

    git worktree add /tmp/before <commit>; (cd /tmp/before && python -m headstart compare ... --out /tmp/eq-before)
    python -m headstart compare ... --out /tmp/eq-after
    python scripts/equality_table.py /tmp/eq-before /tmp/eq-after
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headstart.analysis import curves, current_runs  # noqa: E402
from headstart.store import Store  # noqa: E402


def per_seed(results: list) -> dict[tuple[str, object, int], float]:
    return {(r.spec["strategy"], r.spec.get("n_requested"), r.spec["seed"]): r.metrics["accuracy"]
            for r in current_runs(results) if r.status == "done"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python scripts/equality_table.py /tmp/eq-before /tmp/eq-after")
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    with Store(args.before) as a, Store(args.after) as b:
        before, after = a.results(), b.results()
    rows_a = {(r["strategy"], r["n"]): r for r in curves(before)}
    rows_b = {(r["strategy"], r["n"]): r for r in curves(after)}
    seeds_a, seeds_b = per_seed(before), per_seed(after)
    print("| arm | n | before (95% CI) | after (95% CI) | after − before, per seed | mean difference (95% CI over seeds) |")
    print("|---|---:|---:|---:|---|---:|")
    for key in sorted(set(rows_a) & set(rows_b)):
        ra, rb = rows_a[key], rows_b[key]
        diffs = [100 * (seeds_b[k] - seeds_a[k]) for k in sorted(seeds_a) if k[:2] == key and k in seeds_b]
        d = np.asarray(diffs)
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        cell = lambda r: f"{100 * r['mean']:.1f} ({100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f})"  # noqa: E731
        print(f"| {key[0]} | {key[1]} | {cell(ra)} | {cell(rb)} | {', '.join(f'{x:+.1f}' for x in diffs)} | "
              f"{d.mean():+.2f} ({d.mean() - half:+.2f} – {d.mean() + half:+.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
