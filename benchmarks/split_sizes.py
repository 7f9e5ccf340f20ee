"""How many rows each part of a split holds: pool / validation / test, against the targets ``SplitConfig`` sets.

Validation's target is 10% of the rows but at most ``max_val`` (300), test's 20% but at most ``max_test``; a dataset
with groups (rotten-tomatoes: a movie's reviews) moves whole groups, so a part can overshoot its target. Each
argument is a sweep config whose ``data`` and ``[split]`` are read (no argument: rotten-tomatoes, the default split).

Run: python benchmarks/split_sizes.py [examples/tuning.toml examples/demo.toml] [--data rotten-tomatoes]
"""

from __future__ import annotations

import argparse

from headstart.data import load_dataset
from headstart.data.splits import SplitConfig, split_dataset
from headstart.sweep_config import read_config


def sizes(data, split: dict) -> dict:
    """The rows of each part and the targets they were cut to, for ``split`` (a ``[split]`` table)."""
    config = SplitConfig(**split)
    parts = split_dataset(data, config)
    val_target = min(config.val_fraction * len(data), config.max_val)
    test_target = config.test_fraction * len(data)
    if config.max_test is not None:
        test_target = min(test_target, config.max_test)
    return {"rows": len(data), "pool": len(parts.pool), "validation": len(parts.val), "test": len(parts.test),
            "validation_target": val_target, "test_target": test_target}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/split_sizes.py examples/tuning.toml")
    parser.add_argument("configs", nargs="*", help="sweep configs (TOML); none: the default split")
    parser.add_argument("--data", default="rotten-tomatoes", help="dataset when no config names one")
    args = parser.parse_args(argv)
    print("| config | data | pool | validation (target) | test (target) |")
    print("|---|---|---:|---:|---:|")
    for path in args.configs or [None]:
        config = read_config(path) if path else {}
        name = config.get("data", args.data)
        s = sizes(load_dataset(name), config.get("split", {}))
        print(f"| {path or 'default split'} | {name} | {s['pool']:,} | {s['validation']:,} ({s['validation_target']:,.0f}) | "
              f"{s['test']:,} ({s['test_target']:,.0f}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
