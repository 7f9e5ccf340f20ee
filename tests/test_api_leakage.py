"""check-leakage (``headstart.check_leakage``) counts the split a run trains on: train's split flags (--max-test,
--max-val, --dedupe) cut it as they cut train's, and --run reads a saved run's own (it counted the default split only,
whatever caps a run was trained with)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, make_toy, run_cli

import headstart
from headstart.data import SplitConfig, load_dataset, split_dataset
from headstart.errors import ConfigError, DataError
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


def _run(csv: Path, out: Path, **split) -> dict:
    headstart.fit(str(csv), "tiny", strategy="linear-probe", n=16, out=out,
                  config=TrainConfig(max_steps=1, min_steps=1, batch_size=8, precision="fp32"), **split)
    return json.loads((out / "metrics.json").read_text())


def test_run_checks_the_runs_own_split(big_csv, tmp_path, monkeypatch, capsys, tiny_registry):
    """--run reads the run's data and split settings from its spec: the counts are of the split it was scored on (its
    metrics.json's test row count), and flags beside it that say another split are refused in one line."""
    run = tmp_path / "capped"
    metrics = _run(big_csv, run, max_test=40, max_val=20, dedupe=True)
    said = _counted(["--run", str(run)], monkeypatch, capsys)
    assert said["n_test"] - said["removed_from_test"] == metrics["majority"]["test"]["rows"]
    assert said["n_val"] - said["removed_from_validation"] == metrics["majority"]["val"]["rows"]
    assert said["split"]["max_test"] == 40 and said["run"] == str(run) and said["removed_from_test"] > 0
    assert _counted(["--run", str(run), "--data", str(big_csv), "--max-test", "40", "--max-val", "20", "--dedupe"],
                    monkeypatch, capsys) == said  # the flags it was trained with agree
    where = f"the run in {str(run)!r}"
    for args, fragment in [
        (["--max-test", "all"], f"--max-test all is not the split of {where} (--max-test 40); drop --max-test"),
        (["--max-val", "300"], f"--max-val 300 is not the split of {where} (--max-val 20); drop --max-val"),
        (["--data", "rotten-tomatoes"], f"--data 'rotten-tomatoes' is not the data of {where} ('big.csv'); drop --data"),
        (["--task", "regression"], f"--task 'regression' is not how {where} read its data (--task 'classification')"),
        (["--group-column", "text"], f"--group-column 'text' is not how {where} read its data (no --group-column)"),
        (["--threshold", "0.6"], f"{where} was split with --dedupe, which drops the copies at Jaccard >= 0.8"),
    ]:
        assert_user_error(run_cli(["check-leakage", "--run", str(run), *args], monkeypatch, capsys), fragment)
    with pytest.raises(ConfigError, match=r"^max_test=41 is not the split of .*\(max_test=40\); drop max_test"):
        headstart.check_leakage(run=run, max_test=41)
    with pytest.raises(ConfigError, match=r"^max_test='all' is not the split of"):
        headstart.check_leakage(run=run, max_test="all")
    plain = tmp_path / "plain"
    metrics = _run(big_csv, plain)
    said = _counted(["--run", str(plain)], monkeypatch, capsys)
    assert said["n_test"] == metrics["majority"]["test"]["rows"] == len(split_dataset(load_dataset(str(big_csv))).test)
    assert_user_error(run_cli(["check-leakage", "--run", str(plain), "--dedupe"], monkeypatch, capsys),
                      "--dedupe is not the split of", "(split without --dedupe); drop --dedupe; --run checks the run's own split")
    assert_user_error(run_cli(["check-leakage", "--run", str(tmp_path / "none")], monkeypatch, capsys), "does not exist")


def test_run_reads_the_runs_spec_without_torch(big_csv, tmp_path, tiny_registry):
    """--run needs the run's spec.json only: the command imports no torch (2 s cold; it came in through saved.py)."""
    import subprocess
    import sys

    run = tmp_path / "run"
    _run(big_csv, run, max_test=40)
    code = ("import sys; from headstart.cli import main; sys.argv = ['headstart', 'check-leakage', '--run', sys.argv[1], "
            "'--examples', '0', '--json']\ntry:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and json.loads(out.stdout)["split"]["max_test"] == 40, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr


def test_a_run_whose_data_cannot_be_read_again_says_so(big_csv, tmp_path, monkeypatch, capsys, tiny_registry):
    """A run's data file changed or gone, or the cache's copy of a DataFrame it trained on cleared: one line, exit 2,
    naming the flags that cut its split for a check of a copy. A DataFrame's copy still there is checked."""
    frame = pd.read_csv(big_csv)
    run = tmp_path / "frame"
    headstart.fit(frame, "tiny", strategy="linear-probe", n=16, out=run, max_test=40,
                  config=TrainConfig(max_steps=1, min_steps=1, batch_size=8, precision="fp32"))
    said = _counted(["--run", str(run)], monkeypatch, capsys)
    assert said["n_test"] == json.loads((run / "metrics.json").read_text())["majority"]["test"]["rows"]
    Path(json.loads((run / "spec.json").read_text())["data_source"]["path"]).unlink()
    assert_user_error(run_cli(["check-leakage", "--run", str(run)], monkeypatch, capsys),
                      f"the run in {str(run)!r} trained on data passed from Python (a DataFrame), whose copy in the cache",
                      "is gone; write that data to a file and check it with --data FILE --text-column text --label-column "
                      "label --task classification --max-test 40")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(big_csv.read_bytes())
    filed = tmp_path / "filed"
    _run(copy, filed, max_val=20)
    capsys.readouterr()  # the Python fit's own warning (its test rows that duplicate training rows) is not the CLI's
    copy.write_text(copy.read_text() + "one more review,positive\n")
    assert_user_error(run_cli(["check-leakage", "--run", str(filed)], monkeypatch, capsys),
                      "the data 'copy.csv' changed since the run in", "so its split is not the run's")
    copy.unlink()
    assert_user_error(run_cli(["check-leakage", "--run", str(filed)], monkeypatch, capsys),
                      f"the data file {str(copy)!r} of the run in {str(filed)!r} is missing; put it back, or check a copy "
                      "with --data FILE --text-column text --label-column label --task classification --max-val 20")
    with pytest.raises(DataError, match="is missing"):
        headstart.check_leakage(run=filed)


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


@pytest.mark.slow
def test_run_of_a_capped_real_run_counts_its_test_split(tmp_path, monkeypatch, capsys):
    """rotten-tomatoes: a run trained with --max-test 100 is scored on a part of the test split (its metrics.json
    counts the rows); check-leakage --run counts that part, and so does --max-test 100, where without either it counts
    the default split's rows (the rows a run without --max-test is scored on)."""
    run = tmp_path / "capped"
    code, _, err = run_cli(["train", "--data", "rotten-tomatoes", "--n", "16", "--max-steps", "1", "--max-test", "100",
                            "--out", str(run), "-q"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads((run / "metrics.json").read_text())["majority"]["test"]["rows"]
    said = _counted(["--run", str(run)], monkeypatch, capsys)
    assert said["n_test"] == rows and said["split"]["max_test"] == 100
    assert _counted(["--max-test", "100"], monkeypatch, capsys) == {k: v for k, v in said.items() if k != "run"}
    default = _counted([], monkeypatch, capsys)
    assert default["n_test"] == len(split_dataset(load_dataset("rotten-tomatoes")).test) > rows


def test_a_compare_store_is_checked_on_the_split_its_cells_used(big_csv, tmp_path, monkeypatch, capsys, tiny_registry):
    """check-leakage --run STORE said "'cmp' is a compare store (runs.sqlite), not a run", and --data STORE advised
    "give one of its tables as the data, e.g. 'cmp/leakage.json'": the data and split a compare's cells used are in its
    store, so it counts them (as --data with the compare's flags does); a store cut two ways names each cut's flags."""
    cfg = TrainConfig(max_steps=1, min_steps=1, batch_size=8, precision="fp32")
    store = tmp_path / "cmp"
    headstart.compare(str(big_csv), backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=store,
                      config=cfg, tune=None, max_test=40, max_val=20)
    said = _counted(["--run", str(store)], monkeypatch, capsys)
    assert {k: v for k, v in said.items() if k != "run"} == _counted(["--data", str(big_csv), "--max-test", "40", "--max-val", "20"],
                                                                     monkeypatch, capsys)
    assert said["n_test"] == json.loads((store / "leakage.json").read_text())["n_test"] and said["run"] == str(store)
    assert _counted(["--data", str(store)], monkeypatch, capsys)["n_test"] == said["n_test"]
    assert headstart.check_leakage(run=store).n_test == said["n_test"]
    assert_user_error(run_cli(["check-leakage", "--run", str(store), "--max-test", "50"], monkeypatch, capsys),
                      f"--max-test 50 is not the split of the compare store {str(store)!r} (--max-test 40)")
    headstart.compare(str(big_csv), backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=store,
                      config=cfg, tune=None, max_test=50, max_val=20)
    capsys.readouterr()  # the compare's own lines
    assert_user_error(run_cli(["check-leakage", "--run", str(store)], monkeypatch, capsys),
                      f"the cells of {str(store)!r} were cut 2 ways", "--max-test 40 --max-val 20", "--max-test 50 --max-val 20")


def test_a_compare_stores_relative_data_path_is_read_where_compare_read_it(big_csv, tmp_path, monkeypatch, capsys):
    """A compare given --data big.csv keeps that path as typed: check-leakage --run STORE read it from the working
    directory only, so from any other folder "the data file 'big.csv' ... is missing". The store now keeps the path
    compare read; one written before that was kept is read from the working directory or the folder holding the
    store, said in a note, and where neither has it the error names both."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    headstart.compare("big.csv", strategies="tfidf-logreg", sizes=[16], seeds=1, out="runs/cmp", tune=None, max_test=40)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = tmp_path / "runs" / "cmp"
    said = _counted(["--run", str(store)], monkeypatch, capsys)
    assert said["split"]["max_test"] == 40 and said["n_test"] == json.loads((store / "leakage.json").read_text())["n_test"]
    with sqlite3.connect(store / "runs.sqlite") as conn:  # as a store written before the path was kept
        (value,) = conn.execute("SELECT value FROM meta WHERE key = 'sweep'").fetchone()
        record = json.loads(value)
        del record["data"]["path"]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'sweep'", (json.dumps(record),))
    assert_user_error(run_cli(["check-leakage", "--run", str(store)], monkeypatch, capsys),
                      "the data file 'big.csv' of the compare store", "is missing: it is not in the working directory "
                      f"({str(elsewhere)!r}) nor the folder holding the store ({str(store.parent)!r})", "--max-test 40")
    (store.parent / "big.csv").write_bytes(big_csv.read_bytes())
    code, out, err = run_cli(["check-leakage", "--run", str(store), "--examples", "0", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out) == said, err
    assert (f"note: the compare store {str(store)!r} names its data 'big.csv', relative to the folder compare ran in, which "
            f"it does not record: read from the folder holding the store, {str(store.parent / 'big.csv')!r}") in err, err


def test_a_run_folder_given_as_the_data_is_read_as_run(big_csv, tmp_path, monkeypatch, capsys):
    """check-leakage --data RUN took a run folder for a folder of images: "'run' is a directory without class folders;
    give one of its tables as the data, e.g. 'run/metrics.json'", where a compare store given so is read as --run."""
    run = tmp_path / "run"
    headstart.fit(str(big_csv), strategy="tfidf-logreg", n=16, out=run, max_test=40)
    said = _counted(["--run", str(run)], monkeypatch, capsys)
    assert said["split"]["max_test"] == 40
    assert _counted(["--data", str(run)], monkeypatch, capsys) == {k: v for k, v in said.items() if k != "run"}
    assert headstart.check_leakage(str(run)).n_test == said["n_test"]


def test_a_run_that_read_no_split_column_is_read_again_without_one(big_csv, tmp_path, monkeypatch, capsys, tiny_registry):
    """A run trained before a column named split was read as the split by default stored no split_column in its data
    source; read again, its file's split column was picked up, the hash differed, and evaluate and check-leakage --run
    said its data changed. A source with no split_column reads none (as --split-column none does); one found by
    default is recorded, and read again as it was."""
    frame = pd.read_csv(big_csv)
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    frame.to_csv(big_csv, index=False)
    old = tmp_path / "old"
    _run(big_csv, old, split_column="none")  # stores the source as a run saved before the default did
    assert "split_column" not in json.loads((old / "spec.json").read_text())["data_source"]
    found = tmp_path / "found"
    _run(big_csv, found)
    assert json.loads((found / "spec.json").read_text())["data_source"]["split_column"] == "split"
    for run in (old, found):
        assert headstart.check_leakage(run=run).n_test > 0
        code, printed, err = run_cli(["evaluate", str(run)], monkeypatch, capsys)
        assert code in (0, None) and printed.startswith("test ("), err
