"""Real data beyond the default: the imbalanced multi-class and the regression built-ins, end to end."""

from __future__ import annotations

import numpy as np
import pytest

import headstart
from headstart.specs import TrainConfig

pytestmark = pytest.mark.slow


def test_drug_reviews_condition_probe_beats_majority_with_auto_class_weights(tmp_path):
    run = headstart.fit("drug-reviews", strategy="linear-probe", n="all", seed=0, out=tmp_path / "cond",
                        config=TrainConfig(class_weights="auto"))
    test = headstart.evaluate(tmp_path / "cond", "test")
    support = np.array([row["support"] for row in test["per_class"].values()])
    majority = support.max() / support.sum()
    assert run.status == "done" and len(test["per_class"]) == 11
    assert test["accuracy"] > majority + 0.05  # real signal, not the Birth Control majority
    assert test["balanced_accuracy"] > 1 / 11 + 0.1


def test_drug_reviews_rating_regression_reports_rmse_and_r2(tmp_path):
    headstart.fit("drug-reviews-rating", strategy="linear-probe", n="all", seed=0, out=tmp_path / "rating")
    test = headstart.evaluate(tmp_path / "rating", "test")
    assert {"rmse", "mae", "r2"} <= set(test)
    assert test["r2"] > 0.05  # predicts better than the mean rating
    preds = headstart.predict(tmp_path / "rating", ["This drug ruined my life, terrible side effects.", "Works great, no side effects at all!"])
    assert preds[0]["prediction"] < preds[1]["prediction"]
