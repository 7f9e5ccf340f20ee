"""Preference pairs (prompt / chosen / rejected) as data: the built-in pairs of critic reviews, splits by whole groups,
and a reward model's rows.

Pure functions of columns and frames (the package files are read in ``builtin``); ``headstart.llm.data`` builds its
``rotten-tomatoes-preferences`` table from ``preference_columns``, and ``builtin`` its ``rotten-tomatoes-rewards``
dataset from the same pairs through ``reward_dataset``, so both hold out the same movies.
"""

from __future__ import annotations

import numpy as np

from headstart.data.dataset import PAIR_SEP, Dataset

HELD_OUT = 0.1  # of the groups, for validation and again for test
SPLIT_SEED = 0  # the split is a property of the data, not of the run: the same for every run seed
SENTIMENTS = {"fresh": "positive", "rotten": "negative"}
REWARD_LABELS = ("rejected", "chosen")  # class 1 is "chosen": a reward model's reward is its log-odds


def split_groups(groups: np.ndarray, *, seed: int = SPLIT_SEED) -> np.ndarray:
    """(rows,) split names with every group wholly on one side: a seeded permutation of the groups, the first 10% to
    test, the next 10% to validation (at least one group each where there are three or more)."""
    unique, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    held = max(1, int(round(HELD_OUT * len(unique)))) if len(unique) >= 3 else 0
    side = np.full(len(unique), "train", dtype=object)
    side[order[:held]] = "test"
    side[order[held : 2 * held]] = "validation"
    return side[inverse].astype(str)


def review_prompt(sentiment: str, movie: str) -> str:
    """The instruction of the built-ins: "Write a positive review of <movie>." (or negative)."""
    return f"Write a {sentiment} review of {movie}."


def preference_columns(frame: "pd.DataFrame", *, seed: int = SPLIT_SEED) -> tuple[dict[str, list[str]], np.ndarray]:  # noqa: F821
    """Prompt / chosen / rejected / sentiment columns from critic reviews (``text``, ``category`` fresh | rotten,
    ``movie``), and each pair's movie: for a positive prompt a fresh review over a rotten one of the same movie, for a
    negative prompt the reverse; min(#fresh, #rotten) pairs per movie and prompt, reviews paired by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    table: dict[str, list[str]] = {"prompt": [], "chosen": [], "rejected": [], "sentiment": []}
    movies = []
    for movie, reviews in frame.groupby("movie", sort=True):
        fresh = reviews.loc[reviews["category"] == "fresh", "text"].tolist()
        rotten = reviews.loc[reviews["category"] == "rotten", "text"].tolist()
        for sentiment, good, bad in (("positive", fresh, rotten), ("negative", rotten, fresh)):
            k = min(len(good), len(bad))
            good_order, bad_order = rng.permutation(len(good))[:k], rng.permutation(len(bad))[:k]
            for i, j in zip(good_order, bad_order):
                table["prompt"].append(review_prompt(sentiment, str(movie)))
                table["chosen"].append(good[i])
                table["rejected"].append(bad[j])
                table["sentiment"].append(sentiment)
                movies.append(movie)
    return table, np.asarray(movies)


def text_groups(columns: list[list[str]]) -> np.ndarray:
    """(rows,) a group id per row: rows linked by an equal value anywhere in ``columns`` (a value in one column links to
    the same value in another), by union-find; ids numbered in order of each group's first row."""
    rows = len(columns[0])
    parent = list(range(rows))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for values in columns:
        for row, value in enumerate(values):
            a, b = root(row), root(first.setdefault(value, row))
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = np.asarray([root(i) for i in range(rows)])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def reward_dataset(prompts: list[str], chosen: list[str], rejected: list[str], test: np.ndarray, *, name: str) -> Dataset:
    """A reward model's rows: pair i becomes (prompt, chosen) → "chosen" at row 2i and (prompt, rejected) → "rejected"
    at row 2i + 1, as text pairs.

    Rows sharing any text (a prompt or a response: on the built-in, a movie's positive and negative prompts, which
    reuse its reviews) form one group, so no text straddles the validation cut; the pairs where ``test`` is set are the
    test split (``given_split``), validation is cut from the rest, and a pair outside the test split that shares a text
    with a test pair is left out of every part (on the built-in, 6 of 5,876 training pairs: reviews whose text recurs
    under another movie).

    Args:
        test: (pairs,) bool, the held-out pairs.
        name: the dataset's name, one ``load_dataset`` loads again (a built-in's registry name).
    """
    linked = text_groups([prompts, chosen, rejected])  # one value space: a response chosen here and rejected there links
    inputs = [f"{p}{PAIR_SEP}{r}" for p, c, j in zip(prompts, chosen, rejected) for r in (c, j)]
    targets = np.tile(np.asarray([1, 0], dtype=np.int64), len(prompts))
    test = np.asarray(test, dtype=bool)
    given = np.where(test, 2, np.where(np.isin(linked, linked[test]), -1, 0))  # -1: in no part (splits._given_parts)
    return Dataset(name=name, inputs=inputs, targets=targets, task="classification", label_names=REWARD_LABELS,
                   groups=np.repeat(linked, 2), given_split=np.repeat(given, 2).astype(np.int64),
                   source={"name": name, "text_column": "prompt,response", "pair": True})  # a run on it predicts on pairs
