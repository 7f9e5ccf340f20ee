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


def test_one_element_lists_in_every_row_are_classes_said_so_and_tags_when_asked(tmp_path, caplog):
    """A label column of "[0]" / "[1]" (a tool that writes every label as a list) was read as multi-label: two tags,
    sigmoid heads and F1 where the user has one class a row. Every row a one-element list is read as its element's
    class, in a CSV and a parquet of lists alike, with a note naming --task multilabel, which reads them as tags."""
    import numpy as np

    labels = [[i % 2] for i in range(12)]
    path = tmp_path / "bracket.csv"
    pd.DataFrame({"review": [f"review {i}" for i in range(12)], "label": [json.dumps(y) for y in labels]}).to_csv(path, index=False)
    pd.DataFrame({"review": [f"review {i}" for i in range(12)], "label": labels}).to_parquet(tmp_path / "bracket.parquet")
    with caplog.at_level("INFO", logger="headstart"):
        data = read_table(str(path))
    assert data.task == "classification" and data.label_names == ("0", "1")
    assert data.targets.tolist() == [i % 2 for i in range(12)]
    said = [r.getMessage() for r in caplog.records if "one-element lists" in r.getMessage()]
    assert said == ["bracket.csv: labels written as one-element lists ('[0]') read as 2 classes (0, 1), one label a row; "
                    "pass --task multilabel to read each row as a set of tags"]
    parquet = read_table(str(tmp_path / "bracket.parquet"))
    assert parquet.task == "classification" and parquet.targets.tolist() == data.targets.tolist()
    tags = read_table(str(path), task="multilabel")
    assert tags.task == "multilabel" and np.array_equal(tags.targets.argmax(1), data.targets)
    caplog.clear()
    with caplog.at_level("INFO", logger="headstart"):  # asked for: no note
        assert read_table(str(path), task="classification").label_names == ("0", "1")
    assert not any("one-element" in r.getMessage() for r in caplog.records)
    path.write_text("review,label\n" + "".join(f"r {i},[{i % 5 + 1}]\n" for i in range(20)))  # star ratings, as lists
    stars = read_table(str(path))
    assert stars.label_names == ("1", "2", "3", "4", "5") and any("not as a scale" in n and "--task multilabel" in n
                                                                  for n in stars.notes)
    mixed = ["[0]", "[1]", '"[0, 1]"']  # quoted: the list holds the CSV's comma
    path.write_text("review,label\n" + "".join(f"r {i},{mixed[i % 3]}\n" for i in range(12)))
    assert read_table(str(path)).task == "multilabel", "a row with two labels: tags, as before"


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


def test_comma_joined_classes_are_noted_as_looking_multilabel_with_the_fix(tmp_path, caplog):
    """Without --task, "acting, music" cells were read as classes of their own without a word (a "|" gets a note, and
    --task multilabel refuses commas naming the "|" form): the same note, naming that fix first."""
    path = write(tmp_path, ", ".join)
    with caplog.at_level("INFO", logger="headstart"):
        data = read_table(path, text_column="review", label_column="tags")
    assert data.task == "classification" and len(data.label_names) == 7
    said = [r.getMessage() for r in caplog.records if "--task multilabel" in r.getMessage()]
    assert len(said) == 1 and "4 of 7 classes join labels with ','" in said[0], said
    assert "join them with '|' and pass --task multilabel to learn each of the 3 (acting, music, plot)" in said[0]


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


def test_each_label_note_names_the_fix_the_command_reading_it_takes(tmp_path, caplog):
    """A command with no --task (continual, then check-leakage) printed "pass --task regression" under star
    ratings, a flag it then refused. The notes name the fix ``task_fixes`` says the command takes, and where it takes
    none they say how the labels were read and no more; train's own (--task) is unchanged."""
    from headstart.data.labels import task_fixes

    stars = tmp_path / "stars.csv"
    stars.write_text("review,rating\n" + "".join(f"review {i},{i % 3 - 1}\n" for i in range(30)))
    scores = tmp_path / "scores.csv"
    scores.write_text("review,score\n" + "".join(f"review {i},{i / 4}\n" for i in range(30)))
    lists = tmp_path / "lists.csv"
    lists.write_text("review,label\n" + "".join(f"review {i},[{i % 2}]\n" for i in range(20)))
    joined = tmp_path / "joined.csv"
    joined.write_text("review,label\n" + "".join(f"review {i},{['a', 'b', 'a|b', 'b|c', 'a|c'][i % 5]}\n" for i in range(30)))
    commas = tmp_path / "commas.csv"
    commas.write_text("review;score\n" + "".join(f"review {i};{i % 7},5\n" for i in range(30)))
    files = (stars, scores, lists, joined)
    said = {path.name: read_table(str(path)).notes[-1] for path in files}
    assert "not as a scale; pass --task regression to predict them as numbers" in said["stars.csv"]
    assert "; pass --task classification to treat them as classes" in said["scores.csv"]
    assert "; pass --task multilabel to read each row as a set of tags" in said["lists.csv"]
    assert "; if a row can have several labels, pass --task multilabel" in said["joined.csv"]
    with task_fixes(lambda kind: f"write FILE:{kind}"):
        for path, kind in zip(files, ("regression", "classification", "multilabel", "multilabel")):
            assert f"write FILE:{kind} to " in read_table(str(path)).notes[-1]
        with pytest.raises(DataError, match="; or write FILE:classification to read each value as a class"):
            read_table(str(commas))
    caplog.clear()
    with task_fixes(lambda kind: None), caplog.at_level("INFO", logger="headstart"):
        notes = {path.name: read_table(str(path)).notes[-1] for path in files}
        with pytest.raises(DataError) as refused:
            read_table(str(commas))
    assert notes["stars.csv"] == "labels read as 3 classes (-1, 0, 1), not as a scale"
    assert notes["scores.csv"] == "labels read as a regression target (30 distinct numeric values)"
    assert notes["lists.csv"] == "labels written as one-element lists ('[0]') read as 2 classes (0, 1), one label a row"
    assert notes["joined.csv"].endswith("read as classes of their own")
    assert "--task" not in str(refused.value) and str(refused.value).endswith("to predict numbers")
    printed = [r.getMessage() for r in caplog.records]
    assert "stars.csv: labels read as 3 classes (-1, 0, 1), not as a scale" in printed
    assert not any("--task" in m for m in printed), printed
