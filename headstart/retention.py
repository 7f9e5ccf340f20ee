"""Forgetting measured: how much of the encoder's usefulness for another task survives adaptation.

After a run trains, each retained dataset D gets a closed-form linear probe (logistic regression, C chosen on D's
validation split) twice: on the adapted encoder's features and on the original pre-trained encoder's. Both are scored
on D's test split; retention = adapted accuracy / original accuracy (1.0: nothing lost; the seed's "catastrophic
forgetting" shows as well below 1). The probe is the measuring instrument, trained on D's labels, never the run's.
Runs with a freshly initialised backbone (scratch) are measured the same way against the pre-trained original.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

TRAIN_ROWS = 2000  # D's labelled rows the probe fits (stratified, seeded): enough for a stable 384-d probe
MAX_TEST = 1000  # D's test rows scored (binomial error about ±3 points at 70%)
GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # C searched on D's validation split


def probe_accuracy(train: tuple[torch.Tensor, np.ndarray], val: tuple[torch.Tensor, np.ndarray],
                   test: tuple[torch.Tensor, np.ndarray], *, classes: int) -> tuple[float, float, np.ndarray]:
    """Test accuracy of the logistic regression (C picked on ``val`` accuracy, ties to the smaller C) on features.

    Args:
        train / val / test: ``((N, d) features, (N,) class ids)``.

    Returns:
        ``(test accuracy, C, (N_test,) predicted class ids)``.
    """
    from headstart.strategies.classical import fit_linear

    def predicted(W: np.ndarray, b: np.ndarray, part: tuple[torch.Tensor, np.ndarray]) -> np.ndarray:
        return (part[0].double().numpy() @ W.T + b).argmax(1)

    def accuracy(W: np.ndarray, b: np.ndarray, part: tuple[torch.Tensor, np.ndarray]) -> float:
        return float((predicted(W, b, part) == part[1]).mean())

    X, y = train[0].double().numpy(), train[1]
    best = max(((accuracy(*fit_linear("classification", X, y, C=C, outputs=classes, max_iter=1000), val), -C, C)
                for C in GRID))
    W, b = fit_linear("classification", X, y, C=best[2], outputs=classes, max_iter=1000)
    return accuracy(W, b, test), best[2], predicted(W, b, test)


def retention(adapted: torch.nn.Module, original: torch.nn.Module, name: str, *, seed: int, batch_size: int,
              autocast: Callable | None = None) -> dict[str, Any]:
    """Retention of the classification dataset ``name`` (built-in or a file) by ``adapted`` relative to ``original``.

    Returns:
        ``{data, original, adapted, retention, C_original, C_adapted, train_rows, test_rows, rows}`` (accuracies as
        fractions; ``rows``: each test row's target and the two probes' predictions).

    Raises:
        ConfigError: ``name`` is not a classification dataset, or holds another kind of input than the backbone reads.
    """
    from headstart.data import SplitConfig, load_dataset, split_dataset, subsample
    from headstart.errors import ConfigError
    from headstart.features import FeatureCache, embed_rows
    from headstart.run import encoded_inputs, modality_of

    data = load_dataset(name)
    if data.task != "classification":
        raise ConfigError(f"--retain {name!r} is a {data.task} dataset; retention is measured on a classification task")
    if data.modality != modality_of(original):
        raise ConfigError(f"--retain {name!r} holds {data.modality}s but the backbone reads {modality_of(original)}s")
    splits = split_dataset(data, SplitConfig(max_test=MAX_TEST))
    rows = {"train": subsample(data, splits.pool, min(TRAIN_ROWS, len(splits.pool)), seed), "val": splits.val, "test": splits.test}
    encoded = encoded_inputs(original, data)
    cached = FeatureCache(original, encoded, data.hash, batch_size=batch_size, autocast=autocast)

    def parts(features: Callable[[np.ndarray], torch.Tensor]) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
        return {k: (features(r), data.targets[r].astype(np.int64)) for k, r in rows.items()}

    before = parts(cached)
    after = before if adapted is original else parts(lambda r: embed_rows(adapted, encoded, r, batch_size=batch_size, autocast=autocast))
    acc_before, c_before, pred_before = probe_accuracy(before["train"], before["val"], before["test"], classes=data.num_classes)
    acc_after, c_after, pred_after = probe_accuracy(after["train"], after["val"], after["test"], classes=data.num_classes)
    return {"data": data.name, "original": acc_before, "adapted": acc_after,
            "retention": acc_after / acc_before if acc_before > 0 else float("nan"), "C_original": c_before,
            "C_adapted": c_after, "train_rows": len(rows["train"]), "test_rows": len(rows["test"]),
            # per test row, for intervals that resample the retained test set (analysis.forgetting)
            "rows": {"target": before["test"][1].tolist(), "original": pred_before.tolist(), "adapted": pred_after.tolist()}}
