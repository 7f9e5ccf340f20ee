"""User data files: formats, column guessing, task inference, and one-line errors for every bad file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headstart.data import load_dataset, read_inputs
from headstart.data.inputs import read_input_rows
from headstart.data.files import read_table
from headstart.data.frames import read_frame
from headstart.data.labels import infer_task
from headstart.errors import DataError

TEXTS = ["a fine film", "dull and slow", "great acting", "weak plot", "lovely story", "awful ending"]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns or {"text": TEXTS, "label": LABELS})


def check(data, names=("neg", "pos")):
    assert data.inputs == TEXTS
    assert data.label_names == names
    assert data.targets.tolist() == [names.index(v) for v in LABELS]
    assert data.task == "classification"


def test_csv(tmp_path):
    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False)
    data = read_table(path)
    check(data)
    assert data.source["text_column"] == "text" and data.source["label_column"] == "label"
    assert data.source["path"] == str(path.resolve())


def test_semicolon_csv(tmp_path):
    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False, sep=";")
    check(read_table(path))


def test_tsv(tmp_path):
    path = tmp_path / "d.tsv"
    frame().to_csv(path, index=False, sep="\t")
    check(read_table(path))


def test_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(TEXTS, LABELS)))
    check(read_table(path))


def test_json_array(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": t, "label": y} for t, y in zip(TEXTS, LABELS)]))
    check(read_table(path))


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    frame().to_parquet(path)
    check(read_table(path))


def test_txt_is_read_for_prediction_but_has_no_labels(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\n".join(TEXTS) + "\n\n")
    assert read_inputs(path) == TEXTS
    with pytest.raises(DataError, match="holds unlabelled inputs, one per line.*a table with a text and a label column"):
        read_table(path)


def test_read_inputs_from_a_table_and_stdin(tmp_path, monkeypatch):
    import io

    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False)
    assert read_inputs(path) == TEXTS
    monkeypatch.setattr("sys.stdin", io.StringIO("one\n\ntwo\n"))
    assert read_inputs("-") == ["one", "two"]


def test_prediction_inputs_carry_their_other_columns_json_ready(tmp_path, monkeypatch):
    import io

    path = tmp_path / "d.parquet"
    when = pd.to_datetime(["2024-01-0%d" % (i + 1) for i in range(6)])
    pd.DataFrame({"id": range(6), "review": TEXTS, "score": [1.5, None, 2, 3, 4, 5], "when": when}).to_parquet(path)
    texts, carried = read_input_rows(path)
    assert texts == TEXTS and [c["id"] for c in carried] == list(range(6))
    assert carried[1]["score"] is None and carried[0]["score"] == 1.5 and type(carried[0]["id"]) is int  # no NaN, no numpy
    assert list(carried[0]) == ["id", "score", "when"] and carried[0]["when"].startswith("2024-01-01")
    json.dumps(carried)  # every value is plain JSON
    pair = tmp_path / "pair.csv"
    pd.DataFrame({"premise": TEXTS, "hypothesis": TEXTS, "tag": list("abcdef")}).to_csv(pair, index=False)
    assert read_input_rows(pair, text_column="premise,hypothesis")[1][2] == {"tag": "c"}  # both parts read, neither carried
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    assert read_input_rows("-") == (["one", "two"], [{}, {}])


def test_prediction_rows_with_empty_text_are_dropped_and_said_as_evaluate_drops_them(tmp_path, caplog):
    """predict on a table predicted a row whose text was empty, silently (``,3,fresh,...``: a class for no input), while
    a .txt's blank line, stdin and evaluate --eval-data drop such a row with a note. A table's empty rows are dropped
    too, said with their row numbers; each kept row keeps its other columns (an id) to line the output up by."""
    import logging

    path = tmp_path / "reviews.csv"
    pd.DataFrame({"id": range(6), "text": TEXTS[:2] + ["", TEXTS[3], "  ", TEXTS[5]]}).to_csv(path, index=False)
    from headstart.surface import cli_surface, reset_surface

    marked = cli_surface()  # as headstart predict reads it
    try:
        with caplog.at_level(logging.INFO, logger="headstart.data.files"):
            texts, carried = read_input_rows(path)
    finally:
        reset_surface(marked)
    assert texts == [TEXTS[0], TEXTS[1], TEXTS[3], TEXTS[5]] and [c["id"] for c in carried] == [0, 1, 3, 5]  # a CSV column of numbers, as numbers
    assert [r.getMessage() for r in caplog.records] == [
        "reviews.csv: dropped 2 rows with empty text (data row 3, 5): the output has a row per row with text, each with "
        "its other columns, so its row numbers are not the input's"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):  # from Python: the texts come back as a list
        read_input_rows(path)
    assert caplog.records[0].getMessage().endswith("(data row 3, 5): the inputs after them move up; "
                                                   "headstart.data.read_input_rows(path) gives each input its row's "
                                                   "other columns (an id) to match predictions back to rows")
    caplog.clear()
    pd.DataFrame({"id": [7], "text": [""]}).to_json(tmp_path / "one.jsonl", orient="records", lines=True)
    pd.DataFrame({"id": [7, 8], "text": ["", "fine"]}).to_parquet(tmp_path / "two.parquet")
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        assert read_input_rows(tmp_path / "two.parquet") == (["fine"], [{"id": 8}])
    assert caplog.records[0].getMessage().startswith("two.parquet: dropped 1 row with empty text (data row 1)")
    with pytest.raises(DataError, match="'text' is empty in every row; text_column=NAME picks another"):  # from Python: its keyword
        read_input_rows(tmp_path / "one.jsonl")


def test_columns_guessed_by_name(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"id": range(6), "Review": TEXTS, "sentiment": LABELS}).to_csv(path, index=False)
    data = read_table(path)
    check(data)
    assert any("'Review' as text and 'sentiment' as label" in note for note in data.notes)


def test_text_guessed_as_the_only_string_column(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"blurb": t, "stars": int(y == "pos")}) + "\n" for t, y in zip(TEXTS, LABELS)))
    data = read_table(path)
    assert data.inputs == TEXTS and data.label_names == ("0", "1")


def test_explicit_columns(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": TEXTS, "b": TEXTS, "c": LABELS}).to_csv(path, index=False)
    with pytest.raises(DataError, match="cannot tell which column .* holds the text"):
        read_table(path)
    check(read_table(path, text_column="b", label_column="c"))


def test_a_file_is_read_by_a_runs_own_columns_where_it_has_them_else_guessed_and_said(tmp_path, caplog):
    """``run_source`` (the run a file is scored against): its 'review' and 'stars' are read, not the name order's
    'sentence' and 'label'; a column it names wins; a column of the run's that the file lacks is guessed, in one note."""
    import logging

    run = {"path": "/elsewhere/train.csv", "text_column": "review", "label_column": "stars", "task": "classification"}
    both = tmp_path / "both.csv"
    frame(sentence=["unrelated words"] * 6, review=TEXTS, label=["x", "y"] * 3, stars=LABELS).to_csv(both, index=False)
    with caplog.at_level(logging.INFO, logger="headstart"):
        check(load_dataset(str(both), run_source=run))
    assert not [r for r in caplog.records if "run's own" in r.getMessage()], "nothing guessed, nothing said"
    assert read_table(both).inputs == ["unrelated words"] * 6, "without the run: the name order"
    assert read_table(both, text_column="sentence", run_source=run).inputs == ["unrelated words"] * 6, "a named column wins"
    lacking = tmp_path / "lacking.csv"
    frame(sentence=TEXTS, label=LABELS).to_csv(lacking, index=False)
    with caplog.at_level(logging.INFO, logger="headstart"):
        check(read_table(lacking, run_source=run))
    said = [r.getMessage() for r in caplog.records if "run's own" in r.getMessage()]
    assert said == ["lacking.csv: reading column 'sentence' as the text and 'label' as the label (the run's own text "
                    "column 'review' is not in it; the run's own label column 'stars' is not in it)"]


@pytest.mark.parametrize("which", ["text_column", "label_column"])
def test_missing_column_lists_the_columns(tmp_path, which):
    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        read_table(path, **{which: "nope"})
    message = str(e.value)
    assert "'nope' not found" in message and "(columns: text, label)" in message and f"--{which.replace('_', '-')}" in message


def test_missing_file():
    with pytest.raises(DataError, match="data file not found: '/no/such/file.csv'"):
        load_dataset("/no/such/file.csv")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "d.docx"
    path.write_text("x")
    with pytest.raises(DataError, match="unknown format '.docx'"):
        read_table(path)


def test_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncaf\xe9 cr\xe8me,pos\nbad,neg\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"is not UTF-8 \(byte 0xe9 at offset 14\); re-save it as UTF-8"):
        read_table(path)


@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="is empty"):
        read_table(path)


def test_header_only(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="has no rows with both text"):
        read_table(path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match="cannot read .* as parquet"):
        read_table(path)


def test_bad_json(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": \n')
    with pytest.raises(DataError, match="cannot parse"):
        read_table(path)


def test_empty_text_and_missing_labels_dropped_with_notes(tmp_path):
    path = tmp_path / "d.csv"
    rows = pd.DataFrame({"text": TEXTS + ["", "   ", "no label here"], "label": LABELS + ["pos", "neg", ""]})
    rows.to_csv(path, index=False)
    data = read_table(path, text_column="text", label_column="label")
    check(data)
    assert "dropped 2 rows with empty text" in data.notes
    assert "dropped 1 row with no label" in data.notes  # one row, said as one ("1 rows" before)


def test_pandas_missing_spellings_are_no_label_and_the_note_names_them(tmp_path):
    """N/A and n/a (pandas' NA strings, read as text here) were classes: only nan / null / #N/A were dropped."""
    path = tmp_path / "d.csv"
    extra = ["N/A", "n/a", "N/A", "#NA", "NaN", ""]
    pd.DataFrame({"text": TEXTS + [f"extra {i}" for i in range(6)], "label": LABELS + extra}).to_csv(path, index=False)
    data = read_table(path, text_column="text", label_column="label")
    check(data)
    assert "dropped 6 rows with no label (2 'N/A', 1 '#NA', 1 'NaN', 1 empty, 1 'n/a')" in data.notes


def test_na_and_none_stay_classes_with_a_note(tmp_path):
    """'NA' may be North America and 'None' a real answer: kept as classes, said, with how to drop them instead."""
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS + ["x", "y", "z"], "label": LABELS + ["NA", "NA", "None"]}).to_csv(path, index=False)
    data = read_table(path, text_column="text", label_column="label")
    assert data.label_names == ("NA", "None", "neg", "pos")
    assert "read 2 'NA', 1 'None' as classes, not as missing labels; to drop those rows, empty their label cells" in data.notes


def test_single_class(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": ["pos"] * 6}).to_csv(path, index=False)
    with pytest.raises(DataError, match="has a single class \\('pos'\\)"):
        read_table(path)


def test_regression_inferred_from_fractional_numbers(tmp_path):
    path = tmp_path / "d.csv"
    scores = [0.5, 1.25, 3.0, 4.5, 2.0, 1.0]
    pd.DataFrame({"text": TEXTS, "score": scores}).to_csv(path, index=False)
    data = read_table(path)
    assert data.task == "regression" and data.label_names == () and data.num_outputs == 1
    assert data.targets.dtype == np.float32 and np.allclose(data.targets, scores)


def test_regression_inferred_from_many_integers():
    assert infer_task(list(range(21))) == "regression"
    assert infer_task(list(range(20))) == "classification"
    assert infer_task(["1", "2", "3"]) == "classification"
    assert infer_task(["a", "b"]) == "classification"


def test_forced_regression_on_text_labels(tmp_path):
    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(DataError, match="is not numeric"):
        read_table(path, task="regression")


def test_multilabel_inferred_from_lists(tmp_path):
    path = tmp_path / "d.jsonl"
    labels = [["action", "drama"], ["comedy"], ["drama"], ["action"], ["comedy", "drama"], ["action"]]
    path.write_text("".join(json.dumps({"text": t, "labels": y}) + "\n" for t, y in zip(TEXTS, labels)))
    data = read_table(path)
    assert data.task == "multilabel" and data.label_names == ("action", "comedy", "drama")
    assert data.targets.shape == (6, 3)
    assert data.targets[0].tolist() == [1, 0, 1] and data.targets[1].tolist() == [0, 1, 0]


def test_multilabel_from_pipe_separated_csv(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS[:3], "label": ["a|b", "b", "c|a"]}).to_csv(path, index=False)
    data = read_table(path, task="multilabel")
    assert data.label_names == ("a", "b", "c")
    assert data.targets.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_numeric_labels_sorted_naturally(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": [10, 2, 1, 10, 2, 1]}).to_csv(path, index=False)
    assert read_table(path).label_names == ("1", "2", "10")


def test_load_dataset_routes_files_and_names(tmp_path):
    path = tmp_path / "d.csv"
    frame().to_csv(path, index=False)
    check(load_dataset(str(path)))
    with pytest.raises(DataError, match="applies to files, not to the built-in dataset 'rotten-tomatoes'"):
        load_dataset("rotten-tomatoes", text_column="text")


# ---- issue 25: a label identity that is a pure function of the data ------------------------------------------------

MIXED = ["1", "1.0", " 1", "2", "2.0", "1", "2 ", "10"]


def test_labels_written_differently_are_one_class_in_every_process(tmp_path):
    """"1", "1.0" and " 1" used to tie in the sort and fall back to string hashing: the class order, the data hash and
    every run key changed from one process to the next."""
    import subprocess
    import sys

    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps({"text": f"review {i}", "label": v}) + "\n" for i, v in enumerate(MIXED)))
    data = read_table(path)
    assert data.label_names == ("1", "2", "10") and data.targets.tolist() == [0, 0, 0, 1, 1, 0, 1, 2]
    assert any("read as one class" in n and "'1.0' as '1'" in n for n in data.notes)
    code = (f"from headstart.data.files import read_table; d = read_table({str(path)!r}); "
            "print(d.label_names, d.targets.tolist(), d.hash)")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert len(seen) == 1, seen


def test_a_trailing_space_is_the_same_class_and_said_so(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": ["pos", "pos ", "neg", "neg", "pos", "neg"]}).to_csv(path, index=False)
    data = read_table(path)
    assert data.label_names == ("neg", "pos")
    assert "labels written differently were read as one class: 'pos ' as 'pos'" in data.notes


def test_labels_that_differ_only_in_case_are_two_classes_and_said_so(tmp_path):
    """NEG and neg: kept apart (a file may mean two), but said, with the fix; the trial trained 6 classes unwarned. The
    note gave no row counts: 'FRESH' / 'fresh' did not say which spelling was the stray one."""
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": ["pos", "POS", "neg", "neg", "pos", "neg"]}).to_csv(path, index=False)
    data = read_table(path)
    assert set(data.label_names) == {"POS", "neg", "pos"}
    assert ("labels that differ only in case are read as different classes: 'POS' (1 row) / 'pos' (2 rows); if each is "
            "one class, write it one way in the file (e.g. each 'POS' as 'pos', its most common spelling)") in data.notes, data.notes


def test_many_whole_number_labels_are_a_regression_target_and_said_so(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": list(range(30))}).to_csv(path, index=False)
    data = read_table(path)
    assert data.task == "regression"
    assert any(n.startswith("labels read as a regression target (30 distinct numeric values); pass --task classification")
               for n in data.notes)
    assert read_table(path, task="classification").task == "classification"


def test_star_ratings_read_as_classes_say_so_and_how_to_read_them_as_numbers(tmp_path):
    """Labels 1, 2, 4, 5 trained a 4-class classifier with only "reading column 'stars' as the label" said: a scale
    or classes is the user's call, so the note says which it was read as and the flag for the other."""
    path = tmp_path / "stars.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(12)], "stars": [1, 2, 4, 5] * 3}).to_csv(path, index=False)
    data = read_table(path)
    assert data.task == "classification"
    assert "labels read as 4 classes (1, 2, 4, 5), not as a scale; pass --task regression to predict them as numbers" in data.notes
    assert not any("classes (" in n for n in read_table(path, task="classification").notes), "asked for: nothing to say"
    binary = tmp_path / "binary.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(12)], "label": [0, 1] * 6}).to_csv(binary, index=False)
    assert not any("classes (" in n for n in read_table(binary).notes), "0 / 1 are classes as meant"


def test_a_parquet_column_of_lists_is_multilabel_as_in_jsonl(tmp_path):
    rows = [{"text": t, "label": labels} for t, labels in zip(TEXTS, (["a", "b"], ["b"], ["c", "a"], ["a"], ["b", "c"], ["c"]))]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet, jsonl = read_table(tmp_path / "d.parquet"), read_table(tmp_path / "d.jsonl")
    assert parquet.task == jsonl.task == "multilabel"
    assert parquet.label_names == jsonl.label_names == ("a", "b", "c")
    assert parquet.targets.tolist() == jsonl.targets.tolist()


def test_an_infinite_regression_label_is_refused_before_training(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": [1.5, 2.0, "inf", 3.0, 0.5, 2.5]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"has 1 non-finite value\(s\) \(first: 'inf', labelled row 3\); fix or drop those rows"):
        read_table(path, task="regression")


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_a_column_of_numbers_is_not_a_text_column_in_any_format(tmp_path, suffix):
    table = frame(Feedback=[f"feedback {i} {'good' if i % 2 else 'bad'}" for i in range(20)], Rating=[i % 2 for i in range(20)])
    table.loc[3, "Rating"] = None  # an empty cell: read as missing in a CSV, not as a string
    path = tmp_path / f"fr.{suffix}"
    {"csv": lambda: table.to_csv(path, index=False), "parquet": lambda: table.to_parquet(path),
     "jsonl": lambda: table.to_json(path, orient="records", lines=True)}[suffix]()
    data = read_table(str(path))
    assert (data.source["text_column"], data.source["label_column"], data.label_names) == ("Feedback", "Rating", ("0", "1"))


@pytest.mark.parametrize("first", [True, False], ids=["first-row", "later-row"])
def test_a_space_before_a_quoted_value_is_read_as_meant_and_said(tmp_path, caplog, first):
    rows = ['1, "Great fun", fresh, web', '2, "Dull", rotten, print', '3, "Well, it does go on forever.", rotten, web']
    path = tmp_path / "spaced.csv"
    path.write_text("\n".join(["id, review, verdict, source", *(rows[::-1] if first else rows)]) + "\n")
    with caplog.at_level("INFO", logger="headstart"):
        table = read_frame(str(path))
    assert list(table.columns) == ["id", "review", "verdict", "source"]
    assert "Well, it does go on forever." in table["review"].tolist() and set(table["verdict"]) == {"fresh", "rotten"}
    line = 2 if first else 4
    assert any(f"quoted value's opening quote (line {line})" in r.getMessage() for r in caplog.records)


def test_an_unquoted_comma_is_still_refused_naming_the_line(tmp_path):
    path = tmp_path / "unquoted.csv"
    path.write_text("review,label\ngood,pos\ngood, not great,neg\n")
    with pytest.raises(DataError, match="line 3 of .* has 3 comma-separated fields, its header 2; quote a value"):
        read_frame(str(path))


def test_nested_json_fields_are_read_by_their_dotted_paths(tmp_path):
    """--text-column data --label-column meta trained on each row's Python dict text (predict answered the label
    "{'label': 'rotten'}"): a column of JSON objects is read field by field, each named by its dotted path."""
    import json as json_module

    from headstart.data.files import read_table
    from headstart.data.frames import read_frame

    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json_module.dumps({"id": i, "data": {"review": f"review {i}", "by": {"name": "x"}},
                                               "meta": {"label": "fresh" if i % 2 else "rotten"}}) + "\n" for i in range(20)))
    assert list(read_frame(path).columns) == ["id", "data.review", "data.by.name", "meta.label"]
    data = read_table(path, text_column="data.review", label_column="meta.label")
    assert data.inputs[:2] == ["review 0", "review 1"] and data.label_names == ("fresh", "rotten")
