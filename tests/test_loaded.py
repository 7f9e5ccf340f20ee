"""Tests of headstart/loaded.py: what ``evaluate`` of a classifier run shows while it scores."""

from __future__ import annotations

import json
import re

from conftest import assert_user_error, run_cli
from headstart.progress import ETA_KEY
from headstart.specs import TrainConfig

CFG = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32", eval_batch_size=16)


def counts(seen: list[tuple[int, int, dict]]) -> dict[str, list[tuple[int, int, float | None]]]:
    """Each part an evaluate bar counted ("scoring the test split (rows)"): its (done, total, ETA) in order."""
    parts: dict[str, list[tuple[int, int, float | None]]] = {}
    for done, total, info in seen:
        (unit, what), = ((k, v) for k, v in info.items() if k != ETA_KEY)
        parts.setdefault(f"{what} ({unit})", []).append((done, total, info[ETA_KEY]))
    return parts


def test_evaluate_shows_the_rows_it_scores_with_the_time_left_unless_quiet(toy_csv, tiny_registry, tmp_path, monkeypatch,
                                                                          capsys):
    """headstart evaluate of a classifier run scored for minutes with no word (14,000 images), and refused --quiet:
    its bar counts the rows scored with an ETA on stderr, --quiet hides it, --json's stdout stays the JSON alone."""
    out = tmp_path / "ft"
    code, _, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune",
                            "--n", "32", "--max-steps", "4", "--eval-batch-size", "16", "--precision", "fp32", "--out", str(out)],
                           monkeypatch, capsys)
    assert code in (0, None), err
    code, printed, err = run_cli(["evaluate", str(out)], monkeypatch, capsys)
    assert code in (0, None) and printed.startswith("test ("), (code, printed, err)
    lines = [line for line in err.splitlines() if line.startswith("evaluate: ")]  # the toy split's leakage warned after
    assert re.fullmatch(r"evaluate: 0/(\d+) rows scoring the test split elapsed \d+s ETA \?", lines[0]), lines
    rows = re.fullmatch(r"evaluate: (\d+)/\1 rows scoring the test split elapsed \d+s ETA 0s", lines[-1])
    assert rows and printed.startswith(f"test ({rows[1]} examples)"), (lines, printed)
    code, quiet, err = run_cli(["evaluate", str(out), "-q"], monkeypatch, capsys)
    assert code in (0, None) and "evaluate: " not in err and err.startswith("warning: ") and quiet == printed, err
    code, printed, err = run_cli(["evaluate", str(out), "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(printed)["n"] == int(rows[1]) and "rows scoring the test split" in err, err
    assert_user_error(run_cli(["evaluate", str(tmp_path / "nothing"), "--quiet"], monkeypatch, capsys), "does not exist")


def test_evaluate_progress_counts_each_part_from_0_to_the_whole_with_its_time_left(toy_csv, other_csv, tiny_registry,
                                                                                  tmp_path):
    """progress= on a classifier run was refused ("follows an sft run's answers"): it follows the run's own split,
    then each --eval-data dataset as trained and after --tta (the pool adapted on, in batches), each at its own pace;
    in memory or from the folder, and FitResult.evaluate too."""
    import headstart

    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "ft", config=CFG)
    text = f"{other_csv}[neutral=-]"
    seen: list[tuple[int, int, dict]] = []
    whole = headstart.evaluate(run, eval_data=text, tta="tent", full=True,
                               progress=lambda done, total, info: seen.append((done, total, dict(info))))
    parts = counts(seen)
    assert list(parts) == ["scoring the test split (rows)", f"scoring {text} (rows)",
                           f"scoring {text} after tent, adapting to its pool (batches)", f"scoring {text} after tent (rows)"], list(parts)
    for name, said in parts.items():
        assert said[0][0] == 0 and said[0][2] is None, (name, said)  # unknown before its first batch
        assert said[-1][0] == said[-1][1] > 0 and said[-1][2] == 0, (name, said)
        assert len(said) > 2 and all(eta >= 0 for done, _, eta in said if done), (name, said)
    assert parts["scoring the test split (rows)"][-1][1] == whole["n"]
    assert [total for _, total, _ in parts[f"scoring {text} (rows)"][-1:]] == [whole["ood"][0]["n"]]

    for evaluate in (lambda told: headstart.evaluate(tmp_path / "ft", "val", progress=told),
                     lambda told: run.evaluate("validation", progress=told)):
        seen.clear()
        scored = evaluate(lambda done, total, info: seen.append((done, total, dict(info))))
        said = counts(seen)
        assert list(said) == ["scoring the validation split (rows)"] and said[list(said)[0]][-1][:2] == (scored["n"],) * 2, said


def test_evaluate_refuses_a_bad_eval_data_or_tta_before_it_scores_any_row(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                           monkeypatch, capsys):
    """An --eval-data that is unknown, missing, or whose labels do not map, and a --tta that cannot apply, were named only
    after the run's own test split was scored (minutes on a large run): now before any row is, in the same one line."""
    import pytest

    import headstart
    import headstart.loaded
    from headstart.errors import ConfigError

    out = tmp_path / "ft"
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CFG)
    scored = []
    for name in ("evaluate_loaded", "evaluate_ood"):  # what scores the run's own split, and each --eval-data
        real = getattr(headstart.loaded, name)
        monkeypatch.setattr(headstart.loaded, name, lambda *a, _real=real, _name=name, **k: scored.append(_name) or _real(*a, **k))
    other = f"{other_csv}[neutral=-]"
    refused = {
        ("--eval-data", "drug-reviewz"): "unknown dataset 'drug-reviewz'; did you mean 'drug-reviews'?",
        ("--eval-data", str(tmp_path / "missing.csv")): f"data file not found: '{tmp_path / 'missing.csv'}'",
        ("--eval-data", str(other_csv)): "match none of the run's",  # neutral has no counterpart in the run's labels
        ("--eval-data", other, "--tta", "bn-adapt"): "--tta bn-adapt cannot adapt this run: the model has no BatchNorm layer",
        ("--eval-data", other, "--tta", "tent", "--eval-rows", "all"): "--tta tent adapts on the dataset's pool, and "
                                                                        "--eval-rows all scores every row",
    }
    for args, said in refused.items():
        assert_user_error(run_cli(["evaluate", "-q", str(out), *args], monkeypatch, capsys), said)
        assert scored == [], (args, scored)
    with pytest.raises(ConfigError, match="has no BatchNorm layer"):  # from Python: a list scored the first dataset first
        headstart.evaluate(out, eval_data=[other, other.replace("[neutral=-]", "")], tta="bn-adapt")
    with pytest.raises(ConfigError, match="match none of the run's"):
        headstart.evaluate(out, eval_data=[other, str(other_csv)])
    assert scored == []
    code, printed, _ = run_cli(["evaluate", "-q", str(out), "--eval-data", other], monkeypatch, capsys)
    assert code in (0, None) and scored == ["evaluate_loaded", "evaluate_ood"] and f"test of {other_csv}" in printed
