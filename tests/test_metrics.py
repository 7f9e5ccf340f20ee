"""Metrics agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from headstart.metrics import classification_metrics, multilabel_metrics, regression_metrics, selection_score


def probs(n: int, c: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).random((n, c))
    return x / x.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("classes", [2, 3, 7])
def test_classification_matches_sklearn(seed, classes):
    rng = np.random.default_rng(seed)
    targets = np.concatenate([np.arange(classes), rng.integers(0, classes, size=80)])  # every class present
    p = probs(len(targets), classes, seed + 100)
    pred = p.argmax(1)
    names = tuple(f"c{i}" for i in range(classes))
    m = classification_metrics(targets, p, names)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(targets, pred))
    assert m["macro_f1"] == pytest.approx(sk.f1_score(targets, pred, average="macro", labels=range(classes), zero_division=0))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(targets, pred))
    assert m["loss"] == pytest.approx(sk.log_loss(targets, p, labels=range(classes)))
    precision, recall, f1, support = sk.precision_recall_fscore_support(targets, pred, labels=range(classes), zero_division=0)
    for c, name in enumerate(names):
        assert m["per_class"][name]["precision"] == pytest.approx(precision[c])
        assert m["per_class"][name]["recall"] == pytest.approx(recall[c])
        assert m["per_class"][name]["f1"] == pytest.approx(f1[c])
        assert m["per_class"][name]["support"] == support[c]
    assert m["n"] == len(targets)


def test_macro_scores_skip_classes_absent_from_the_split():
    targets = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    m = classification_metrics(targets, p, ("a", "b", "c"))
    pred = p.argmax(1)
    assert m["macro_f1"] == pytest.approx(sk.f1_score(targets, pred, labels=[0, 1], average="macro", zero_division=0))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(targets, pred))
    assert m["per_class"]["c"]["support"] == 0


@pytest.mark.parametrize("seed", range(5))
def test_regression_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=60)
    pred = y + rng.normal(scale=0.5, size=60)
    m = regression_metrics(y, pred)
    assert m["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(sk.mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(sk.r2_score(y, pred))
    assert m["loss"] == pytest.approx(sk.mean_squared_error(y, pred))


def test_r2_of_a_constant_target_is_zero_not_nan():
    assert regression_metrics(np.ones(5), np.arange(5.0))["r2"] == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_multilabel_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random((50, 4)) < 0.4).astype(np.float32)
    p = rng.random((50, 4))
    pred = (p >= 0.5).astype(int)
    m = multilabel_metrics(targets, p, ("a", "b", "c", "d"))
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(targets.astype(int), pred))
    assert m["macro_f1"] == pytest.approx(sk.f1_score(targets.astype(int), pred, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(sk.f1_score(targets.astype(int), pred, average="micro", zero_division=0))
    assert m["loss"] == pytest.approx(sk.log_loss(targets.ravel(), p.ravel()))


def test_selection_score_is_higher_is_better():
    assert selection_score({"accuracy": 0.7}, "accuracy") == 0.7
    assert selection_score({"rmse": 2.0}, "rmse") == -2.0
    assert selection_score({"loss": 0.3}, "loss") == -0.3


def test_the_documented_conventions_are_what_the_metrics_compute():
    """Macro-F1 leaves out a class absent from the targets even when predicted (0.833, not scikit-learn's default
    0.556); multilabel macro-F1 counts a label with no positives and no predictions as 0; an argmax tie goes to class
    0. Each convention is stated, with these numbers, in its function's docstring."""
    m = classification_metrics(np.array([0, 0, 1, 1]), np.eye(3)[[0, 0, 1, 2]], ("a", "b", "c"))
    assert m["macro_f1"] == pytest.approx(5 / 6) and "0.833" in classification_metrics.__doc__
    assert sk.f1_score([0, 0, 1, 1], [0, 0, 1, 2], average="macro") == pytest.approx(5 / 9)
    assert "0.556" in classification_metrics.__doc__
    assert classification_metrics(np.array([0, 0]), np.full((2, 2), 0.5), ("a", "b"))["accuracy"] == 1.0  # both say 0
    assert "a tie goes to the lowest class index" in classification_metrics.__doc__
    truth = np.zeros((6, 5))
    truth[:, :4] = np.eye(6, 4) + np.eye(6, 4, k=-2)  # labels 0-3 each on some rows; label 4 on none
    ml = multilabel_metrics(truth, truth.copy(), tuple("abcde"))
    assert ml["macro_f1"] == pytest.approx(0.8) and "give 0.8, not 1" in multilabel_metrics.__doc__
