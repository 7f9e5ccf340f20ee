"""``compare --backend ray``: the same store as the local backend, data and backbone loaded once per worker process,
a worker or a node lost mid-cell costs a re-run and nothing else, and a missing ray is one line and exit 2.

The tests start their own two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a second
node, one CPU each) and stop it; nothing depends on a cluster outside the test. Cells run the tiny real BERT folder of
tests/test_sweep.py on the toy data. A worker process setup hook (``worker_process_setup_hook``) wraps each worker's
``sweep_cell.run_cell`` to die or dawdle on request, through files in a control folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import make_toy
from test_sweep import done_count, tiny_backbone  # noqa: F401  (a fixture)

CONTROL = "HEADSTART_TEST_RAY_CONTROL"  # the folder whose files tell the workers' run_cell to die or to dawdle


def _setup_worker() -> None:
    """Runs in every Ray worker process as it starts: ``control/armed`` makes the next cell (one only) exit the process
    mid-cell; ``control/slow`` makes each cell take a second longer (time to lose a node while cells run), first
    touching ``control/running-<node id>`` so that the driver knows a cell is in flight there."""
    from headstart import sweep_cell

    control, real = Path(os.environ[CONTROL]), sweep_cell.run_cell

    def run_cell(spec, progress=None):
        try:
            os.rename(control / "armed", control / "fired")  # atomic: one worker wins
        except FileNotFoundError:
            pass
        else:
            os._exit(1)
        if (control / "slow").exists():
            import ray

            (control / f"running-{ray.get_runtime_context().get_node_id()}").touch()
            time.sleep(1.0)
        return real(spec, progress)

    sweep_cell.run_cell = run_cell


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a second node, one CPU each; this process is the driver. Yields (cluster, control folder)."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    control = tmp_path_factory.mktemp("ray-control")
    fast_death = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}  # a killed node is dead in ~2 s
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": fast_death})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    ray.init(address=nodes.address, log_to_driver=False, runtime_env={
        "env_vars": {CONTROL: str(control), "HEADSTART_CACHE": str(tmp_path_factory.mktemp("worker-cache"))},
        "worker_process_setup_hook": _setup_worker})
    try:
        yield nodes, control
    finally:
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory) -> Path:
    import pandas as pd

    data = make_toy(200)
    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return path


def sweep_args(backbone: Path) -> dict:
    from headstart.specs import TrainConfig

    return dict(backbone=str(backbone), strategies="linear-probe,full-finetune", sizes=[16, 32], seeds=2, tune=None,
                config=TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32"))


def store(out: Path) -> dict[str, tuple]:
    """key -> (status, metrics, where it ran) of every row."""
    with sqlite3.connect(out / "runs.sqlite") as conn:
        return {key: (status, json.loads(metrics), json.loads(record).get("worker"))
                for key, status, metrics, record in conn.execute("SELECT key, status, metrics, record FROM runs")}


@pytest.fixture(scope="module")
def local(tiny_backbone, toy_file, tmp_path_factory) -> dict[str, tuple]:  # noqa: F811
    import headstart
    import torch

    torch.set_num_threads(1)  # as each Ray cell runs
    out = tmp_path_factory.mktemp("local") / "store"
    headstart.compare(str(toy_file), out=out, **sweep_args(tiny_backbone))
    return store(out)


def same_results(ours: dict[str, tuple], local: dict[str, tuple]) -> bool:
    return ours.keys() == local.keys() and all(ours[k][:2] == local[k][:2] for k in local)


@pytest.mark.slow
def test_ray_gives_the_local_store_on_both_nodes_loading_once_per_process(cluster, local, tiny_backbone, toy_file, tmp_path):  # noqa: F811
    import headstart

    result = headstart.compare(str(toy_file), out=tmp_path, backend="ray", **sweep_args(tiny_backbone))
    assert (result.trained, result.statuses) == (8, {"done": 8})
    rows = store(tmp_path)
    assert same_results(rows, local), "same keys, same metrics to the last bit"
    where = [w for _, _, w in rows.values()]
    assert len({w["node"] for w in where}) == 2 and result.summary["curves"]
    loads: dict[tuple, int] = {}
    for w in where:
        loads[w["node"], w["pid"]] = loads.get((w["node"], w["pid"]), 0) + w["loads"]
    assert all(n <= 2 for n in loads.values()), f"a process loaded the data or backbone twice: {loads}"
    assert len(loads) < len(where), "no worker process was reused across cells"


@pytest.mark.slow
def test_a_worker_dead_mid_cell_is_run_again_with_the_same_result(cluster, local, tiny_backbone, toy_file, tmp_path):  # noqa: F811
    import headstart

    _, control = cluster
    (control / "armed").touch()
    result = headstart.compare(str(toy_file), out=tmp_path, backend="ray", **sweep_args(tiny_backbone))
    assert (control / "fired").exists(), "no worker died: the test tested nothing"
    (control / "fired").unlink()
    assert (result.trained, result.statuses) == (8, {"done": 8})
    rows = store(tmp_path)
    assert same_results(rows, local)
    assert sorted(w["attempt"] for _, _, w in rows.values()) == [1] * 7 + [2]


def test_a_store_without_its_table_yet_counts_no_finished_cell(tmp_path):
    """The store's file appears a moment before its table: the node-loss test's poller read "no such table" there,
    died, and killed nothing (a CI failure)."""
    path = tmp_path / "runs.sqlite"
    assert done_count(tmp_path) == 0
    sqlite3.connect(path).close()  # the file, no table yet
    assert done_count(tmp_path) == 0
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (status TEXT)")
        conn.execute("INSERT INTO runs VALUES ('done'), ('failed')")
    assert done_count(tmp_path) == 1


@pytest.mark.slow
def test_a_node_lost_mid_sweep_puts_its_cell_back_and_the_head_finishes(cluster, local, tiny_backbone, toy_file, tmp_path):  # noqa: F811
    import headstart

    nodes, control = cluster
    extra = nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    (control / "slow").touch()

    def kill_mid_cell() -> None:
        """Kill the extra node while a cell runs there: after the store holds a finished cell (the sweep is under way)
        and once a cell has started on that node (its second of sleep leaves ample time to kill it mid-cell). Killed
        between two cells instead, it would lose nothing, and the test would test nothing (it was flaky so)."""
        deadline, started = time.time() + 300, control / f"running-{extra.node_id}"
        started.unlink(missing_ok=True)
        while time.time() < deadline:
            if done_count(tmp_path) >= 1:
                break
            time.sleep(0.05)
        started.unlink(missing_ok=True)  # a cell that starts from now on is one the kill catches
        while time.time() < deadline and not started.exists():
            time.sleep(0.05)
        nodes.remove_node(extra, allow_graceful=False)  # SIGKILL its raylet and workers

    killer = threading.Thread(target=kill_mid_cell)
    killer.start()
    try:
        result = headstart.compare(str(toy_file), out=tmp_path, backend="ray", **sweep_args(tiny_backbone))
    finally:
        killer.join()
        (control / "slow").unlink()
    assert (result.trained, result.statuses) == (8, {"done": 8})
    rows = store(tmp_path)
    assert len(rows) == 8 and same_results(rows, local), "every cell once, with the local run's metrics"
    assert any(w["attempt"] == 2 for _, _, w in rows.values()), "the lost node's cell was run again"
    assert extra.node_id not in {w["node"] for _, _, w in rows.values() if w["attempt"] == 2}


def test_backend_ray_without_ray_is_one_line_and_exit_2(monkeypatch, capsys, toy_csv, tmp_path):
    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, out, err = run_cli(["compare", "--data", str(toy_csv), "--backend", "ray", "--out", str(tmp_path / "o"), "--quiet"],
                             monkeypatch, capsys)
    assert code == 2
    assert err == "error: --backend ray needs the ray extra: pip install 'headstart[ray]'\n"
    assert not (tmp_path / "o" / "runs.sqlite").exists()


@pytest.mark.parametrize("args, message", [
    (["--backend", "spark"], "--backend must be local or ray, got 'spark'"),
    (["--address", "10.0.0.5:6379"], "add --backend ray"),
    (["--backend", "ray", "--workers", "2"], "the cluster's CPUs decide"),
])
def test_bad_backend_options_are_one_line_and_exit_2(args, message, monkeypatch, capsys, toy_csv, tmp_path):
    from conftest import run_cli

    code, _, err = run_cli(["compare", "--data", str(toy_csv), *args, "--out", str(tmp_path / "o"), "--quiet"], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_backend_and_address_come_from_the_sweep_toml(tmp_path):
    from headstart.errors import ConfigError
    from headstart.sweep_config import read_config

    path = tmp_path / "sweep.toml"
    path.write_text('backend = "ray"\naddress = "10.0.0.5:6379"\n')
    assert read_config(path) == {"backend": "ray", "address": "10.0.0.5:6379"}
    path.write_text("address = 6379\n")
    with pytest.raises(ConfigError, match="address .* must be a string"):
        read_config(path)


@pytest.mark.parametrize("toml, message", [
    ('address = "10.0.0.5:6379"\n', 'error: address = "10.0.0.5:6379" in {path} names a Ray cluster; add --backend ray'),
    ('backend = "ray"\naddress = "head"\n', "error: address in {path} must be HOST:PORT (the port of `ray start --head "
                                             "--port PORT`) or auto, got 'head'"),
])
def test_a_bad_address_in_the_sweep_toml_is_named_as_its_key(toml, message, monkeypatch, capsys, toy_csv, tmp_path):
    """The file's ``address`` was reported as ``--address``, a flag the command line never had."""
    from conftest import run_cli

    if "ray" in toml:
        pytest.importorskip("ray")
    path = tmp_path / "sweep.toml"
    path.write_text(toml)
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--config", str(path), "--out", str(tmp_path / "o"), "--quiet"],
                           monkeypatch, capsys)
    assert code == 2 and err.startswith(message.format(path=repr(str(path)))) and err.count("\n") == 1, err


def test_a_sweep_with_nothing_left_to_train_connects_to_no_cluster(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """Every cell stored: ``--backend ray --address auto`` writes the report without asking for a cluster."""
    pytest.importorskip("ray")
    import headstart.ray_backend
    from conftest import run_cli

    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "16",
               "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "o"), "--quiet"]
    assert run_cli(compare, monkeypatch, capsys)[0] == 0

    def no_cluster(address):
        raise AssertionError(f"connected to {address!r} with nothing to train")

    monkeypatch.setattr(headstart.ray_backend, "session", no_cluster)
    code, out, err = run_cli([*compare, "--backend", "ray", "--address", "auto"], monkeypatch, capsys)
    assert code == 0 and "1 cells: 1 already done, 0 trained now" in out, err


def test_the_local_backend_never_imports_ray(toy_csv, tmp_path):
    """``--backend local`` (the default) runs without Ray installed: a whole compare leaves ``ray`` unimported."""
    script = ("import sys; from headstart.cli import main; sys.argv = ['headstart', 'compare', '--data', sys.argv[1], "
              "'--strategies', 'tfidf-logreg', '--sizes', '16', '--seeds', '1', '--out', sys.argv[2], "
              "'--quiet']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\nprint('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, str(toy_csv), str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HEADSTART_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_an_address_where_nothing_listens_fails_in_seconds(toy_csv, tmp_path, monkeypatch, capsys):
    """``ray.init`` retries a dead address for over ten minutes; compare says so at once."""
    pytest.importorskip("ray")
    import socket

    import headstart.ray_backend as ray_backend
    from conftest import run_cli

    joined = []  # where compare went on to ray.init, which retries the dead address for over ten minutes
    monkeypatch.setattr(ray_backend, "connect", lambda address: joined.append(address) or False)
    with socket.socket() as s:  # bound, never listening: refused, and no other process can take the port meanwhile
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        code, _, err = run_cli(["compare", "--data", str(toy_csv), "--strategies", "tfidf-logreg", "--sizes", "16", "--seeds",
                                "1", "--backend", "ray", "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "o"),
                                "--quiet"], monkeypatch, capsys)
    assert code == 2 and f"nothing answers at --address 127.0.0.1:{port}" in err and err.count("\n") == 1
    assert joined == [], "compare asked Ray to join a dead address"


def test_cells_another_compare_claimed_are_counted_under_ray_as_under_the_local_pool():
    """The count line ('8 cells: 7 already done, 0 trained now') says how many cells another compare on the store took;
    the Ray scheduler dropped them without counting (``SweepOutcome.elsewhere`` stayed 0). No cluster: a stand-in for
    ``ray`` whose store refuses every claim."""
    import types

    from headstart.ray_backend import SweepHooks, _schedule
    from headstart.sweep import SweepOutcome

    class Claimed:  # another compare holds every cell
        def claim(self, *args) -> bool:
            return False

    errors = types.SimpleNamespace(**{name: type(name, (Exception,), {}) for name in (
        "WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError", "RayTaskError")})
    never = lambda *a, **k: pytest.fail("nothing is handed to the cluster when every claim fails")  # noqa: E731
    ray = types.SimpleNamespace(exceptions=errors, cluster_resources=lambda: {"CPU": 2.0},
                                remote=lambda f: types.SimpleNamespace(options=lambda **k: types.SimpleNamespace(remote=never)))
    dropped = []
    hooks = SweepHooks(work=lambda spec: ({}, 0), record=never, label=lambda resolved: "cell", lease_seconds=60.0,
                       dropped=dropped.append)
    outcome = SweepOutcome(total=3, skipped=0)
    heartbeat = types.SimpleNamespace(lock=threading.Lock(), active={})
    _schedule(ray, [(None, f"k{i}", {}) for i in range(3)], Claimed(), "me", heartbeat, outcome, None, hooks)
    assert outcome.elsewhere == 3 and dropped == ["k0", "k1", "k2"]


def test_under_ray_a_cell_held_by_a_compare_that_died_meanwhile_is_taken_at_the_end():
    """Two compares into one store, one killed while it held a cell the other skipped: under the local backends the
    survivor tries such cells once more at its end and takes that one (``sweep._claimed``); under Ray it claimed each
    cell once and ended with "1 taken by another compare", the cell left untrained. No cluster: a stand-in for ``ray``
    whose tasks finish at once, and a store where "held"'s owner dies after this driver's first claim of it and "kept"'s
    lives on."""
    import types

    from headstart.ray_backend import SweepHooks, _schedule
    from headstart.results import RunResult
    from headstart.sweep import SweepOutcome

    class Store:
        def __init__(self):
            self.tries: list[str] = []

        def claim(self, key, *args) -> bool:
            self.tries.append(key)
            return key == "mine" or (key == "held" and self.tries.count("held") > 1)

    class Ref:
        def __init__(self, spec):
            self.spec = spec

    errors = types.SimpleNamespace(**{name: type(name, (Exception,), {}) for name in (
        "WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError", "RayTaskError")})
    task = types.SimpleNamespace(remote=lambda work, spec, *args: Ref(spec))
    ray = types.SimpleNamespace(exceptions=errors, cluster_resources=lambda: {"CPU": 2.0},
                                remote=lambda f: types.SimpleNamespace(options=lambda **k: task),
                                wait=lambda refs, **k: (refs[:1], refs[1:]),
                                get=lambda ref: {"result": RunResult(ref.spec["key"], {}, "done").to_dict(), "node": "n",
                                                 "host": "h", "pid": 1, "loads": 0})
    recorded, dropped, started = [], [], []
    hooks = SweepHooks(work=lambda spec: ({}, 0), record=lambda store, key, *rest: recorded.append(key), label=lambda r: "cell",
                       lease_seconds=60.0, dropped=dropped.append, started=started.append)
    outcome = SweepOutcome(total=3, skipped=0)
    heartbeat = types.SimpleNamespace(lock=threading.Lock(), active={})
    spec = lambda key: types.SimpleNamespace(to_dict=lambda: {"key": key})  # noqa: E731
    store = Store()
    _schedule(ray, [(spec(key), key, {}) for key in ("held", "mine", "kept")], store, "me", heartbeat, outcome, None, hooks)
    assert store.tries == ["held", "mine", "kept", "held", "kept"], "the held cells are tried once more after the rest"
    assert recorded == ["mine", "held"] and started == ["mine", "held"]
    assert dropped == ["held", "kept"], "each left the ETA at its first failed claim"
    assert outcome.elsewhere == 1 and outcome.taken == ["kept"]


@pytest.mark.slow
def test_a_private_ray_keeps_its_token_in_the_process_and_says_nothing_about_it(tmp_path):
    """Ray 2.60 wrote ~/.ray/auth_token and printed a token-authentication warning among a compare's progress lines; a
    private Ray gets a random token in the process's environment instead, which goes when it stops."""
    script = (
        "import os, sys\n"
        "from headstart.ray_backend import session\n"
        "for _ in range(2):  # a second private Ray in the process (a notebook's second compare) joins under the same token\n"
        "    with session(None) as ray:\n"
        "        assert len(os.environ['RAY_AUTH_TOKEN']) == 64\n"
        "        print(ray.get(ray.remote(lambda: 6 * 7).remote()))\n"
        "print(sorted(k for k in os.environ if k.startswith('RAY_AUTH')))\n")
    env = {**os.environ, "HOME": str(tmp_path)}
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["42", "42", "[]"], done.stdout
    assert "Token authentication" not in done.stderr, done.stderr
    assert not (tmp_path / ".ray" / "auth_token").exists()


def test_a_ray_worker_writes_its_messages_in_the_drivers_words_whatever_its_own_environment(monkeypatch):
    """A worker of a cluster joined by --address was started by `ray start` and never sees the CLI driver's
    $HEADSTART_SURFACE: the task carries it. A worker reused after a CLI driver's cell drops the mark for Python's."""
    import sys
    import types

    import torch

    from headstart.ray_backend import _cell_task
    from headstart.surface import SURFACE_ENV, on_cli

    context = types.SimpleNamespace(get_node_id=lambda: "node")
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(get_runtime_context=lambda: context))
    seen = []

    def work(spec_dict):
        seen.append(on_cli())
        return {}, 0

    threads = torch.get_num_threads()
    monkeypatch.delenv(SURFACE_ENV, raising=False)
    _cell_task(work, {}, threads, 0, True)
    _cell_task(work, {}, threads, 0, False)
    assert seen == [True, False]
