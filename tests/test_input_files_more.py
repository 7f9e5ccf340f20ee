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
    from headstart.data.files import read_frame

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b", "label": "x"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_frame(path).to_dict("records") == [{"text": "a\u2028b", "label": "x"}]
