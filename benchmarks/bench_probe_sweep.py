"""A whole linear-probe compare sweep (7 sizes x 5 seeds) against one feature pass over the rows it touches.

Issue 6's goal: the sweep costs <= 1.3x one feature pass, and >= 20x less than a naive probe that runs the frozen
backbone on every training batch. Run: ``python benchmarks/bench_probe_sweep.py`` (~5 min on a 2-core CPU).

- Sweep: ``run_sweep`` of linear-probe at sizes 8,16,32,64,128,256,all with seeds 0-4 into a fresh store, with an
  empty ``HEADSTART_CACHE`` (so its one feature pass is inside the time), in this process, ``tune`` off and on (each
  cold). Everything a compare does is inside: splitting, subsampling, leakage check, training with validation
  checks, scoring the test split, the store, the report (Markdown, HTML, chart).
- Feature pass: ``embed_rows`` over exactly the rows the sweep put in the feature cache, timed afterwards with the
  same backbone and batch size: the floor any probe sweep pays.
- Naive probe: the sweep's total optimiser steps times the measured time of one naive step (frozen backbone
  forward on a batch of 16 under no_grad, then the head's step). It leaves out the naive loop's validation and
  test passes, so it understates the naive cost.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_probe import naive_probe  # noqa: E402

from headstart.backbones import load_backbone  # noqa: E402
from headstart.data import load_dataset  # noqa: E402
from headstart.features import clear_memory, embed_rows  # noqa: E402
from headstart.precision import cpu_model  # noqa: E402
from headstart.report.render import render  # noqa: E402
from headstart.recipe import setup  # noqa: E402
from headstart.data.splits import SplitConfig  # noqa: E402
from headstart.specs import RunSpec, TrainConfig  # noqa: E402
from headstart.store import Store  # noqa: E402
from headstart.sweep import run_sweep
from headstart.sweep_spec import SweepSpec  # noqa: E402

SIZES = (8, 16, 32, 64, 128, 256, None)


def _sweep(data_name: str, backbone: str, seeds: int, tune: str | None, max_test: int | None) -> tuple[float, int, int]:
    """(wall seconds, total optimiser steps, rows in the feature cache) of one cold sweep."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        os.environ["HEADSTART_CACHE"] = cache
        clear_memory()
        sweep = SweepSpec(data=data_name, backbone=backbone, strategies=("linear-probe",), sizes=SIZES, seeds=seeds,
                          train=TrainConfig(precision="fp32"), split=SplitConfig(max_test=max_test), tune=tune)
        start = time.perf_counter()
        run_sweep(sweep, out, workers=1, command="bench_probe_sweep")
        render(out)
        seconds = time.perf_counter() - start
        with Store(out) as store:
            results = store.results("done")
        if len(results) != len(SIZES) * seeds:
            raise RuntimeError(f"the sweep finished {len(results)} of {len(SIZES) * seeds} runs")
        return seconds, sum(r.steps for r in results), _cached_rows(Path(cache))


def _cached_rows(cache: Path) -> int:
    from safetensors.torch import load_file

    files = list((cache / "features").glob("*.safetensors"))
    if len(files) != 1:
        raise RuntimeError(f"expected one feature file in the cache, found {len(files)}")
    tensors = load_file(str(files[0]))
    return int(tensors["done"].sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/bench_probe_sweep.py")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-test", type=int, default=None, help="cap on test rows (default: the whole test split)")
    parser.add_argument("--naive-steps", type=int, default=30, help="naive steps timed for the per-step figure")
    args = parser.parse_args()

    data = load_dataset("rotten-tomatoes")
    backbone = load_backbone("all-minilm-l6-v2")
    print(f"machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    sweeps = {}
    for tune in (None, "lr"):
        seconds, steps, rows = _sweep("rotten-tomatoes", backbone.name, args.seeds, tune, args.max_test)
        sweeps[tune] = (seconds, steps, rows)
        print(f"sweep tune={tune}: {seconds:.1f} s, {steps} optimiser steps, {rows} rows featurised", flush=True)

    rows = sweeps[None][2]
    s = setup(RunSpec(data="rotten-tomatoes", backbone=backbone.name, strategy="linear-probe", n=256, seed=0,
                      train=TrainConfig(precision="fp32")), data=data, pretrained=backbone)
    order = np.random.default_rng(0).permutation(len(s.encoded))[:rows]  # as many rows as the sweep touched
    start = time.perf_counter()
    embed_rows(backbone, s.encoded, order, batch_size=s.cfg.eval_batch_size)
    feature_pass = time.perf_counter() - start
    print(f"one feature pass over {rows} rows: {feature_pass:.1f} s", flush=True)

    naive_s, _ = naive_probe(backbone, s.encoded, np.asarray(data.targets), s.train_rows, classes=data.num_classes,
                             steps=args.naive_steps, cfg=s.cfg, seed=0)
    per_step = naive_s / args.naive_steps
    print(f"naive probe step: {per_step * 1000:.0f} ms", flush=True)

    lines = [f"Linear-probe sweep (rotten-tomatoes, all-MiniLM-L6-v2, sizes 8,16,32,64,128,256,all x {args.seeds} seeds), "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu_model()}, "
             f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}:", ""]
    lines += ["| | seconds | ratio to one feature pass | naive probe (extrapolated) | naive / sweep |", "|---|---:|---:|---:|---:|"]
    lines.append(f"| one feature pass ({rows} rows) | {feature_pass:.1f} | 1.00 | | |")
    for tune, (seconds, steps, _) in sweeps.items():
        naive = steps * per_step
        label = "whole sweep, --tune lr" if tune else "whole sweep, --no-tune"
        lines.append(f"| {label} ({steps} steps) | {seconds:.1f} | {seconds / feature_pass:.2f} | {naive:.0f} s | {naive / seconds:.0f}x |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
