"""sft / prefer into an --out holding another run: refused before training, as train refuses it, unless --overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import headstart
from conftest import assert_user_error, run_cli
from lm_fixtures import pref_csv, sft_csv, tiny_lm  # noqa: F401  (fixtures)

from headstart.errors import ConfigError


def never(*args, **kwargs):
    raise AssertionError("trained before the refusal")


def sft_command(tiny_lm: Path, csv: Path, out: Path, *extra: str) -> list[str]:
    return ["sft", "--data", str(csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--batch-size", "2", "--val-rows", "2",
            "--eval-rows", "0", "--out", str(out), "-q", *extra]


def prefer_run(folder: Path, tiny_lm: Path) -> Path:
    """A prefer run's folder as prefer writes it (spec.json naming its kind, metrics.json), without training one."""
    folder.mkdir()
    (folder / "spec.json").write_text(json.dumps({"kind": "prefer", "sft": "/runs/sft1", "backbone": str(tiny_lm),
                                                  "strategy": "lora", "n": 8, "seed": 0, "beta": 0.1}))
    (folder / "metrics.json").write_text(json.dumps({"status": "done"}))
    return folder


def test_sft_refuses_an_out_holding_a_prefer_run_unless_overwrite(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    import headstart.llm.sft

    dpo = prefer_run(tmp_path / "dpo1", tiny_lm)
    before = (dpo / "spec.json").read_text()
    monkeypatch.setattr(headstart.llm.sft, "run_sft", never)
    assert_user_error(run_cli(sft_command(tiny_lm, sft_csv, dpo), monkeypatch, capsys),
                      f"--out {str(dpo)!r} holds a prefer run (lora, n = 8, seed 0, started from '/runs/sft1'), not an sft run",
                      "nothing was trained or replaced", f"--out {tmp_path / 'dpo1-sft'}", "add --overwrite")
    with pytest.raises(ConfigError, match=r"holds a prefer run .*; nothing was trained .* out='.*dpo1-sft', or pass overwrite=True"):
        headstart.sft(str(sft_csv), out=dpo, config={"backbone": str(tiny_lm), "max_steps": 1})
    assert (dpo / "spec.json").read_text() == before, "nothing stored is lost"
    monkeypatch.undo()
    code, _, err = run_cli(sft_command(tiny_lm, sft_csv, dpo, "--overwrite"), monkeypatch, capsys)
    assert code in (0, None) and "note: this run replaced the one that was in" in err
    assert json.loads((dpo / "spec.json").read_text())["kind"] == "sft"


def test_an_sft_run_of_other_settings_is_refused_naming_them_and_the_same_run_replaces_itself(
        tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    import headstart.llm.sft

    out = tmp_path / "sft1"
    code, _, _ = run_cli(sft_command(tiny_lm, sft_csv, out), monkeypatch, capsys)
    assert code in (0, None)
    before = (out / "spec.json").read_text()
    monkeypatch.setattr(headstart.llm.sft, "run_sft", never)
    assert_user_error(run_cli(sft_command(tiny_lm, sft_csv, out, "--lr", "1e-3", "--seed", "3"), monkeypatch, capsys),
                      f"--out {str(out)!r} holds another sft run (lora, n = all, seed 0; settings that differ: --seed 0 there, 3 asked; "
                      "--lr 0.0002 there, 0.001 asked)",
                      "add --overwrite")
    with pytest.raises(ConfigError, match=r"settings that differ: max_steps 1 there, 2 asked\); .* pass overwrite=True"):
        headstart.sft(str(sft_csv), out=out, config={"backbone": str(tiny_lm), "max_steps": 2, "batch_size": 2,
                                                     "val_rows": 2, "eval_rows": 0})
    # another --group-column cuts other test rows (evaluate reads the run's split by it): not the same run
    assert_user_error(run_cli(sft_command(tiny_lm, sft_csv, out, "--group-column", "response"), monkeypatch, capsys),
                      "settings that differ: --group-column none there, response asked", "add --overwrite")
    with pytest.raises(ConfigError, match="overwrite must be True or False"):
        headstart.sft(str(sft_csv), out=out, overwrite="yes")
    assert (out / "spec.json").read_text() == before
    monkeypatch.undo()
    code, _, err = run_cli(sft_command(tiny_lm, sft_csv, out), monkeypatch, capsys)  # the same run: replaced, as train does
    assert code in (0, None) and "note: this run replaced the one that was in" in err


def test_prefer_refuses_an_out_holding_an_sft_run(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    import headstart.llm.dpo

    out = tmp_path / "sft1"
    assert run_cli(sft_command(tiny_lm, sft_csv, out), monkeypatch, capsys)[0] in (0, None)
    monkeypatch.setattr(headstart.llm.dpo, "run_prefer", never)
    assert_user_error(run_cli(["prefer", "--backbone", str(tiny_lm), "--max-steps", "1", "--out", str(out), "-q"],
                              monkeypatch, capsys),
                      f"--out {str(out)!r} holds an sft run (lora, n = all, seed 0), not a prefer run",
                      f"--out {tmp_path / 'sft1-prefer'}", "add --overwrite")
    assert json.loads((out / "spec.json").read_text())["kind"] == "sft"



def test_a_prefer_run_split_by_another_group_column_is_another_run(tiny_lm, pref_csv, tmp_path, monkeypatch, capsys):
    """--group-column decides prefer's split (which pairs validate), as sft's: another one is not the same run."""
    import headstart.llm.dpo

    out = tmp_path / "dpo1"
    command = ["prefer", "--data", str(pref_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--batch-size", "2",
               "--val-rows", "4", "--out", str(out), "-q"]
    assert run_cli(command, monkeypatch, capsys)[0] in (0, None)
    before = (out / "spec.json").read_text()
    monkeypatch.setattr(headstart.llm.dpo, "run_prefer", never)
    assert_user_error(run_cli([*command, "--group-column", "chosen"], monkeypatch, capsys),
                      "settings that differ: --group-column none there, chosen asked", "add --overwrite")
    assert (out / "spec.json").read_text() == before


def test_a_run_saved_into_out_while_sft_trained_is_kept_and_sft_saves_beside_it(tiny_lm, sft_csv, tmp_path, monkeypatch,
                                                                                 capsys):
    """Two sft / prefer commands given the same new --out at once: the check before training saw it empty, and the
    second to finish replaced the first's model. A run saved there after this one began is kept; this one goes beside."""
    import headstart.llm.loop

    out, real = tmp_path / "shared", headstart.llm.loop.train

    def train_while_another_saves(*args, **kwargs):
        report = real(*args, **kwargs)
        prefer_run(out, tiny_lm)  # the other command's run, saved as this one trains
        return report

    monkeypatch.setattr(headstart.llm.loop, "train", train_while_another_saves)
    code, printed, err = run_cli(sft_command(tiny_lm, sft_csv, out), monkeypatch, capsys)
    assert code in (0, None), err
    assert json.loads((out / "spec.json").read_text())["kind"] == "prefer", "the other run is kept"
    beside = tmp_path / "shared-sft"
    assert json.loads((beside / "spec.json").read_text())["kind"] == "sft"
    assert f"note: this run was saved to {str(beside)!r}: another run was saved into {str(out)!r} while this one trained" in err
    assert printed.strip().endswith(f"saved to {beside}"), printed


def test_an_sft_run_from_the_cli_is_the_same_run_as_from_python_with_the_same_loop_settings(
        tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """--dropout, --warmup, --evals-per-phase, --patience and --max-new-tokens store what SftConfig's fields store: the
    command of the values a Python run used replaces it as the same run; another value is refused by its flag."""
    import headstart.llm.sft

    out = tmp_path / "sft1"
    headstart.sft(str(sft_csv), out=out, config={"backbone": str(tiny_lm), "max_steps": 1, "batch_size": 2, "val_rows": 2,
                                                 "eval_rows": 0, "dropout": 0.2, "warmup": 0.3, "evals": 2, "patience": 1,
                                                 "max_new_tokens": 8})
    python = json.loads((out / "spec.json").read_text())
    loop = ["--dropout", "0.2", "--warmup", "0.3", "--evals-per-phase", "2", "--patience", "1", "--max-new-tokens", "8"]
    code, _, err = run_cli(sft_command(tiny_lm, sft_csv, out, *loop), monkeypatch, capsys)
    assert code in (0, None) and "note: this run replaced the one that was in" in err
    assert json.loads((out / "spec.json").read_text()) == python
    monkeypatch.setattr(headstart.llm.sft, "run_sft", never)
    assert_user_error(run_cli(sft_command(tiny_lm, sft_csv, out, *loop[:-6], "--evals-per-phase", "3", *loop[-4:]),
                              monkeypatch, capsys),
                      "settings that differ: --evals-per-phase 2 there, 3 asked)", "add --overwrite")
    with pytest.raises(ConfigError, match=r"settings that differ: evals 2 there, 3 asked\)"):
        headstart.sft(str(sft_csv), out=out, config={"backbone": str(tiny_lm), "max_steps": 1, "batch_size": 2,
                                                     "val_rows": 2, "eval_rows": 0, "dropout": 0.2, "warmup": 0.3,
                                                     "evals": 3, "patience": 1, "max_new_tokens": 8})


def test_a_prefer_run_from_the_cli_is_the_same_run_as_from_python_with_the_same_loop_settings(
        tiny_lm, pref_csv, tmp_path, monkeypatch, capsys):
    """prefer's --warmup, --evals-per-phase and --patience store what PreferConfig's fields store, as sft's do."""
    import headstart.llm.dpo

    out = tmp_path / "dpo1"
    headstart.prefer(str(pref_csv), out=out, config={"backbone": str(tiny_lm), "max_steps": 1, "batch_size": 2,
                                                     "val_rows": 4, "warmup": 0.3, "evals": 2, "patience": 1})
    python = json.loads((out / "spec.json").read_text())
    command = ["prefer", "--data", str(pref_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--batch-size", "2",
               "--val-rows", "4", "--warmup", "0.3", "--evals-per-phase", "2", "--out", str(out), "-q"]
    code, _, err = run_cli([*command, "--patience", "1"], monkeypatch, capsys)
    assert code in (0, None) and "note: this run replaced the one that was in" in err
    assert json.loads((out / "spec.json").read_text()) == python
    monkeypatch.setattr(headstart.llm.dpo, "run_prefer", never)
    assert_user_error(run_cli([*command, "--patience", "0"], monkeypatch, capsys),
                      "settings that differ: --patience 1 there, 0 asked)", "add --overwrite")
