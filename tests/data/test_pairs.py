"""Text pairs (--text-column premise,hypothesis): read from a file, encoded as the tokenizer encodes pairs (segment
ids included), trained and evaluated; a bad pair of columns is one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from headstart.data import load_dataset
from headstart.data.dataset import PAIR_SEP
from headstart.errors import DataError


def _nli(path, rows: int = 160):
    """Premise and hypothesis; entailment when the hypothesis repeats the premise's sentiment word, else contradiction."""
    rng = np.random.default_rng(0)
    words = {"good": "great", "bad": "awful"}
    data = []
    for i in range(rows):
        word = rng.choice(list(words))
        same = bool(rng.integers(2))
        other = words[word] if same else words["bad" if word == "good" else "good"]
        data.append({"premise": f"the film was {word}", "hypothesis": f"it was {other} overall", "id": i,
                     "label": "entailment" if same else "contradiction"})
    data[3]["hypothesis"] = ""  # a pair without its second text is dropped
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def test_a_pair_of_columns_is_read_as_one_input_and_a_row_missing_a_part_is_dropped(tmp_path):
    data = load_dataset(str(_nli(tmp_path / "nli.csv")), text_column="premise,hypothesis", label_column="label")
    assert len(data) == 159 and all(PAIR_SEP in t for t in data.inputs) and data.label_names == ("contradiction", "entailment")
    assert data.source["text_column"] == "premise,hypothesis"
    single = load_dataset(str(tmp_path / "nli.csv"), text_column="premise", label_column="label")
    assert single.hash != data.hash
    with pytest.raises(DataError, match="'hypo' is not a second column"):
        load_dataset(str(tmp_path / "nli.csv"), text_column="premise,hypo", label_column="label")


def test_a_pair_is_encoded_as_the_tokenizer_encodes_pairs_with_its_segment_ids():
    from headstart.backbones import load_backbone

    backbone = load_backbone("all-minilm-l6-v2")
    pairs = [("the film was good", "it was great overall"), ("a long premise " * 3, "short")]
    encoded = backbone.encode([a + PAIR_SEP + b for a, b in pairs])
    theirs = backbone.tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt")
    batch = backbone.collate(encoded)
    assert torch.equal(batch["input_ids"], theirs["input_ids"]) and torch.equal(batch["token_type_ids"], theirs["token_type_ids"])
    assert "token_type_ids" not in backbone.collate(backbone.encode(["one text"])), "single texts are as they always were"


def test_a_pairs_file_trains_and_evaluates(tmp_path, tiny_registry, monkeypatch, capsys):
    from conftest import run_cli

    path = str(_nli(tmp_path / "nli.csv"))
    base = ["--data", path, "--text-column", "premise,hypothesis", "--label-column", "label", "--backbone", "tiny-bert"]
    code, out, err = run_cli(["train", *base, "--strategy", "full-finetune", "--n", "64", "--max-steps", "8", "--min-steps", "8",
                              "--out", str(tmp_path / "run"), "--quiet"], monkeypatch, capsys)
    assert code in (0, None), err
    code, out, err = run_cli(["evaluate", str(tmp_path / "run")], monkeypatch, capsys)
    assert code in (0, None) and "accuracy" in out, err


def test_a_pair_run_is_refused_by_export_in_one_line(tmp_path, tiny_registry):
    import headstart
    from headstart.errors import ConfigError
    from headstart.export import export
    from headstart.specs import TrainConfig

    path = str(_nli(tmp_path / "nli.csv"))
    headstart.fit(path, "tiny-bert", strategy="full-finetune", n=32, text_column="premise,hypothesis", label_column="label",
                  config=TrainConfig(max_steps=4, min_steps=4), out=tmp_path / "run")
    with pytest.raises(ConfigError, match="reads text pairs"):
        export(tmp_path / "run", tmp_path / "hf")


def _pair_run(tmp_path, monkeypatch, capsys) -> str:
    """A tiny-BERT run trained on the columns premise,hypothesis (tiny_registry must be active)."""
    from conftest import run_cli

    path = str(_nli(tmp_path / "nli.csv"))
    code, _, err = run_cli(["train", "--data", path, "--text-column", "premise,hypothesis", "--label-column", "label",
                            "--backbone", "tiny-bert", "--strategy", "full-finetune", "--n", "32", "--max-steps", "2",
                            "--min-steps", "2", "--out", str(tmp_path / "run"), "--quiet"], monkeypatch, capsys)
    assert code in (0, None), err
    return str(tmp_path / "run")


def _stdin(monkeypatch, text: str) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_a_pair_run_reads_stdin_as_two_texts_split_by_a_tab_and_refuses_a_line_without_one(tmp_path, tiny_registry,
                                                                                           monkeypatch, capsys):
    import json

    from conftest import assert_user_error, run_cli

    run = _pair_run(tmp_path, monkeypatch, capsys)
    _stdin(monkeypatch, "a movie\tthe movie\n")
    code, out, err = run_cli(["predict", run, "-"], monkeypatch, capsys)
    row = json.loads(out)
    assert code in (0, None) and (row["premise"], row["hypothesis"]) == ("a movie", "the movie") and "text" not in row, err
    _stdin(monkeypatch, "a movie\tthe movie\njust one text\n")
    assert_user_error(run_cli(["predict", run, "-"], monkeypatch, capsys), "line 2", "no tab", "premise<TAB>hypothesis")


def test_a_pair_run_refuses_a_table_of_single_texts_naming_its_two_columns(tmp_path, tiny_registry, monkeypatch, capsys):
    from conftest import assert_user_error, run_cli

    run = _pair_run(tmp_path, monkeypatch, capsys)
    pd.DataFrame({"premise": ["the film was good", "the film was bad"], "id": [1, 2]}).to_csv(tmp_path / "one.csv", index=False)
    one = str(tmp_path / "one.csv")
    assert_user_error(run_cli(["predict", run, one], monkeypatch, capsys), "lacks 'hypothesis'", "premise,hypothesis",
                      "--text-column FIRST,SECOND")
    assert_user_error(run_cli(["predict", run, one, "--text-column", "premise"], monkeypatch, capsys),
                      "--text-column 'premise' names one column", "premise,hypothesis", "--text-column FIRST,SECOND")


def test_python_predict_takes_pairs_for_a_pair_run_and_single_texts_for_a_single_text_run(tmp_path, tiny_registry,
                                                                                          monkeypatch, capsys, toy_csv):
    import headstart
    from headstart.errors import ConfigError
    from headstart.specs import TrainConfig

    run = _pair_run(tmp_path, monkeypatch, capsys)
    rows = headstart.predict(run, [("a film about x", "a film"), ["it was good", "it was great"]])
    assert [(r["premise"], r["hypothesis"]) for r in rows] == [("a film about x", "a film"), ("it was good", "it was great")]
    with pytest.raises(ConfigError, match=r"reads text pairs \(premise, hypothesis\).*\[\('a film about x', 'a film'\)\]"):
        headstart.predict(run, ["just one text"])
    single = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, config=TrainConfig(max_steps=2, min_steps=2))
    with pytest.raises(ConfigError, match=r"reads single texts.*one str per input.*text_column='FIRST,SECOND'") as caught:
        single.predict([("a film about x", "a film")])
    assert "[str(x) for x in inputs]" not in str(caught.value)


def test_predictions_on_a_pairs_table_keep_its_two_columns_never_the_internal_separator(tmp_path, tiny_registry,
                                                                                        monkeypatch, capsys):
    import json

    from conftest import run_cli

    run = _pair_run(tmp_path, monkeypatch, capsys)
    code, out, err = run_cli(["predict", run, str(tmp_path / "nli.csv")], monkeypatch, capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code in (0, None) and len(rows) == 159, err
    assert list(rows[0])[:4] == ["premise", "hypothesis", "id", "input_label"] and "text" not in rows[0]
    assert (rows[0]["premise"], rows[0]["hypothesis"]) == ("the film was bad", "it was awful overall")
    assert PAIR_SEP not in out and "\\u001f" not in out
    code, _, err = run_cli(["predict", run, str(tmp_path / "nli.csv"), "--out", str(tmp_path / "p.csv")], monkeypatch, capsys)
    written = (tmp_path / "p.csv").read_text()
    assert written.startswith("premise,hypothesis,id,input_label,label,") and PAIR_SEP not in written, err


def test_a_pair_runs_model_card_shows_the_pair_form_and_no_refused_export(tmp_path, tiny_registry, monkeypatch, capsys):
    from headstart.errors import ConfigError
    from headstart.export import export

    run = _pair_run(tmp_path, monkeypatch, capsys)
    card = (tmp_path / "run" / "README.md").read_text()
    assert "premise<TAB>hypothesis" in card and "printf 'a premise\\ta hypothesis\\n' | headstart predict" in card
    assert "headstart export" not in card and "a review to score" not in card
    with pytest.raises(ConfigError, match="export writes single-text models only") as caught:
        export(tmp_path / "run", tmp_path / "hf")
    assert "yet" not in str(caught.value)


def test_predict_writes_json_readable_not_ascii_escaped(tmp_path, tiny_registry, monkeypatch, capsys):
    import json

    from conftest import run_cli

    run = _pair_run(tmp_path, monkeypatch, capsys)
    pd.DataFrame({"premise": ["Très bon film"], "hypothesis": ["c'était génial"]}).to_csv(tmp_path / "fr.csv", index=False)
    code, out, err = run_cli(["predict", run, str(tmp_path / "fr.csv")], monkeypatch, capsys)
    assert code in (0, None) and '"Très bon film"' in out and "\\u00e8" not in out, err
    code, _, err = run_cli(["predict", run, str(tmp_path / "fr.csv"), "--out", str(tmp_path / "p.jsonl")], monkeypatch, capsys)
    written = (tmp_path / "p.jsonl").read_text(encoding="utf-8")
    assert "c'était génial" in written and json.loads(written)["premise"] == "Très bon film", err


def test_a_column_named_with_a_comma_is_one_text_and_only_a_two_column_read_marks_a_pair_run(tmp_path):
    """A table's own column "review, text" trains a single-text run, which predict, the card and export read as one
    (split at its comma, it was taken for a pair run): the data source says which it read; a run saved before it did
    is read by its text column as before."""
    from headstart.data.columns import run_pair
    from headstart.data.files import read_table

    rows = 12
    single = tmp_path / "single.csv"
    pd.DataFrame({"review, text": [f"film {i}" for i in range(rows)], "label": ["a", "b"] * (rows // 2)}).to_csv(single, index=False)
    paired = tmp_path / "paired.csv"
    pd.DataFrame({"premise": [f"p {i}" for i in range(rows)], "hypothesis": [f"h {i}" for i in range(rows)],
                  "label": ["a", "b"] * (rows // 2)}).to_csv(paired, index=False)
    one = read_table(str(single), text_column="review, text", label_column="label").source
    two = read_table(str(paired), text_column="premise,hypothesis", label_column="label").source
    assert (one["pair"], run_pair(one)) == (False, None)
    assert (two["pair"], run_pair(two)) == (True, ("premise", "hypothesis"))
    assert run_pair({"text_column": "premise,hypothesis"}) == ("premise", "hypothesis")  # saved before the mark


def test_python_predict_reads_a_pair_runs_dataframe_by_its_two_columns(tmp_path, tiny_registry, monkeypatch, capsys):
    import pandas as pd

    import headstart
    from headstart.errors import DataError

    run = _pair_run(tmp_path, monkeypatch, capsys)
    frame = pd.DataFrame({"id": [1, 2], "premise": ["a film about x", "it was good"], "hypothesis": ["a film", "great"]})
    rows = headstart.predict(run, frame)
    assert [(r["premise"], r["hypothesis"], r["id"]) for r in rows] == [("a film about x", "a film", 1), ("it was good", "great", 2)]
    assert [r["label"] for r in rows] == [r["label"] for r in headstart.predict(run, list(zip(frame.premise, frame.hypothesis)))]
    renamed = frame.rename(columns={"premise": "p", "hypothesis": "h"})
    assert [r["p"] for r in headstart.predict(run, renamed, text_column="p,h")] == ["a film about x", "it was good"]
    with pytest.raises(DataError, match=r"lacks 'premise', 'hypothesis': this run reads text pairs.*text_column='FIRST,SECOND'"):
        headstart.predict(run, renamed)
    with pytest.raises(DataError, match=r"text_column='p' names one column, but this run reads text pairs"):
        headstart.predict(run, renamed, text_column="p")
