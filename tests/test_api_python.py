"""The Python API's own surface beside the CLI's: predict on a DataFrame, progress callbacks, numpy integers, a
compare's statuses, saving and loading a FitResult."""

from __future__ import annotations

import pandas as pd
import pytest

import headstart
from headstart.errors import ConfigError
from headstart.specs import TrainConfig

FAST = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")


@pytest.fixture
def review_run(toy_csv, tiny_registry, tmp_path):
    """A run trained on a table whose text column is ``review``, saved in tmp_path / "run"."""
    table = pd.read_csv(toy_csv).rename(columns={"text": "review"})
    table.to_csv(tmp_path / "reviews.csv", index=False)
    result = headstart.fit(str(tmp_path / "reviews.csv"), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run",
                           config=FAST, tune=None)
    return result, tmp_path / "run"


def test_predict_reads_a_dataframe_by_the_runs_text_column_keeping_its_other_columns(review_run):
    result, out = review_run
    frame = pd.DataFrame({"id": [7, 9], "review": ["good film", "awful plot"], "label": ["pos", "neg"]})
    expected = headstart.predict(out, ["good film", "awful plot"])
    for predict in (result.predict, lambda inputs, **kw: headstart.predict(out, inputs, **kw)):
        rows = predict(frame)
        assert [r["text"] for r in rows] == ["good film", "awful plot"]
        assert [list(r) for r in rows] == [["text", "id", "input_label", "label", "probabilities"]] * 2
        assert [(r["id"], r["input_label"]) for r in rows] == [(7, "pos"), (9, "neg")]
        assert [r["label"] for r in rows] == [e["label"] for e in expected]
        other = predict(frame.rename(columns={"review": "body"}), text_column="body")
        assert [r["text"] for r in other] == ["good film", "awful plot"] and "review" not in other[0]
        dropped = predict(pd.DataFrame({"review": ["good film", None, "  "]}))
        assert [r["text"] for r in dropped] == ["good film"]
        with pytest.raises(ConfigError, match=r"got a dict"):
            predict({"review": ["good film"]})
        with pytest.raises(ConfigError, match=r"text_column='review' names a DataFrame's column, but the inputs are a list"):
            predict(["good film"], text_column="review")
        with pytest.raises(headstart.HeadstartError, match=r"text column 'nope' not found"):
            predict(frame, text_column="nope")


def test_fit_and_compare_take_a_progress_function_as_evaluate_does(toy_csv, tiny_registry, tmp_path):
    calls = []
    result = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=FAST, tune=None,
                           progress=lambda done, total, info: calls.append((done, total, dict(info))))
    assert calls and calls[-1][:2] == (result.steps, result.steps) and all(isinstance(c[2], dict) for c in calls)
    assert any("loss" in info for _, _, info in calls)
    cells = []
    compared = headstart.compare(str(toy_csv), "tiny", strategies="linear-probe", sizes=[16], seeds=2, config=FAST,
                                 tune=None, out=tmp_path / "cmp", progress=lambda *a: cells.append(a))
    assert compared.trained == 2 and cells[0][:2] == (0, 2) and cells[-1][:2] == (2, 2)
    assert compared.summary["command"].startswith("headstart.compare(") and "progress" not in compared.summary["command"]
    for call in (lambda: headstart.fit(str(toy_csv), "tiny", progress="yes"),
                 lambda: headstart.compare(str(toy_csv), "tiny", progress=3, out=tmp_path / "no")):
        with pytest.raises(ConfigError, match=r"progress must be True \(a bar on stderr\), False, None or a function"):
            call()
    assert not (tmp_path / "no").exists()


def test_numpy_integers_count_as_ints_wherever_the_python_api_takes_one(toy_csv, tiny_registry, tmp_path):
    import numpy as np

    plain = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, seed=1, config=FAST, tune=None)
    given = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=np.int64(16), seed=np.int64(1),
                          config={"max_steps": np.int32(4), "min_steps": 4, "batch_size": 8, "precision": "fp32"},
                          tune=None, max_val=np.int64(20), max_test=np.uint16(40))
    again = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, seed=1, config=FAST, tune=None,
                          max_val=20, max_test=40)
    assert plain.key != given.key == again.key  # the caps count, as ints
    compared = headstart.compare(str(toy_csv), "tiny", strategies=("linear-probe",), sizes=np.array([16]),
                                 seeds=np.int64(1), config=FAST, tune=None, out=tmp_path / "cmp", progress=False)
    assert (compared.total, compared.trained) == (1, 1)
    assert headstart.compare(str(toy_csv), "tiny", strategies="linear-probe", sizes=range(16, 17), seeds=1, config=FAST,
                             tune=None, out=tmp_path / "cmp", progress=False).skipped == 1
    with pytest.raises(ConfigError, match=r"seed must be an integer from 0 to 2\*\*63 - 1, got True"):
        headstart.fit(str(toy_csv), "tiny", seed=True)
    with pytest.raises(ConfigError, match=r"seeds must be a positive integer, got np.True_"):
        headstart.compare(str(toy_csv), "tiny", seeds=np.bool_(True), out=tmp_path / "no")


def test_a_compares_statuses_count_its_stored_cells_as_its_repr_does(toy_csv, tiny_registry, tmp_path):
    kwargs = dict(strategies="linear-probe", sizes=[16, 32], seeds=1, config=FAST, tune=None, out=tmp_path / "cmp",
                  progress=False)
    first = headstart.compare(str(toy_csv), "tiny", **kwargs)
    assert (first.trained, first.statuses, first.trained_statuses) == (2, {"done": 2}, {"done": 2})
    again = headstart.compare(str(toy_csv), "tiny", **kwargs)
    assert (again.skipped, again.trained, again.statuses, again.trained_statuses) == (2, 0, {"done": 2}, {})
    assert repr(again).startswith("CompareResult(2 cells: 0 trained, 2 already stored; ")
    grown = headstart.compare(str(toy_csv), "tiny", **{**kwargs, "sizes": [16, 32, 48]})
    assert (grown.skipped, grown.trained, grown.statuses, grown.trained_statuses) == (2, 1, {"done": 3}, {"done": 1})


def test_a_result_in_memory_saves_the_folder_fit_writes_and_load_reads_it_back(toy_csv, tiny_registry, tmp_path):
    import json

    from headstart.errors import StoreError

    kwargs = dict(strategy="full-finetune", n=32, seed=0, config=FAST, tune=None)
    kept = headstart.fit(str(toy_csv), "tiny", **kwargs)
    assert kept.out is None and kept.save(tmp_path / "later") == tmp_path / "later" and kept.out == tmp_path / "later"
    headstart.fit(str(toy_csv), "tiny", **kwargs, out=tmp_path / "direct")
    files = lambda d: sorted(p.name for p in d.iterdir())  # noqa: E731
    assert files(tmp_path / "later") == files(tmp_path / "direct")
    spec, direct = (json.loads((tmp_path / d / "spec.json").read_text()) for d in ("later", "direct"))
    differ = ("environment", "card_path")  # where it ran, and the path its card names
    assert {k: v for k, v in spec.items() if k not in differ} == {k: v for k, v in direct.items() if k not in differ}
    assert (spec["card_path"], direct["card_path"]) == (str(tmp_path / "later"), str(tmp_path / "direct"))
    metrics, direct = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("later", "direct"))
    assert sorted(metrics) == sorted(direct) and metrics["val"] == direct["val"] and metrics["flags"] == direct["flags"]
    texts = ["good film", "awful plot"]
    loaded = headstart.load(tmp_path / "later")
    assert (loaded.key, loaded.status, loaded.val_metrics, loaded.steps) == (kept.key, "done", kept.val_metrics, kept.steps)
    assert loaded.predict(texts) == kept.predict(texts) == headstart.predict(tmp_path / "direct", texts)
    assert loaded.evaluate()["accuracy"] == headstart.evaluate(kept)["accuracy"]
    assert loaded.save(tmp_path / "copy") == tmp_path / "copy" and files(tmp_path / "copy") == files(tmp_path / "later")
    assert json.loads((tmp_path / "copy" / "spec.json").read_text())["card_path"] == str(tmp_path / "copy"), "its own path"
    assert headstart.load(tmp_path / "copy").predict(texts) == loaded.predict(texts)
    other = headstart.fit(str(toy_csv), "tiny", **{**kwargs, "seed": 1})
    with pytest.raises(ConfigError, match=r"holds another run \(full-finetune, n = 32, seed 0\).*pass overwrite=True"):
        other.save(tmp_path / "later")
    assert other.save(tmp_path / "later", overwrite=True) and headstart.load(tmp_path / "later").key == other.key
    with pytest.raises(StoreError, match="is not a headstart run"):
        headstart.load(tmp_path)


def test_integer_and_bool_labels_come_back_as_the_text_the_run_stored_them_as(toy_csv, tiny_registry):
    table = pd.read_csv(toy_csv)
    for labels, names in (((table.label == "pos").astype(int), {"0", "1"}), (table.label == "pos", {"False", "True"})):
        run = headstart.fit(table.assign(label=labels), "tiny", strategy="linear-probe", n=32, config=FAST, tune=None)
        row = run.predict(["good film"])[0]
        assert row["label"] in names and set(row["probabilities"]) == names
        assert set(run.evaluate()["per_class"]) == names


def test_saving_a_result_onto_another_run_says_nothing_was_saved_not_that_nothing_trained(review_run, toy_csv, tmp_path):
    """``FitResult.save(out)`` onto a folder holding another run said "nothing was trained or replaced", of a result
    that had trained (in memory); fit(out=...) onto it, refused before training, still says so."""
    _, out = review_run
    other = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, config=FAST, tune=None)
    with pytest.raises(ConfigError, match=r"holds another run \(full-finetune, n = 32, seed 0\); nothing was saved or replaced: "):
        other.save(out)
    with pytest.raises(ConfigError, match=r"holds another run \(full-finetune, n = 32, seed 0\); nothing was trained or replaced: "):
        headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, config=FAST, tune=None, out=out)
    assert headstart.load(out).key == review_run[0].key
