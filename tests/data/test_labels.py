"""Labels as read from a file: multi-label rows in every spelling a CSV gives them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from headstart.data.files import read_table
from headstart.errors import DataError

ROWS = [["acting"], ["music"], ["plot"], ["acting", "music"], ["music", "plot"], ["acting", "plot"], ["acting", "music", "plot"]] * 4


def write(tmp_path, spell) -> str:
    path = tmp_path / "tags.csv"
    pd.DataFrame({"review": [f"review {i}" for i in range(len(ROWS))], "tags": [spell(t) for t in ROWS]}).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("spell", [json.dumps, repr], ids=["json", "python"])
def test_labels_written_as_lists_are_multilabel_with_or_without_the_task(tmp_path, caplog, spell):
    path = write(tmp_path, spell)
    for task in (None, "multilabel"):
        with caplog.at_level("INFO", logger="headstart"):
            data = read_table(path, text_column="review", label_column="tags", task=task)
        assert data.task == "multilabel" and data.label_names == ("acting", "music", "plot")
        assert data.targets.sum() == sum(len(t) for t in ROWS)
    assert any("labels written as lists" in r.getMessage() for r in caplog.records)


def test_comma_joined_labels_are_refused_under_multilabel_naming_the_pipe(tmp_path):
    with pytest.raises(DataError, match=r"joins labels with commas \('acting, music'\).*'acting\|music'"):
        read_table(write(tmp_path, ", ".join), text_column="review", label_column="tags", task="multilabel")


def test_pipe_joined_classes_are_noted_as_looking_multilabel(tmp_path, caplog):
    path = write(tmp_path, "|".join)
    with caplog.at_level("INFO", logger="headstart"):
        data = read_table(path, text_column="review", label_column="tags")
    assert data.task == "classification" and len(data.label_names) == 7
    said = [r.getMessage() for r in caplog.records if "--task multilabel" in r.getMessage()]
    assert len(said) == 1 and "4 of 7 classes join labels with '|'" in said[0] and "(acting, music, plot)" in said[0]
    assert read_table(path, text_column="review", label_column="tags", task="multilabel").label_names == ("acting", "music", "plot")


def test_a_pipe_inside_unrelated_class_names_is_not_noted(tmp_path, caplog):
    path = tmp_path / "pipes.csv"
    pd.DataFrame({"review": [f"r {i}" for i in range(12)], "label": ["yes|sure", "no|never", "maybe"] * 4}).to_csv(path, index=False)
    with caplog.at_level("INFO", logger="headstart"):
        read_table(str(path), text_column="review", label_column="label")
    assert not any("--task multilabel" in r.getMessage() for r in caplog.records)


def test_numbers_with_a_decimal_comma_are_named_as_such(tmp_path):
    path = tmp_path / "excel.csv"  # as a European spreadsheet saves it: BOM, semicolons, CRLF, decimal commas
    rows = "".join(f"Produkt {i} war gut;{i % 5},{i % 10}\r\n" for i in range(40))
    path.write_bytes(("\ufeffComment;Score\r\n" + rows).encode("utf-8"))
    with pytest.raises(DataError, match=r"label column 'Score' .* decimal comma \('0,0'\): write 0\.0 .*--task classification"):
        read_table(str(path))
    with pytest.raises(DataError, match=r"decimal comma \('0,0'\): write 0\.0 .*regression target"):
        read_table(str(path), label_column="Score", task="regression")
    assert read_table(str(path), label_column="Score", task="classification").task == "classification"


def test_thousands_grouped_with_commas_stay_classes_not_decimal_commas(tmp_path):
    """Labels 1,000 / 10,000 / 5,000 read as three classes (as before the decimal-comma check), never as 'write 1.000'."""
    path = tmp_path / "k.csv"
    pd.DataFrame({"review": [f"r {i}" for i in range(30)], "bucket": ["1,000", "10,000", "5,000"] * 10}).to_csv(path, index=False)
    data = read_table(str(path), text_column="review", label_column="bucket")
    assert data.task == "classification" and sorted(data.label_names) == ["1,000", "10,000", "5,000"]
