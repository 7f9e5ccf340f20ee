"""sweep.toml parsing: known tables pass through, unknown keys are named with the allowed ones."""

from __future__ import annotations

import pytest

from headstart.errors import ConfigError
from headstart.sweep_config import read_config


def test_demo_config_parses_with_split_and_per_strategy_training():
    config = read_config("examples/demo.toml")
    assert config["strategies"] == "scratch,linear-probe,full-finetune"
    assert config["split"] == {"max_test": 600}
    assert config["train_by_strategy"]["full-finetune"] == {"lr": 5e-5, "epochs": 8, "min_steps": 60, "evals_per_phase": 4}
    assert config["tune"] == "lr"  # only the probe searches: the others are given their rates


@pytest.mark.parametrize("text, message", [
    ("colour = 1\n", "unknown key"),
    ("[train]\nlrate = 1\n", r"unknown \[train\] key"),
    ("[split]\ntest = 1\n", r"unknown \[split\] key"),
    ("[train_by_strategy.lora]\nbogus = 1\n", r"train_by_strategy.lora"),
    ("sizes = [1,\n", "cannot parse"),
    ("grid = [1e-5, 2e-5]\n", r"grid must be a table of strategy = \[values\]"),
])
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(path)
