"""User strings in the Markdown headstart writes (model cards, multitask / continual / meta-train reports) stay text:
no HTML, links or emphasis from a file name, no heading or code block from a newline, and a path shown in a shell
command is quoted so that the command runs on that path. Each file is parsed as CommonMark (+ tables) and its
structure compared with what the writer meant."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pandas as pd
import pytest

from conftest import assert_user_error, make_toy, run_cli

MarkdownIt = pytest.importorskip("markdown_it").MarkdownIt

HOSTILE = "<img src=x onerror=alert(1)>|x`y*[z](javascript:a)"
BREAKOUT = "run\n```\n# pwned <b>bold</b> _x_ `y`"  # a newline and a fence: out of the card's ```bash block if unquoted


def _tokens(text: str) -> list[Any]:
    """Block tokens and, after each inline one, its children."""
    flat = []
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # a model card's YAML front matter (the Hub reads it)
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        flat += [token, *(token.children or [])]
    return flat


def _plain(inline: Any) -> str:
    """An inline token's text as a reader sees it: escapes and entities resolved, a line break read as a space."""
    return "".join(c.content if c.type in ("text", "code_inline") else " " if c.type.endswith("break") else ""
                   for c in inline.children or [])


def _assert_inert(text: str) -> None:
    """Nothing a reader's renderer would turn into markup that the writer did not mean."""
    kinds = [t.type for t in _tokens(text)]
    assert not {"html_block", "html_inline", "link_open", "image", "em_open"} & set(kinds), text


def _headings(text: str) -> list[str]:
    tokens = _tokens(text)
    return [_plain(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]


def _first_cells(text: str) -> list[str]:
    """The first cell of every table row (header rows included)."""
    tokens, cells = _tokens(text), []
    for i, t in enumerate(tokens):
        if t.type == "tr_open":
            cells.append(_plain(tokens[i + 2]))  # tr_open, th_open / td_open, inline
    return cells


def _items(text: str) -> list[str]:
    tokens = _tokens(text)
    return [_plain(tokens[i + 2]) for i, t in enumerate(tokens) if t.type == "list_item_open"]  # list_item, paragraph, inline


def test_a_run_card_shows_a_hostile_data_name_as_text_and_quotes_the_out_path_in_its_commands(tmp_path, tiny_registry):
    import headstart
    from headstart.specs import TrainConfig

    data = make_toy(60)
    csv = tmp_path / f"{HOSTILE}.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(csv, index=False)
    out = tmp_path / BREAKOUT
    headstart.fit(str(csv), "tiny", strategy="linear-probe", n=16, config=TrainConfig(max_steps=2, min_steps=2), out=out)
    card = (out / "README.md").read_text()
    _assert_inert(card)
    assert _headings(card) == [f"linear-probe on {HOSTILE}.csv", "Metrics", "Use", "Environment"]
    assert f"{HOSTILE}.csv" in [t.content for t in _tokens(card) if t.type == "code_inline"], "the code span holds the name as is"
    fences = [t for t in _tokens(card) if t.type == "fence"]
    assert [f.info for f in fences] == ["bash", ""], "the path opens no block and closes none"
    words = shlex.split(fences[0].content, comments=True)
    assert words[words.index("predict") + 1] == words[words.index("evaluate") + 1] == str(out)
    assert words[words.index("--out") + 1] == f"{out}-hf"
    assert json.loads(fences[1].content)["cpu"], "the environment block is the JSON itself"


def test_an_sft_card_shows_its_base_model_data_and_start_as_text():
    from headstart.llm.runs import model_card

    spec = {"kind": "sft", "backbone": f"/models/{HOSTILE}\n# pwned", "sft": f"runs/{HOSTILE}", "strategy": "lora",
            "lr": 1e-4, "data": {"name": f"{HOSTILE}.csv"}, "n": 8, "seed": 0}
    card = model_card(spec, {"steps": 3, "best_step": 2, "val_loss": 1.5})
    _assert_inert(card)
    assert _headings(card) == ["headstart sft run"]
    items = _items(card)
    assert items[0] == f"base model: /models/{HOSTILE} # pwned (started from the sft run runs/{HOSTILE})"
    assert f"data: {HOSTILE}.csv, n = 8, seed 0" in items


def test_an_ordinary_sft_card_reads_as_before():
    from headstart.llm.runs import model_card

    spec = {"kind": "sft", "backbone": "HuggingFaceTB/SmolLM2-135M", "strategy": "lora", "lr": 0.0001,
            "data": {"name": "reviews.csv"}, "n": None, "seed": 1}
    assert model_card(spec, {"steps": 10, "best_step": 8}).splitlines()[:5] == [
        "# headstart sft run", "", "- base model: HuggingFaceTB/SmolLM2-135M", "- strategy: lora, lr 0.0001, 10 steps "
        "(best on validation: step 8)", "- data: reviews.csv, n = all, seed 1"]


@pytest.mark.parametrize("content", ["[1, 2]", '"a run"', "3", "null"])
def test_a_spec_json_that_is_not_an_object_is_one_error_naming_the_file(content, tmp_path, monkeypatch, capsys):
    from headstart.errors import StoreError
    from headstart.llm.runs import read_spec

    (tmp_path / "spec.json").write_text(content)
    with pytest.raises(StoreError, match="spec.json"):
        read_spec(tmp_path)
    assert_user_error(run_cli(["generate", str(tmp_path), "--prompt", "hi"], monkeypatch, capsys), str(tmp_path / "spec.json"))


def _cell(mean: float) -> dict[str, float]:
    return {"mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05}


def test_the_multitask_report_shows_hostile_task_names_and_notes_as_text():
    from headstart.report.multitask import multitask_markdown

    task = f"/data/{HOSTILE}.csv:is_pos\n# pwned"
    shown = f"/data/{HOSTILE}.csv:is_pos # pwned"
    row = {"task": task, "metric": "accuracy", "reference": 0.5, "test_rows": 10, "lower_is_better": False,
           "single": _cell(0.9), "multi": {"equal": _cell(0.7)},
           "difference": {"equal": {**_cell(-0.2), "reading": "negative transfer", "gain": {"mean": -0.2}}}}
    analysis = {"tasks": [row], "weights": {"equal": {"weights": {task: 1.0}}}}
    notes = [f"tiny, strategy linear-probe; rows per task: {task} 8 train.", "1 run(s) did not finish: equal seed 0: <b>x</b>\n## y"]
    text = multitask_markdown(analysis, tasks=[task], weightings=["equal"], notes=notes)
    _assert_inert(text)
    assert _headings(text) == [f"Multi-task learning: {shown}", "Each task's test score", "Multi-task − single-task, paired by seed",
                               "In words", "Learned weights"]
    assert _first_cells(text) == ["task (metric)", f"{shown} (accuracy, %; 10 test rows)", "task (metric)", f"{shown} (accuracy)",
                                  "weighting", "equal"]
    items = _items(text)
    assert items[:2] == [f"tiny, strategy linear-probe; rows per task: {shown} 8 train.",
                         "1 run(s) did not finish: equal seed 0: <b>x</b> ## y"]
    assert any(i.startswith(f"Negative transfer: {shown} under equal") for i in items), items


def test_the_continual_report_shows_its_notes_as_text():
    from headstart.report.continual import continual_markdown

    arms = [{"arm": "naive", "method": "naive", "matrix": [[0.9], [0.1, 0.5]], "acc": {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5, "seeds": 1},
             "val_acc": {"mean": 0.7}, "train_seconds": 1.0, "kept_bytes": 0}]
    notes = [f"/models/{HOSTILE}\n# pwned; strategy full-finetune unless an arm names another", "naive[lr=<i>1</i>] learnt *no* better"]
    text = continual_markdown({"arms": arms, "tried": [], "recommended": None}, stream="s", scenario="class", tasks=["a", "b"],
                              notes=notes)
    _assert_inert(text)
    assert _headings(text)[-1] == "Notes" and "pwned" not in " ".join(_headings(text))
    assert _items(text) == [f"/models/{HOSTILE} # pwned; strategy full-finetune unless an arm names another",
                            "naive[lr=<i>1</i>] learnt *no* better"]


def test_meta_md_shows_label_names_in_its_notes_as_text():
    from headstart.meta.config import MetaConfig
    from headstart.meta.results import MetaResult
    from headstart.meta.train import meta_markdown

    note = f"fashion: base classes 0-4 ({HOSTILE}, shirt\n# pwned), novel classes 5-9 (_bag_)"
    text = meta_markdown(MetaResult(config=MetaConfig().to_json(), notes=[note]))
    _assert_inert(text)
    assert _headings(text) == ["headstart meta-train"]
    assert _items(text) == [f"fashion: base classes 0-4 ({HOSTILE}, shirt # pwned), novel classes 5-9 (_bag_)"]
