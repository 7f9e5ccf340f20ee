"""``headstart.outdir``: what an output folder holds, and which command may write there (the refusals through the CLI
are cases of tests/test_bad_inputs.py)."""

from __future__ import annotations

import json

import pytest

from headstart.errors import ConfigError, HeadstartError
from headstart.outdir import check_new, check_writable, claim, finished, foreign, held
from headstart.results import RunResult
from headstart.store import Store


def _store(folder, spec_extra=None):
    with Store(folder) as store:
        store.put(RunResult(key="k", spec={"strategy": "linear-probe", "n": 8, "seed": 0, **(spec_extra or {})}, status="done",
                            metrics={"accuracy": 0.5}))
    return folder


def test_held_names_each_kind(tmp_path):
    assert held(tmp_path / "new") is None
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_text("")  # hidden entries do not count
    assert held(tmp_path / "empty") is None
    assert held(_store(tmp_path / "c")) == "compare"
    assert held(_store(tmp_path / "cl", {"continual": {"arm": "naive"}})) == "continual"
    assert held(_store(tmp_path / "mt", {"multitask": {"members": ["a"]}})) == "multitask"
    Store(tmp_path / "blank").open().close()
    assert held(tmp_path / "blank") == "store"  # no run yet: any store command may fill it
    for kind in ("compare", "continual", "multitask"):
        claim(tmp_path / "blank", kind)
    with pytest.raises(ConfigError, match="holds an empty store"):
        claim(tmp_path / "blank", "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    assert held(tmp_path / "run") == "other", "a metrics.json alone is anyone's file"
    (tmp_path / "run" / "spec.json").write_text(json.dumps({"key": "k", "resolved": {}}))
    assert held(tmp_path / "run") == "run"
    (tmp_path / "run" / "spec.json").write_text(json.dumps({"kind": "sft"}))
    assert held(tmp_path / "run") == "lm-run", "an sft / prefer run is not a train run: neither replaces the other"
    (tmp_path / "f.txt").write_text("x")
    assert held(tmp_path / "f.txt") == "file"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.csv").write_text("x")
    assert held(tmp_path / "mine") == "other"


def test_held_reads_a_store_without_writing_to_it(tmp_path):
    folder = _store(tmp_path / "c", {"continual": {}})
    before = sorted(p.name for p in folder.iterdir())
    assert held(folder) == "continual"
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_store_that_is_not_sqlite_is_left_to_the_store_to_name(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "runs.sqlite").write_bytes(b"")  # 0 bytes: Store.open says what is wrong
    assert held(tmp_path / "s") == "compare"


def test_claim_takes_new_empty_and_same_kind_and_refuses_the_rest(tmp_path):
    claim(tmp_path / "new" / "deeper", "compare")
    assert not (tmp_path / "new").exists()  # claiming creates nothing
    claim(_store(tmp_path / "c"), "compare")
    claim(_store(tmp_path / "cl", {"continual": {}}), "continual")
    with pytest.raises(ConfigError, match=r"holds a continual store, not a compare store \(runs.sqlite\); nothing was written"):
        claim(tmp_path / "cl", "compare")
    with pytest.raises(ConfigError, match=r"holds a compare store .*; choose a new or empty folder, e.g. '.*/c-run'$"):
        claim(tmp_path / "c", "run")  # a sibling: a folder inside the store would make the store "other" files
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"is a file, not a folder; choose a folder, e.g. '.*f-run'"):
        claim(tmp_path / "f", "run")
    with pytest.raises(ConfigError, match="cannot write to output directory"):
        claim(tmp_path / "f" / "below", "run")


def test_check_new_refuses_what_exists_and_what_cannot_be_made(tmp_path):
    check_new(tmp_path / "ex", "the export")
    with pytest.raises(ConfigError, match="already exists; give a new folder for the export"):
        check_new(tmp_path, "the export")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        check_new(tmp_path / "f" / "ex", "the export")


def test_a_folder_where_no_file_can_be_made_is_refused_before_any_work(tmp_path, monkeypatch):
    """As root, ``os.access`` calls /proc writable; only creating a file tells (``train --out /proc/x`` failed after
    training). A folder that can be written is left as it was."""
    monkeypatch.setattr("os.access", lambda *_: True)  # what root is told
    with pytest.raises(ConfigError, match=r"'/proc': cannot create a file there"):
        check_writable("/proc/headstart-out")
    check_writable(tmp_path / "new" / "run")
    assert list(tmp_path.iterdir()) == []


def test_a_meta_train_stopped_before_its_summary_is_its_own(tmp_path):
    """Arm folders saved, meta.json not yet: a re-run may write there; a folder of another backbone may not."""
    arm = tmp_path / "meta" / "protonet"
    arm.mkdir(parents=True)
    (arm / "headstart-image.json").write_text(json.dumps({"trained_by": {"command": "meta-train"}}))
    assert held(tmp_path / "meta") == "meta"
    (arm / "headstart-image.json").write_text(json.dumps({"trained_by": {"command": "something-else"}}))
    assert held(tmp_path / "meta") == "other"


def test_meta_train_refuses_another_experiments_folder_and_takes_its_own(tmp_path):
    from headstart.meta.config import MetaConfig
    from headstart.meta.train import check_out

    out = tmp_path / "meta"
    out.mkdir()
    cfg = MetaConfig(ways=3)
    (out / "meta.json").write_text(json.dumps({"config": json.loads(json.dumps(cfg.to_json()))}))
    check_out(out, cfg)  # the same experiment: a re-run keeps its arms
    check_out(out, MetaConfig(ways=3, threads=1))  # threads change the speed, not the experiment
    with pytest.raises(ConfigError, match="holds another meta-train \\(--ways 3, not 5\\)"):
        check_out(out, MetaConfig(ways=5))
    (out / "meta.json").write_text("{oops")
    with pytest.raises(ConfigError, match="damaged meta.json"):
        check_out(out, cfg)


def test_the_python_api_refuses_with_a_headstart_error(tmp_path):
    """multitask and meta_train refuse a folder of other files before loading anything, as the CLI does."""
    import headstart
    from headstart.meta.train import meta_train

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(HeadstartError, match="holds files headstart did not write"):
        headstart.multitask(out=tmp_path)
    with pytest.raises(HeadstartError, match="holds files headstart did not write"):
        meta_train(tmp_path)
    with pytest.raises(HeadstartError, match="holds files headstart did not write"):
        headstart.continual(out=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_train_never_replaces_a_store(tmp_path, toy_csv, tiny_registry):
    """The store's folder stays whole: the refusal comes before training, and the swap would refuse it too."""
    import headstart
    from headstart.atomic import write_directory
    from headstart.errors import StoreError
    from headstart.outdir import held as kind_of

    folder = _store(tmp_path / "store")
    with pytest.raises(ConfigError, match="holds a compare store"):
        headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=8, out=folder)
    with pytest.raises(StoreError, match="not a headstart run"):
        write_directory(folder, lambda d: None, is_replaceable=lambda d: kind_of(d) == "run", what="headstart run")
    with Store(folder, create=False) as store:
        assert [r.key for r in store.results()] == ["k"]


def test_fit_replaces_its_own_run_but_another_only_when_asked_in_pythons_words(tmp_path, toy_csv, tiny_registry):
    """headstart.fit into a folder holding a run of another seed is refused before training, naming overwrite=True
    (not the CLI's --overwrite); the same call again, or with overwrite=True, replaces it."""
    import headstart

    out = tmp_path / "run"
    call = dict(strategy="linear-probe", n=8, out=out, config={"max_steps": 2, "min_steps": 2})
    headstart.fit(str(toy_csv), "tiny", **call)
    first = (out / "spec.json").read_text()
    with pytest.raises(ConfigError, match=r"^out='.*run' holds another run \(linear-probe, n = 8, seed 0\); nothing was "
                                          r"trained or replaced: give a new folder, e\.g\. out='.*run-linear-probe', or pass "
                                          r"overwrite=True to replace it$"):
        headstart.fit(str(toy_csv), "tiny", seed=1, **call)
    assert (out / "spec.json").read_text() == first
    headstart.fit(str(toy_csv), "tiny", **call)  # the same run made again
    assert headstart.fit(str(toy_csv), "tiny", seed=1, overwrite=True, **call).status == "done"
    assert json.loads((out / "spec.json").read_text())["spec"]["seed"] == 1


def test_a_run_saved_into_out_while_this_one_trained_is_kept_and_this_one_saved_beside_it(tmp_path, toy_csv, tiny_registry,
                                                                                           monkeypatch, capsys):
    """Two trains given the same new --out at once: each saw an empty folder before training, and the second to finish
    replaced the first's model without --overwrite. The one finishing second now finds the other's run there, keeps it,
    saves itself beside it and says where."""
    import shutil

    import headstart
    import headstart.recipe
    from test_cli import TRAIN, cli

    other = tmp_path / "other"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=8, seed=1, out=other, config={"max_steps": 2, "min_steps": 2})
    out, real = tmp_path / "race", headstart.recipe.trained_run

    def meanwhile(spec, **kwargs):  # the other command saves its run into --out while this one trains
        outcome = real(spec, **kwargs)
        shutil.copytree(other, out, dirs_exist_ok=True)
        return outcome

    monkeypatch.setattr(headstart.recipe, "trained_run", meanwhile)
    code, printed, _ = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "8",
                            "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)
    beside = tmp_path / "race-linear-probe"
    assert code == 0 and json.loads((out / "spec.json").read_text())["spec"]["seed"] == 1, "the other run is kept"
    assert json.loads((beside / "spec.json").read_text())["spec"]["seed"] == 0
    assert f"-> {beside}" in printed and f"next: headstart evaluate {beside}" in printed, printed
    assert (f"note: this run was saved to '{beside}': another run (linear-probe, n = 8, seed 1) was saved into --out "
            f"'{out}' while this one trained, and is kept there") in printed, printed
    shutil.rmtree(out)
    shutil.copytree(other, out)
    again = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=8, out=out, config={"max_steps": 2, "min_steps": 2},
                          overwrite=True)  # asked to replace: it does
    assert again.out == out and json.loads((out / "spec.json").read_text())["spec"]["seed"] == 0


def test_a_run_of_another_seed_is_refused_before_the_data_loads_and_an_older_spec_is_read_with_defaults(
        tmp_path, toy_csv, tiny_registry, monkeypatch):
    """An image backbone loads its data to fill its defaults: a run of another strategy, size or seed in ``out`` is
    refused before that. A spec.json written before a setting existed (no "tta") is the same run made again."""
    import headstart
    import headstart.api

    out = tmp_path / "run"
    call = dict(strategy="linear-probe", n=8, out=out, config={"max_steps": 2, "min_steps": 2})
    headstart.fit(str(toy_csv), "tiny", **call)
    stored = json.loads((out / "spec.json").read_text())
    del stored["spec"]["tta"]
    (out / "spec.json").write_text(json.dumps(stored))
    real = headstart.api._with_data_defaults

    def loads(spec):
        raise AssertionError("the data loaded before the refusal")

    monkeypatch.setattr(headstart.api, "_with_data_defaults", loads)
    with pytest.raises(ConfigError, match=r"holds another run \(linear-probe, n = 8, seed 0\)"):
        headstart.fit(str(toy_csv), "tiny", seed=1, **call)
    monkeypatch.setattr(headstart.api, "_with_data_defaults", real)
    assert headstart.fit(str(toy_csv), "tiny", **call).status == "done"  # the same run: replaced, not refused


def test_rows_a_killed_writer_left_in_the_log_are_read(tmp_path):
    """A continual step stored just before a kill -9 sits in runs.sqlite-wal: the folder is still a continual store."""
    import os
    import subprocess
    import sys

    script = (f"from headstart.store import Store; from headstart.results import RunResult; import os\n"
              f"s = Store({str(tmp_path / 's')!r}).open()\n"
              "s.put(RunResult(key='k', spec={'strategy': 'lp', 'n': 8, 'seed': 0, 'continual': {}}, status='done', metrics={'a': 1}))\n"
              "os._exit(0)\n")  # no close: the row stays in the log
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ})
    assert (tmp_path / "s" / "runs.sqlite-wal").stat().st_size > 0
    assert held(tmp_path / "s") == "continual"


def test_a_run_folder_holding_a_users_files_is_not_replaced(tmp_path):
    """Replacing a run removes its folder whole: a spec.json and metrics.json beside a user's own files (or a run the
    user added files to) are refused, naming those files, and the save refuses too; nothing there is touched."""
    from headstart.atomic import write_directory
    from headstart.errors import StoreError

    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.csv").write_text("x")
    (folder / "thesis.tex").write_text("x")
    (folder / "metrics.json").write_text("{}")
    (folder / "spec.json").write_text(json.dumps({"key": "k", "resolved": {}}))
    assert held(folder) == "other" and foreign(folder) == ["data", "thesis.tex"]
    with pytest.raises(ConfigError, match=r"holds files headstart did not write \(data, thesis.tex\), not a saved run"):
        claim(folder, "run")
    with pytest.raises(StoreError, match=r"holding other files \(data, thesis.tex\), not a headstart run"):
        write_directory(folder, lambda d: (d / "spec.json").write_text("{}"), is_replaceable=lambda d: held(d) == "run",
                        what="headstart run")
    assert sorted(p.name for p in folder.iterdir()) == ["data", "metrics.json", "spec.json", "thesis.tex"]
    (folder / "thesis.tex").unlink()
    (folder / "data" / "a.csv").unlink()
    (folder / "data").rmdir()
    (folder / "weights.safetensors").write_bytes(b"")
    (folder / "adapter").mkdir()
    assert held(folder) == "run" and foreign(folder) == []  # what runs write (a merged run's adapter folder too)
    (folder / ".weights.123.tmp").write_bytes(b"")  # headstart's own temp file, left by a kill: still a run
    assert held(folder) == "run"
    (folder / ".git").mkdir()  # a user's hidden entry: the replace would remove it
    assert held(folder) == "other" and foreign(folder) == [".git"]
    (folder / ".git").rmdir()
    (folder / "spec.json").write_text(json.dumps({"name": "my experiment"}))  # a spec.json, but not headstart's
    with pytest.raises(ConfigError, match=r"holds files headstart did not write \(its spec.json is not a headstart run's\)"):
        claim(folder, "run")
    (tmp_path / "hidden-only").mkdir()
    (tmp_path / "hidden-only" / ".env").write_text("TOKEN=x")
    assert held(tmp_path / "hidden-only") == "other", "not empty: .env is the user's"


def test_a_train_run_and_an_sft_run_never_replace_each_other(tmp_path):
    """train --out on an sft run would delete its adapter for a classifier (and sft over a train run the other way)."""
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "spec.json").write_text(json.dumps({"kind": "sft"}))
    (tmp_path / "sft" / "adapter_model.safetensors").write_bytes(b"x")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "spec.json").write_text(json.dumps({"key": "k", "resolved": {}}))
    claim(tmp_path / "sft", "lm-run")
    claim(tmp_path / "train", "run")
    with pytest.raises(ConfigError, match=r"holds a saved sft / prefer run .*, not a saved run \(spec.json, metrics.json\)"):
        claim(tmp_path / "sft", "run")
    with pytest.raises(ConfigError, match=r"holds a saved run \(spec.json, metrics.json\), not a saved sft / prefer run"):
        claim(tmp_path / "train", "lm-run")


@pytest.mark.parametrize("kind, spec", [("run", {"key": "k", "resolved": {}}), ("lm-run", {"kind": "sft"})])
def test_finished_is_a_run_of_its_own_kind_whose_metrics_say_done(tmp_path, kind, spec):
    """What a diverged train run or an interrupted sft / prefer run is never saved over."""
    other = "lm-run" if kind == "run" else "run"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "spec.json").write_text(json.dumps(spec))
    assert not finished(tmp_path / "r", kind), "no metrics.json: not a finished run"
    for metrics, done in [({"status": "done"}, True), ({}, True), ({"status": "interrupted"}, False),
                          ({"status": "diverged"}, False), ([], False)]:
        (tmp_path / "r" / "metrics.json").write_text(json.dumps(metrics))
        assert finished(tmp_path / "r", kind) is done, metrics
    (tmp_path / "r" / "metrics.json").write_text("{not json")
    assert not finished(tmp_path / "r", kind)
    (tmp_path / "r" / "metrics.json").write_text(json.dumps({"status": "done"}))
    assert not finished(tmp_path / "r", other), "a run of the other kind is not one this command keeps"
    assert not finished(tmp_path / "new", kind)


def test_prefer_refuses_to_write_over_the_sft_run_it_starts_from(tmp_path):
    from headstart.llm.dpo import PreferConfig, check_out

    run = tmp_path / "sft"
    run.mkdir()
    with pytest.raises(ConfigError, match=r"--out '.*sft' is the --sft run this one starts from, .*e.g. '.*sft-dpo'"):
        check_out(tmp_path / "x" / ".." / "sft", PreferConfig(sft=str(run)))
    check_out(tmp_path / "dpo", PreferConfig(sft=str(run)))
    check_out(run, PreferConfig())  # no sft run: nothing to protect


def test_a_refusal_suggests_a_folder_beside_out_even_for_the_current_one(tmp_path, monkeypatch):
    from headstart.outdir import sibling

    store = _store(tmp_path / "c")
    monkeypatch.chdir(store)
    with pytest.raises(ConfigError, match=r"choose a new or empty folder, e.g. '.*/c-sft'$"):
        claim(".", "lm-run")  # named by what "." is, and by what the command writes, not by an internal kind
    assert str(sibling("runs/x", "2")) == "runs/x-2" and sibling("..", "meta").name == f"{tmp_path.name}-meta"


def test_an_export_or_a_merge_into_its_own_run_folder_is_refused(tmp_path):
    """export runs/lp32 --out runs/lp32/sub wrote there, and the run's folder was refused as a run from then on
    ("holds files headstart did not write (sub)"): an output inside the run it is made from is refused first."""
    from headstart.errors import ConfigError
    from headstart.outdir import check_new

    run = tmp_path / "lp32"
    run.mkdir()
    with pytest.raises(ConfigError, match=r"--out '.*lp32/sub' is inside the run '.*lp32', which would then hold files no "
                                          r"run writes; give a folder beside it for the export, e.g. '.*lp32-sub'$"):
        check_new(run / "sub", "the export", source=run)
    check_new(tmp_path / "lp32-hf", "the export", source=run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lp32"]
