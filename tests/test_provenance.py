"""Every stored run and saved run directory says what produced it: versions, commit, device, CPU."""

from __future__ import annotations

import json

import torch

from headstart.provenance import environment, git_commit


def test_the_environment_names_the_libraries_the_commit_and_the_machine():
    env = environment()
    assert env["libraries"]["torch"] == torch.__version__ and env["device"] in ("cpu", "cuda") and env["cpu"]
    assert env["git"] == git_commit()


def test_the_commit_is_the_checkouts_and_says_when_files_differ(tmp_path):
    import subprocess

    assert git_commit(tmp_path) is None, "no checkout, no commit"
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert git_commit(tmp_path) == sha and len(sha) == 40
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == sha + "+dirty"
    (tmp_path / "new.py").write_text("")  # untracked files are not the checkout's
    (tmp_path / "a.py").write_text("x = 1\n")
    assert git_commit(tmp_path) == sha


def test_a_trained_run_records_where_it_ran(toy_csv, tiny_registry, tmp_path):
    import headstart
    from headstart.specs import TrainConfig

    result = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, config=TrainConfig(max_steps=4, min_steps=4),
                           out=tmp_path / "run")
    spec = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert spec["environment"]["libraries"]["torch"] == torch.__version__ and result.status == "done"
    card = (tmp_path / "run" / "README.md").read_text()
    assert "# linear-probe on" in card and f"headstart predict {tmp_path / 'run'} -" in card and spec["environment"]["cpu"] in card
    from headstart.recipe import run
    from headstart.specs import RunSpec

    outcome = run(RunSpec(data=str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, train=TrainConfig(max_steps=4, min_steps=4)))
    assert outcome.result.record["environment"] == spec["environment"], "the store's record and the run directory agree"
