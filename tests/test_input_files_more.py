"""More bad input files through the real command line, each found by a fuzz: the one line says what is actually wrong
(the right line of a JSONL file, two flags naming one column, a file too small to split, an empty .txt, a label
mapping's complete fix), and a column the loader guessed is said in a note."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_user_error, make_toy, run_cli

TRAIN = ["train", "--strategy", "tfidf-logreg", "--quiet"]  # no pre-trained model: a refused file costs no load


def toy_frame(n: int = 60, *, classes: int = 2, seed: int = 0) -> pd.DataFrame:
    data = make_toy(n, classes=classes, seed=seed)
    return pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]})


def test_a_malformed_jsonl_line_is_named_by_its_line_in_the_file(tmp_path, monkeypatch, capsys):
    """Blank lines count: the error names line 4 as an editor numbers it, not the 3rd non-blank line or line 1."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n{"text": bad}\n')
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "bad.jsonl': line 4: Expecting value (column 10)", "each line holds one JSON object")


def test_a_jsonl_line_that_is_not_an_object_is_named(tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\r\n\r\n5\r\n')
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "line 3 of", "is 5, not a row", "each line holds one JSON object")


def test_a_jsonl_string_holding_a_line_separator_character_is_one_row(tmp_path):
    """JSON Lines ends a line at \\n only; a raw U+2028 inside a string (json.dumps(ensure_ascii=False) writes one) is
    text, not a line break."""
    from headstart.data.frames import read_frame

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b", "label": "x"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_frame(path).to_dict("records") == [{"text": "a\u2028b", "label": "x"}]


def test_a_jsonl_line_holding_an_array_of_records_gives_each_record_as_a_row(tmp_path, monkeypatch, capsys):
    """A batch written a line at a time was read as one row of dicts: "cannot tell which column holds the text (0, 1)"."""
    from headstart.data.frames import read_frame

    rows = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}, {"text": "fine", "label": "pos"}]
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(rows[:2]) + "\n" + json.dumps(rows[2]) + "\n")
    assert read_frame(path).to_dict("records") == rows
    path.write_text(json.dumps([rows[0], 5]) + "\n")
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "line 1 of", "is an array of records whose item 2 is 5, not a record")


def test_a_json_array_of_arrays_of_records_is_read_as_jsonl_lines_of_them_are(tmp_path, monkeypatch, capsys):
    """[[{...}], [{...}]] was read as rows whose cells were records: each item of the array is read as one line of a
    .jsonl file is, so batches of records give their records, and arrays of values stay rows of values."""
    from headstart.data.frames import read_frame

    rows = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}, {"text": "fine", "label": "pos"}]
    path = tmp_path / "d.json"
    for document in ([rows[:1], rows[1:]], [rows[:2], rows[2]]):
        path.write_text(json.dumps(document, indent=2))
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(line) + "\n" for line in document))
        assert read_frame(path).to_dict("records") == read_frame(tmp_path / "d.jsonl").to_dict("records") == rows
    path.write_text("[[1, 2], [3, 4]]")
    assert read_frame(path).values.tolist() == [[1, 2], [3, 4]]
    path.write_text(json.dumps([rows[:1], [rows[1], 5]]))
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "item 2 of the array in", "d.json' is an array of records whose item 2 is 5, not a record")
    path.write_text(json.dumps([rows[:1], [1, 2]]))
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "item 2 of the array in", "d.json' is [1, 2], not a record")


def test_an_empty_batch_beside_records_reads_as_no_rows_and_an_empty_row_beside_values_is_still_refused(tmp_path):
    """A [] line of a .jsonl file (an [] item of a .json array of batches) was refused as "is [], not a record"."""
    from headstart.data.frames import read_frame
    from headstart.errors import DataError

    rows = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    for document in ([rows[0], [], rows[1]], [[rows[0]], [], [rows[1]]], [[], rows]):
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(line) + "\n" for line in document))
        (tmp_path / "d.json").write_text(json.dumps(document))
        assert read_frame(tmp_path / "d.jsonl").to_dict("records") == read_frame(tmp_path / "d.json").to_dict("records") == rows
    (tmp_path / "d.json").write_text('[["good", "pos"], [], ["bad", "neg"]]')
    with pytest.raises(DataError, match="item 2 of the array in .* holds 0 values where item 1 holds 2"):
        read_frame(tmp_path / "d.json")


@pytest.mark.parametrize(("name", "content", "says"), [
    ("d.json", "[[1, 2], [3]]", "item 2 of the array in '{path}' holds 1 value where item 1 holds 2"),
    ("d.json", '[["a", "x"], ["b", "y"], ["c", "x", "z"]]', "item 3 of the array in '{path}' holds 3 values where item 1 holds 2"),
    ("d.jsonl", "[1, 2]\n[3]\n", "line 2 of '{path}' holds 1 value where line 1 holds 2"),
    ("d.jsonl", '["a", "x"]\n\n["b", "y"]\n["c", "x", "z"]\n', "line 4 of '{path}' holds 3 values where line 1 holds 2"),
])
def test_rows_of_values_of_different_widths_are_refused_naming_the_row(name, content, says, tmp_path, monkeypatch, capsys):
    """[[1, 2], [3]] was padded with NaN (pandas warns this will become an error): a value is missing, but which?"""
    path = tmp_path / name
    path.write_text(content)
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, says.format(path=path), "give every row 2 values, one per column (null for a missing one)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("lines", [
    [[{"text": "good", "label": "pos"}], ["bad", "neg"]],  # was: cannot parse ...: dictionary update sequence element #0 ...
    [{"text": "good", "label": "pos"}, ["bad", "neg"]],  # the same
    [["bad", "neg"], [{"text": "good", "label": "pos"}]],  # was read, as the rows ["bad", "neg"] and ["text", "label"]
])
def test_a_jsonl_line_of_values_beside_records_is_named_as_the_json_item_is(lines, tmp_path, monkeypatch, capsys):
    """A line of plain values beside a line of records (or a batch of them) got pandas' words, or was read wrongly."""
    from headstart.data.frames import read_frame
    from headstart.errors import DataError

    values = 1 + lines.index(["bad", "neg"])
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "d.json").write_text(json.dumps(lines))
    result = run_cli([*TRAIN, "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, f"line {values} of '{tmp_path / 'd.jsonl'}' is [\"bad\", \"neg\"], not a record; each line "
                              "holds one JSON object")
    with pytest.raises(DataError) as raised:
        read_frame(tmp_path / "d.json")
    assert f"item {values} of the array in '{tmp_path / 'd.json'}' is [\"bad\", \"neg\"], not a record" in str(raised.value)


def test_the_text_and_label_flags_naming_one_column_is_said_as_such(tmp_path, monkeypatch, capsys):
    """It was read on, every text its own class, and refused as 'the label column looks like free text'."""
    path = tmp_path / "toy.csv"
    toy_frame().to_csv(path, index=False)
    out = tmp_path / "run"
    result = run_cli([*TRAIN, "--data", str(path), "--text-column", "text", "--label-column", "text", "--out", str(out)],
                     monkeypatch, capsys)
    assert_user_error(result, "--text-column 'text' and --label-column 'text' name the same column of",
                      "(columns: text, label); pass --label-column NAME")
    assert "free text" not in result[2]
    assert not out.exists()


def test_a_label_column_taken_for_want_of_another_is_said_in_a_note(tmp_path, monkeypatch, capsys):
    """``text,foo`` trained on foo as its labels and said nothing; a column named like a label is read silently."""
    frame = toy_frame()
    frame.rename(columns={"label": "foo"}).to_csv(tmp_path / "foo.csv", index=False)
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "foo.csv"), "--out", str(tmp_path / "a")], monkeypatch, capsys)
    assert code == 0, err
    assert "note: foo.csv: reading column 'foo' as the label, the only column besides the text" in err.splitlines()
    frame.to_csv(tmp_path / "named.csv", index=False)
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "named.csv"), "--out", str(tmp_path / "b")], monkeypatch, capsys)
    assert code == 0 and "reading column" not in err, err


def test_a_text_column_taken_for_want_of_another_is_said_in_a_note(tmp_path):
    import logging

    from headstart.data.files import read_table

    frame = toy_frame().rename(columns={"text": "words"})
    frame["label"] = frame["label"].map({"neg": 0, "pos": 1})  # numbers in JSON: "words" is the only column of strings
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("headstart.data.files")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        read_table(tmp_path / "d.jsonl")
        read_table(tmp_path / "d.jsonl", text_column="words")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert records == ["d.jsonl: reading column 'words' as the text, the only column of strings"]


def test_a_text_column_beside_a_label_of_class_names_is_read_and_said_in_a_note(tmp_path, monkeypatch, capsys):
    """{tweet, label} with class names as labels was refused, "cannot tell which column ... holds the text", until
    --text-column tweet; an image path table beside a caption column still reads its images."""
    toy_frame().rename(columns={"text": "tweet"}).to_csv(tmp_path / "tweets.csv", index=False)
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "tweets.csv"), "--out", str(tmp_path / "a")], monkeypatch, capsys)
    assert code == 0, err
    assert ("note: tweets.csv: reading column 'tweet' as the text, the only column of strings besides the label 'label'; "
            "--text-column NAME picks another") in err.splitlines(), err
    from headstart.data.files import read_table

    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    for i in range(6):
        Image.new("L", (8, 8), color=40 * i).save(images / f"{i}.png")
    pd.DataFrame({"caption": [f"picture {i}" for i in range(6)], "path": [f"images/{i}.png" for i in range(6)],
                  "label": ["dark", "light"] * 3}).to_csv(tmp_path / "paths.csv", index=False)
    assert read_table(tmp_path / "paths.csv").modality == "image"


def test_a_tiny_file_is_told_it_is_too_small_not_that_its_labels_look_like_free_text(tmp_path, monkeypatch, capsys):
    """Three rows make two classes in three rows, 'most rows a class of their own': it was read as free text."""
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\ngood,pos\nbad,neg\nfine,pos\n")
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "'tiny.csv' has only 3 labelled rows, too few to split into train, validation and test",
                      "add rows, at least 3 of each class")
    assert "free text" not in result[2]


def test_a_small_file_of_rare_classes_is_told_which_classes_are_too_small(tmp_path, monkeypatch, capsys):
    """Eight rows, five of one class: 'free text' would be a guess, and removing the two small classes would leave one."""
    path = tmp_path / "small.csv"
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in [("good", "pos"), ("bad", "neg"), ("fine", "pos"),
                    ("ok", "pos"), ("meh", "mid"), ("nice", "pos"), ("awful", "neg"), ("great", "pos")]))
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "classes ['mid', 'neg'] of 'small.csv' have fewer than 3 examples",
                      "add examples until each has 3")
    assert "free text" not in result[2]


def test_a_small_file_labelled_by_its_text_column_is_told_the_labels_look_like_free_text(tmp_path, monkeypatch, capsys):
    """12 rows, --label-column naming the text column: every label unique. The fix is --label-column (the free-text
    message), not "add examples until each has 3"."""
    path = tmp_path / "small.csv"
    path.write_text("text,sentiment\n" + "".join(f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(12)))
    result = run_cli([*TRAIN, "--data", str(path), "--label-column", "text", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "has 12 classes in 12 rows", "the label column looks like free text", "--label-column")


def test_an_empty_input_file_is_asked_for_what_its_format_holds(tmp_path, monkeypatch, capsys):
    """A .txt has no header row: an empty one was asked for "a header row and a row for each input to predict on"."""
    toy_frame().to_csv(tmp_path / "toy.csv", index=False)
    run = tmp_path / "run"
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "toy.csv"), "--out", str(run)], monkeypatch, capsys)
    assert code == 0, err
    for name, content, says in [("empty.txt", "", "is empty; it needs one input per line"),
                                ("blank.txt", "\n  \n", "is empty; it needs one input per line"),
                                ("empty.jsonl", "", "is empty; it needs one JSON object per line, with its text"),
                                ("empty.csv", "", "is empty; it needs a header row and a row for each input")]:
        (tmp_path / name).write_text(content)
        result = run_cli(["predict", str(run), str(tmp_path / name)], monkeypatch, capsys)
        assert_user_error(result, f"{name}' {says}")
        assert name.endswith(".csv") or "header" not in result[2], result


@pytest.mark.parametrize(("mapping", "says", "shown"), [
    ("", "its label(s) ['bad', 'good', 'meh'] match none of the run's (neg, pos)", "bad=?, good=?, meh=?"),
    ("[bad=neg, good=pos]", "its label(s) ['meh'] match none of the run's (neg, pos)", "bad=neg, good=pos, meh=-"),
    ("[bad=neg, good=pos, meh=neutral]", "the run has no label(s) ['neutral'] (it has neg, pos)", "bad=neg, good=pos, meh=-"),
    ("[bad=neg, good=pso, meh=-]", "the run has no label(s) ['pso'] (it has neg, pos)", "bad=neg, good=pos, meh=-"),
    ("[bad=neg, good=pos, mhe=-]", "it has no label(s) ['mhe'] (it has bad, good, meh)", "bad=neg, good=pos, meh=-"),
])
def test_an_eval_data_mapping_s_fix_maps_every_label(mapping, says, shown, tmp_path, monkeypatch, capsys):
    """The example showed at most two labels, and only the wrong ones: following it left the rest unmapped
    ('[meh=neg]' for a mapping that already had bad and good right). Every label is in it now, and following it works
    (names that match none of the run's are left as ? to fill in)."""
    toy_frame(n=80).to_csv(tmp_path / "toy.csv", index=False)
    other = toy_frame(n=60, classes=3, seed=5)
    other["label"] = other["label"].map({"neg": "bad", "pos": "good", "neutral": "meh"})
    other.to_csv(tmp_path / "ev.csv", index=False)
    run = tmp_path / "run"
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "toy.csv"), "--out", str(run)], monkeypatch, capsys)
    assert code == 0, err
    result = run_cli(["evaluate", "-q", str(run), "--eval-data", f"{tmp_path / 'ev.csv'}{mapping}"], monkeypatch, capsys)
    assert_user_error(result, says, f"e.g. --eval-data '{tmp_path / 'ev.csv'}[{shown}]'")
    fixed = f"{tmp_path / 'ev.csv'}[bad=neg, good=pos, meh=-]"
    code, out, err = run_cli(["evaluate", str(run), "--eval-data", fixed], monkeypatch, capsys)
    assert code == 0 and "bad as neg, good as pos, meh left out" in out, (out, err)


def test_a_suggested_mapping_keeps_what_was_right_and_matches_the_rest_by_name():
    from headstart.ood_labels import suggested_map

    run = ("negative", "neutral", "positive")
    assert suggested_map(("neg", "neu", "pos"), run, {}, {}) == {"neg": "negative", "neu": "neutral", "pos": "positive"}
    assert suggested_map(("a", "b", "positive"), run, {"a": "negative", "positive": "positive"}, {"a": "negative"}) == {
        "a": "negative", "b": "?"}  # a label matching by name needs no entry; b matches no name: a placeholder


def test_a_suggested_mapping_with_a_label_holding_a_comma_reads_back_as_written():
    """drug-reviews has 'Diabetes, Type 2': the example now names every label, so following it must parse (the label
    in double quotes: its comma then splits nothing)."""
    from headstart.ood_labels import label_map, parse_eval_data

    labels, run = ("Acne", "Diabetes, Type 2", "Pain"), ("fresh", "rotten")
    with pytest.raises(Exception) as refused:
        label_map("drug-reviews", labels, run, {}, "--target")
    example = str(refused.value).split("e.g. --target '")[1].split("'")[0]
    assert example == 'drug-reviews[Acne=?, "Diabetes, Type 2"=?, Pain=?]'
    name, given = parse_eval_data(example, "--target")
    assert given == {"Acne": "?", "Diabetes, Type 2": "?", "Pain": "?"}
    given = {**given, "Acne": "fresh", "Diabetes, Type 2": "rotten", "Pain": None}  # each ? filled in
    assert label_map(name, labels, run, given, "--target")[0] == given


def test_training_on_a_txt_file_says_it_holds_unlabelled_inputs(tmp_path, monkeypatch, capsys):
    """A .txt has one column of inputs: it was asked for --label-column NAME, a fix that cannot work."""
    path = tmp_path / "x.txt"
    path.write_text("a joy to watch\ndull and lifeless\n")
    result = run_cli(["train", "--data", str(path), "--strategy", "linear-probe", "--n", "8", "--out", str(tmp_path / "o")],
                     monkeypatch, capsys)
    assert_user_error(result, "x.txt' holds unlabelled inputs, one per line, which is what predict reads",
                      "to train or score, give a table with a text and a label column (a .csv, .tsv, .jsonl, .json or "
                      ".parquet file)",
                      "header is text,label")
    assert "--label-column" not in result[2]
    assert not (tmp_path / "o").exists()


def test_a_txt_file_and_stdin_split_the_same_text_into_the_same_inputs(tmp_path, monkeypatch):
    """A .txt was cut by str.splitlines (also at U+2028, U+0085, a form feed, a lone \\r), stdin at \\n only: one text,
    two input counts. Both end a line at \\n now, dropping the \\r of a CRLF."""
    import io
    import sys

    from headstart.data import read_inputs

    text = "one\u2028still one\r\ntwo\x0cstill two\n\nthree\rstill three\u0085end\r\n\r\n  four  \n"
    want = ["one\u2028still one", "two\x0cstill two", "three\rstill three\u0085end", "four"]
    (tmp_path / "in.txt").write_bytes(text.encode())
    assert read_inputs(tmp_path / "in.txt") == want
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\ufeff" + text).encode())))
    assert read_inputs("-") == want


def test_a_text_whose_lines_end_at_a_lone_cr_is_one_input_a_line(tmp_path, monkeypatch):
    """Classic Mac line ends (a "Text (Macintosh)" export): no \n at all, a \r a line. Read as one input, it was."""
    import io
    import sys

    from headstart.data import read_inputs

    (tmp_path / "mac.txt").write_bytes(b"good movie\rbad movie\rfine\r")
    assert read_inputs(tmp_path / "mac.txt") == ["good movie", "bad movie", "fine"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"good movie\rbad movie\r")))
    assert read_inputs("-") == ["good movie", "bad movie"]


def test_a_stray_nul_byte_in_utf8_text_is_named_by_its_line_wherever_it_is(tmp_path, monkeypatch, capsys):
    """Past the first 4 KiB it was a traceback (UnboundLocalError); near the top it was called a binary file."""
    for at in (2, 400):
        (tmp_path / "nul.csv").write_bytes(b"text,label\n" + b"good film,pos\n" * at + b"bad\x00film,neg\n" + b"ok,neg\n" * 5)
        result = run_cli([*TRAIN, "--data", str(tmp_path / "nul.csv"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
        assert_user_error(result, "nul.csv' holds a NUL byte", f"line {at + 2})", "remove it")


RECORDS = [{"text": f"review number {i}", "label": "pos" if i % 2 else "neg"} for i in range(12)]


@pytest.mark.parametrize("form", ["columns, pretty", "columns, one line", "records, pretty", "json lines",
                                  "pandas to_json", "one record"])
def test_a_json_file_is_read_in_whichever_form_it_holds(form, tmp_path):
    """A .json starting with '{' was read as JSON lines: a pretty-printed object of columns failed at line 1."""
    from headstart.data.frames import read_frame

    columns = {"text": [r["text"] for r in RECORDS], "label": [r["label"] for r in RECORDS]}
    rows = RECORDS[:1] if form == "one record" else RECORDS
    text = {"columns, pretty": json.dumps(columns, indent=2), "columns, one line": json.dumps(columns),
            "records, pretty": json.dumps(RECORDS, indent=2), "json lines": "".join(json.dumps(r) + "\n" for r in RECORDS),
            "pandas to_json": pd.DataFrame(RECORDS).to_json(), "one record": json.dumps(RECORDS[0], indent=2)}[form]
    (tmp_path / "d.json").write_text(text)
    assert read_frame(tmp_path / "d.json").to_dict("records") == rows


def test_a_pretty_printed_json_object_of_columns_trains(tmp_path, monkeypatch, capsys):
    frame = toy_frame()
    (tmp_path / "cols.json").write_text(json.dumps(frame.to_dict("list"), indent=2))
    code, _, err = run_cli([*TRAIN, "--data", str(tmp_path / "cols.json"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert code == 0, err


FORMS = 'a .json file holds an array of records ([{"text": ..., "label": ...}, ...]), an object of equal-length column lists'


@pytest.mark.parametrize(("content", "says"), [
    ('{\n  "text": ["a", "b"],\n  "label": ["x"]\n}', ("the columns of", "differ in length (text: 2, label: 1)",
                                                      "give every column one value per row")),
    ('{"rows": [{"text": "a", "label": "x"}]}', ("the records of", "sit under its key 'rows'", "jq '.rows'", FORMS)),
    # beside other keys (SQuAD's version; a train and a test): read as one row, or as columns of unequal length, before
    ('{"version": "1.0", "data": [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]}',
     ("sit under its key 'data'", "jq '.data'")),
    ('{"train": [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}], "test": [{"text": "c", "label": "x"}]}',
     ("sit under its key 'train' (and under 'test')", "jq '.train'")),
    ("[1, 2, 3]", ("item 1 of the array in", "is 1, not a record", FORMS)),
    ('[{"text": "a", "label": "x"}, "b"]', ("item 2 of the array in", 'is "b", not a record', FORMS)),
    ("5", ("holds 5, not a table", FORMS)),
    ('{\n  "text": ["a",\n', ("line 3: Expecting value (column 1)", FORMS)),
    ('{"text": "a", "label": "x"}\n{"text": bad}\n', ("line 2: Expecting value (column 10)", "each line holds one JSON object")),
    ("[]", ("holds no columns", "an array of JSON objects, one per row")),
])
def test_a_json_file_of_no_form_read_says_which_forms_are(content, says, tmp_path, monkeypatch, capsys):
    (tmp_path / "d.json").write_text(content)
    result = run_cli([*TRAIN, "--data", str(tmp_path / "d.json"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "d.json", *says)


def test_image_paths_on_stdin_are_split_as_text_inputs_are(tmp_path, monkeypatch):
    """They were read with ``for line in sys.stdin``, which also ends a line at a lone \\r (a file name may hold one)
    and keeps a UTF-8 byte-order mark on the first path; they are split by ``input_lines`` now, as text on stdin is."""
    import io
    import sys

    from PIL import Image

    from headstart.data.inputs import read_image_inputs

    names = [str(tmp_path / "a\rb.png"), str(tmp_path / "c.png")]
    for name in names:
        Image.new("RGB", (4, 4)).save(name, format="PNG")
    stdin = "\ufeff" + names[0] + "\r\n\r\n  " + names[1] + "  \n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    read, images, carried = read_image_inputs("-")
    assert read == names and len(images) == 2 and carried == [{}, {}]


def test_a_folder_of_images_says_which_other_files_it_skipped(tmp_path, caplog):
    """predict on a folder holding a README.txt beside its images gave a prediction per image and no word of the
    README; a hidden file (.DS_Store) is no one's input and is not named."""
    import logging

    from PIL import Image

    from headstart.data.inputs import read_image_inputs

    for name in ("b.png", "a.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / name, format="PNG")
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        names, images, _ = read_image_inputs(tmp_path)
    assert [n.rsplit("/", 1)[-1] for n in names] == ["a.png", "b.png"] and len(images) == 2
    (said,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert said.startswith(f"{tmp_path.name}: skipped 1 file that is no image (README.txt); only .png"), said


def test_blank_lines_between_inputs_are_skipped_and_said_so_with_their_line_numbers(tmp_path, caplog):
    """printf 'good\\n\\nbad\\n' gave two predictions for three lines and no word of it: a user lining outputs up with
    input lines was off by one from line 2. The skip stays (a blank line is no input), and is said, naming the lines;
    blank lines after the last input (a file's end) are not."""
    import logging

    from headstart.data.frames import input_lines

    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        assert input_lines("good\n\nbad\n\n\n", "standard input") == ["good", "bad"]
        assert input_lines("good\r\nbad\r\n", "in.txt") == ["good", "bad"]
        assert input_lines("a\n \nb\n\nc\n") == ["a", "b", "c"]  # no source: nothing said
    assert [r.getMessage() for r in caplog.records] == [
        "standard input: 1 blank line skipped (line 2): the output has a row per non-blank line, so its row numbers are "
        "not the input's line numbers"]
    caplog.clear()
    (tmp_path / "in.txt").write_text("a\n\n\nb\n")
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        from headstart.data.inputs import read_inputs

        assert read_inputs(tmp_path / "in.txt") == ["a", "b"]
    assert [r.getMessage() for r in caplog.records][0].startswith("in.txt: 2 blank lines skipped (line 2, 3)")


@pytest.mark.parametrize(("encoding", "says"), [
    ("utf-16", ("it starts with a UTF-16 byte-order mark", "iconv -f utf-16 -t utf-8 d.csv > fixed.csv")),
    ("utf-16-le", ("a NUL byte at offset 1: it looks UTF-16LE", "iconv -f utf-16le -t utf-8 d.csv > fixed.csv")),
    ("utf-16-be", ("a NUL byte at offset 0: it looks UTF-16BE", "iconv -f utf-16be -t utf-8 d.csv > fixed.csv")),
    ("utf-32", ("it starts with a UTF-32 byte-order mark", "iconv -f utf-32 -t utf-8 d.csv > fixed.csv")),
    ("cp1252", ("byte 0x93 at offset 11", "iconv -f cp1252 -t utf-8 d.csv > fixed.csv")),
    ("latin1", ("byte 0xe9 at offset", "iconv -f latin1 -t utf-8 d.csv > fixed.csv")),
])
def test_a_table_not_in_utf8_is_told_the_iconv_that_converts_it(encoding, says, tmp_path, monkeypatch, capsys):
    """UTF-16 (Excel's "Unicode text") was told to run iconv -f latin1, which turns it into text full of NULs, and
    UTF-16 without a byte-order mark was read as columns 't\\x00e\\x00x\\x00t\\x00'. The iconv named now converts it."""
    import shutil
    import subprocess

    frame = toy_frame()
    frame.loc[0, "text"] = "\u201cquoted\u201d" if encoding == "cp1252" else "caf\u00e9 au lait"
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "d.csv' is not UTF-8 (", *says)
    iconv = says[-1].split(" > ")[0].split()
    if shutil.which("iconv") is None:
        pytest.skip("no iconv here to run the fix with")
    converted = subprocess.run(iconv, cwd=tmp_path, capture_output=True, check=True).stdout.decode("utf-8")
    assert converted.replace("\r\n", "\n").lstrip("\ufeff") == frame.to_csv(index=False)


def test_a_binary_file_named_csv_is_told_it_is_not_text(tmp_path, monkeypatch, capsys):
    toy_frame().to_parquet(tmp_path / "d.csv")
    result = run_cli([*TRAIN, "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "d.csv' is not text (a NUL byte at offset", "as in a binary file",
                      "save the table as a UTF-8 .csv")


TABLES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")  # what frames.SUFFIXES reads as a labelled table


def test_the_formats_read_are_one_table():
    from headstart.data.frames import INPUTS_ONLY, SUFFIXES, data_files

    assert tuple(s for s in SUFFIXES if s not in INPUTS_ONLY) == TABLES
    assert data_files(labelled=True) == "a .csv, .tsv, .jsonl, .json or .parquet file"
    assert data_files(labelled=False) == "a .csv, .tsv, .jsonl, .json, .parquet or .txt file"


@pytest.mark.parametrize("args", [
    lambda d, t: [*TRAIN, "--data", str(d), "--out", str(t / "run")],  # a folder with no class folders
    lambda d, t: ["sft", "--data", "no-such-table", "--out", str(t / "run")],
])
def test_a_message_listing_the_formats_names_each_one_read(args, tmp_path, monkeypatch, capsys):
    """Lists written by hand said ".csv, .tsv, .jsonl or .parquet" (sft: .csv/.jsonl/.parquet) and left out .json,
    which is read; they are made from frames.SUFFIXES now."""
    (tmp_path / "empty").mkdir()
    result = run_cli(args(tmp_path / "empty", tmp_path), monkeypatch, capsys)
    assert_user_error(result, "a .csv, .tsv, .jsonl, .json or .parquet file")


def test_a_directory_given_as_predict_inputs_names_the_txt_it_also_reads(tmp_path):
    from headstart.data.frames import read_frame
    from headstart.errors import DataError

    with pytest.raises(DataError, match=r"is a directory; give a \.csv, \.tsv, \.jsonl, \.json, \.parquet or \.txt file$"):
        read_frame(tmp_path, labelled=False)
    with pytest.raises(DataError, match=r"unknown format '\.docx'; give a \.csv, \.tsv, \.jsonl, \.json or \.parquet file$"):
        (tmp_path / "a.docx").write_text("x")
        read_frame(tmp_path / "a.docx")


def test_no_hand_written_list_of_formats_leaves_one_out():
    """Help text cannot import frames (--help stays free of numpy): a list of three or more formats anywhere in the
    package names every table format read."""
    import re

    import headstart

    for path in Path(headstart.__file__).parent.rglob("*.py"):
        if path.name == "frames.py":  # the table's own module, where its formats are described
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            named = {n.lower() for n in re.findall(r"\b(csv|tsv|jsonl|json|parquet)\b", line, flags=re.IGNORECASE)}
            if len(named) >= 3:
                assert {s[1:] for s in TABLES} <= named, f"{path.name}:{number} lists {sorted(named)}: {line.strip()}"


@pytest.mark.parametrize("suffix", [".xlsx", ".xls", ".ods"])
def test_a_spreadsheet_is_told_to_be_saved_as_csv(suffix, tmp_path, monkeypatch, capsys):
    """It was told to "use one of .csv, .tsv, ...", as if renaming it would do."""
    path = tmp_path / f"reviews{suffix}"
    path.write_bytes(b"PK\x03\x04")
    result = run_cli([*TRAIN, "--data", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, f"reviews{suffix}': a {suffix} spreadsheet is not read", "save its sheet as CSV UTF-8 (reviews.csv)")


def test_a_folder_of_tables_names_one_to_give(tmp_path, monkeypatch, capsys):
    """A folder that is no image folder was told to give "a .csv, .tsv, .jsonl or .parquet file" (or, with a subfolder,
    that the subfolder has no images: add some); a table in it is named."""
    (tmp_path / "data" / "old").mkdir(parents=True)
    toy_frame().to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "data" / "old" / "notes.md").write_text("x")
    result = run_cli([*TRAIN, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "data' is a directory whose folders hold no images", "give one of its tables as the data, e.g.",
                      "data/train.csv'", "or a folder of images laid out as data/<class>/<image>.png")
    assert "add some" not in result[2]


@pytest.mark.parametrize(("command", "header", "row"), [
    ("sft", "prompt,response", '"Write a haiku about rain.","Soft rain on the roof"'),
    ("prefer", "prompt,chosen,rejected", '"Write a haiku about rain.","Soft rain on the roof","Rain is water"'),
])
def test_a_txt_given_to_a_language_model_command_is_told_the_table_it_needs(command, header, row, tmp_path, monkeypatch,
                                                                          capsys):
    """It was told "column 'prompt' not in 'x.txt' (columns: text); name it with --prompt-column", a fix that cannot
    work: a .txt is one column of inputs."""
    path = tmp_path / "x.txt"
    path.write_text("a joy to watch\ndull and lifeless\n")
    result = run_cli([command, "--data", str(path), "--out", str(tmp_path / "o")], monkeypatch, capsys)
    roles = " / ".join(header.split(","))
    assert_user_error(result, f"x.txt' holds one input per line, not a table of {roles} columns",
                      "give a .csv, .tsv, .jsonl, .json or .parquet file with a column for each",
                      f"a .csv whose header is {header} and whose rows read like {row}")
    assert "--prompt-column" not in result[2]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("name", "content", "says"), [
    ("first.csv", "text,label\nnice, really,pos\nbad,neg\n", "line 2 of"),  # pandas read it as an index column
    ("later.csv", "text,label\nbad,neg\nnice, really,pos\n", "line 3 of"),
    ("later.tsv", "text\tlabel\nbad\tneg\nnice\treally\tpos\n", "line 3 of"),
])
def test_a_row_with_an_unquoted_separator_is_named_by_its_line(name, content, says, tmp_path, monkeypatch, capsys):
    """A first row with one field too many was read with its first field as the index, every row shifted one column
    left ("dropped 1 rows with no label", then "a single class"); a later one said "Error tokenizing data. C error: ...;
    check the file's format"."""
    (tmp_path / name).write_text(content)
    result = run_cli([*TRAIN, "--data", str(tmp_path / name), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    sep = "tab" if name.endswith(".tsv") else "comma"
    assert_user_error(result, f"{says} '{tmp_path / name}' has 3 {sep}-separated fields, its header 2",
                      f"quote a value that holds a {sep}")
    assert "note:" not in result[2]


@pytest.mark.parametrize(("name", "content", "says"), [
    ("spaces.csv", "text label\nnice pos\nbad neg\n", ("read as one column ('text label'); it looks space-separated",
                                                       "re-save it comma-separated as a .csv (header text,label)")),
    ("spaces.tsv", "text label\nnice pos\nbad neg\n", ("a .tsv is split at a tab", "(header text,label)")),
    ("texts.csv", "review\nnice\nbad\n", ("read as one column ('review'); to train or score, give a table with a text "
                                          "and a label column",)),
    # a header of two words over texts of other lengths is one column, not a space-separated table
    ("reviews.csv", "review text\na joy to watch\ndull\n", ("read as one column ('review text'); to train or score, give "
                                                             "a table with a text and a label column",)),
])
def test_a_table_of_one_column_is_not_asked_to_name_its_label_column(name, content, says, tmp_path, monkeypatch, capsys):
    """It was told "cannot tell which column ... holds the label (columns: text label); pass --label-column NAME", a fix
    that cannot work with one column."""
    (tmp_path / name).write_text(content)
    result = run_cli([*TRAIN, "--data", str(tmp_path / name), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, f"{name}' was read as one column", *says)
    assert "--label-column" not in result[2]
    assert name.startswith("spaces") or "space-separated" not in result[2]
