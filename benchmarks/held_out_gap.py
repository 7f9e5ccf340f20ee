"""How lucky is a run's best validation check? The best check's score beside the same choice held out, per cell.

A run keeps the check its validation split scores best; the report's choices between strategies read that choice
scored on validation rows that did not make it (``headstart.held_out``). This prints, for each (arm, size) of a
store: the validation checks a run chose among, the mean of its best check's validation score, the mean held-out
score, their gap (the optimism that the held-out score removes; paired by seed, with a 95% t interval over seeds) and
the test mean beside them. Then the recommendation the store gives on held-out scores and, for contrast, the one it
would give on the best checks' scores. Nothing is trained here; runs stored before held-out scores are skipped.

Run: python benchmarks/held_out_gap.py runs/demo
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import defaultdict

from headstart import analysis
from headstart.analysis.cells import current_runs
from headstart.analysis.arms import arm_name
from headstart.analysis.flags import requested, size_key
from headstart.store import Store


def _interval(values: list[float]) -> str:
    """Mean and 95% Student-t interval over seeds (``analysis.mean_ci``), signed, in points."""
    mean, low, high, std = analysis.mean_ci(values)
    signed = lambda x: f"{round(x, 1) + 0.0:+.1f}"  # noqa: E731  (no "-0.0")
    return signed(mean) if std is None else f"{signed(mean)} ({signed(low)} to {signed(high)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/held_out_gap.py runs/tuned")
    parser.add_argument("store", help="a compare --out folder")
    parser.add_argument("--metric", default="accuracy")
    args = parser.parse_args(argv)
    results = Store(args.store, create=False).results()
    runs = [r for r in current_runs(results) if r.status == "done"]
    cells: dict[tuple[str, int | str], list] = defaultdict(list)
    skipped = 0
    for r in runs:
        held = ((r.record or {}).get("held_out") or {}).get(args.metric)
        best = (r.val_metrics or {}).get(args.metric)
        if held is None or best is None:
            skipped += 1
            continue
        cells[(arm_name(r), requested(r.spec))].append((100 * best, 100 * held, 100 * r.metrics[args.metric],
                                                        r.record["held_out"]["checks"]))
    print(f"{args.store}: {len(runs)} current runs, {skipped} without a held-out score (skipped); {args.metric} in points")
    print()
    print("| arm | n | checks chosen among (per seed) | best check, validation | held out | best − held out (95% CI over seeds) | test |")
    print("|---|---|---|---|---|---|---|")
    for (arm, n), rows in sorted(cells.items(), key=lambda kv: (size_key(kv[0][1]), kv[0][0])):
        best, held, test, checks = zip(*rows)
        mean = lambda xs: math.fsum(xs) / len(xs)  # noqa: E731
        print(f"| {arm} | {n} | {' / '.join(map(str, checks))} | {mean(best):.1f} | {mean(held):.1f} | "
              f"{_interval([b - h for b, h in zip(best, held)])} | {mean(test):.1f} |")
    print()
    for name, chosen in (("held-out validation (the report's)", results),
                         ("best checks' validation (for contrast)",
                          [dataclasses.replace(r, record={k: v for k, v in (r.record or {}).items() if k != "held_out"})
                           for r in results])):
        print(f"recommendation on {name}:")
        for band in analysis.recommend(chosen, args.metric):
            print(f"- {band['text'].split(' (')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
