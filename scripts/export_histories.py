"""Export the records of stored runs (validation history, budget, majority reference; no test rows) as test data.

    python scripts/export_histories.py NAME=STORE_DIR [NAME=STORE_DIR ...] > tests/analysis/histories.json

Each NAME holds the done runs of that store with the fields ``headstart.analysis.flags`` reads.
"""

from __future__ import annotations

import argparse
import json
import sys

from headstart.store import Store


def export(directory: str) -> list[dict]:
    with Store(directory, create=False) as store:
        runs = store.results(status="done")
    keep = ("history", "budget", "reference")
    return [{"key": r.key, "status": r.status, "spec": {k: r.spec.get(k) for k in ("strategy", "n", "n_requested", "seed")},
             "metrics": {"accuracy": r.metrics.get("accuracy")}, "steps": r.steps,
             "record": {k: v for k, v in r.record.items() if k in keep}} for r in runs]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python scripts/export_histories.py old-demo=runs/old-demo tuned=runs/tune-on",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+", metavar="NAME=STORE_DIR", help="a name for the store's runs and its compare --out folder")
    args = parser.parse_args()
    pairs = [arg.split("=", 1) for arg in args.stores]
    if any(len(p) != 2 for p in pairs):
        parser.error(f"expected NAME=STORE_DIR, got {next(a for a, p in zip(args.stores, pairs) if len(p) != 2)!r}")
    json.dump({name: export(path) for name, path in pairs}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
