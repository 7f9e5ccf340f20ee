"""A probe + full-finetune sweep on a two-node Ray cluster on this machine against the same sweep run serially.

Issue 23's check: ``compare --backend ray`` on a head and a second node (separate ``ray start`` processes, one CPU
each) gives the same results.json curves as a local run, in <= 0.7x the serial run's wall time.
Run: ``python benchmarks/ray_two_nodes.py [--keep runs/ray-two-nodes]`` (~11 min on a 2-core CPU; needs the ray extra).

- Three sweeps of the same command, ``headstart compare --strategies linear-probe,full-finetune --sizes 16,64
  --seeds 3 --max-test 500 --no-tune`` on the default data and backbone, each into a fresh output folder with an empty
  ``HEADSTART_CACHE`` per process tree (one per Ray node), so none reuses another's features:
  1. serial on the whole machine (``--workers 1``: one process, every core's threads);
  2. serial on one CPU with one thread (``taskset -c 0``, ``OMP_NUM_THREADS=1``): the size of one Ray node, and the
     run whose numbers the Ray cells must equal exactly (a different thread count sums in a different order, which
     moves a float and can flip an early stop or a prediction);
  3. ``--backend ray`` on a head and a second node started with ``ray start --num-cpus 1`` (one thread a cell).
- Wall time is the compare command's, from start to exit, report included; the cluster's start (``ray start``) is
  outside it, as it is for a user whose cluster is already up. The load average after each run is printed.
- Curves: every (arm, size) test and validation mean of the three results.json files, printed side by side; Ray vs
  the one-CPU run compared exactly, Ray vs the whole-machine run by the largest difference.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from headstart.precision import cpu_model

SWEEP = ["--strategies", "linear-probe,full-finetune", "--sizes", "16,64", "--seeds", "3", "--max-test", "500",
         "--no-tune", "--quiet"]
PORT = "6393"


def _headstart() -> str:
    return str(Path(sys.executable).with_name("headstart"))


def _ray() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _compare(out: Path, cache: Path, extra: list[str], *, cpus: str | None = None) -> float:
    env = dict(os.environ, HEADSTART_CACHE=str(cache))
    pin = []
    if cpus is not None:  # one CPU, one thread: the size of each Ray node
        pin, env["OMP_NUM_THREADS"] = ["taskset", "-c", cpus], "1"
    start = time.perf_counter()
    subprocess.run([*pin, _headstart(), "compare", *SWEEP, "--out", str(out), *extra], check=True, env=env)
    return time.perf_counter() - start


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _scores(out: Path) -> dict[str, float]:
    """Every (arm, n) test mean and validation mean of a results.json."""
    scores = {}
    for curve in json.loads((out / "results.json").read_text())["curves"]:
        scores[f"{curve['strategy']} n={curve['n']} test"] = curve["mean"]
        scores[f"{curve['strategy']} n={curve['n']} val"] = curve["val_mean"]
    return scores


def _start_cluster(root: Path) -> None:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    head = [_ray(), "start", "--head", "--num-cpus", "1", "--port", PORT, "--node-ip-address", "127.0.0.1",
            "--include-dashboard=false", "--disable-usage-stats"]
    second = [_ray(), "start", "--address", f"127.0.0.1:{PORT}", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
              "--disable-usage-stats"]
    subprocess.run(head, check=True, env=dict(env, HEADSTART_CACHE=str(root / "cache-head")),
                   stdout=subprocess.DEVNULL)
    subprocess.run(second, check=True, env=dict(env, HEADSTART_CACHE=str(root / "cache-second")),
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/ray_two_nodes.py --keep runs/ray-two-nodes")
    parser.add_argument("--keep", type=Path, help="keep the three output folders (serial, one, ray) here")
    args = parser.parse_args()
    print(f"# {datetime.date.today()} · {cpu_model()} · {os.cpu_count()} CPUs", flush=True)
    root = Path(tempfile.mkdtemp(prefix="ray-two-nodes-"))
    if (Path.home() / ".ray" / "auth_token").exists():  # Ray 2.60 turns token auth on for a head that finds one
        os.environ["RAY_AUTH_MODE"] = "token"
    serial_s = _compare(root / "serial", root / "cache-serial", ["--workers", "1"])
    print(f"serial, the whole machine (--backend local --workers 1): {serial_s:.1f} s, load {_load()}", flush=True)
    one_s = _compare(root / "one", root / "cache-one", ["--workers", "1"], cpus="0")
    print(f"serial on one CPU (taskset -c 0, one thread: one node's size): {one_s:.1f} s, load {_load()}", flush=True)
    _start_cluster(root)
    try:
        ray_s = _compare(root / "ray", root / "cache-driver", ["--backend", "ray", "--address", f"127.0.0.1:{PORT}"])
    finally:
        subprocess.run([_ray(), "stop", "--force"], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(f"ray (two nodes, 1 CPU each): {ray_s:.1f} s, load {_load()}", flush=True)
    curves = {name: _scores(root / name) for name in ("serial", "one", "ray")}
    print(json.dumps({"serial_s": round(serial_s, 1), "one_cpu_s": round(one_s, 1), "ray_s": round(ray_s, 1),
                      "ray_over_serial": round(ray_s / serial_s, 3), "ray_over_one_cpu": round(ray_s / one_s, 3),
                      "ray_equals_one_cpu": curves["ray"] == curves["one"],
                      "ray_vs_serial_max_abs_diff": max(abs(curves["ray"][c] - curves["serial"][c]) for c in curves["ray"])}))
    for cell in curves["ray"]:
        print(cell, *(f"{name} {curves[name][cell]:.4f}" for name in curves))
    if args.keep:
        for name in curves:
            shutil.copytree(root / name, args.keep / name, dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
