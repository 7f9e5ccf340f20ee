"""Tests of headstart/ood.py's majority flag: a score at or below always answering the scored rows' most frequent
class is said so by evaluate (in domain and out) and by train's --eval-data line, as compare and adapt say it."""

from __future__ import annotations

import json

import pandas as pd
from conftest import make_toy, run_cli

from headstart.ood import BELOW_MAJORITY, at_or_below_majority, majority_text, with_majority_flag


def toy_frame(n: int, seed: int = 0) -> pd.DataFrame:
    data = make_toy(n, seed=seed)
    return pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})


def test_a_score_at_or_below_its_rows_majority_class_is_flagged_in_either_shape_it_comes_in():
    assert at_or_below_majority({"accuracy": 0.6364, "majority": 0.818}) is True
    assert at_or_below_majority({"metrics": {"accuracy": 0.818}, "majority": 0.818}) is True  # train's: metrics nested
    assert at_or_below_majority({"accuracy": 0.9, "majority": 0.818}) is False
    assert at_or_below_majority({"rmse": 0.3}) is None and with_majority_flag({"rmse": 0.3}) == {"rmse": 0.3}
    assert with_majority_flag({"accuracy": 0.5, "majority": 0.6})["at_or_below_majority"] is True
    assert majority_text({"accuracy": 0.5, "majority": 0.6}, elsewhere=True) == (
        f"; WARNING: this score is {BELOW_MAJORITY}: nothing the run learned shows on these rows")
    assert majority_text({"accuracy": 0.5, "majority": 0.6}, elsewhere=False).endswith("no better than that constant answer")
    assert majority_text({"accuracy": 0.9, "majority": 0.6}, elsewhere=True) == ""
    assert majority_text({"accuracy": 0.6, "majority": 0.6, "one_class": "neg"}, elsewhere=True) == ""  # its own warning says why


def test_evaluate_and_train_flag_an_out_of_domain_score_at_or_below_the_majority_class(tmp_path, monkeypatch, capsys):
    """evaluate printed 'accuracy 0.6364 … its most frequent class is 81.8% of these rows' and nothing more, while
    compare, adapt and continual flag such a score. Here the other file's labels are swapped: the run scores near 0
    there, far below the 50% of always answering one class, while in domain it is well above its majority class."""
    toy_frame(120).to_csv(tmp_path / "toy.csv", index=False)
    swapped = toy_frame(60, seed=7)
    swapped["label"] = swapped["label"].map({"neg": "pos", "pos": "neg"})
    swapped.to_csv(tmp_path / "swapped.csv", index=False)
    other = ["--eval-data", str(tmp_path / "swapped.csv"), "--eval-rows", "all"]
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--strategy", "tfidf-logreg", "--quiet", "--data", str(tmp_path / "toy.csv"),
                              "--out", str(run), "--eval-data", str(tmp_path / "swapped.csv")], monkeypatch, capsys)
    assert code == 0, err
    (line,) = [x for x in out.splitlines() if x.startswith(f"test of {tmp_path / 'swapped.csv'} (")]
    assert f"; WARNING: this score is {BELOW_MAJORITY}: nothing the run learned shows on these rows" in line, out
    code, out, err = run_cli(["evaluate", str(run), *other], monkeypatch, capsys)
    assert code == 0, err
    inside, outside = [x for x in out.splitlines() if not x.startswith("  ")]
    assert f"WARNING: this score is {BELOW_MAJORITY}: nothing the run learned shows on these rows" in outside, out
    assert "WARNING" not in inside, out
    code, out, err = run_cli(["evaluate", str(run), *other, "--json"], monkeypatch, capsys)
    scored = json.loads(out)
    assert scored["at_or_below_majority"] is False and scored["ood"][0]["at_or_below_majority"] is True, scored
    code, out, err = run_cli(["train", "--strategy", "tfidf-logreg", "--quiet", "--data", str(tmp_path / "toy.csv"),
                              "--out", str(tmp_path / "run2"), "--eval-data", str(tmp_path / "swapped.csv"), "--json"],
                             monkeypatch, capsys)
    assert code == 0 and json.loads(out)["ood"][0]["at_or_below_majority"] is True, (out, err)


def test_train_names_an_eval_data_file_as_evaluate_does_without_calling_it_out_of_domain(tmp_path, monkeypatch, capsys):
    """train's line on an --eval-data file began 'out of domain, FILE test', though the file here is of the run's own
    kind (the same toy task, other rows): it says what was scored, 'test of FILE (N examples, ...)', as evaluate
    --eval-data does, with the same scores."""
    toy_frame(120).to_csv(tmp_path / "toy.csv", index=False)
    toy_frame(60, seed=7).to_csv(tmp_path / "more.csv", index=False)
    run, more = tmp_path / "run", str(tmp_path / "more.csv")
    code, out, err = run_cli(["train", "--strategy", "tfidf-logreg", "--quiet", "--data", str(tmp_path / "toy.csv"),
                              "--out", str(run), "--eval-data", more], monkeypatch, capsys)
    assert code == 0, err
    assert "out of domain" not in out, out
    (trained,) = [x for x in out.splitlines() if x.startswith(f"test of {more} (")]
    assert trained.startswith(f"test of {more} (12 examples, split without reading its labels): accuracy "), out
    code, out, err = run_cli(["evaluate", str(run), "--eval-data", more, "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    (evaluated,) = [x for x in out.splitlines() if x.startswith(f"test of {more} (")]
    assert evaluated.startswith(f"test of {more} (12 examples): "), out
    assert trained.split("): ", 1)[1] == evaluated.split("): ", 1)[1], (trained, evaluated)

