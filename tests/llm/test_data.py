"""The rotten-tomatoes generation tables: prompts by sentiment, chosen / rejected of the same movie, movie-disjoint splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, run_cli
from lm_fixtures import tiny_lm  # noqa: F401  (a fixture)

from headstart.errors import ConfigError, DataError
from headstart.llm.data import load_table, split_groups


def movies(table, split: str) -> set[str]:
    return {table.columns["prompt"][r].split(" review of ", 1)[1] for r in table.rows(split)}


@pytest.mark.parametrize("name,columns", [("rotten-tomatoes-sft", ("prompt", "response")),
                                          ("rotten-tomatoes-preferences", ("prompt", "chosen", "rejected"))])
def test_the_built_in_tables_split_by_movie(name, columns):
    table = load_table(name, {c: c for c in columns})
    train, val, test = (movies(table, s) for s in ("train", "validation", "test"))
    assert train and val and test and not (train & val) and not (train & test) and not (val & test)
    assert {p.split(" review of ")[0] for p in table.columns["prompt"]} == {"Write a positive", "Write a negative"}


def test_preferences_pair_a_fresh_and_a_rotten_review_of_the_same_movie():
    from headstart.llm.data import _reviews

    reviews = _reviews()
    kind = dict(zip(zip(reviews["movie"], reviews["text"]), reviews["category"]))
    table = load_table("rotten-tomatoes-preferences", {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"})
    for r in np.random.default_rng(0).choice(len(table.split), 50, replace=False):
        movie = table.columns["prompt"][r].split(" review of ", 1)[1][:-1]
        want = ("fresh", "rotten") if table.columns["sentiment"][r] == "positive" else ("rotten", "fresh")
        assert (kind[(movie, table.columns["chosen"][r])], kind[(movie, table.columns["rejected"][r])]) == want


def test_a_file_splits_by_its_group_column_and_names_a_missing_one(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"q": [f"q{i}" for i in range(40)], "a": ["x"] * 40, "g": [i // 4 for i in range(40)]}).to_csv(path, index=False)
    table = load_table(str(path), {"prompt": "q", "response": "a"}, group_column="g")
    groups = np.asarray([i // 4 for i in range(40)])
    assert all(len(set(table.split[groups == g])) == 1 for g in range(10)) and set(table.split) == {"train", "validation", "test"}
    with pytest.raises(DataError, match="column 'answer' not in"):
        load_table(str(path), {"prompt": "q", "response": "answer"})
    assert list(split_groups(np.arange(10))) == list(split_groups(np.arange(10))), "fixed, not drawn per run"


def test_every_missing_column_is_named_in_one_error_with_the_columns_the_file_has(tmp_path):
    """Only 'prompt' was named: with it fixed, a second run found 'response' missing too."""
    path = tmp_path / "qa.csv"
    pd.DataFrame({"Prompt": ["q"] * 8, "answer": ["a"] * 8}).to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        load_table(str(path), {"prompt": "prompt", "response": "response"})
    assert str(e.value) == (f"columns 'prompt' (did you mean 'Prompt'?) and 'response' not in {str(path)!r} (columns: "
                            "Prompt, answer); name them with --prompt-column and --response-column")
    with pytest.raises(DataError) as e:
        load_table(str(path), {"prompt": "Prompt", "chosen": "chosen", "rejected": "rejected"}, group_column="movie")
    assert str(e.value).startswith(f"columns 'chosen', 'rejected' and 'movie' not in {str(path)!r} (columns: Prompt, "
                                   "answer); name them with --chosen-column, --rejected-column and --group-column"), e.value
    pd.DataFrame({"prompt": ["q"] * 8, "question": ["a"] * 8}).to_csv(path, index=False)  # 0.5 alike: no suggestion
    with pytest.raises(DataError) as e:
        load_table(str(path), {"prompt": "prompt", "response": "response"})
    assert "did you mean" not in str(e.value), e.value


@pytest.mark.parametrize("command,flags", [("sft", "--prompt-column and --response-column"),
                                           ("prefer", "--prompt-column, --chosen-column and --rejected-column")])
def test_sft_and_prefer_name_every_missing_column_and_exit_2(tiny_lm, tmp_path, monkeypatch, capsys, command, flags):
    path = tmp_path / "qa.csv"
    pd.DataFrame({"question": ["q"] * 8, "answer": ["a"] * 8}).to_csv(path, index=False)
    assert_user_error(run_cli([command, "--data", str(path), "--backbone", str(tiny_lm), "--out", str(tmp_path / "o"),
                               "-q"], monkeypatch, capsys), "(columns: question, answer); name them with " + flags)
    assert not (tmp_path / "o").exists()


def test_a_file_without_groups_keeps_each_prompt_on_one_side(tmp_path):
    """Several answers to one prompt: by default every answer of a prompt lands in one part (a prompt with an answer in
    training and another in test would score exact match on a seen prompt); a few template prompts split by row."""
    path = tmp_path / "t.csv"
    prompts = [f"question {i % 30}" for i in range(120)]  # 30 prompts, 4 answers each, interleaved
    pd.DataFrame({"q": prompts, "a": [f"answer {i}" for i in range(120)]}).to_csv(path, index=False)
    table = load_table(str(path), {"prompt": "q", "response": "a"})
    side = {}
    for prompt, part in zip(table.columns["prompt"], table.split):
        assert side.setdefault(prompt, part) == part, f"{prompt!r} is in {side[prompt]} and {part}"
    assert set(table.split) == {"train", "validation", "test"}
    templates = tmp_path / "templates.csv"  # a few instructions answered many times: split by row, each trains
    pd.DataFrame({"q": [f"template {i % 3}" for i in range(60)], "a": [f"a{i}" for i in range(60)]}).to_csv(templates, index=False)
    table = load_table(str(templates), {"prompt": "q", "response": "a"})
    assert set(table.split) == {"train", "validation", "test"}
    assert {table.columns["prompt"][r] for r in table.rows("train")} == {"template 0", "template 1", "template 2"}
    with pytest.raises(ConfigError, match="has its own split"):
        load_table("rotten-tomatoes-sft", {"prompt": "prompt", "response": "response"}, group_column="movie")


def test_a_built_in_table_for_the_other_command_names_that_commands_table():
    """prefer on the sft table (the user named no column): the fix is the preferences table, not "drop the
    --*-column options" the user never gave; with a column named, that is the fix."""
    from headstart.errors import DataError
    from headstart.llm.data import load_table

    with pytest.raises(DataError, match="not 'chosen'; this command reads prompt, chosen, rejected: use rotten-tomatoes-preferences"):
        load_table("rotten-tomatoes-sft", {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"})
    with pytest.raises(DataError, match="not 'p'; drop the --\\*-column options for it"):
        load_table("rotten-tomatoes-sft", {"prompt": "p", "response": "response"})


def test_a_classification_dataset_is_named_as_the_wrong_kind_not_unknown():
    """``sft --data rotten-tomatoes``: the dataset exists (for train / compare); "unknown dataset" misled."""
    from headstart.llm.data import load_table

    with pytest.raises(DataError, match=r"^'rotten-tomatoes' is a labelled dataset for train / compare, not prompts and "
                                        r"answers for a language model; did you mean 'rotten-tomatoes-sft'\?"):
        load_table("rotten-tomatoes", {"prompt": "prompt", "response": "response"})
    with pytest.raises(DataError, match="^unknown dataset 'no-such-set'"):
        load_table("no-such-set", {"prompt": "prompt", "response": "response"})


@pytest.mark.parametrize("name, content", [("empty.txt", ""), ("empty.csv", ""), ("bom.csv", "\ufeff"), ("none.json", "[]")])
def test_an_empty_file_is_named_with_what_this_commands_table_holds(tmp_path, name, content):
    """An empty sft / prefer file: its fix names the command's columns, not a classifier's text and label."""
    path = tmp_path / name
    path.write_text(content)
    for columns in ({"prompt": "prompt", "response": "response"}, {"prompt": "q", "chosen": "good", "rejected": "bad"}):
        with pytest.raises(DataError) as e:
            load_table(str(path), columns)
        assert f"give a table with {' / '.join(columns.values())} columns (a .csv, " in str(e.value)
        assert f"whose header is {','.join(columns.values())} and" in str(e.value) and "label" not in str(e.value)


@pytest.mark.parametrize("name,columns,fragment", [
    ("msgs.jsonl", {"prompt": "messages", "response": "messages"}, "--prompt-column and --response-column both name 'messages'"),
    ("rotten-tomatoes-preferences", {"prompt": "prompt", "chosen": "chosen", "rejected": "chosen"},
     "--chosen-column and --rejected-column both name 'chosen'")])
def test_one_column_for_two_roles_is_refused(tmp_path, name, columns, fragment):
    """It trained on the prompt as its own answer, and DPO on a response preferred over itself."""
    with pytest.raises(ConfigError, match=fragment):
        load_table(str(tmp_path / name) if name.endswith(".jsonl") else name, columns)


CHAT = [{"role": "user", "content": "say hello"}, {"role": "assistant", "content": "hello there"}]


def test_a_chat_messages_file_is_named_as_chats_with_the_fix_not_as_a_missing_column(tmp_path):
    path = tmp_path / "msgs.jsonl"
    pd.DataFrame({"messages": [CHAT] * 6}).to_json(path, orient="records", lines=True)
    with pytest.raises(DataError) as e:
        load_table(str(path), {"prompt": "prompt", "response": "response"})
    assert "its 'messages' column holds chat turns (role/content lists), which are not read" in str(e.value)
    assert "last user turn into a prompt column and its last assistant turn into a response column" in str(e.value)
    assert "name it with --prompt-column" not in str(e.value)


@pytest.mark.parametrize("cell,fragment", [(CHAT, "holds chat turns (role/content lists), not text (row 1: [{'role'"),
                                           ({"a": 1}, "holds dicts, not text (row 1: {'a': 1}); --response-column needs one "
                                                      "text per row: name a column of plain text")])
def test_a_column_of_lists_or_dicts_is_refused_not_read_as_its_python_repr(tmp_path, cell, fragment):
    path = tmp_path / "mixed.jsonl"
    pd.DataFrame({"prompt": [f"q{i}" for i in range(6)], "answer": [cell] * 6}).to_json(path, orient="records", lines=True)
    with pytest.raises(DataError, match="column 'answer' of .*mixed.jsonl' " + fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("{", r"\{").replace("}", r"\}")):
        load_table(str(path), {"prompt": "prompt", "response": "answer"})


def test_a_prompt_column_of_json_objects_is_refused_as_dicts_not_as_a_missing_column(tmp_path):
    """read_frame read every JSON object field by field, so a dict prompt column was named missing ("prompt.q" there);
    an sft table keeps it whole and says it holds dicts, not text."""
    path = tmp_path / "objects.jsonl"
    pd.DataFrame({"prompt": [{"q": f"q{i}"} for i in range(6)], "response": [f"a{i}" for i in range(6)]}).to_json(
        path, orient="records", lines=True)
    with pytest.raises(DataError, match=r"column 'prompt' of .*objects.jsonl' holds dicts, not text \(row 1"):
        load_table(str(path), {"prompt": "prompt", "response": "response"})
