"""What an sft / prefer run cut (rows dropped for an empty cell, steps that ended short of the data, examples cut to
--max-length) is said on the command line and kept in metrics.json and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from conftest import run_cli
from lm_fixtures import PAIRS, sft_csv, tiny_lm  # noqa: F401  (fixtures)


def with_empty_responses(path: Path, count: int) -> Path:
    """``path``'s table with ``count`` more training rows whose response is empty."""
    frame = pd.read_csv(path)
    extra = pd.DataFrame([{"prompt": f"{p} again", "response": "", "split": "train"} for p, _ in PAIRS[:count]])
    pd.concat([frame, extra]).to_csv(path, index=False)
    return path


def test_rows_dropped_for_an_empty_response_are_said_and_named_where_n_is_refused(tiny_lm, sft_csv, tmp_path,
                                                                                    monkeypatch, capsys):
    data = with_empty_responses(sft_csv, 2)
    base = ["sft", "--data", str(data), "--backbone", str(tiny_lm), "--max-steps", "1", "--batch-size", "2",
            "--eval-rows", "0", "--val-rows", "2", "-q"]
    code, _, err = run_cli([*base, "--n", "16", "--out", str(tmp_path / "many")], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert "note: sft.csv: dropped 2 rows with an empty 'response'" in err.splitlines()
    assert ("error: --n 16 is more than the 6 training rows (reading the file dropped 2 rows with an empty 'response'); "
            "use --n 6 or fewer") in err, err
    code, out, err = run_cli([*base, "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert code == 0, err
    assert "note: sft.csv: dropped 2 rows with an empty 'response'" in err.splitlines()
    assert "dropped:" not in out  # said once, as it was read
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dropped"] == "dropped 2 rows with an empty 'response'"
    card = (tmp_path / "run" / "README.md").read_text()
    assert "n = all (6 training rows)" in card
    assert "Notes (what the sft run said as it ran):" in card
    assert "- dropped 2 rows with an empty 'response'" in card
    assert "- --max-steps 1 ended the run after 2 of the 6 training rows (0.33 epochs)" in card
    assert metrics["notes"] and all(f"note: {n}" in out for n in metrics["notes"])  # the card's notes are the CLI's


def test_examples_cut_to_max_length_are_in_the_card(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--max-length", "4",
                              "--eval-rows", "0", "--val-rows", "2", "--out", str(tmp_path / "cut"), "-q"], monkeypatch, capsys)
    assert code == 0, err
    card = (tmp_path / "cut" / "README.md").read_text()
    assert "- 8 of 8 training and validation examples were cut to --max-length 4 tokens" in card, card
    assert "dropped" not in card  # the file has no empty cell


def test_a_prefer_file_says_which_columns_were_empty(tmp_path, monkeypatch, capsys):
    from headstart.llm.data import read_table

    rows = [{"prompt": f"p{i}", "chosen": "" if i < 2 else f"c{i}", "rejected": "" if i in (1, 2) else f"r{i}"}
            for i in range(8)]
    path = tmp_path / "pairs.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    table = read_table(str(path), {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"})
    assert table.dropped == "dropped 3 rows with an empty cell (2 in 'chosen', 2 in 'rejected')"
    assert len(table.columns["prompt"]) == 5


def test_a_run_validated_and_tested_on_one_prompt_says_so_few_measure_little_in_the_singular(tiny_lm, sft_csv, tmp_path,
                                                                                              monkeypatch, capsys):
    code, out, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--val-rows", "1",
                              "--eval-rows", "1", "--max-new-tokens", "2", "--out", str(tmp_path / "run"), "-q"],
                             monkeypatch, capsys)
    assert code == 0, err
    note = ("the checkpoint was chosen on 1 validation prompt and the test score is on 1 prompt: so few measure little")
    assert f"note: {note}" in out, out
    assert note in (tmp_path / "run" / "README.md").read_text()
    assert "test (1 held-out prompt): " in out and "(1 of the 1 test prompt shown" in out
    assert "- test exact_match: " in (tmp_path / "run" / "README.md").read_text()
    assert "(on 1 test prompt)" in (tmp_path / "run" / "README.md").read_text()


def test_counts_of_one_are_singular():
    from headstart.llm.notes import ended, few_note, many

    assert (many(1, "prompt"), many(3, "prompt")) == ("1 prompt", "3 prompts")
    said = ended({"ended_by": "max_steps", "steps": 1, "epochs": 1.0, "rows_seen": 1, "train_rows": 1})
    assert said.startswith("--max-steps 1 ended the run after 1 of the 1 training row (1 epoch)")
    assert few_note({"val_pairs": 8}, None) is None and few_note({"val_rows": 64}, 32) is None
    assert few_note({"val_pairs": 2}, None).startswith("the checkpoint was chosen on 2 validation pairs: so few")
    assert few_note({"val_pairs": 2}, None).endswith("give the file more validation pairs, tens of them, or raise --val-rows "
                                                     "where they cut them")  # the cap may be what kept them few
