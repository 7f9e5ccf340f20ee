"""Tests of headstart/same_run.py: a refusal to replace another run names each differing setting as its flag takes it,
with the value in the folder and the one asked."""

from __future__ import annotations

import json

import pytest

from headstart.same_run import other_run
from headstart.specs import RunSpec, TrainConfig
from headstart.surface import SURFACE_ENV


@pytest.mark.parametrize("surface", ["cli", "python"])
def test_each_setting_that_differs_is_named_as_the_user_gives_it(tmp_path, monkeypatch, surface):
    monkeypatch.setenv(SURFACE_ENV, surface)
    held = RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.01}}, options={"rank": 4})
    (tmp_path / "spec.json").write_text(json.dumps({"spec": held.to_dict()}, default=list))

    def differ(mine: RunSpec) -> str:
        return other_run(tmp_path, mine).split("settings that differ: ", 1)[1]

    weighed = differ(RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.1}}, options={"rank": 8}))
    untermed = differ(RunSpec(data="x", strategy="lora", options={"rank": 4}, tune="lr"))
    head = differ(RunSpec(data="x", strategy="lora", terms={"l2sp": {"weight": 0.01}}, options={"rank": 4},
                          train=TrainConfig(head_lr=0.5)))
    if surface == "cli":  # there is no --l2sp flag, nor --option rank 4: the flags as they are written
        assert weighed == "--option rank=4 there, rank=8 asked; --terms l2sp[weight=0.01] there, l2sp[weight=0.1] asked"
        assert untermed == "--terms l2sp[weight=0.01] there, none asked; --tune none there, lr asked"
        assert head == "--head-lr default there, 0.5 asked"
    else:
        assert weighed == "options.rank 4 there, 8 asked; terms.l2sp l2sp[weight=0.01] there, l2sp[weight=0.1] asked"
        assert head == "train.head_lr default there, 0.5 asked"


def test_a_run_or_store_that_read_no_split_column_goes_on_without_one(toy_csv, tmp_path, monkeypatch, caplog, tiny_registry):
    """A run or compare made before a column named split was read as the split by default: once the file had such a
    column, the same train into its --out said "trained on other data (it changed since)" and trained again, and the
    same compare trained every cell again. An --out whose run or store read no split column goes on reading none."""
    import logging
    import sqlite3

    import pandas as pd

    import headstart
    import headstart.recipe
    from headstart import sweep_cell

    config = TrainConfig(max_steps=1, min_steps=1, batch_size=8, precision="fp32")
    run, store = tmp_path / "run", tmp_path / "cmp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run, config=config)
    headstart.compare(str(toy_csv), backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=store,
                      config=config, tune=None)
    with sqlite3.connect(store / "runs.sqlite") as db:  # as a store before 2026-12-08 kept it: no path, no split column
        record = json.loads(db.execute("SELECT value FROM meta WHERE key = 'sweep'").fetchone()[0])
        record["data"] = {k: v for k, v in record["data"].items() if k not in ("path", "split_column")}
        db.execute("UPDATE meta SET value = ? WHERE key = 'sweep'", (json.dumps(record),))
    frame = pd.read_csv(toy_csv)
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    frame.to_csv(toy_csv, index=False)
    real, trained = headstart.recipe.trained_run, []

    def counted(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.recipe, "trained_run", counted)
    with caplog.at_level(logging.INFO, logger="headstart"):
        headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run, config=config)
    assert trained == [] and "already holds this run (same settings, finished)" in caplog.text, caplog.text
    sweep_cell._LOADED.clear()  # as a new process reads the file
    again = headstart.compare(str(toy_csv), backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=store,
                              config=config, tune=None)
    assert again.trained == 0 and again.skipped == again.total, again
    fresh = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=tmp_path / "new", config=config)
    assert json.loads((fresh.out / "spec.json").read_text())["data_source"]["split_column"] == "split"


def test_the_same_run_finished_in_out_is_loaded_not_trained_again(toy_csv, tiny_registry, tmp_path, monkeypatch,
                                                                   capsys, caplog):
    """A notebook cell ``fit(..., out=...)`` run twice trained the whole run again (``compare`` reused its stored
    cells); ``train`` the same. Now the finished run of the same settings and data is loaded, a note says so, and
    ``retrain=True`` / ``--retrain`` trains it again."""
    import logging

    import headstart
    import headstart.recipe
    from conftest import run_cli

    config = TrainConfig(max_steps=4, min_steps=4, batch_size=8, evals_per_phase=2, patience=0, precision="fp32")
    out = tmp_path / "run"
    first = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=config)
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    real, trained = headstart.recipe.trained_run, []

    def counted(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.recipe, "trained_run", counted)
    with caplog.at_level(logging.INFO, logger="headstart"):
        again = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=config)
    assert trained == [] and {p.name: p.read_bytes() for p in out.iterdir()} == kept
    assert f"{out} already holds this run (same settings, finished): loaded, not trained again; retrain=True trains it " \
           "again" in caplog.text
    assert (again.status, again.key, again.val_metrics, again.out) == ("done", first.key, first.val_metrics, out)
    assert again.predict(["good great film"]) == first.predict(["good great film"])
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=config, retrain=True)
    assert trained == [1]
    args = ["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
            "--max-steps", "4", "--min-steps", "4", "--batch-size", "8", "--evals-per-phase", "2", "--patience", "0",
            "--precision", "fp32", "--out", str(tmp_path / "cli")]
    assert run_cli(args, monkeypatch, capsys)[0] == 0 and trained == [1, 1]
    code, printed, err = run_cli(args, monkeypatch, capsys)
    assert code == 0 and trained == [1, 1] and "already holds this run (same settings, finished): loaded, not trained " \
                                                "again; --retrain trains it again" in err, err
    assert printed.startswith("done: full-finetune") and "trained again in its place" not in err
    assert run_cli([*args, "--retrain"], monkeypatch, capsys)[0] == 0 and trained == [1, 1, 1]


def test_a_run_given_targets_before_they_named_modules_exactly_is_not_reused_and_its_key_differs(
        toy_csv, tiny_registry, tmp_path, monkeypatch, caplog):
    """--targets output.dense reached attention.output.dense too before it named modules exactly; such a run, stored
    with the same spec, was loaded as this one. Its key differs now (the targets reached are in the resolved spec),
    and a run in out whose resolved spec lacks them trains again; a run without --targets keeps its key."""
    import logging

    import headstart
    import headstart.recipe

    config = TrainConfig(max_steps=2, min_steps=2, batch_size=8, evals_per_phase=1, patience=0, precision="fp32")
    out = tmp_path / "run"
    first = headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, out=out, config=config,
                          options={"targets": "output.dense"})
    saved = json.loads((out / "spec.json").read_text())
    reached = saved["resolved"]["targets_exact"]
    assert reached and all(name.endswith(".output.dense") and "attention" not in name for name in reached)
    old = {k: v for k, v in saved["resolved"].items() if k != "targets_exact"}  # as a run trained before was stored
    from headstart.specs import run_key

    assert run_key(old) != first.key
    (out / "spec.json").write_text(json.dumps({**saved, "resolved": old}))
    real, trained = headstart.recipe.trained_run, []

    def counted(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.recipe, "trained_run", counted)
    with caplog.at_level(logging.INFO, logger="headstart"):
        headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, out=out, config=config,
                      options={"targets": "output.dense"})
    assert trained == [1] and "trained before --targets named modules exactly" in caplog.text
    plain = headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, out=tmp_path / "plain", config=config)
    assert "targets_exact" not in json.loads((tmp_path / "plain" / "spec.json").read_text())["resolved"] and plain.key
