"""headstart.data.inputs: what ``predict`` reads from a table, a .txt, stdin, an image, a folder or a table of images:
which column, what it says it guessed or left unread, and the message when there is nothing to predict on."""

from __future__ import annotations

import io
import logging

import pandas as pd
import pytest

from headstart.data.inputs import read_image_inputs, read_input_rows
from headstart.errors import DataError

BOTH = pd.DataFrame({"review": ["good film", "bad film"], "sentence": ["s1", "s2"], "id": [7, 8]})


def notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "headstart.data.files"]


def test_the_runs_own_column_is_read_before_a_guess_and_a_named_column_before_both(tmp_path, caplog):
    """A table holding ``review`` and ``sentence`` is read by the column the run was trained on, not by name order;
    a guess is said, with the run's own column where the table lacks it."""
    path = tmp_path / "both.csv"
    BOTH.to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        texts, carried = read_input_rows(path, run_column="review")
        assert texts == ["good film", "bad film"] and carried[0] == {"sentence": "s1", "id": 7}
        assert notes(caplog) == [], "the run's own column is no guess"
        assert read_input_rows(path, text_column="sentence", run_column="review")[0] == ["s1", "s2"]
        assert notes(caplog) == []
        assert read_input_rows(path, run_column="plot")[0] == ["s1", "s2"]  # 'sentence' before 'review' by name
    assert notes(caplog) == ["both.csv: reading column 'sentence' as the text to predict on (the run's own text column "
                             "'plot' is not in it); --text-column NAME picks another"]


def test_a_label_column_beside_the_text_is_carried_into_the_output_and_said_to_be_unread(tmp_path, caplog):
    path = tmp_path / "scored.csv"
    pd.DataFrame({"text": ["good", "bad"], "Label": ["pos", "neg"]}).to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        texts, carried = read_input_rows(path)
    assert texts == ["good", "bad"] and carried == [{"Label": "pos"}, {"Label": "neg"}]
    (said,) = notes(caplog)
    assert said.startswith(f"scored.csv: its column 'Label' is carried into the output but not read; to score the run "
                           f"on these labels: headstart evaluate RUN --eval-data {path} "), said


def test_the_runs_own_file_or_a_copy_is_sent_to_plain_evaluate_not_to_eval_data(tmp_path, caplog):
    """predict on the run's own training file suggested "headstart evaluate RUN --eval-data FILE", which evaluate then
    refused as the run's own dataset; it names plain evaluate (the test split) for the file and a copy of it."""
    path, copy = tmp_path / "excel.csv", tmp_path / "copy.csv"
    pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]}).to_csv(path, index=False)
    copy.write_bytes(path.read_bytes())
    with caplog.at_level(logging.INFO, logger="headstart.data.files"):
        read_input_rows(path, run_file=str(path))
        read_input_rows(copy, run_file=str(path))
        read_input_rows(path, run_file=str(tmp_path / "gone.csv"))  # the run's file moved: no comparison to make
    own = ("its column 'label' is carried into the output but not read; this is the run's own data: headstart evaluate "
           "RUN scores the run on its test split (the rows it never trained or chose on)")
    assert notes(caplog)[:2] == [f"excel.csv: {own}", f"copy.csv: {own}"]
    assert f"headstart evaluate RUN --eval-data {path}" in notes(caplog)[2]


def test_a_table_with_only_its_header_and_stdin_with_no_text_are_refused_with_the_fix(tmp_path, monkeypatch):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match=r"^'.*header.csv' has no rows to predict on \(only its header\); add one input "
                                        r"per row$"):
        read_input_rows(path)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    with pytest.raises(DataError, match=r"^standard input holds no text to predict on; give one input per line$"):
        read_input_rows("-")


def test_an_image_a_missing_path_an_imageless_folder_and_a_table_without_image_paths(tmp_path):
    from PIL import Image

    image = tmp_path / "one.PNG"
    Image.new("RGB", (5, 3)).save(image, format="PNG")
    names, images, carried = read_image_inputs(image)
    assert names == [str(image)] and images[0].shape == (3, 5, 3) and carried == [{}]
    with pytest.raises(DataError, match=r"^'.*gone.png' not found; give an image, a folder of images, a table naming "
                                        r"them, or - for paths on stdin$"):
        read_image_inputs(tmp_path / "gone.png")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(DataError, match=r"^'.*notes' holds no images \(.png, .jpg"):
        read_image_inputs(tmp_path / "notes")
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["a", "b"]}).to_csv(texts, index=False)
    with pytest.raises(DataError, match=r"^no column of '.*texts.csv' names image files \(columns: text\); name the "
                                        r"column of image paths with text_column=NAME, or give an image or a folder$"):
        read_image_inputs(texts)


def test_a_table_of_images_is_read_by_the_runs_column_relative_to_the_table_carrying_the_rest(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("L", (2, 2)).save(tmp_path / "img" / name, format="PNG")
    table = tmp_path / "t.csv"
    pd.DataFrame({"before": ["img/a.png", "img/b.png"], "after": ["img/c.png", "img/c.png"], "id": [1, 2]}).to_csv(table, index=False)
    names, images, carried = read_image_inputs(table, run_column="after")  # two image columns: the run's is read
    assert names == ["img/c.png", "img/c.png"] and len(images) == 2
    assert carried == [{"before": "img/a.png", "id": 1}, {"before": "img/b.png", "id": 2}]
    assert read_image_inputs(table, text_column="before", run_column="after")[0] == ["img/a.png", "img/b.png"]


def test_an_image_tables_column_errors_say_what_was_wrong_in_the_callers_words_and_python_reads_it_as_predict_does(
        tmp_path):
    """An image run's predict input table: '--text-column note' (a text column) or a misspelt one got "no column names
    image files; pass --text-column NAME", as if none was given; read_image_inputs was not in headstart.data, so from
    Python a folder or table of images had no reader, and predict(run, 'folder') pointed to read_inputs, a reader of
    texts. Each error names the column given and the one to use, in flags from the CLI and keywords from Python."""
    from types import SimpleNamespace

    from PIL import Image

    import headstart.data
    from headstart.errors import ConfigError
    from headstart.loaded import predict_loaded
    from headstart.surface import cli_surface, reset_surface

    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (2, 2)).save(tmp_path / "img" / name, format="PNG")
    table = tmp_path / "t.csv"
    pd.DataFrame({"id": [1, 2], "path": ["img/a.png", "img/b.png"], "note": ["fine", "blurred"]}).to_csv(table, index=False)
    marked = cli_surface()  # as headstart predict calls it
    try:
        with pytest.raises(DataError, match=r"^--text-column 'note' names a column of '.*t.csv' that holds no image files "
                                            r"\(e.g. 'fine'\); name its column of image paths, e.g. --text-column path$"):
            read_image_inputs(table, text_column="note")
        with pytest.raises(DataError, match=r"^--text-column 'paht' is not a column of '.*t.csv' \(columns: id, path, "
                                            r"note\); name its column of image paths$"):
            read_image_inputs(table, text_column="paht")
    finally:
        reset_surface(marked)
    with pytest.raises(DataError, match=r"^text_column='note' names a column of .*, e.g. text_column='path'$"):
        headstart.data.read_image_inputs(table, text_column="note")
    names, images, columns = headstart.data.read_image_inputs(str(table))
    assert names == ["img/a.png", "img/b.png"] and len(images) == 2 and columns == [{"id": 1, "note": "fine"},
                                                                                    {"id": 2, "note": "blurred"}]
    image_run = SimpleNamespace(model=SimpleNamespace(backbone=SimpleNamespace(modality="image")))
    with pytest.raises(ConfigError, match=r"read a folder's or a table's images first: names, images, columns = "
                                          r"headstart\.data\.read_image_inputs\(PATH\), then predict\(run, images\)$"):
        predict_loaded(image_run, str(tmp_path / "img"))
    with pytest.raises(ConfigError, match=r"got '.*t\.csv', a folder or table of images, not one: read a folder's or a "
                                          r"table's images first"):
        predict_loaded(image_run, table)


def test_a_csvs_id_column_is_carried_as_numbers_as_a_jsonl_carries_it(tmp_path):
    """predict's JSON output turned a CSV's id 3 into "3" (a CSV's cells are read as text): a column whose every value
    spells a number is carried as numbers; one with another value ("A7", "007") keeps each value as the file spells it."""
    path = tmp_path / "new.csv"
    path.write_text("doc_id,score,code,zip,review\n3,0.5,A7,007,good\n4,-2,8,010,bad\n5,,9,011,meh\n")
    _, carried = read_input_rows(path)
    assert carried[0] == {"doc_id": 3, "score": 0.5, "code": "A7", "zip": "007"}
    assert carried[1]["score"] == -2 and carried[2]["score"] is None
    jsonl = tmp_path / "new.jsonl"
    jsonl.write_text('{"doc_id": 3, "review": "good"}\n')
    assert read_input_rows(jsonl)[1] == [{"doc_id": 3}]


def test_a_jsonl_object_column_is_carried_whole_and_a_field_of_one_is_still_read_by_its_dotted_path(tmp_path):
    """predict carried a pass-through object as dotted columns ("meta.id": 3, "meta.src": "x") once read_frame read
    every JSON object field by field; it carries {"meta": {...}} as the file holds it, and --text-column data.review
    still reads a nested text."""
    path = tmp_path / "new.jsonl"
    path.write_text('{"text": "good", "meta": {"id": 3, "src": "x"}}\n{"text": "bad", "meta": {"id": 4, "src": "y"}}\n')
    texts, carried = read_input_rows(path)
    assert texts == ["good", "bad"] and carried == [{"meta": {"id": 3, "src": "x"}}, {"meta": {"id": 4, "src": "y"}}]
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"id": 1, "data": {"review": "fine"}}\n{"id": 2, "data": {"review": ""}}\n')
    texts, carried = read_input_rows(nested, text_column="data.review")
    assert texts == ["fine"] and carried == [{"id": 1, "data": {"review": "fine"}}]
