"""The on-target rate: hits read from a classifier's labels, an interval over seeds and prompts."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.errors import ConfigError
from headstart.llm.judge import hits, on_target_rate


def test_a_hit_is_the_label_the_asked_sentiment_maps_to(monkeypatch):
    def predict(run, texts):
        assert run == "loaded clf"
        return [{"label": "fresh" if "good" in t else "rotten", "probabilities": {"fresh": 0.5, "rotten": 0.5}} for t in texts]

    monkeypatch.setattr("headstart.saved.load_run", lambda directory: f"loaded {directory}")
    monkeypatch.setattr("headstart.loaded.predict_loaded", predict)
    got = hits("clf", ["good film", "bad film", "good film", ""], ["positive", "positive", "negative", "negative"])
    assert got.tolist() == [True, False, False, True]
    with pytest.raises(ConfigError, match="no classifier label for the asked sentiment 'neutral'"):
        hits("clf", ["x"], ["neutral"])


def test_the_rate_is_the_mean_hit_with_an_interval_over_seeds_and_prompts():
    table = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]])
    summary = on_target_rate(table)
    assert summary["rate"] == pytest.approx(9 / 12) and summary["per_seed"] == pytest.approx([0.75, 0.5, 1.0])
    assert summary["ci_low"] < 0.75 < summary["ci_high"] and summary["seeds"] == 3 and summary["prompts"] == 4
    same = on_target_rate(np.array([[1, 0, 1, 0]] * 3))
    assert same["ci_low"] < 0.5 < same["ci_high"], "identical seeds still leave the prompts' error"


def test_every_generation_on_target_is_no_miss_seen_in_those_prompts_not_a_rate_of_one_for_certain():
    """Three seeds on target for all 20 prompts read [1.000, 1.000]: every resample is 1. A rate is a share of the
    prompts, so where the seeds do not vary it keeps its Wilson interval on them, as an accuracy does."""
    from headstart.analysis.stats import wilson

    summary = on_target_rate(np.ones((3, 20)))
    assert summary["rate"] == 1.0 and summary["ci_high"] == 1.0
    assert summary["ci_low"] == pytest.approx(wilson(1.0, 20)[0]) and summary["ci_low"] < 0.9
    assert "no_interval" not in summary
