"""benchmarks/split_sizes.py: the rotten-tomatoes split sizes README and DESIGN quote for the configs they use."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("split_sizes", ROOT / "benchmarks" / "split_sizes.py")
split_sizes = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(split_sizes)


@pytest.mark.parametrize("config,validation,test", [(None, 285, 2589), ("examples/tuning.toml", 306, 1030),
                                                     ("examples/demo.toml", 335, 625)])
def test_the_quoted_split_sizes(config, validation, test):
    from headstart.data import load_dataset
    from headstart.sweep_config import read_config

    split = read_config(ROOT / config).get("split", {}) if config else {}
    got = split_sizes.sizes(load_dataset("rotten-tomatoes"), split)
    assert (got["validation"], got["test"]) == (validation, test)  # whole movies: 300 / max_test are targets
    assert got["pool"] + got["validation"] + got["test"] == got["rows"]
