"""Tests of headstart/data/memory.py: a DataFrame or (texts, labels) trains like a file, with a stable identity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import headstart
from headstart.data.memory import as_path
from headstart.errors import ConfigError
from headstart.specs import TrainConfig

FAST = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")


def test_a_dataframe_and_texts_labels_train_as_the_same_file_would(toy_csv, tiny_registry, tmp_path):
    frame = pd.read_csv(toy_csv)
    from_frame = headstart.fit(frame, "tiny", strategy="full-finetune", n=32, out=tmp_path / "a", config=FAST)
    from_pairs = headstart.fit((frame["text"].tolist(), frame["label"].tolist()), "tiny", strategy="full-finetune", n=32,
                               config=FAST)
    assert from_frame.status == "done" and from_frame.key == from_pairs.key, "the same rows are the same run"
    assert headstart.evaluate(tmp_path / "a")["accuracy"] > 0  # a saved run reloads its data from the cache
    digest = Path(as_path(frame)).stem.removeprefix("table-")[:8]
    card = (tmp_path / "a" / "README.md").read_text()
    assert f"# full-finetune on data passed from Python ({digest})" in card and "table-" not in card, card
    changed = frame.assign(label=frame["label"][::-1].to_numpy())
    assert as_path(changed) != as_path(frame), "other content, another identity"


def test_in_memory_data_in_a_compare(toy_csv, tiny_registry, tmp_path):
    frame = pd.read_csv(toy_csv)
    result = headstart.compare(frame, backbone="tiny", strategies="linear-probe", sizes=[16], seeds=2, out=tmp_path / "c",
                               config=FAST, tune=None)
    assert result.trained == 2 and {r["strategy"] for r in result.summary["curves"]} == {"linear-probe"}
    digest = Path(as_path(frame)).stem.removeprefix("table-")[:8]
    report = (tmp_path / "c" / "report.md").read_text()
    assert report.splitlines()[0] == f"# data passed from Python ({digest}) · tiny — accuracy vs labelled examples", \
        "the user never named the cached table: the report says where the data came from"
    assert "table-" not in report and f"data passed from Python ({digest}) · tiny" in (tmp_path / "c" / "report.html").read_text()
    shown = f"data passed from Python ({digest})"
    assert result.leakage.data == shown and {r["data"] for r in headstart.runs(tmp_path / "c")} == {shown}
    ranked = headstart.rank_backbones(frame, "tiny", n=32)
    assert ranked.data == shown and repr(ranked).startswith(f"RankResult({shown}, n 32"), repr(ranked)


@pytest.mark.parametrize("data, message", [((["a", "b"], [1]), "must be the same length"), (42, "got int"),
                                           (pd.DataFrame({"text": []}), "holds no rows")])
def test_bad_in_memory_data_is_one_clear_error(data, message):
    with pytest.raises(ConfigError, match=message):
        as_path(data)


def test_the_identity_is_the_datas_not_the_tables_layout():
    frame = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "label": [i % 2 for i in range(40)]})
    assert as_path(frame) == as_path(frame[["label", "text"]]) == as_path(frame.astype({"label": "int32"}))
    with pytest.raises(ConfigError, match="cannot be stored as a table"):
        as_path(pd.DataFrame({"text": ["a", "b", "c"], "label": [1, "neg", 2.5]}))


def test_a_datasets_dataset_and_a_dataset_dict_with_its_splits(toy_csv, tiny_registry, tmp_path):
    """Real Hugging Face objects: a Dataset trains as the same table would; a DatasetDict keeps its train / test
    split (the test rows are exactly its 'test' split) and refuses a split name it cannot read."""
    datasets = pytest.importorskip("datasets")
    import json

    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.data.memory import SPLIT_COLUMN

    frame = pd.read_csv(toy_csv)
    as_table = headstart.fit(frame, "tiny", strategy="linear-probe", n=32, config=FAST)
    as_hf = headstart.fit(datasets.Dataset.from_pandas(frame), "tiny", strategy="linear-probe", n=32, config=FAST)
    assert as_hf.key == as_table.key, "the same rows are the same run"
    parts = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame.iloc[:150].reset_index(drop=True)),
                                  "test": datasets.Dataset.from_pandas(frame.iloc[150:].reset_index(drop=True))})
    run = headstart.fit(parts, "tiny", strategy="linear-probe", n=32, config=FAST, out=tmp_path / "dd")
    assert run.status == "done"
    spec = json.loads((tmp_path / "dd" / "spec.json").read_text())["spec"]
    assert spec["split_column"] == SPLIT_COLUMN
    data = load_dataset(spec["data"], split_column=SPLIT_COLUMN)
    test_texts = {data.inputs[i] for i in split_dataset(data, SplitConfig()).test}
    assert test_texts == set(frame["text"].iloc[150:]), "the test rows are the DatasetDict's test split"
    assert headstart.evaluate(tmp_path / "dd")["n"] == 50, "evaluate re-reads the same split"
    with pytest.raises(ConfigError, match="split 'extra' is not train, validation or test"):
        as_path(datasets.DatasetDict({"train": parts["train"], "extra": parts["test"]}))
    with pytest.raises(ConfigError, match="a DatasetDict brings its own splits"):
        headstart.fit(parts, "tiny", strategy="linear-probe", n=32, config=FAST, split_column="split")


def test_plain_texts_and_a_table_that_cannot_be_read_name_what_was_passed(monkeypatch, tmp_path):
    """``fit(["a", "b"])`` was read as texts "a" and labels "b", then refused as one class of an internal
    '.staged-<sha>.parquet' the user never wrote; a table with no text column named that file too, and stayed in the cache."""
    from headstart.errors import DataError

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        headstart.fit(["a", "b"])
    assert str(caught.value) == ("data is a list of 2 texts and no labels; pass (texts, labels), e.g. (['a joy to watch', "
                                 "'dull'], ['fresh', 'rotten']), or a DataFrame with a text and a label column")
    with pytest.raises(DataError) as caught:
        headstart.fit(pd.DataFrame({"text": [f"review {i}" for i in range(20)], "label": ["a"] * 20}))
    assert str(caught.value).startswith("label column 'label' of the data passed has a single class ('a')"), str(caught.value)
    with pytest.raises(DataError) as caught:
        headstart.fit(pd.DataFrame({"foo": ["x y"] * 20, "bar": ["y z"] * 20}))
    assert str(caught.value) == ("cannot tell which column of the data passed holds the text (columns: foo, bar); "
                                 "pass text_column=NAME")
    assert not list((tmp_path / "data").iterdir()), "no staged table left behind"


def test_a_later_refusal_names_the_data_passed_not_its_cached_table(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """Past the reading, the cached file's name reached the user: "n=1000 is larger than the training pool of
    'table-<sha>.parquet'"."""
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    frame = pd.read_csv(toy_csv)
    for data in (frame, (frame["text"].tolist(), frame["label"].tolist())):
        with pytest.raises(headstart.HeadstartError) as caught:
            headstart.fit(data, "tiny", n=100_000, out=tmp_path / "a", config=FAST)
        assert str(caught.value).startswith("n=100000 is larger than the training pool of the data passed ("), str(caught.value)
        assert "parquet" not in str(caught.value)
    with pytest.raises(headstart.HeadstartError) as caught:
        headstart.compare(frame, backbone="tiny", strategies="linear-probe", sizes=[100_000], seeds=1, out=tmp_path / "c",
                          config=FAST, tune=None)
    assert "training pool of the data passed" in str(caught.value) and "parquet" not in str(caught.value), str(caught.value)


def test_the_same_data_written_otherwise_reads_back_as_it_was_passed():
    """The same rows written otherwise (renamed columns, or 'a|b' tags beside lists) get a table of their own, read
    with their own options, not the earlier table read with them."""
    from headstart.data import load_dataset

    frame = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "label": ["pos", "neg"] * 20})
    first = as_path(frame)
    renamed = frame.rename(columns={"text": "review", "label": "sentiment"})
    second = as_path(renamed, text_column="review", label_column="sentiment")
    assert second != first and load_dataset(second, text_column="review", label_column="sentiment").hash == \
        load_dataset(first).hash, "the same data, in a table of its own that its options read"
    assert as_path(renamed, text_column="review", label_column="sentiment") == second, "and the same table again"
    assert as_path(frame) == first and load_dataset(first).source["text_column"] == "text"
    from headstart.cache import OWN
    from headstart.data.memory import shown_name
    assert OWN["data"].fullmatch(Path(second).name), "clear_cache counts and clears it as the cache's own"
    assert shown_name(Path(second).name) == shown_name(Path(first).name), "the same data, shown alike"

    tags = [["fresh", "long"] if i % 3 == 0 else ["rotten"] if i % 2 else ["fresh"] for i in range(40)]
    texts = [f"review {i}" for i in range(40)]
    piped = as_path(pd.DataFrame({"text": texts, "tags": ["|".join(t) for t in tags]}), task="multilabel")
    listed = as_path(pd.DataFrame({"text": texts, "tags": tags}))
    assert listed != piped
    read = load_dataset(listed)
    assert read.task == "multilabel" and read.label_names == ("fresh", "long", "rotten"), read


def test_a_dataframes_cached_name_is_its_own_whatever_the_cache_held():
    """A table's name is its data and its layout, not what was cached before: the renamed table took
    'table-<sha>-<bytes>' after the plain one, and the plain name alone once the cache was cleared (another run key).
    The plain layout (text and label, read with no options) keeps the plain name, and so its runs' keys."""
    from headstart.data import load_dataset

    frame = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "label": ["pos", "neg"] * 20})
    renamed = frame.rename(columns={"text": "review", "label": "sentiment"})
    options = {"text_column": "review", "label_column": "sentiment"}
    first, second = as_path(frame), as_path(renamed, **options)
    assert Path(first).name == f"table-{load_dataset(frame).hash}.parquet" != Path(second).name
    headstart.clear_cache("data")
    assert as_path(renamed, **options) == second, "the same name with the cache cleared"
    assert as_path(renamed[["sentiment", "review"]], **options) == second, "the column order is no part of the layout"
    assert as_path(frame, text_column="text", label_column="label") == first, "options that add nothing"
    assert load_dataset(second, **options).source["text_column"] == "review" and load_dataset(first).hash == \
        load_dataset(second, **options).hash
    renamed.to_parquet(first, index=False)  # the plain name holding another layout, as the first table staged once got it
    assert as_path(frame) == first and load_dataset(first).source["text_column"] == "text", "the plain layout's own again"


def test_a_cleared_copy_written_back_as_advised_is_the_runs_own_and_nothing_retrains(toy_csv, tiny_registry, tmp_path):
    """A run on a renamed DataFrame staged after the plain one: once the cache is cleared, the load_dataset(df, ...)
    that evaluate advises writes back the very file the run reads, and the same compare into its store trains nothing
    (it wrote the plain name, and the compare retrained every cell under another key)."""
    import json

    frame = pd.read_csv(toy_csv)
    renamed = frame.rename(columns={"text": "review", "label": "sentiment"})
    options = {"text_column": "review", "label_column": "sentiment"}
    as_path(frame)
    compare = dict(backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=tmp_path / "c", config=FAST,
                   tune=None, **options)
    assert headstart.compare(renamed, **compare).trained == 1
    headstart.fit(renamed, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None, out=tmp_path / "r", **options)
    read = Path(json.loads((tmp_path / "r" / "spec.json").read_text())["data_source"]["path"])
    headstart.clear_cache("data")
    assert not read.exists()
    with pytest.raises(headstart.HeadstartError) as refused:
        headstart.evaluate(tmp_path / "r")
    said = str(refused.value)
    advised = "headstart.load_dataset(df, text_column='review', label_column='sentiment')"
    assert said.count(advised) == 1 and said.count("write it back") == 1 and said.count("clear_cache") == 1, said
    headstart.load_dataset(renamed, **options)  # as advised
    assert read.exists(), "the file the run reads is back"
    assert headstart.evaluate(tmp_path / "r")["n"] > 0, "and the advice is not said again"
    again = headstart.compare(renamed, **compare)
    assert again.trained == 0 and again.skipped == 1, again


def test_the_advice_for_a_cleared_copy_with_a_split_column_writes_back_the_runs_file(toy_csv, tiny_registry, tmp_path):
    """A split column is part of a table's layout, so the advice names a DataFrame's own 'split' column
    (split_column='split'), which it left out as a DatasetDict's: load_dataset(df) would write a table of another layout,
    not the run's. The DatasetDict's own call names none (it refuses split_column)."""
    datasets = pytest.importorskip("datasets")
    frame = pd.read_csv(toy_csv)
    cases = [(frame.assign(split=["train"] * 150 + ["test"] * 50), {"split_column": "split"},
              "headstart.load_dataset(df, text_column='text', label_column='label', split_column='split') on the same "
              "DataFrame, or headstart.load_dataset(splits, text_column='text', label_column='label') on the same DatasetDict"),
             (datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame.iloc[:150].reset_index(drop=True)),
                                    "test": datasets.Dataset.from_pandas(frame.iloc[150:].reset_index(drop=True))}), {},
              "headstart.load_dataset(splits, text_column='text', label_column='label') on the same DatasetDict")]
    for i, (data, options, advised) in enumerate(cases):
        out = tmp_path / f"r{i}"
        headstart.fit(data, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None, out=out, **options)
        headstart.clear_cache("data")
        with pytest.raises(headstart.HeadstartError, match="write it back with") as refused:
            headstart.evaluate(out)
        assert advised in str(refused.value), str(refused.value)
        headstart.load_dataset(data, **options)
        assert headstart.evaluate(out)["n"] == 50, "the run's own file, its test split as given"


def test_the_advice_for_a_cleared_copy_names_a_task_the_run_forced(toy_csv, tiny_registry, tmp_path):
    """Labels 0.5 / 1.5 read as regression unless task='classification' says otherwise: the advice names that task
    (it named none for classification), so following it writes back the run's own table, read as the run read it."""
    from conftest import advised_keywords

    frame = pd.read_csv(toy_csv).assign(label=lambda f: f["label"].map({"neg": 0.5, "pos": 1.5}))
    headstart.fit(frame, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None, out=tmp_path / "r",
                  task="classification")
    before = headstart.evaluate(tmp_path / "r")
    headstart.clear_cache("data")
    with pytest.raises(headstart.HeadstartError, match="write it back with") as refused:
        headstart.evaluate(tmp_path / "r")
    advised = advised_keywords(str(refused.value))
    assert advised == {"text_column": "text", "label_column": "label", "task": "classification"}, str(refused.value)
    headstart.load_dataset(frame, **advised)
    assert headstart.evaluate(tmp_path / "r")["accuracy"] == before["accuracy"]


def test_pandas_missing_values_are_missing_whatever_the_dtype(caplog):
    """pd.NA (nullable dtypes, ``convert_dtypes``), None and NaN alike: the row is dropped with the same note, never
    read as a class '<NA>' or a text '<NA>'."""
    import logging

    from headstart.data import load_dataset

    base = pd.DataFrame({"text": [f"review number {i}" for i in range(40)], "label": ["pos", "neg"] * 20})
    base.loc[::10, "label"] = None
    for label_form in (base.convert_dtypes(), base.assign(label=pd.array([None if pd.isna(v) else int(v == "pos")
                                                                       for v in base.label], dtype="Int64"))):
        with caplog.at_level(logging.INFO, logger="headstart.data.files"):
            read = load_dataset(as_path(label_form))
        assert len(read) == 36 and "<NA>" not in read.label_names and len(read.label_names) == 2, read.label_names
        assert "dropped 4 rows with no label" in caplog.text
        caplog.clear()
    texts = base.assign(label="x", text=base.text.astype("string"))
    texts.loc[1::10, "text"] = pd.NA
    texts.loc[2::10, "label"] = "y"
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        read = load_dataset(as_path(texts))
    assert len(read) == 36 and "<NA>" not in read.inputs and "dropped 4 rows with empty text" in caplog.text


def test_a_dataframes_notes_name_it_as_passed_and_are_said_once(tiny_registry, monkeypatch, capsys):
    """A drop note names "data passed from Python (<hash>)", not the staged or cached parquet file, and is said once
    though fit reads the data more than once, and once in the session: ``result.evaluate()`` reading the same rows
    said it a second time."""
    import logging

    import headstart.python_checks

    monkeypatch.setattr(headstart.python_checks, "_DATA_SAID", set(), raising=False)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as a script or notebook has it (pytest adds its own)
    for name in ["headstart", *logging.root.manager.loggerDict]:
        if name == "headstart" or name.startswith("headstart."):
            monkeypatch.setattr(logging.getLogger(name), "handlers", [])
            monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
            monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    frame = pd.DataFrame({"text": [f"review {i} {'great fun' if i % 2 else 'dull'}" for i in range(60)],
                          "label": [None if i % 10 == 0 else "pos" if i % 2 else "neg" for i in range(60)]})
    result = headstart.fit(frame, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None)
    result.evaluate("validation")
    digest = Path(as_path(frame)).stem.removeprefix("table-")[:8]
    notes = [line for line in capsys.readouterr().err.splitlines() if "dropped" in line]
    assert notes == [f"note: data passed from Python ({digest}): dropped 6 rows with no label"], notes


def test_check_leakage_and_load_dataset_take_a_dataframe_as_fit_does(toy_csv):
    frame = pd.read_csv(toy_csv).rename(columns={"text": "review", "label": "sentiment"})
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)  # repeated rows: some land in test and train
    on_file = headstart.check_leakage(str(toy_csv))
    report = headstart.check_leakage(frame, text_column="review", label_column="sentiment")
    digest = Path(as_path(frame, text_column="review", label_column="sentiment")).stem.removeprefix("table-")[:8]
    assert report.data == f"data passed from Python ({digest})" and report.n_test > 0 and report.exact >= on_file.exact
    read = headstart.load_dataset(frame, text_column="review", label_column="sentiment")
    assert read.name == f"data passed from Python ({digest})" and len(read) == len(frame)
    assert read.hash == headstart.load_dataset(as_path(frame, text_column="review", label_column="sentiment"),
                                               text_column="review", label_column="sentiment").hash
    with pytest.raises(headstart.HeadstartError, match=r"text column 'body' not found in the data passed"):
        headstart.check_leakage(frame, text_column="body")


def test_a_dataframe_as_eval_data_is_scored_as_the_same_file_would_be(toy_csv, tiny_registry, tmp_path):
    """fit(eval_data=df) and evaluate(run, eval_data=df) stage it as fit's data (they refused it with its whole repr)."""
    frame = pd.read_csv(toy_csv)
    held = frame.iloc[::3].rename(columns={"text": "review"})
    file = tmp_path / "held.csv"
    held.to_csv(file, index=False)
    run = headstart.fit(frame, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None, out=tmp_path / "r",
                        eval_data=held, text_column="text")
    assert len(run.ood) == 1 and run.ood[0]["data"].startswith("data passed from Python ("), run.ood
    on_frame = headstart.evaluate(tmp_path / "r", eval_data=held, eval_rows="all")
    on_file = headstart.evaluate(tmp_path / "r", eval_data=str(file), eval_rows="all")
    assert [on_frame[k] for k in ("n", "accuracy", "macro_f1")] == [on_file[k] for k in ("n", "accuracy", "macro_f1")]
    assert on_frame["n"] == len(held) and on_frame["split"].startswith("every row of data passed from Python (")
    with pytest.raises(ConfigError, match=r"^eval_data must be a list of dataset names, got an object of type ndarray in the list; "):
        headstart.evaluate(tmp_path / "r", eval_data=[str(file), __import__("numpy").zeros(500)])


def test_a_dataframe_as_eval_data_in_a_compare_is_scored_as_fits_is(toy_csv, tiny_registry, tmp_path):
    """compare(eval_data=df) refused the frame ("eval_data must be a name or a list of names, got ...") though
    fit(eval_data=df) stages it: compare stages it the same way, and every run is scored on it."""
    frame = pd.read_csv(toy_csv)
    held = frame.iloc[::3]
    result = headstart.compare(frame, backbone="tiny", strategies="linear-probe", sizes=[16], seeds=1, out=tmp_path / "c",
                               config=FAST, tune=None, eval_data=held)
    assert result.trained == 1
    digest = Path(as_path(held, text_column=None, label_column=None)).stem.removeprefix("table-")[:8]
    assert [r["data"] for r in result.summary["ood"]] == [f"data passed from Python ({digest})"], result.summary["ood"]


def test_an_sft_run_refuses_a_dataframe_as_eval_data_by_name():
    from headstart.llm.evaluate import check_options

    with pytest.raises(ConfigError, match=r"^--eval-data scores a classifier on another dataset's labels"):
        check_options("test", eval_data=pd.DataFrame({"text": ["a"], "label": ["b"]}), tta=None, eval_rows="test",
                      dedupe=False)


def test_a_run_whose_dataframe_copy_was_cleared_says_so_and_how_to_write_it_back(toy_csv, tiny_registry, tmp_path):
    from headstart.cache import cache_dir

    frame = pd.read_csv(toy_csv).rename(columns={"text": "review", "label": "sentiment"})
    headstart.fit(frame, "tiny", strategy="linear-probe", n=16, config=FAST, tune=None, out=tmp_path / "r",
                  text_column="review", label_column="sentiment")
    before = headstart.evaluate(tmp_path / "r")
    headstart.clear_cache("data")
    with pytest.raises(headstart.HeadstartError) as refused:
        headstart.evaluate(tmp_path / "r")
    said = str(refused.value)
    assert said.startswith("this run was fit on data passed from Python (") and "is gone (cleared with clear_cache('data')" \
        in said and f"copy in the cache (in {str(cache_dir() / 'data')!r})" in said and said.endswith("headstart.load_dataset(df, text_column='review', label_column='sentiment') on the "
                                  "same DataFrame, then try again"), said
    headstart.load_dataset(frame, text_column="review", label_column="sentiment")  # as the message says
    assert headstart.evaluate(tmp_path / "r")["accuracy"] == before["accuracy"]


def test_a_dataframe_is_retained_and_replayed_as_data_is(toy_csv, tiny_registry, tmp_path):
    """fit(retain=df), terms={'replay': {'data': df}} and compare(retain=df) stage it as fit's data (they refused it
    with its whole repr); anything else is refused in one line naming its type."""
    import numpy as np

    from conftest import make_toy

    def frame_of(data):
        return pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})

    frame, retained, replayed = (frame_of(make_toy(rows, classes=2, seed=seed)) for rows, seed in ((200, 0), (60, 7), (60, 11)))
    cfg = TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32")
    run = headstart.fit(frame, "tiny", strategy="full-finetune", n=16, config=cfg, retain=retained,
                        terms={"replay": {"data": replayed, "rows": 32}})
    assert len(run.retention) == 1 and 0 <= run.retention[0]["retention"], run.retention
    assert "replay" in run._record.spec["spec"]["terms"], run._record.spec
    swept = headstart.compare(frame, backbone="tiny", strategies="full-finetune", sizes=[16], seeds=1, out=tmp_path / "c",
                              config=cfg, tune=None, retain=[retained])
    assert swept.trained == 1
    for wrong, said in (({"retain": np.zeros(500)}, "got a value of type ndarray"), ({"terms": {"replay": {"data": 3}}}, "got 3")):
        with pytest.raises(ConfigError, match=said) as refused:
            headstart.fit(frame, "tiny", strategy="full-finetune", n=16, config=cfg, **wrong)
        assert "\n" not in str(refused.value), str(refused.value)
