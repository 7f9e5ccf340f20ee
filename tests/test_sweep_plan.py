"""Before a sweep trains (``headstart.sweep_plan``): more --workers than cores is said, never refused."""

from __future__ import annotations

import headstart.distributed
from conftest import run_cli


def test_more_workers_than_cores_is_a_note_naming_the_count_and_the_fix(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                         tmp_path):
    """--workers 16 on 2 cores ran 82 s against 46 s with 2, silently: now one note line, and the sweep goes on (here to
    the size it refuses, which shows the note came first and refused nothing)."""
    monkeypatch.setattr(headstart.distributed, "usable_cpus", lambda: 2)
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "99999",
               "--seeds", "1", "--out", str(tmp_path / "cmp")]
    code, _, err = run_cli([*compare, "--workers", "16"], monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: size 99999"), err
    assert ("note: --workers 16 is more than the 2 CPU(s) this process may use: the workers take turns on them and the "
            "sweep runs slower than with one per CPU; try --workers 2") in lines, err
    code, _, err = run_cli([*compare, "--workers", "2"], monkeypatch, capsys)
    assert code == 2 and "--workers" not in err, err
