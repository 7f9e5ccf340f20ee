"""A reward model as an ordinary classification run: preference pairs become (prompt, response) rows labelled
chosen / rejected (``data.preferences.reward_dataset``), which any ``headstart train`` strategy fits; its reward is
the log-odds of "chosen".

The built-in ``rotten-tomatoes-rewards`` is ``rotten-tomatoes-preferences`` so cut (the same test movies);
``reward_frame`` does it for a user's preference file, as a table ``headstart train`` reads. ``pairwise_accuracy`` is
the reward model's own measure: on held-out pairs, how often the chosen response gets the higher reward (0.5 is
chance).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.data.dataset import PAIR_SEP
from headstart.data.preferences import REWARD_LABELS, reward_dataset
from headstart.llm.data import load_table


def reward_frame(name_or_path: str, *, prompt_column: str = "prompt", chosen_column: str = "chosen",
                 rejected_column: str = "rejected", group_column: str | None = None) -> "pd.DataFrame":  # noqa: F821
    """A preference file (or built-in) as a reward model's training table: columns ``prompt``, ``response``, ``label``
    (chosen / rejected), ``group`` and ``split`` (test = the file's test pairs, else train), two rows a pair; a pair
    outside the test split that shares a text with a test pair is not written (``reward_dataset`` leaves it out of
    every part). Write it out and train on it like any file::

        headstart train --data rewards.csv --text-column prompt,response --group-column group --split-column split
    """
    import pandas as pd

    table = load_table(name_or_path, {"prompt": prompt_column, "chosen": chosen_column, "rejected": rejected_column},
                       group_column=group_column)
    data = reward_dataset(table.columns["prompt"], table.columns["chosen"], table.columns["rejected"], table.split == "test",
                          name=str(name_or_path))
    kept = np.flatnonzero(data.given_split >= 0)  # not the pairs left out of every part: they share a text with a test pair
    prompts, responses = zip(*(data.inputs[r].split(PAIR_SEP, 1) for r in kept))
    return pd.DataFrame({"prompt": prompts, "response": responses, "label": [REWARD_LABELS[t] for t in data.targets[kept]],
                         "group": data.groups[kept], "split": np.where(data.given_split[kept] == 2, "test", "train")})


def rewards(predictions: list[dict[str, Any]]) -> np.ndarray:
    """(rows,) log-odds of "chosen" from ``predict``'s class probabilities."""
    p = np.clip(np.asarray([row["probabilities"]["chosen"] for row in predictions], dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def pairwise_accuracy(reward: np.ndarray) -> np.ndarray:
    """(pairs,) 1.0 where a pair's chosen row (2i) outscored its rejected row (2i + 1), 0.5 on a tie, else 0.0."""
    chosen, rejected = reward[0::2], reward[1::2]
    return np.where(chosen > rejected, 1.0, np.where(chosen == rejected, 0.5, 0.0))
