"""check-leakage (``headstart.check_leakage``) counts the split a run trains on: train's split flags (--max-test,
--max-val, --dedupe) cut it as they cut train's (it counted the default split only, whatever caps a run was trained
with)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, make_toy, run_cli

import headstart
from headstart.data import SplitConfig, load_dataset, split_dataset
from headstart.specs import TrainConfig


@pytest.fixture
def big_csv(tmp_path: Path) -> Path:
    """600 toy rows, a tenth of them copies of others: a test cap of 40 and a validation cap of 20 cut a smaller split
    than the default (120 test rows, 60 validation rows)."""
    data = make_toy(600, seed=3)
    texts = [*data.inputs[:540], *data.inputs[:60]]
    labels = [data.label_names[y] for y in [*data.targets[:540], *data.targets[:60]]]
    path = tmp_path / "big.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def _counted(args: list[str], monkeypatch, capsys) -> dict:
    code, out, err = run_cli(["check-leakage", *args, "--examples", "0", "--json"], monkeypatch, capsys)
    assert code == 0, err
    return json.loads(out)


def test_the_split_flags_cut_the_split_as_trains_do(big_csv, monkeypatch, capsys):
    """--max-test 40 --max-val 20 counts the test and validation rows of the split train --max-test 40 --max-val 20
    cuts (it counted the default split's, 120 and 60 rows, whatever was given); the Python keywords are the same."""
    data = load_dataset(str(big_csv))
    capped = split_dataset(data, SplitConfig(max_test=40, max_val=20))
    default = split_dataset(data, SplitConfig())
    assert len(capped.test) < len(default.test) and len(capped.val) < len(default.val)
    said = _counted(["--data", str(big_csv), "--max-test", "40", "--max-val", "20"], monkeypatch, capsys)
    assert (said["n_test"], said["n_val"]) == (len(capped.test), len(capped.val))
    assert said["split"] == SplitConfig(max_test=40, max_val=20).identity() and said["removed_from_test"] == 0
    plain = _counted(["--data", str(big_csv)], monkeypatch, capsys)
    assert (plain["n_test"], plain["n_val"]) == (len(default.test), len(default.val)) and plain["exact"] > 0
    every = _counted(["--data", str(big_csv), "--max-test", "all"], monkeypatch, capsys)
    assert every["n_test"] == len(default.test)
    report = headstart.check_leakage(str(big_csv), max_test=40, max_val="20", examples=0)
    assert (report.n_test, report.n_val) == (len(capped.test), len(capped.val))


@pytest.mark.parametrize("args, fragment", [
    (["--max-test", "0"], "--max-test must be a positive integer or all, got '0'; e.g. --max-test 1000"),
    (["--max-test", "ten"], "--max-test must be a positive integer or all, got 'ten'; e.g. --max-test 1000"),
    (["--max-val", "-3"], "--max-val must be a positive integer (validation rows kept; leave it out for the default: "
                          "10% of the rows, at most 300), got '-3'; e.g. --max-val 100"),
])
def test_bad_split_flags_are_refused_as_trains_are(big_csv, monkeypatch, capsys, args, fragment):
    """The same line as train's, exit 2, before any data loads."""
    for command in (["check-leakage"], ["train", "--out", str(big_csv.parent / "run")]):
        assert_user_error(run_cli([*command, "--data", str(big_csv), *args], monkeypatch, capsys), fragment)
    assert not (big_csv.parent / "run").exists()


def test_a_threshold_other_than_dedupes_is_refused_under_dedupe(big_csv, monkeypatch, capsys):
    """--dedupe removes the copies at Jaccard >= 0.8: counts at another threshold would not be the rows it removes."""
    assert_user_error(run_cli(["check-leakage", "--data", str(big_csv), "--dedupe", "--threshold", "0.6"], monkeypatch,
                              capsys), "--threshold 0.6: --dedupe drops the copies at Jaccard >= 0.8", "drop --threshold")


def test_dedupe_counts_the_rows_it_removes(big_csv, monkeypatch, capsys):
    """--dedupe counts the copies of the cut before it (the rows it removes, as train --dedupe says them) and says they
    are removed; no advice to re-run with --dedupe."""
    code, out, err = run_cli(["check-leakage", "--data", str(big_csv), "--dedupe", "--examples", "0"], monkeypatch, capsys)
    assert code == 0 and "removed from test (--dedupe)" in out.splitlines()[0] and "drops those" not in out, out
    said = _counted(["--data", str(big_csv), "--dedupe"], monkeypatch, capsys)
    data = load_dataset(str(big_csv))
    kept = split_dataset(data, SplitConfig(dedupe=True))
    assert said["removed_from_test"] == said["exact"] + said["near"] > 0 and said["split"]["dedupe"] is True
    assert said["n_test"] - said["removed_from_test"] == len(kept.test)


def test_a_large_image_test_split_is_capped_as_a_runs_is(tmp_path, monkeypatch, capsys):
    """Without --max-test, an image test split over the data default keeps that many rows, as train's and compare's
    do (``data_defaults``): the split checked is a run's; --max-test all checks every one."""
    from PIL import Image

    import headstart.data_defaults

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(40):
            Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(tmp_path / "imgs" / label / f"{i}.png")
    monkeypatch.setattr(headstart.data_defaults, "IMAGE_MAX_TEST", 6)
    data = load_dataset(str(tmp_path / "imgs"))
    _, split, _ = headstart.data_defaults.fill(data, [], TrainConfig(), SplitConfig())  # what a run fills in
    assert split.max_test == 6
    said = _counted(["--data", str(tmp_path / "imgs")], monkeypatch, capsys)
    assert said["n_test"] == len(split_dataset(data, split).test) < len(split_dataset(data).test)
    assert said["split"]["max_test"] == 6
    assert _counted(["--data", str(tmp_path / "imgs"), "--max-test", "all"], monkeypatch, capsys)["n_test"] == len(
        split_dataset(data).test)
