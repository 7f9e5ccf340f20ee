"""Leakage: exact and near duplicates between pool/val and test, dedupe, check-leakage and compare's leakage.json."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headstart.cli import app
from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig, Splits, split_dataset
from headstart.errors import ConfigError, DataError
from headstart.data.duplicates import match_rows, normalize
from headstart.data.leakage import find_leakage, leaked_test_rows, leaked_val_rows

runner = CliRunner()


def sentences(n: int, *, words: int = 20, seed: int = 0) -> list[str]:
    """``n`` unrelated sentences over a 2,000-word vocabulary (pairwise Jaccard ~ 0)."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{k}" for k in rng.integers(0, 2000, size=words)) for _ in range(n)]


def dataset(texts: list[str]) -> Dataset:
    targets = np.arange(len(texts), dtype=np.int64) % 2
    return Dataset(name="synthetic", inputs=texts, targets=targets, task="classification", label_names=("a", "b"))


def jaccard(a: str, b: str) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        w = normalize(text).split()
        return {tuple(w[i:i + 3]) for i in range(len(w) - 2)} or {tuple(w)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


@pytest.fixture
def leaky() -> tuple[Dataset, Splits, dict[int, str]]:
    """100 train texts, 40 test texts: test 0-4 exact copies (re-cased, re-punctuated), 5-9 near copies, rest fresh."""
    train = sentences(100, seed=1)
    test = sentences(40, seed=2)
    kinds = {}
    for i in range(5):
        test[i] = train[10 * i].upper().replace(" ", " ,  ") + "!"
        kinds[i] = "exact"
    for i in range(5, 10):
        test[i] = train[10 * i] + " extra"  # 18 of 19 shingles shared: J = 0.947
        kinds[i] = "near"
    data = dataset(train + test)
    splits = Splits(pool=np.arange(90), val=np.arange(90, 100), test=np.arange(100, 140))
    return data, splits, kinds


def test_exact_and_near_duplicates_are_found(leaky):
    data, splits, kinds = leaky
    report = find_leakage(data, splits, examples=20)
    assert (report.n_test, report.exact, report.near) == (40, 5, 5)
    assert report.fraction == pytest.approx(10 / 40)
    assert len(report.examples) == 10 and [e[2] for e in report.examples[5:]] == [1.0] * 5  # near pairs first
    for test_text, train_text, similarity in report.examples:
        assert similarity == pytest.approx(jaccard(test_text, train_text))
    match, similarity, exact = match_rows(data.inputs, np.concatenate([splits.pool, splits.val]), splits.test, 0.8)
    assert exact.tolist() == [k == "exact" for k in (kinds.get(i) for i in range(40))]
    assert match[:10].tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]  # val rows count as training data too
    assert (match[10:] == -1).all() and (similarity[10:] == 0).all()


def test_unrelated_texts_are_not_flagged():
    texts = sentences(600, seed=3)
    data = dataset(texts)
    report = find_leakage(data, Splits(pool=np.arange(400), val=np.arange(400, 450), test=np.arange(450, 600)), threshold=0.3)
    assert (report.exact, report.near, report.fraction, report.examples) == (0, 0, 0.0, [])


def test_shared_boilerplate_is_not_enough():
    """Same opening, different reviews: the pair is similar but under the threshold."""
    opening = "i have been taking this medication for three months now and"
    train = [f"{opening} {s}" for s in sentences(30, words=12, seed=4)]
    test = [f"{opening} {s}" for s in sentences(30, words=12, seed=5)]
    data = dataset(train + test)
    report = find_leakage(data, Splits(pool=np.arange(30), val=np.arange(0), test=np.arange(30, 60)))
    assert report.exact + report.near == 0


@pytest.mark.parametrize("a, b", [
    ("Hello,  WORLD!", "hello world"),
    ("ｆｕｌｌ　ｗｉｄｔｈ text", "full width text"),  # NFKC folds full-width letters and spaces
    ("  tabs\tand\nnewlines ", "tabs and newlines"),
    ("don't—stop…", "don t stop"),
    ("Café ＣＡＦÉ", "café café"),
])
def test_normalize(a, b):
    assert normalize(a) == normalize(b) == b


def test_punctuation_only_texts_are_not_duplicates_of_each_other():
    data = dataset(["!!!", "some real text here", "???", "other real words there"])
    report = find_leakage(data, Splits(pool=np.array([0, 1]), val=np.array([], dtype=np.int64), test=np.array([2, 3])))
    assert report.exact + report.near == 0


def test_short_texts_compare_as_one_shingle():
    data = dataset(["great", "great movie", "Great!", "great movie!", "great film"])
    match, _, exact = match_rows(data.inputs, np.array([0, 1]), np.array([2, 3, 4]), 0.8)
    assert match.tolist() == [0, 1, -1] and exact.tolist() == [True, True, False]


def test_threshold():
    base = " ".join(f"w{i}" for i in range(12))
    near = base.rsplit(" ", 1)[0] + " other"  # last word changed: 9 of 11 shingles shared, J = 9/11
    j = jaccard(base, near)
    assert j == pytest.approx(9 / 11)
    data = dataset([base, near])
    split = Splits(pool=np.array([0]), val=np.array([], dtype=np.int64), test=np.array([1]))
    for threshold, found in ((0.8, 1), (j, 1), (0.85, 0), (1.0, 0)):
        report = find_leakage(data, split, threshold=threshold)
        assert (report.exact, report.near) == (0, found), threshold
    assert find_leakage(data, split, threshold=0.8).examples[0][2] == pytest.approx(j)


@pytest.mark.parametrize("threshold", [0, -0.1, 1.01, float("nan"), "0.8", True])
def test_bad_threshold(leaky, threshold):
    data, splits, _ = leaky
    with pytest.raises(ConfigError, match="threshold must be in"):
        find_leakage(data, splits, threshold=threshold)


def test_best_match_is_reported():
    base = " ".join(f"w{i}" for i in range(20))
    farther = " ".join(f"w{i}" for i in range(18)) + " x y"
    closer = base + " z"
    data = dataset([farther, closer, base])
    match, similarity, _ = match_rows(data.inputs, np.array([0, 1]), np.array([2]), 0.7)
    assert match.tolist() == [1] and similarity[0] == pytest.approx(jaccard(base, closer))


def test_hashing_does_not_depend_on_the_process(leaky, tmp_path):
    """A dedupe split is re-made by evaluate in another process: PYTHONHASHSEED must not change it."""
    data, splits, _ = leaky
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(data.inputs))
    code = ("import json, sys, numpy as np; from headstart.data.duplicates import match_rows; "
            f"t = json.load(open({str(texts)!r})); m, s, e = match_rows(t, np.arange(100), np.arange(100, 140), 0.5); "
            "print(json.dumps([m.tolist(), s.tolist()]))")
    outputs = set()
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout)
    m, s, _ = match_rows(data.inputs, np.arange(100), np.arange(100, 140), 0.5)
    assert outputs == {json.dumps([m.tolist(), s.tolist()]) + "\n"}



def count_normalize(monkeypatch) -> list[str]:
    """Every text ``normalize`` is called on, wherever in the leakage code it is called from."""
    import headstart.data.duplicates as duplicates
    import headstart.data.leakage as leakage
    import headstart.data.seen as seen_module

    seen: list[str] = []
    real = duplicates.normalize
    for module in (duplicates, leakage, seen_module):
        monkeypatch.setattr(module, "normalize", lambda text: seen.append(text) or real(text))
    return seen


def test_find_leakage_normalises_each_text_once(leaky, monkeypatch):
    """The search (pool, validation, test) and the label conflicts (every row) read the same normalised texts: a
    quarter of find_leakage's ~1 s on 12,808 reviews went to normalising every text twice."""
    data, splits, _ = leaky
    expected = find_leakage(data, splits)
    seen = count_normalize(monkeypatch)
    assert find_leakage(data, splits) == expected
    assert len(seen) == len(data.inputs) == 140


def test_seen_rows_normalises_the_scored_rows_once_for_every_part(monkeypatch):
    import headstart.data.seen as seen_module
    from headstart.data.seen import seen_rows

    seen = {"training": sentences(30, seed=1), "validation": sentences(10, seed=2)}
    scored = sentences(20, seed=3) + seen["validation"][:2]
    expected = seen_rows(seen, scored)
    monkeypatch.setattr(seen_module, "_SEEN", {})  # the answer kept for the same question: asked afresh
    normalised = count_normalize(monkeypatch)
    assert seen_rows(seen, scored) == expected == {"training": 0, "validation": 2}
    assert len(normalised) == 22 + 30 + 10

# ---- dedupe in split_dataset ---------------------------------------------------------------------------

def leaky_dataset(n: int = 400, copies: int = 40, seed: int = 0) -> Dataset:
    """``n`` unique texts plus ``copies`` exact or near copies of some of them, in random places."""
    return planted_leaks(n, copies, seed)[0]


def planted_leaks(n: int, copies: int, seed: int) -> tuple[Dataset, list[tuple[int, int]]]:
    """``leaky_dataset`` and the rows of each planted (original, copy) pair, known without the detector."""
    rng = np.random.default_rng(seed)
    texts = sentences(n, seed=seed)
    pairs = []
    for k, i in enumerate(rng.choice(n, size=copies, replace=False)):
        pairs.append((int(i), len(texts)))
        texts.append(texts[i] + (" again" if k % 2 else ""))
    order = rng.permutation(len(texts))
    row = np.argsort(order)  # where each text lands
    return dataset([texts[i] for i in order]), [(int(row[a]), int(row[b])) for a, b in pairs]


@pytest.mark.parametrize("config", [SplitConfig(), SplitConfig(seed=3, max_test=60)])
def test_dedupe_removes_exactly_the_flagged_test_rows(config):
    data, pairs = planted_leaks(400, 40, 0)
    plain = split_dataset(data, config)
    deduped = split_dataset(data, dataclasses.replace(config, dedupe=True))
    flagged = leaked_test_rows(data, plain)
    train, test = set(plain.pool) | set(plain.val), set(plain.test)
    planted = sorted({a for a, b in pairs if a in test and b in train} | {b for a, b in pairs if b in test and a in train})
    assert flagged.tolist() == planted and planted  # the planted copies that straddle the split, no more
    report = find_leakage(data, plain)
    assert len(flagged) == report.exact + report.near > 0
    assert np.array_equal(deduped.pool, plain.pool)
    assert np.array_equal(deduped.test, np.setdiff1d(plain.test, flagged))
    assert find_leakage(data, deduped).fraction == 0.0
    pool, val = set(plain.pool), set(plain.val)
    in_val = sorted({a for a, b in pairs if a in val and b in pool} | {b for a, b in pairs if b in val and a in pool})
    assert leaked_val_rows(data, plain).tolist() == in_val  # validation copies of pool rows, no more
    assert np.array_equal(deduped.val, np.setdiff1d(plain.val, in_val))


def test_dedupe_drops_the_validation_rows_that_copy_pool_rows():
    """What chooses (checkpoints, --tune, the recommendation) must not reward memorising what a deduplicated test no
    longer rewards: under dedupe, validation keeps no copy of a pool row."""
    data, pairs = planted_leaks(400, 120, 1)
    plain = split_dataset(data, SplitConfig())
    deduped = split_dataset(data, SplitConfig(dedupe=True))
    pool = set(plain.pool)
    copies = {b for a, b in pairs if a in pool and b in set(plain.val)} | {a for a, b in pairs if b in pool and a in set(plain.val)}
    assert copies and copies <= set(plain.val) and not copies & set(deduped.val)
    assert len(deduped.val) == len(plain.val) - len(copies)


def test_the_validation_rows_dedupe_drops_are_counted_and_said(tmp_path, monkeypatch, capsys):
    """--dedupe dropped the validation rows that copy pool rows without a word: the leakage line counted test rows only,
    so "validation (15 examples)" after a 20-row cut went unexplained. The report counts them (as many as the cut
    drops), its line says so, and says they were removed under --dedupe; check-leakage says it too."""
    from conftest import run_cli

    data, pairs = planted_leaks(400, 120, 1)
    plain = split_dataset(data, SplitConfig())
    dropped = len(plain.val) - len(split_dataset(data, SplitConfig(dedupe=True)).val)
    report = find_leakage(data, plain)
    assert report.val_leaked == dropped == len(leaked_val_rows(data, plain)) > 0 and report.n_val == len(plain.val)
    said = f"; {dropped} of {len(plain.val)} validation examples duplicate pool examples"
    assert report.summary().endswith(said) and report.summary(removed=True).endswith(said + ", removed from validation (--dedupe)")
    assert "removed from test (--dedupe)" in report.summary(removed=True)
    fresh = dataset(sentences(60))
    assert "validation examples duplicate pool" not in find_leakage(fresh, split_dataset(fresh)).summary(removed=True)  # none: unsaid
    path = tmp_path / "leaky.csv"
    pd.DataFrame({"text": data.inputs, "label": ["a", "b"] * (len(data) // 2)}).to_csv(path, index=False)
    code, out, err = run_cli(["check-leakage", "--data", str(path), "--examples", "0"], monkeypatch, capsys)
    assert code == 0 and "validation examples duplicate pool examples" in out.splitlines()[0], out
    assert "and the validation examples that duplicate pool ones" in out, out


def test_dedupe_of_the_unstratified_cut_is_its_own_after_the_stratified_one(monkeypatch):
    """The out-of-domain cut (by_label=False) has other test rows than the stratified one: its dedupe must drop its
    own leaked rows, not those remembered from the stratified cut of the same data and config."""
    from headstart.data import splits as splits_module

    data = leaky_dataset(n=400, copies=100)
    config = SplitConfig(dedupe=True)
    split_dataset(data, config)  # the stratified cut first, as a sweep's own data is
    after = split_dataset(data, config, by_label=False)
    monkeypatch.setattr(splits_module, "_LEAKED", {})
    fresh = split_dataset(data, config, by_label=False)
    assert np.array_equal(after.test, fresh.test)
    plain = split_dataset(data, SplitConfig(), by_label=False)
    assert np.array_equal(fresh.test, np.setdiff1d(plain.test, leaked_test_rows(data, plain)))


def test_dedupe_off_is_the_default_and_changes_nothing():
    data = leaky_dataset()
    assert SplitConfig().dedupe is False
    a, b = split_dataset(data), split_dataset(data, SplitConfig(dedupe=False))
    assert all(np.array_equal(a.part(p), b.part(p)) for p in ("pool", "val", "test"))


def test_dedupe_that_empties_the_test_split_is_an_error():
    texts = ["the same review every time"] * 30
    data = dataset(texts)
    with pytest.raises(DataError, match="dedupe leaves no test split"):
        split_dataset(data, SplitConfig(dedupe=True))


def test_dedupe_must_be_a_bool():
    with pytest.raises(ConfigError, match="dedupe must be True or False"):
        SplitConfig(dedupe="yes")


def test_dedupe_in_a_sweep_toml(tmp_path):
    from headstart.sweep_config import read_config

    path = tmp_path / "sweep.toml"
    path.write_text("[split]\ndedupe = true\nmax_test = 100\n")
    assert SplitConfig(**read_config(path)["split"]) == SplitConfig(dedupe=True, max_test=100)


# ---- command line --------------------------------------------------------------------------------------

@pytest.fixture
def leaky_csv(tmp_path) -> Path:
    data = leaky_dataset()
    path = tmp_path / "leaky.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return path


def test_check_leakage_json(leaky_csv):
    result = runner.invoke(app, ["check-leakage", "--data", str(leaky_csv), "--json", "--examples", "2"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    data = leaky_dataset()
    expected = find_leakage(data, split_dataset(data))
    assert payload["data"] == "leaky.csv" and payload["threshold"] == 0.8
    assert (payload["n_test"], payload["exact"], payload["near"]) == (expected.n_test, expected.exact, expected.near)
    assert len(payload["examples"]) == 2 and set(payload["examples"][0]) == {"test", "train", "similarity"}


def test_check_leakage_text(leaky_csv):
    result = runner.invoke(app, ["check-leakage", "--data", str(leaky_csv), "--examples", "1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("leakage: ") and "exact" in lines[0] and "near" in lines[0]
    assert lines[1].lstrip().startswith(("0.", "1.00")) and "test:" in lines[1] and "train:" in lines[2]
    warning = next(i for i, line in enumerate(lines) if line.startswith("warning: "))  # several percent are copies
    # the copies carry random labels, so some contradict their originals: that line and its examples come last
    assert lines[warning + 1].startswith("label conflicts: ") and " / " in lines[warning + 2]


@pytest.mark.parametrize("args, fragment", [
    (["--threshold", "0"], "--threshold must be in (0, 1], got 0.0"),
    (["--threshold", "2"], "--threshold must be in (0, 1], got 2.0"),
    (["--examples", "-1"], "--examples must be an integer >= 0, got -1"),
    (["--text-column", "body"], "text column 'body' not found"),
])
def test_check_leakage_bad_input(leaky_csv, monkeypatch, capsys, args, fragment):
    from headstart.cli import main

    monkeypatch.setattr(sys, "argv", ["headstart", "check-leakage", "--data", str(leaky_csv), *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.strip().splitlines() == [err.strip()] and err.startswith("error: ")
    assert fragment in err and "Traceback" not in err


def test_compare_writes_leakage_json(leaky_csv, tmp_path, monkeypatch, tiny_registry):
    """compare prints the leakage line and the warning, stores leakage.json, and --dedupe trains on the deduped split.
    (The tiny backbone comes from ``tiny_registry``: a stub of ``headstart.backbones.load_backbone`` itself was bound
    by any module first imported during this test, ``headstart.saved`` say, and outlived it.)"""
    args = ["compare", "--data", str(leaky_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "8",
            "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--quiet"]
    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    payload = json.loads((tmp_path / "plain" / "leakage.json").read_text())
    assert payload["split"]["dedupe"] is False and payload["removed_from_test"] == 0 and payload["fraction"] > 0.01
    assert "warning: " in plain.stdout and "re-run with --dedupe" in plain.stdout
    out = tmp_path / "cmp"
    result = runner.invoke(app, [*args, "--out", str(out), "--dedupe"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "leakage.json").read_text())
    assert payload["split"]["dedupe"] is True and payload["removed_from_test"] == payload["exact"] + payload["near"] > 0
    assert "leakage: " in result.stdout and "removed from test (--dedupe)" in result.stdout
    # nothing left to warn about but the copies' random labels, which contradict their originals
    assert [line for line in result.output.splitlines() if "warning" in line] == [
        f"warning: label conflicts: {payload['conflicts']} inputs carry two or more different labels "
        f"({payload['conflict_rows']} rows); no model can be right on all of them, so fix or drop them in the data "
        "(headstart check-leakage shows them)"]
    assert not list(out.glob(".*.tmp"))
    from headstart.store import Store

    with Store(out, create=False) as store:
        (row,) = store.results()
    assert row.metrics["n"] == payload["n_test"] - payload["removed_from_test"]


TRAIN = ["train", "--backbone", "tiny", "--strategy", "linear-probe", "--n", "8", "--max-steps", "2", "--min-steps", "2",
         "--precision", "fp32", "--quiet"]


def test_train_says_the_leakage_compare_says_and_dedupe_keys_and_scores_the_deduplicated_split(
        leaky_csv, tmp_path, monkeypatch, capsys, tiny_registry):
    """train said nothing of test rows that copy training rows (compare, evaluate and check-leakage do) and had no
    --dedupe. Now it prints compare's leakage line and warning, --dedupe drops them (the run's spec and key say so, and
    the same --out is refused as another run), and evaluate scores the deduplicated test split, with nothing to warn."""
    from conftest import run_cli

    plain, deduped = tmp_path / "plain", tmp_path / "deduped"
    data = leaky_dataset()
    expected = find_leakage(data, split_dataset(data))
    code, out, err = run_cli([*TRAIN, "--data", str(leaky_csv), "--out", str(plain)], monkeypatch, capsys)
    assert code == 0, err
    assert f"leakage: {expected.exact + expected.near} of {expected.n_test} test examples" in out, out
    assert "re-run with --dedupe" in out and "removed from test" not in out, out
    assert out.splitlines()[-1].startswith("next: headstart evaluate"), out
    code, out, err = run_cli([*TRAIN, "--data", str(leaky_csv), "--out", str(plain), "--dedupe"], monkeypatch, capsys)
    assert code == 2 and "--dedupe False there, True asked" in err and "--overwrite" in err, err
    code, out, err = run_cli([*TRAIN, "--data", str(leaky_csv), "--out", str(deduped), "--dedupe", "--json"], monkeypatch, capsys)
    summary = json.loads(out)
    assert code == 0 and summary["leakage"]["removed_from_test"] == expected.exact + expected.near > 0, summary
    assert "removed from test (--dedupe)" in err and "re-run with --dedupe" not in err, err
    specs = [json.loads((run / "spec.json").read_text()) for run in (plain, deduped)]
    assert [s["spec"]["split"]["dedupe"] for s in specs] == [False, True] and specs[0]["key"] != specs[1]["key"]
    code, out, err = run_cli(["evaluate", str(plain), "--json"], monkeypatch, capsys)
    warned = json.loads(out)["leakage"]
    assert code == 0 and json.loads(out)["n"] == expected.n_test and warned["fraction"] > 0.01
    assert warned["text"].endswith("(train --dedupe scores without them)"), warned
    code, out, err = run_cli(["evaluate", str(deduped), "--json"], monkeypatch, capsys)
    scored = json.loads(out)
    assert code == 0 and scored["n"] == expected.n_test - expected.exact - expected.near and "leakage" not in scored
    assert scored["n"] == len(split_dataset(data, SplitConfig(dedupe=True)).test)


def test_fit_takes_dedupe_as_compare_does(tmp_path, tiny_registry):
    """``headstart.fit(..., dedupe=True)`` mirrors train --dedupe: its result counts the leakage, its in-memory
    evaluate scores the deduplicated test split; a non-bool is refused by name."""
    import headstart

    data = leaky_dataset()
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})
    options = dict(strategy="linear-probe", n=8, config={"max_steps": 2, "min_steps": 2, "precision": "fp32"})
    run = headstart.fit(frame, "tiny", dedupe=True, **options)
    leaked = run.leakage.exact + run.leakage.near
    assert leaked > 0 and f"{leaked} of {run.leakage.n_test} test rows duplicate training rows" in repr(run)
    assert run.evaluate("test")["n"] == run.leakage.n_test - leaked
    assert headstart.fit(frame, "tiny", **options).evaluate("test")["n"] == run.leakage.n_test
    with pytest.raises(ConfigError, match="dedupe"):
        headstart.fit(frame, "tiny", dedupe="yes", **options)


def conflicting() -> Dataset:
    """Six rows: 'Great film!' twice as pos and once (re-cased) as neg; 'dull' as neg twice; 'fine' pos, 'FINE.' neg."""
    texts = ["Great film!", "great film", "GREAT FILM", "dull", "dull", "fine", "FINE."]
    labels = np.array([1, 1, 0, 0, 0, 1, 0])
    return Dataset(name="conflicts", inputs=texts, targets=labels, task="classification", label_names=("neg", "pos"))


def test_split_leakage_is_kept_in_the_cache_per_data_and_split(tmp_path, monkeypatch):
    """What train and compare say before training was searched again on every call (~1 s on 12,808 reviews); now a
    second call on the same data and split reads the kept report, another split or data searches, and a damaged or
    unwritable cache file costs a search, never an error."""
    import headstart.data.leakage as leakage

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    train, test = sentences(60, seed=3), sentences(30, seed=4)
    test[:4] = train[:4]
    data = dataset(train + test)
    searches = []
    real = leakage.find_leakage
    monkeypatch.setattr(leakage, "find_leakage", lambda *a, **k: searches.append(1) or real(*a, **k))
    first = leakage.split_leakage(data, SplitConfig())
    again = leakage.split_leakage(data, SplitConfig(dedupe=True))  # the same cut: dedupe is measured without
    assert len(searches) == 1 and again == first and first.exact > 0 and first.examples
    kept = list((tmp_path / "cache" / "leakage").glob("*.json"))
    assert len(kept) == 1
    leakage.split_leakage(data, SplitConfig(seed=1))
    leakage.split_leakage(dataset(train + sentences(30, seed=5)), SplitConfig())
    assert len(searches) == 3
    import headstart.data

    cut = headstart.data.split_dataset  # the same settings cut another way (a change in the split code): searched again
    monkeypatch.setattr(headstart.data, "split_dataset", lambda d, c: Splits(*(np.roll(part, 1) for part in (cut(d, c).pool,
                                                                                     cut(d, c).test, cut(d, c).val))))
    leakage.split_leakage(data, SplitConfig())
    assert len(searches) == 4
    monkeypatch.setattr(headstart.data, "split_dataset", cut)
    kept[0].write_text("{not json")
    assert leakage.split_leakage(data, SplitConfig()) == first and len(searches) == 5
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file where the cache folder should be")
    assert leakage.split_leakage(data, SplitConfig()) == first and len(searches) == 6


def test_a_kept_report_is_keyed_by_the_code_that_searched(tmp_path, monkeypatch):
    """LEAKAGE_CACHE_VERSION had to be bumped by hand when normalize or match_rows changed what they count, or every
    cache kept answering with the old code's reports. An edit to leakage.py or duplicates.py now changes the key by
    itself (as does another Unicode version, which NFKC reads); the same code keeps it."""
    import headstart.data.leakage as leakage

    data = leaky_dataset()
    splits = split_dataset(data)
    kept = leakage._cached_path(data, splits)
    for folder in ("same", "edited"):
        (tmp_path / folder).mkdir()
        for path in leakage.CODE:
            (tmp_path / folder / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(leakage, "CODE", tuple(tmp_path / "same" / path.name for path in leakage.CODE))
    assert leakage._cached_path(data, splits) == kept
    duplicates = tmp_path / "edited" / "duplicates.py"
    text = duplicates.read_text()
    duplicates.write_text(text.replace("_NON_WORD.sub(\" \", text)", "text"))  # punctuation kept: other counts
    assert duplicates.read_text() != text
    monkeypatch.setattr(leakage, "CODE", tuple(tmp_path / "edited" / path.name for path in leakage.CODE))
    assert leakage._cached_path(data, splits) != kept
    monkeypatch.setattr(leakage, "CODE", tuple(tmp_path / "same" / path.name for path in leakage.CODE))
    monkeypatch.setattr("unicodedata.unidata_version", "99.0.0")
    leakage.code_digest.cache_clear()
    assert leakage._cached_path(data, splits) != kept

def count_searches(monkeypatch) -> list[int]:
    """The train/test searches for duplicates run from here on (each the number of its test rows), with the
    process's memories of earlier ones emptied."""
    import headstart.data.duplicates as duplicates
    import headstart.data.leakage as leakage
    import headstart.data.splits as splits_module

    monkeypatch.setattr(splits_module, "_LEAKED", {})
    monkeypatch.setattr(leakage, "_MATCHES", {})
    searches: list[int] = []
    real = duplicates.match_texts
    for module in (duplicates, leakage):
        monkeypatch.setattr(module, "match_texts", lambda train, test, threshold: searches.append(len(test)) or
                            real(train, test, threshold))
    return searches


def test_dedupe_and_the_leakage_report_share_one_search_of_the_test_rows(tmp_path, monkeypatch, tiny_registry):
    """compare --dedupe and train --dedupe report the leakage of the split (split_leakage) and then cut it
    (split_dataset): the test rows were searched for copies of pool and validation rows twice in one process, the same
    search with the same answer. Now once, plus the search of validation rows against the pool that only dedupe asks."""
    import headstart
    import headstart.data.leakage as leakage

    data = leaky_dataset()
    plain = split_dataset(data)
    searches = count_searches(monkeypatch)
    report = leakage.split_leakage(data, SplitConfig(dedupe=True))
    deduped = split_dataset(data, SplitConfig(dedupe=True))
    assert searches == [len(plain.test), len(plain.val)]
    assert len(deduped.test) == len(plain.test) - report.exact - report.near
    assert np.array_equal(leaked_test_rows(data, plain), np.setdiff1d(plain.test, deduped.test)) and len(searches) == 2
    searches = count_searches(monkeypatch)  # fit(dedupe=True), as train --dedupe: the same two searches, no more
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cold"))
    headstart.fit(frame, "tiny", strategy="linear-probe", n=8, dedupe=True,
                  config={"max_steps": 2, "min_steps": 2, "precision": "fp32"})
    assert searches == [len(plain.test), len(plain.val)]

def test_label_conflicts_are_counted_over_every_row():
    data = conflicting()
    report = find_leakage(data, Splits(pool=np.arange(3), val=np.arange(3, 5), test=np.arange(5, 7)), examples=5)
    assert (report.conflicts, report.conflict_rows) == (2, 5)  # 'dull' agrees with itself
    assert [labels for _, labels in report.conflict_examples] == [["neg", "pos"], ["neg", "pos"]]
    assert report.conflict_examples[0][0] == "Great film!"
    assert report.conflicts_summary().startswith("label conflicts: 2 inputs carry two or more different labels (5 rows)")
    assert report.to_dict()["conflict_examples"][1] == {"text": "fine", "labels": ["neg", "pos"]}


def test_conflicts_count_only_disagreeing_copies_and_never_regression(leaky):
    data, splits, _ = leaky
    # exact copies: test row 100 + i of train row 10 i (i < 5); labels are row % 2, so rows 101 and 103 disagree
    assert (find_leakage(data, splits).conflicts, find_leakage(data, splits).conflict_rows) == (2, 4)
    agreeing = dataclasses.replace(data, targets=np.zeros(len(data.targets), dtype=np.int64))
    assert find_leakage(agreeing, splits).conflicts == 0
    regression = dataclasses.replace(conflicting(), task="regression", label_names=(),
                                     targets=np.array([1.0, 2.0, 3.0, 1.0, 1.0, 0.5, 0.0], dtype=np.float32))
    report = find_leakage(regression, Splits(pool=np.arange(3), val=np.arange(3, 5), test=np.arange(5, 7)))
    assert (report.conflicts, report.conflict_rows, report.conflicts_summary()) == (0, 0, "")


def test_multilabel_conflicts_compare_label_sets():
    targets = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=np.float32)
    data = Dataset(name="ml", inputs=["a b", "A B", "c", "c!"], targets=targets, task="multilabel", label_names=("x", "y", "z"))
    report = find_leakage(data, Splits(pool=np.arange(2), val=np.arange(2, 3), test=np.arange(3, 4)))
    assert (report.conflicts, report.conflict_rows) == (1, 2)
    assert report.conflict_examples == [("c", ["{y, z}", "{y}"])]


def test_check_leakage_shows_label_conflicts(tmp_path):
    data = conflicting()
    path = tmp_path / "c.csv"
    pd.DataFrame({"text": data.inputs * 4, "label": [data.label_names[y] for y in data.targets] * 4}).to_csv(path, index=False)
    result = runner.invoke(app, ["check-leakage", "--data", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("label conflicts: 2 inputs"))
    assert "(20 rows)" in lines[at]
    assert lines[at + 1].strip() == "neg / pos:  Great film!" and lines[at + 2].strip() == "neg / pos:  fine"


# ---- real data -----------------------------------------------------------------------------------------

def test_rotten_tomatoes():
    """The default split of the built-in reviews: 35 test reviews are copies of pool/val reviews (the same critic's
    text filed under two movies), none are near copies; dedupe drops exactly those and moves no other row."""
    from headstart.data import load_dataset

    data = load_dataset("rotten-tomatoes")
    plain = split_dataset(data)
    digest = hashlib.sha256(b"".join(plain.part(p).astype("<i8").tobytes() for p in ("pool", "val", "test"))).hexdigest()[:16]
    assert digest == "22a3fc2c3e226c4e"  # the split every stored result was made on: dedupe=False must not move it
    report = find_leakage(data, plain)
    assert (report.n_test, report.exact, report.near) == (2589, 35, 0)
    assert all(normalize(t) == normalize(s) for t, s, _ in report.examples)
    deduped = split_dataset(data, SplitConfig(dedupe=True))
    assert len(deduped.test) == 2589 - 35 and np.array_equal(deduped.pool, plain.pool)


@pytest.mark.slow
def test_train_dedupe_on_rotten_tomatoes_evaluates_without_its_35_copies(tmp_path, monkeypatch, capsys):
    """MiniLM's probe on the built-in reviews with --dedupe: train counts the 35 test copies and drops them, and evaluate
    of the saved run scores the 2,554 rows left, with nothing to warn of (~25 s to train, ~90 s to evaluate on 2 cores)."""
    from conftest import run_cli

    out = tmp_path / "run"
    code, stdout, err = run_cli(["train", "--data", "rotten-tomatoes", "--strategy", "linear-probe", "--n", "32", "--max-steps", "20",
                                 "--min-steps", "20", "--precision", "fp32", "--quiet", "--dedupe", "--out", str(out), "--json"],
                                monkeypatch, capsys)
    leakage = json.loads(stdout)["leakage"]
    assert code == 0 and (leakage["n_test"], leakage["exact"], leakage["near"], leakage["removed_from_test"]) == (2589, 35, 0, 35)
    assert "leakage: 35 of 2,589 test examples (1.35%)" in err and "removed from test (--dedupe)" in err, err
    code, stdout, err = run_cli(["evaluate", str(out), "--json"], monkeypatch, capsys)
    scored = json.loads(stdout)
    assert code == 0 and scored["n"] == 2554 and "leakage" not in scored and "warning" not in err, err


def test_seen_rows_counts_another_files_rows_under_the_first_part_they_duplicate():
    from headstart.data.seen import seen_rows, seen_text

    seen = {"training": ["A great film.", "dull and slow"], "validation": ["dull and slow", "a moving, tender story of two friends who grow apart over one long hot summer"]}
    scored = ["a great film", "Dull and slow!", "a moving tender story of two friends who grow apart over one long hot season", "something else"]
    counts = seen_rows(seen, scored)
    assert counts == {"training": 2, "validation": 1}  # exact after normalising; near: Jaccard 12/14
    assert seen_text(counts, 4, "held.csv") == (
        "3 of the 4 rows scored from held.csv (75.00%) duplicate the run's own training or validation rows (2 training, "
        "1 validation), so this score is optimistic; evaluate --dedupe leaves them out, to score only rows the run never saw")
    assert seen_text({"training": 0, "validation": 0}, 4, "held.csv") is None
    assert seen_rows(seen, scored, threshold=1.0) == {"training": 2, "validation": 0}


def test_unseen_rows_leaves_out_the_rows_seen_rows_counts():
    """What evaluate --eval-data FILE --dedupe drops: the rows ``seen_rows`` counts, each under the first part it copies."""
    from headstart.data.seen import dropped_text, seen_parts, unseen_rows

    seen = {"training": ["A great film.", "dull and slow"], "validation": ["dull and slow", "a fine cast"]}
    scored = dataset(["something else", "a great film", "Dull and slow!", "A fine cast.", "another one"])
    assert seen_parts(seen, scored.inputs).tolist() == [-1, 0, 0, 1, -1]
    left, counts = unseen_rows(scored, np.arange(1, 5), seen)
    assert left.tolist() == [4] and counts == {"training": 2, "validation": 1}
    assert dropped_text(counts, 4, "held.csv") == ("--dedupe dropped 3 of the 4 rows of held.csv (75.00%) before scoring: "
                                                   "they duplicate the run's own training or validation rows (2 training, 1 validation)")
    assert dropped_text({"training": 0, "validation": 0}, 4, "held.csv").endswith(
        "dropped 0 of the 4 rows of held.csv (0.00%) before scoring: none duplicates the run's own training or validation rows")


def test_evaluate_dedupe_leaves_out_the_eval_data_rows_the_run_trained_or_chose_on(toy_csv, tiny_registry, tmp_path,
                                                                                    monkeypatch, capsys):
    """evaluate --eval-data FILE warned of the rows the run trained or chose on but scored them; --dedupe leaves them out
    and says how many in one line, as evaluate(dedupe=True) does in Python; without --eval-data, or where no row is
    left, it is refused in one line."""
    import headstart
    from conftest import assert_user_error, run_cli, run_with_repeated_rows

    run, held, _, _ = run_with_repeated_rows(toy_csv, tmp_path)
    args = ["evaluate", str(run), "--eval-data", str(held), "--eval-rows", "all"]
    code, out, err = run_cli([*args, "--dedupe", "-q"], monkeypatch, capsys)
    assert code == 0 and f"every row of {held} (76 examples): accuracy" in out, out
    said = [line for line in err.splitlines() if str(held) in line]  # the note, and no warning of held.csv's copies
    assert len(said) == 1 and said[0].startswith(f"note: --dedupe dropped 24 of the 100 rows of {held} (24.00%) before "
                                                 "scoring: they duplicate the run's own training or validation rows ("), err
    code, out, _ = run_cli([*args, "--dedupe", "--json"], monkeypatch, capsys)
    (scored,) = json.loads(out)["ood"]
    dropped = scored["dropped"]
    assert code == 0 and scored["n"] == 76 and dropped["training"] + dropped["validation"] == 24 and dropped["rows"] == 100
    assert "leakage" not in scored
    python = headstart.evaluate(run, eval_data=str(held), eval_rows="all", dedupe=True)
    assert python["n"] == 76 and python["dropped"] == dropped and python["accuracy"] == scored["accuracy"]
    assert headstart.evaluate(run, eval_data=str(held), eval_rows="all")["n"] == 100  # without it: scored and warned of
    assert_user_error(run_cli(["evaluate", str(run), "--dedupe"], monkeypatch, capsys),
                      "--dedupe leaves out the rows of an --eval-data dataset", "add --eval-data DATA", "trains with --dedupe")
    copies = tmp_path / "copies.csv"
    pd.read_csv(held).head(24).to_csv(copies, index=False)  # only the run's own rows
    assert_user_error(run_cli(["evaluate", str(run), "--eval-data", str(copies), "--eval-rows", "all", "--dedupe", "-q"],
                              monkeypatch, capsys), f"every row of {copies} duplicates the run's own", "drop --dedupe")


def test_evaluate_dedupe_of_a_run_whose_data_changed_is_refused(toy_csv, tiny_registry, tmp_path):
    """Where the run's own rows cannot be read back (its file changed since training; ``evaluate(run, eval_data=...)``
    reads no split of its own), dedupe cannot leave them out: refused, naming why; without it the score comes, its note
    saying the rows went unchecked."""
    import shutil

    import headstart

    data, run, held = tmp_path / "data.csv", tmp_path / "probe", tmp_path / "held.csv"
    shutil.copy(toy_csv, data)
    headstart.fit(str(data), "tiny", n=16, out=run, config={"max_steps": 2, "min_steps": 2, "precision": "fp32"})
    table = pd.read_csv(data)
    table.head(30).to_csv(held, index=False)
    table.iloc[::-1].to_csv(data, index=False)  # the same rows in another order: another file
    with pytest.raises(ConfigError, match=r"^dedupe cannot leave out the run's own training and validation rows: its data "
                                          r"does not read back \(the data 'data.csv' changed since .*\); drop dedupe to score "
                                          r"every row of eval_data$"):
        headstart.evaluate(run, eval_data=str(held), eval_rows="all", dedupe=True)
    scored = headstart.evaluate(run, eval_data=str(held), eval_rows="all")
    assert scored["n"] == 30 and scored["note"].startswith("not checked for rows the run trained on (the data 'data.csv' changed")


def test_check_leakage_takes_task_as_train_does_and_its_note_names_it(tmp_path, monkeypatch, capsys):
    """check-leakage noted "pass --task regression" under a column of -1/0/1, a flag it then refused (No such option:
    --task); from Python, check_leakage(...) had no task either. It takes --task (task=) as train does, and its note
    names it."""
    import headstart
    from conftest import run_cli

    path = tmp_path / "reviews.csv"
    path.write_text("review,condition,rating\n" + "".join(f"review {i} of drug {i % 7},{['pain', 'acne', 'flu'][i % 3]},"
                                                           f"{i % 3 - 1}\n" for i in range(60)))
    code, out, err = run_cli(["check-leakage", "--data", str(path), "--examples", "0"], monkeypatch, capsys)
    assert code == 0 and ("reviews.csv: labels read as 3 classes (-1, 0, 1), not as a scale; pass --task regression to "
                          "predict them as numbers") in err, err
    code, out, err = run_cli(["check-leakage", "--data", str(path), "--task", "regression", "--examples", "0"],
                             monkeypatch, capsys)
    assert code == 0 and "not as a scale" not in err, err
    headstart.check_leakage(str(path), task="regression", examples=0)
    assert "not as a scale" not in capsys.readouterr().err


def test_check_leakage_with_task_splits_as_a_run_given_that_task_does(tmp_path, monkeypatch, capsys):
    """check-leakage stratified the split by the inferred task, so it could not check the split of a --task regression
    run on whole-number ratings (ten classes by default, five quantiles as a regression target): with --task it cuts
    the very split train cuts; a bad --task is one line, exit 2."""
    import headstart.data.leakage
    from conftest import assert_user_error, run_cli
    from headstart.data import SplitConfig, load_dataset, split_dataset

    path = tmp_path / "ratings.csv"
    ratings = [1 + min(9, int(10 * (i / 300) ** 2)) for i in range(300)]  # ten values, more of the low ones
    pd.DataFrame({"review": [f"review number {i} says {r}" for i, r in enumerate(ratings)], "rating": ratings}).to_csv(
        path, index=False)
    cut = []
    real = headstart.data.leakage.find_leakage
    monkeypatch.setattr(headstart.data.leakage, "find_leakage",
                        lambda data, splits, **kw: cut.append(splits) or real(data, splits, **kw))
    run_split = split_dataset(load_dataset(str(path), task="regression"), SplitConfig())
    inferred = split_dataset(load_dataset(str(path)), SplitConfig())
    assert set(run_split.test) != set(inferred.test), "the two tasks cut different splits: the check below can fail"
    code, _, err = run_cli(["check-leakage", "--data", str(path), "--task", "regression", "--examples", "0"],
                           monkeypatch, capsys)
    assert code == 0, err
    assert sorted(cut[-1].test) == sorted(run_split.test) and sorted(cut[-1].val) == sorted(run_split.val)
    assert_user_error(run_cli(["check-leakage", "--data", str(path), "--task", "regresion"], monkeypatch, capsys),
                      "--task must be one of", "regresion")


def test_a_python_fit_warns_of_leakage_in_its_own_words(tmp_path, tiny_registry, caplog, capsys):
    """The CLI's "warning: 4.8% of the test set duplicates training data ... re-run with --dedupe" never reached a
    Python caller of fit (no warning, no log record; only the end of the repr), and evaluate()'s leakage text gave CLI
    advice. fit now warns on the ``headstart`` logger at WARNING, its fix ``dedupe=True``, as does evaluate's text."""
    import logging

    import headstart

    data = leaky_dataset()
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})
    options = dict(strategy="linear-probe", n=8, config={"max_steps": 2, "min_steps": 2, "precision": "fp32"})
    with caplog.at_level(logging.INFO, logger="headstart"):
        run = headstart.fit(frame, "tiny", **options)
    warned = [r.getMessage() for r in caplog.records if r.name == "headstart" and r.levelno == logging.WARNING]
    assert any("of the test set duplicates training data" in m and "re-run with dedupe=True" in m for m in warned), warned
    assert not any("--dedupe" in m for m in warned), warned
    text = run.evaluate("test")["leakage"]["text"]
    assert "fit(..., dedupe=True)" in text and "--dedupe" not in text and "headstart check-leakage" not in text, text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        headstart.fit(frame, "tiny", dedupe=True, **options)  # the duplicates dropped: nothing to warn of
    assert not [r for r in caplog.records if "duplicates training data" in r.getMessage()]


def test_a_python_fit_prints_its_leakage_warning_where_no_logging_is_set(tmp_path, tiny_registry, capsys, monkeypatch):
    """With no logging of the caller's (a plain notebook), the warning reaches stderr as the CLI's ``warning:`` line."""
    import logging

    import headstart

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's own capture handler stands for a caller's logging
    for name, logger in list(logging.root.manager.loggerDict.items()):  # and an earlier CLI test's note printer
        if (name == "headstart" or name.startswith("headstart.")) and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "handlers", [])
            monkeypatch.setattr(logger, "level", logging.NOTSET)
            monkeypatch.setattr(logger, "propagate", True)
    data = leaky_dataset()
    frame = pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})
    headstart.fit(frame, "tiny", strategy="linear-probe", n=8, config={"max_steps": 2, "min_steps": 2, "precision": "fp32"})
    err = capsys.readouterr().err
    assert "warning: " in err and "of the test set duplicates training data" in err and "dedupe=True" in err, err
