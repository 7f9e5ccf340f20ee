"""A reward model as a classification run on preference pairs (headstart/llm/rewards.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from headstart.data.dataset import PAIR_SEP
from headstart.data.preferences import REWARD_LABELS, reward_dataset, text_groups
from headstart.llm.data import TextTable
from headstart.llm.rewards import pairwise_accuracy, reward_frame, rewards
from tests.conftest import NEGATIVE, POSITIVE


def test_rows_linked_by_any_shared_text_share_a_group() -> None:
    """Row 2's response is row 0's under another prompt, row 3 shares row 2's prompt: 0, 2, 3 form one group; 1 and 4
    share nothing with anyone."""
    prompts = ["ask a", "ask b", "ask c", "ask c", "ask d"]
    chosen = ["x", "y", "z", "w", "v"]
    rejected = ["q", "r", "x", "s", "t"]
    assert list(text_groups([prompts, chosen, rejected])) == [0, 1, 0, 0, 2]  # ids in order of each group's first row
    assert list(text_groups([prompts, chosen])) == [0, 1, 2, 2, 3]  # without the rejected column, row 2 stands apart


def _table(pairs: int, seed: int = 0) -> TextTable:
    """Toy preferences: chosen responses carry positive words, rejected negative; every 5th pair held out as test."""
    rng = np.random.default_rng(seed)
    columns = {"prompt": [f"say something about film {i}" for i in range(pairs)],
               "chosen": [f"it was {rng.choice(POSITIVE)} {i}" for i in range(pairs)],
               "rejected": [f"it was {rng.choice(NEGATIVE)} {i}" for i in range(pairs)]}
    split = np.where(np.arange(pairs) % 5 == 0, "test", "train")
    return TextTable("toy-preferences", columns, split, "0")


def test_a_pair_becomes_two_rows_chosen_first_and_its_test_pairs_the_test_split() -> None:
    table = _table(20)
    data = reward_dataset(table.columns["prompt"], table.columns["chosen"], table.columns["rejected"], table.split == "test",
                          name="toy-rewards")
    assert len(data) == 40 and data.label_names == REWARD_LABELS and list(data.targets[:4]) == [1, 0, 1, 0]
    assert data.inputs[0] == f"{table.columns['prompt'][0]}{PAIR_SEP}{table.columns['chosen'][0]}"
    assert data.inputs[1] == f"{table.columns['prompt'][0]}{PAIR_SEP}{table.columns['rejected'][0]}"
    assert (data.groups[0::2] == data.groups[1::2]).all()
    assert list(np.flatnonzero(data.given_split == 2)) == [r for i in range(0, 20, 5) for r in (2 * i, 2 * i + 1)]
    assert data.source == {"name": "toy-rewards", "text_column": "prompt,response", "pair": True}


def test_a_reward_run_is_read_as_a_pair_run_by_predict_the_card_and_export() -> None:
    """A run on the built-in rewards (its source by name) read a single text without a word: its source names the
    pair, which predict, the model card and export read (``columns.run_pair``, as for a pair run from a file)."""
    from headstart.data.columns import run_pair

    table = _table(20)
    data = reward_dataset(table.columns["prompt"], table.columns["chosen"], table.columns["rejected"], table.split == "test",
                          name="toy-rewards")
    assert run_pair(data.source) == ("prompt", "response")


def test_a_training_pair_sharing_a_text_with_a_test_pair_is_left_out() -> None:
    """Pair 1 reuses test pair 0's chosen response: it is in no part (given_split -1); pair 2 stays in training."""
    data = reward_dataset(["p0", "p1", "p2"], ["a", "a", "c"], ["b", "d", "e"], np.asarray([True, False, False]), name="t")
    assert list(data.given_split) == [2, 2, -1, -1, 0, 0]


def test_the_reward_file_leaves_out_a_training_pair_sharing_a_text_with_a_test_pair(tmp_path) -> None:
    """``reward_frame`` writes what ``train --split-column`` trusts: the left-out pair must not come back as training."""
    path = tmp_path / "prefs.csv"
    pd.DataFrame({"prompt": ["p0", "p1", "p2"], "chosen": ["a", "a", "c"], "rejected": ["b", "d", "e"],
                  "split": ["test", "train", "train"]}).to_csv(path, index=False)
    frame = reward_frame(str(path))
    assert list(frame["prompt"]) == ["p0", "p0", "p2", "p2"]
    assert list(frame["split"]) == ["test", "test", "train", "train"]
    assert list(frame["response"]) == ["a", "b", "c", "e"] and list(frame["label"]) == ["chosen", "rejected"] * 2


def test_pairwise_accuracy_counts_pairs_whose_chosen_row_scores_higher() -> None:
    assert list(pairwise_accuracy(np.asarray([2.0, 1.0, 0.0, 3.0, 1.0, 1.0]))) == [1.0, 0.0, 0.5]
    reward = rewards([{"probabilities": {"chosen": 0.8, "rejected": 0.2}}, {"probabilities": {"chosen": 0.5, "rejected": 0.5}}])
    assert reward == pytest.approx([np.log(4.0), 0.0])


def test_a_reward_model_trained_on_the_pairs_orders_held_out_pairs(tiny_registry, tmp_path) -> None:
    """The reward file (``reward_frame``) trains like any file; on held-out pairs the trained model ranks the chosen
    response first nearly always (a model that learned nothing, or rows paired or labelled wrongly, sits near 0.5 or
    below)."""
    from headstart import api

    table = _table(200)
    path = tmp_path / "prefs.csv"
    pd.DataFrame({**table.columns, "split": table.split}).to_csv(path, index=False)
    frame = reward_frame(str(path))
    assert list(frame.columns) == ["prompt", "response", "label", "group", "split"] and len(frame) == 400
    assert (frame["split"] == "test").sum() == 80  # the file's own test pairs
    rows = tmp_path / "rewards.csv"
    frame.to_csv(rows, index=False)
    test = frame[frame["split"] == "test"]
    texts = list(zip(test["prompt"], test["response"]))  # a pair run predicts on (prompt, response) tuples

    from headstart.specs import TrainConfig

    fit = api.fit(str(rows), "tiny", strategy="full-finetune", n="all", seed=0, text_column="prompt,response",
                  label_column="label", group_column="group", split_column="split",
                  config=TrainConfig(lr=1e-2, head_lr=1e-2, max_steps=60, min_steps=60, precision="fp32"))
    assert fit.status == "done"
    assert pairwise_accuracy(rewards(fit.predict(texts))).mean() >= 0.95
