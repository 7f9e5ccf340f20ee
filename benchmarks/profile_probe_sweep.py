"""Where a linear-probe sweep's time goes once the features are cached: cProfile of the whole sweep.

Runs ``bench_probe_sweep.py``'s sweep (linear-probe at 8, 16, 32, 64, 128, 256, all x seeds 0-4, the report
included) twice in one process into fresh stores: the first fills the feature cache (a temporary one unless
``HEADSTART_CACHE`` is set) and is not profiled; the second runs under cProfile and its top functions are printed
(cumulative and internal time). That is the head's own training, validation and bookkeeping, which
``bench_probe_sweep.py`` measures as the time beyond one feature pass. cProfile's overhead inflates small calls:
read the shares, not the seconds.

Run: python benchmarks/profile_probe_sweep.py [--tune] [--seeds 5] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time

from headstart.features import clear_memory
from headstart.report.render import render
from headstart.data.splits import SplitConfig
from headstart.specs import TrainConfig
from headstart.sweep import run_sweep
from headstart.sweep_spec import SweepSpec

SIZES = (8, 16, 32, 64, 128, 256, None)


def sweep(out: str, seeds: int, tune: str | None) -> float:
    spec = SweepSpec(data="rotten-tomatoes", backbone="all-minilm-l6-v2", strategies=("linear-probe",), sizes=SIZES,
                     seeds=seeds, train=TrainConfig(precision="fp32"), split=SplitConfig(max_test=None), tune=tune)
    start = time.perf_counter()
    run_sweep(spec, out, workers=1, command="profile_probe_sweep")
    render(out)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/profile_probe_sweep.py --tune --top 40")
    parser.add_argument("--tune", action="store_true", help="profile the --tune lr sweep (default: --no-tune)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    tune = "lr" if args.tune else None
    with tempfile.TemporaryDirectory() as cache:
        os.environ.setdefault("HEADSTART_CACHE", cache)
        with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
            print(f"warm-up sweep (fills the feature cache): {sweep(first, args.seeds, tune):.1f} s", flush=True)
            clear_memory()
            profiler = cProfile.Profile()
            profiler.enable()
            seconds = sweep(second, args.seeds, tune)
            profiler.disable()
    print(f"profiled sweep, features cached: {seconds:.1f} s")
    for order in ("cumulative", "tottime"):
        pstats.Stats(profiler).sort_stats(order).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
