"""Whether a run's result depends on what the feature cache held before it: a linear probe (rotten-tomatoes, n = 64,
seed 0, all-MiniLM-L6-v2) trained with an empty ``$HEADSTART_CACHE``, and again after another probe (n = 512, seed 3)
filled the cache with other rows. Prints each run's validation accuracy and loss; equal numbers mean the cache's
history does not reach the result (``features.equal_length_batches``).

Run: python benchmarks/cache_history.py [--precision bf16|fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile


def _probe(prefill: bool, precision: str) -> dict:
    import headstart
    from headstart.features import clear_memory

    os.environ["HEADSTART_CACHE"] = tempfile.mkdtemp(prefix="hs-cache-history-")
    clear_memory()
    config = {"precision": precision}
    if prefill:
        headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", strategy="linear-probe", n=512, seed=3, config=config)
    run = headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", strategy="linear-probe", n=64, seed=0, config=config)
    return {"cache": "filled by another run first" if prefill else "empty", "precision": precision,
            "val_accuracy": run.val_metrics["accuracy"], "val_loss": run.val_metrics["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/cache_history.py")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16",
                        help="bf16 (default: where padding moved features most) or fp32")
    args = parser.parse_args()
    for prefill in (False, True):
        print(json.dumps(_probe(prefill, args.precision)), flush=True)


if __name__ == "__main__":
    main()
