"""Tests of headstart/store.py: round-trips, resume semantics, leases, sharing, schema versions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headstart.errors import StoreError
from headstart.results import RunResult
from headstart.store import FILENAME, SCHEMA_VERSION, Store


def spec(strategy: str = "lora", n: int = 64, seed: int = 0) -> dict:
    return {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "abc"}, "options": {}, "train": {"lr": 1e-3}}


def done(key: str = "k1", acc: float = 0.75, **kw) -> RunResult:
    return RunResult(key=key, spec=spec(**kw), status="done", metrics={"accuracy": acc, "per_class": {"a": 0.5}},
                     val_metrics={"accuracy": 0.7}, train_seconds=1.5, eval_seconds=0.25, trainable_params=10,
                     total_params=100, steps=30, best_step=20)


def test_put_get_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "run") as store:
        store.put(done())
        assert store.get("k1") == done()
        assert store.get("missing") is None
    assert (tmp_path / "run" / FILENAME).exists()


def test_wal_mode_and_busy_timeout(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_put_upserts_and_keeps_created_at(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.put(done(acc=0.5))
        created = store.conn.execute("SELECT created_at FROM runs").fetchone()[0]
        store.put(done(acc=0.9))
        rows = store.conn.execute("SELECT created_at, updated_at FROM runs").fetchall()
        assert len(rows) == 1 and rows[0][0] == created and rows[0][1] >= created
        assert store.get("k1").metrics["accuracy"] == 0.9


def test_results_filter_and_done_keys(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.put(done("a"))
        store.put(RunResult(key="b", spec=spec(seed=1), status="diverged", error="loss became nan at step 3"))
        store.mark("c", spec(seed=2), "pending")
        assert store.done_keys() == {"a"}
        assert [r.key for r in store.results()] == ["a", "b", "c"]
        assert [r.error for r in store.results("diverged")] == ["loss became nan at step 3"]
        assert store.get("c").status == "pending" and store.get("c").metrics == {}


def test_done_rows_survive_reopen_mark_and_claim(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.put(done())
    with Store(tmp_path) as store:
        assert store.done_keys() == {"k1"}
        assert store.mark("k1", spec(), "pending") is False
        assert store.claim("k1", spec(), "worker-2", 60) is False
        assert store.get("k1") == done()


def test_mark_rejects_done(tmp_path: Path) -> None:
    with Store(tmp_path) as store, pytest.raises(ValueError, match="put"):
        store.mark("k", spec(), "done")


def test_claim_is_exclusive_until_the_lease_expires(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.claim("k", spec(), "w1", 60)
        assert not store.claim("k", spec(), "w2", 60)
        assert store.claim("k", spec(), "w1", 60)  # the owner renews
        row = store.conn.execute("SELECT status, owner FROM runs WHERE key='k'").fetchone()
        assert tuple(row) == ("running", "w1")
        assert store.claim("short", spec(seed=1), "w1", 0.05)
        time.sleep(0.1)
        assert store.claim("short", spec(seed=1), "w2", 60)  # w1 died: its lease expired
        assert store.conn.execute("SELECT owner FROM runs WHERE key='short'").fetchone()[0] == "w2"


def test_failed_cells_can_be_claimed_again(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.mark("k", spec(), "failed", error="out of memory")
        assert store.claim("k", spec(), "w1", 60)
        assert store.get("k").error is None


def test_put_releases_the_lease(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.claim("k1", spec(), "w1", 60)
        store.put(done())
        assert tuple(store.conn.execute("SELECT owner, lease_until FROM runs").fetchone()) == (None, None)


def test_two_connections_see_each_others_writes(tmp_path: Path) -> None:
    with Store(tmp_path) as one, Store(tmp_path) as two:
        assert one.claim("k1", spec(), "w1", 60)
        assert not two.claim("k1", spec(), "w2", 60)
        one.put(done())
        assert two.done_keys() == {"k1"}
        two.put(done("k2", seed=1))
        assert one.done_keys() == {"k1", "k2"}


_CLAIM_SCRIPT = """
import sys, time
from pathlib import Path
from headstart.store import Store
with Store(sys.argv[1]) as store:
    Path(sys.argv[1], "ready-" + sys.argv[2]).touch()
    while not Path(sys.argv[1], "go").exists():  # both processes open the store first, then race from one moment
        time.sleep(0.001)
    won = [k for k in range(200) if store.claim(f"cell{k}", {"strategy": "s", "seed": k}, sys.argv[2], 600)]
print(",".join(map(str, won)))
"""


def test_two_processes_never_claim_the_same_cell(tmp_path: Path) -> None:
    Store(tmp_path).open().close()
    root = str(Path(__file__).resolve().parents[1])
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIM_SCRIPT, str(tmp_path), f"w{i}"], stdout=subprocess.PIPE,
                              text=True, cwd=root, env={"PYTHONPATH": root}) for i in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-w{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a claiming process did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    won = [set(filter(None, o.split(","))) for o in outs]
    assert won[0].isdisjoint(won[1]) and len(won[0] | won[1]) == 200


def test_sweep_record_round_trips(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.sweep() is None
        store.set_sweep("headstart compare --data toy", {"sizes": [16, "all"], "seeds": 3})
    with Store(tmp_path, create=False) as store:
        assert store.sweep() == {"command": "headstart compare --data toy", "sweep": {"sizes": [16, "all"], "seeds": 3},
                                 "by": "compare"}


def test_incompatible_schema_version_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).open().close()
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*a new directory with out=$"):  # Python's words
        Store(tmp_path).open()


def test_missing_store_is_an_error_for_readers(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"headstart\.compare"):  # Python's words: the CLI's are tested below
        Store(tmp_path / "nope", create=False).open()
    assert not (tmp_path / "nope").exists()


def test_not_a_database_is_refused(tmp_path: Path, monkeypatch) -> None:
    from headstart.surface import SURFACE_ENV

    (tmp_path / FILENAME).write_text("hello, not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable headstart store .*; point out= at a new directory$"):  # Python's
        Store(tmp_path).open()
    with monkeypatch.context() as cli:
        cli.setenv(SURFACE_ENV, "cli")
        with pytest.raises(StoreError, match="not a usable headstart store .*; point --out at a new directory$"):
            Store(tmp_path).open()
    with pytest.raises(StoreError, match="not a usable headstart store .*; restore it from a backup, or give another store"):
        Store(tmp_path, create=False).open()  # runs / report / rank-backbones --measured have no --out to point


def test_a_row_with_damaged_json_is_read_without_that_field_and_said_so(tmp_path: Path, caplog) -> None:
    """A hand-edited or damaged row used to raise JSONDecodeError out of every reader (report, runs, compare)."""
    import sqlite3

    with Store(tmp_path) as store:
        for seed in range(3):
            store.put(RunResult(key=f"k{seed}", spec={"strategy": "lp", "n": 16, "n_requested": 16, "seed": seed},
                                status="done", metrics={"accuracy": 0.7}))
    conn = sqlite3.connect(tmp_path / FILENAME)
    with conn:
        conn.execute("UPDATE runs SET metrics = '{bad' WHERE key = 'k0'")
        conn.execute("UPDATE runs SET spec = '[1' WHERE key = 'k1'")
    conn.close()
    with caplog.at_level("WARNING", logger="headstart"), Store(tmp_path, create=False) as store:
        results = {r.key: r for r in store.results()}
    assert set(results) == {"k0", "k2"} and results["k0"].metrics == {} and results["k2"].metrics == {"accuracy": 0.7}
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "run k0 in" in messages and "damaged metrics" in messages and "run k1 in" in messages and "left out" in messages
    with Store(tmp_path, create=False) as store:  # and neither damaged row counts as done: a resumed sweep trains both again
        assert store.done_keys() == {"k2"}
        assert store.claim("k0", spec(seed=0), "me", 60) and store.claim("k1", spec(seed=1), "me", 60)
        assert not store.claim("k2", spec(seed=2), "me", 60)
        assert store.get("k1").spec == spec(seed=1)  # its spec is whole again while it trains
        store.put(done("k1", seed=1))
        assert store.done_keys() == {"k1", "k2"}


def test_a_writer_never_writes_into_another_programs_database_nor_over_a_report(tmp_path: Path) -> None:
    """compare into a folder whose runs.sqlite is a user's database (a customers table) added headstart's tables to it;
    an emptied runs.sqlite beside a report of earlier runs let a compare write over that report, the only copy left."""
    import sqlite3

    from headstart.errors import StoreError

    (tmp_path / "theirs").mkdir()
    conn = sqlite3.connect(tmp_path / "theirs" / FILENAME)
    with conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()
    with pytest.raises(StoreError, match=r"is a SQLite file headstart did not write \(tables: customers\); nothing was written"):
        Store(tmp_path / "theirs").open()
    conn = sqlite3.connect(tmp_path / "theirs" / FILENAME)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"customers"}
    conn.close()
    (tmp_path / "emptied").mkdir()
    (tmp_path / "emptied" / FILENAME).write_bytes(b"")
    (tmp_path / "emptied" / "results.json").write_text("{}")
    with pytest.raises(StoreError, match="an empty runs.sqlite beside the report of earlier runs"):
        Store(tmp_path / "emptied").open()
    (tmp_path / "killed").mkdir()  # killed at its first write: no report yet, the store is made whole
    (tmp_path / "killed" / FILENAME).write_bytes(b"")
    with Store(tmp_path / "killed") as store:
        assert store.results() == []


def test_a_missing_store_names_a_fix_that_works(tmp_path: Path) -> None:
    """`runs good.csv` said "run `headstart compare --out good.csv` first" (refused: a file); `runs RUN` pointed back at
    `headstart runs`."""
    (tmp_path / "good.csv").write_text("text,label\na,b\n")
    with pytest.raises(StoreError, match=r"good.csv' is a file, not a results store; give the folder a compare wrote"):
        Store(tmp_path / "good.csv", create=False).open()
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text('{"key": "k", "resolved": {}}')
    (run / "metrics.json").write_text("{}")
    with pytest.raises(StoreError) as caught:
        Store(run, create=False).open()
    assert "headstart.evaluate(" in str(caught.value) and "headstart runs" not in str(caught.value)


def test_every_distinct_command_into_a_store_is_kept_oldest_first(tmp_path: Path) -> None:
    """set_sweep keeps the latest sweep (as before) and adds its command to ``commands`` once; a store written before
    the list was kept gives its one recorded command, and its next command joins it (once the store holds a run: a
    command that stored none is forgotten, tests/test_adapt.py)."""
    first, second = "headstart compare --strategies a,b --out x", "headstart compare --strategies a --no-tune --out x"
    with Store(tmp_path / "new") as store:
        store.set_sweep(first, {"seeds": 2})
        store.put(RunResult("k", {"strategy": "a", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
        for command in (second, first):
            store.set_sweep(command, {"seeds": 2})
        assert store.commands() == [first, second]
        assert store.sweep() == {"command": first, "sweep": {"seeds": 2}, "by": "compare"}
    with Store(tmp_path / "old") as store:
        store.conn.execute("INSERT INTO meta VALUES ('sweep', ?)", ('{"command": "%s", "sweep": {}}' % first,))
        store.put(RunResult("k", {"strategy": "a", "n": 16, "seed": 0}, "done", metrics={"accuracy": 0.7}))
        assert store.commands() == [first]
        store.set_sweep(second, {})
        assert store.commands() == [first, second]
    with Store(tmp_path / "none") as store:
        assert store.commands() == []


def test_a_missing_store_names_the_python_call_from_python(tmp_path: Path, monkeypatch, capsys) -> None:
    """``headstart.report`` / ``headstart.runs`` on an empty folder said "run `headstart compare --out DIR`" from Python
    too; the CLI keeps it."""
    import headstart
    from conftest import assert_user_error, run_cli

    (tmp_path / "empty").mkdir()
    for call in (headstart.report, headstart.runs):
        with pytest.raises(StoreError) as caught:
            call(tmp_path / "empty")
        assert str(caught.value).endswith(f"; run headstart.compare(..., out={str(tmp_path / 'empty')!r}) first")
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text('{"key": "k", "resolved": {}}')
    with pytest.raises(StoreError, match=r"is a saved run \(headstart.fit\), not a results store; headstart.evaluate\('"):
        headstart.runs(run)
    for command in ("report", "runs"):
        assert_user_error(run_cli([command, str(tmp_path / "empty")], monkeypatch, capsys),
                          f"run `headstart compare --out {tmp_path / 'empty'}` first")
    assert_user_error(run_cli(["runs", str(run)], monkeypatch, capsys), "(headstart train)", f"headstart evaluate {run} scores")


def test_a_live_lease_of_a_process_gone_from_this_host_can_be_taken(tmp_path: Path) -> None:
    """A compare killed with -9 holds its lease for two minutes; another compare on the same host skipped the cell,
    though its owner is provably gone (the same host, no such process). A live owner, or another host's, keeps it."""
    import os
    import socket

    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with Store(tmp_path) as store:
        assert store.claim("dead", spec(), f"{host}:{gone.stdout.strip()}:x", 3600)
        assert store.claim("live", spec(seed=1), f"{host}:{os.getpid()}:y", 3600)
        assert store.claim("far", spec(seed=2), f"not-{host}:{gone.stdout.strip()}:z", 3600)
        assert store.abandoned() == {"dead"}
        assert store.claim("dead", spec(), f"{host}:{os.getpid()}:me", 60)
        assert not store.claim("live", spec(seed=1), f"{host}:{os.getpid()}:me", 60)
        assert not store.claim("far", spec(seed=2), f"{host}:{os.getpid()}:me", 60)
        assert store.abandoned() == set()


def test_a_store_in_a_folder_that_cannot_be_written_is_read_and_not_called_damaged(tmp_path: Path, monkeypatch, capsys) -> None:
    """runs and report on a store in a read-only folder said "is not a usable headstart store (unable to open database
    file); restore it from a backup": the store was intact. A reader now opens it read-only; a writer names the folder."""
    from conftest import run_cli, unwritable

    with Store(tmp_path / "ro") as store:
        store.put(done("k1"))
        store.put(done("k2", acc=0.5, seed=1))
    before = (tmp_path / "ro" / FILENAME).read_bytes()
    with unwritable(tmp_path / "ro"):
        with Store(tmp_path / "ro", create=False) as store:
            assert [r.key for r in store.results()] == ["k1", "k2"] and store.abandoned() == set()
        code, printed, err = run_cli(["runs", str(tmp_path / "ro")], monkeypatch, capsys)
        assert code == 0 and "k1" in printed and "k2" in printed, err
        code, _, err = run_cli(["report", str(tmp_path / "ro")], monkeypatch, capsys)  # read; its report has nowhere to go
        assert code == 2 and f"cannot write the report into {str(tmp_path / 'ro')!r}" in err and "backup" not in err, err
        with pytest.raises(StoreError) as refused:
            Store(tmp_path / "ro").open()
        said = str(refused.value)
        assert f"the folder {str(tmp_path / 'ro')!r} cannot be written" in said and "backup" not in said, said
    assert (tmp_path / "ro" / FILENAME).read_bytes() == before
