"""Tests of headstart/linear_fit.py: the closed-form fit of the classical arms."""

from __future__ import annotations

import logging
import warnings

import numpy as np


def test_more_classes_than_half_the_rows_is_one_note_not_a_raw_sklearn_warning(caplog):
    """compare --data many.csv (50 classes) --strategies tfidf-logreg printed scikit-learn's "UserWarning: The number of
    unique classes is greater than 50% of the number of samples" with its source line, five times."""
    from headstart.linear_fit import fit_linear

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 20
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="headstart"):
        warnings.simplefilter("error")
        W, b = fit_linear("classification", X, y, C=1.0, outputs=20, max_iter=200)
    assert W.shape == (20, 4)
    assert [r.getMessage() for r in caplog.records] == [
        "20 classes among 30 training rows (on average 1.5 a class): most classes are learned from one example, so a "
        "score at this size says little; a larger --n gives each class more rows"]
    caplog.clear()
    fit_linear("classification", X, np.arange(30) % 2, C=1.0, outputs=2, max_iter=200)
    assert not caplog.records
