"""``continual --backend ray``: each chain a Ray task on a two-node cluster started here, the same matrices as the local
run, the driver the store's only writer, and a worker killed mid-chain costs a re-run of that chain only."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from headstart.specs import TrainConfig
from test_continual import stream  # noqa: F401  (a fixture)
from test_sweep import tiny_backbone  # noqa: F401  (a fixture)

CONTROL = "HEADSTART_TEST_RAY_CONTINUAL"
FAST = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")


def _setup_worker() -> None:
    """In every Ray worker: ``control/armed`` makes the next chain (one only) exit its process mid-chain."""
    import headstart.continual as continual

    control, real = Path(os.environ[CONTROL]), continual.run_chain

    def run_chain(chain, store, progress=None):
        try:
            os.rename(control / "armed", control / "fired")  # atomic: one worker wins
        except FileNotFoundError:
            return real(chain, store, progress=progress)
        os._exit(1)

    continual.run_chain = run_chain


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    control = tmp_path_factory.mktemp("ray-continual-control")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address=nodes.address, log_to_driver=False, runtime_env={
        "env_vars": {CONTROL: str(control), "HEADSTART_CACHE": str(tmp_path_factory.mktemp("worker-cache"))},
        "worker_process_setup_hook": _setup_worker})
    try:
        yield control
    finally:
        ray.shutdown()
        nodes.shutdown()


def run(stream: Path, backbone: Path, out: Path, **kwargs) -> dict:  # noqa: F811
    from headstart.continual import continual

    result = continual(str(stream), arms="naive,replay[size=32]", backbone=str(backbone), n=32, seeds=2, out=out, config=FAST,
                       alone=False, **kwargs)
    return {row["arm"]: row["matrix"] for row in result.analysis["arms"]}


def workers(out: Path) -> list[dict]:
    with sqlite3.connect(out / "runs.sqlite") as conn:
        return [json.loads(record).get("worker") for (record,) in conn.execute("SELECT record FROM runs")]


@pytest.mark.slow
def test_chains_on_ray_give_the_local_matrices_and_the_driver_writes_the_store(cluster, stream, tiny_backbone, tmp_path):  # noqa: F811
    import torch

    torch.set_num_threads(1)  # as each Ray task runs
    local = run(stream, tiny_backbone, tmp_path / "local")
    on_ray = run(stream, tiny_backbone, tmp_path / "ray", backend="ray")
    assert on_ray == local
    where = workers(tmp_path / "ray")
    assert len(where) == 8 and all(w["backend"] == "ray" for w in where), "4 chains x 2 steps, each stored by the driver"
    assert len({w["node"] for w in where}) == 2, "both nodes trained chains"


@pytest.mark.slow
def test_a_worker_killed_mid_chain_is_run_again_with_the_same_matrices(cluster, stream, tiny_backbone, tmp_path):  # noqa: F811
    import torch

    torch.set_num_threads(1)
    local = run(stream, tiny_backbone, tmp_path / "local")
    (cluster / "armed").write_text("")
    on_ray = run(stream, tiny_backbone, tmp_path / "ray", backend="ray")
    assert (cluster / "fired").exists(), "a worker died mid-chain"
    assert on_ray == local
    attempts = sorted(w["attempt"] for w in workers(tmp_path / "ray"))
    assert len(attempts) == 8 and attempts[-1] == 2, "the killed chain ran again; every step stored once"


def test_continual_backend_ray_without_ray_is_one_line_and_exit_2(monkeypatch, capsys, stream, tmp_path):  # noqa: F811
    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, out, err = run_cli(["continual", "--stream", str(stream), "--backend", "ray", "--out", str(tmp_path / "o"), "-q"],
                             monkeypatch, capsys)
    assert code == 2
    assert err == "error: --backend ray needs the ray extra: pip install 'headstart[ray]'\n"
