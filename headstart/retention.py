"""Forgetting measured: how much of the encoder's usefulness for another task survives adaptation.

After a run trains, each retained dataset D gets a closed-form linear probe (logistic regression, C chosen on D's
validation split) twice: on the adapted encoder's features and on the original pre-trained encoder's. Both are scored
on D's test split; retention = adapted accuracy / original accuracy (1.0: nothing lost; the seed's "catastrophic
forgetting" shows as well below 1), and adapted − original accuracy gets a paired 95% interval over D's test rows
(``analysis.forgetting.accuracy_difference``). The probe is the measuring instrument, trained on D's labels, never the run's.
Runs with a freshly initialised backbone (scratch) are measured the same way against the pre-trained original.

A retained dataset too small for a probe's training rows plus a test split of useful size (drug-reviews: 495 reviews,
a 105-row test split) is cross-fitted instead: its rows fall into ``FOLDS`` stratified folds (whole groups, a fixed
seed, so every run is scored on the same rows), each fold is predicted by the probe fit on three others with C chosen
on the remaining one, and every row is a test row once: the interval over test rows narrows by about √(N / test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

TRAIN_ROWS = 2000  # D's labelled rows the probe fits (stratified, seeded): enough for a stable 384-d probe
MAX_TEST = 1000  # D's test rows scored (binomial error about ±3 points at 70%)
GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # C searched on D's validation split
FOLDS = 5  # cross-fitting of a small retained dataset
SMALL = TRAIN_ROWS + MAX_TEST  # below this many rows a retained dataset is cross-fitted


def probe_accuracy(train: tuple[torch.Tensor, np.ndarray], val: tuple[torch.Tensor, np.ndarray],
                   test: tuple[torch.Tensor, np.ndarray], *, classes: int,
                   fitted: Callable[[], None] | None = None) -> tuple[float, float, np.ndarray]:
    """Test accuracy of the logistic regression (C picked on ``val`` accuracy, ties to the smaller C) on features.

    Args:
        train / val / test: ``((N, d) features, (N,) class ids)``.
        fitted: called after each of its ``len(GRID) + 1`` fits.

    Returns:
        ``(test accuracy, C, (N_test,) predicted class ids)``.
    """
    from headstart.linear_fit import fit_linear

    def predicted(W: np.ndarray, b: np.ndarray, part: tuple[torch.Tensor, np.ndarray]) -> np.ndarray:
        return (part[0].double().numpy() @ W.T + b).argmax(1)

    def accuracy(W: np.ndarray, b: np.ndarray, part: tuple[torch.Tensor, np.ndarray]) -> float:
        return float((predicted(W, b, part) == part[1]).mean())

    def fit(C: float) -> tuple[np.ndarray, np.ndarray]:
        W, b = fit_linear("classification", X, y, C=C, outputs=classes, max_iter=1000)
        if fitted:
            fitted()
        return W, b

    X, y = train[0].double().numpy(), train[1]
    best = max(((accuracy(*fit(C), val), -C, C) for C in GRID))
    W, b = fit(best[2])
    return accuracy(W, b, test), best[2], predicted(W, b, test)


def folds(data: Any, k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(N,) the fold (0 .. k-1) of each row: stratified by label, whole groups in one fold, seeded."""
    from headstart.data.splits import group_majority

    strata = data.stratify_labels()
    groups = data.groups if data.groups is not None else np.arange(len(data))
    _, inverse = np.unique(groups, return_inverse=True)
    group_stratum = group_majority(inverse, strata, int(inverse.max()) + 1)
    rng = np.random.default_rng(seed)
    fold_of_group = np.zeros(len(group_stratum), dtype=np.int64)
    start = 0
    for stratum in np.unique(group_stratum):  # deal each stratum's groups round the folds, continuing where the last left off
        members = rng.permutation(np.flatnonzero(group_stratum == stratum))
        fold_of_group[members] = (start + np.arange(len(members))) % k
        start += len(members)
    return fold_of_group[inverse]


def retained_data(name: str, modality: str) -> Any:
    """The dataset ``name`` (built-in or a file) loaded to measure retention on, for a backbone that reads ``modality``
    ("text" or "image"); a run checks its ``--retain`` datasets with it before it trains.

    Raises:
        HeadstartError: an unknown name or an unreadable file (the loader's message, with "did you mean").
        ConfigError: ``name`` is not a classification dataset, or holds another kind of input than ``modality``.
    """
    from headstart.data import load_dataset
    from headstart.errors import ConfigError
    from headstart.data.builtin import known_dataset
    from headstart.data.labels import no_task_fix

    known_dataset(name, modality, f"--retain {name!r}", task="classification")
    with no_task_fix():  # --task is the run's own data's: a retained file's notes name no fix
        data = load_dataset(name)
    if data.task != "classification":
        raise ConfigError(f"--retain {name!r} is a {data.task} dataset; retention is measured on a classification task: "
                          + _usable_text(name, modality))
    if data.modality != modality:
        raise ConfigError(f"--retain {name!r} holds {data.modality}s but the backbone reads {modality}s: "
                          + _usable_text(name, modality))
    return data


def _usable_text(name: str, modality: str) -> str:
    """The fix for a ``--retain`` dataset retention cannot be measured on: the built-in classification datasets of
    ``modality`` (the one most like ``name`` first, as the example), or a classification file."""
    import difflib

    from headstart.data.builtin import REGISTRY

    usable = sorted(n for n, d in REGISTRY.items() if d.task == "classification" and d.modality == modality)
    if not usable:
        return f"give a {modality} classification file"
    example = (difflib.get_close_matches(name, usable, n=1, cutoff=0.5) or usable)[0]
    return (f"use a built-in {modality} classification dataset ({', '.join(usable)}) or a classification file, "
            f"e.g. --retain {example}")


def probe_parts(data: Any, seed: int) -> list[dict[str, np.ndarray]]:
    """The rows each probe of ``data`` fits, picks C on and is scored on: ``[{train, val, test}]``, one per fold of a
    cross-fitted small dataset (``FOLDS``), else one (up to ``TRAIN_ROWS`` of its pool, seeded; ``MAX_TEST`` test rows)."""
    from headstart.data import SplitConfig, split_dataset, subsample

    if len(data) < SMALL:
        fold = folds(data)
        return [{"train": np.flatnonzero((fold != k) & (fold != (k + 1) % FOLDS)), "val": np.flatnonzero(fold == (k + 1) % FOLDS),
                 "test": np.flatnonzero(fold == k)} for k in range(FOLDS)]
    splits = split_dataset(data, SplitConfig(max_test=MAX_TEST))
    return [{"train": subsample(data, splits.pool, min(TRAIN_ROWS, len(splits.pool)), seed), "val": splits.val, "test": splits.test}]


def cost_text(name: str, data: Any) -> str:
    """What measuring retention on ``data`` costs after each run trains, said before it starts: the rows encoded by
    both encoders and the probes fitted (``retention``'s own parts), e.g. "after training, --retain 'drug-reviews'
    encodes 495 rows twice (the original encoder and the adapted one) and fits 60 probes (5 folds x 6 fits x 2
    encoders; once each where the encoder is left as it was)"; from Python ``retain='drug-reviews'``."""
    from headstart.data.memory import shown_path

    parts = probe_parts(data, 0)
    rows = len(np.unique(np.concatenate([r for part in parts for r in part.values()])))
    folds_said = f"{len(parts)} folds x " if len(parts) > 1 else ""
    capped = (f" ({rows:,} of its {len(data):,}: up to {TRAIN_ROWS:,} probe rows, its validation rows and {MAX_TEST:,} "
              "test rows)" if rows < len(data) else "")
    shown = shown_path(name)  # a DataFrame's cached table as "data passed from Python (<hash>)"
    shown = repr(name) if shown == name else shown
    return (f"after training, --retain {shown} encodes {rows:,} rows{capped} twice (the original encoder and the "
            f"adapted one) and fits {len(parts) * (len(GRID) + 1) * 2} probes ({folds_said}{len(GRID) + 1} fits x 2 "
            "encoders; once each where the encoder is left as it was), which can take longer than a short training")


def retention(adapted: torch.nn.Module, original: torch.nn.Module, name: str, *, seed: int, batch_size: int,
              autocast: Callable | None = None, progress: Callable[..., None] | None = None,
              caches: list | None = None) -> dict[str, Any]:
    """Retention of the classification dataset ``name`` (built-in or a file) by ``adapted`` relative to ``original``.

    ``progress(what, done, total, unit="rows")`` (``progress.part_of``) is told each part as it goes, from its 0: the
    original's features of rows not cached before ("caching the pre-trained backbone's features"), the adapted
    backbone's ("the adapted backbone's features"), then the probes' fits ("fitting its probes", unit "fits").
    ``caches`` gets the original's feature cache (``features.FeatureCache``: what its rows cost, whichever run computed
    them).

    Returns:
        ``{data, original, adapted, retention, difference, C_original, C_adapted, train_rows, test_rows, folds, rows}``
        (accuracies as fractions; ``rows``: each test row's target and the two probes' predictions; ``difference``:
        adapted − original accuracy with its paired 95% interval over the test rows,
        ``analysis.forgetting.accuracy_difference``; ``folds``: 1, or ``FOLDS`` for a cross-fitted small dataset, whose C
        values are then the per-fold median).

    Raises:
        ConfigError: ``name`` is not a classification dataset, or holds another kind of input than the backbone reads.
    """
    from headstart.analysis.forgetting import accuracy_difference
    from headstart.features import FeatureCache, embed_rows
    from headstart.backbones import modality_of
    from headstart.features import encoded_inputs

    data = retained_data(name, modality_of(original))
    parts = probe_parts(data, seed)
    encoded = encoded_inputs(original, data)
    caching = (lambda done, total: progress("caching the pre-trained backbone's features", done, total)) if progress else None
    cached = FeatureCache(original, encoded, data.hash, batch_size=batch_size, autocast=autocast, progress=caching)
    if caches is not None:
        caches.append(cached)
    every = np.unique(np.concatenate([r for part in parts for r in part.values()]))
    before = cached(every)
    embedded = (lambda done: progress("the adapted backbone's features", done, len(every))) if progress else None
    after = before if adapted is original else embed_rows(adapted, encoded, every, batch_size=batch_size, autocast=autocast,
                                                          progress=embedded)
    fits = [0, len(parts) * (len(GRID) + 1) * (1 if adapted is original else 2)]  # done, in all

    def fitted() -> None:
        fits[0] += 1
        if progress:
            progress("fitting its probes", fits[0], fits[1], "fits")

    def probe(features: torch.Tensor) -> tuple[list[float], list[int]]:
        """Per part: the C chosen, and the predictions on its test rows (concatenated)."""
        chosen, predicted = [], []
        for part in parts:
            given = {k: (features[torch.as_tensor(np.searchsorted(every, r))], data.targets[r].astype(np.int64)) for k, r in part.items()}
            _, C, pred = probe_accuracy(given["train"], given["val"], given["test"], classes=data.num_classes, fitted=fitted)
            chosen.append(C)
            predicted.extend(pred.tolist())
        return chosen, predicted

    target = np.concatenate([data.targets[part["test"]] for part in parts]).astype(np.int64)
    if progress:
        progress("fitting its probes", 0, fits[1], "fits")
    c_before, pred_before = probe(before)
    c_after, pred_after = (c_before, pred_before) if adapted is original else probe(after)
    acc_before = float((np.asarray(pred_before) == target).mean())
    acc_after = float((np.asarray(pred_after) == target).mean())
    rows = {"target": target.tolist(), "original": pred_before, "adapted": pred_after}
    from headstart.data.shown import shown_name

    return {"data": shown_name(data.name), "original": acc_before, "adapted": acc_after,
            "retention": acc_after / acc_before if acc_before > 0 else float("nan"),
            "difference": accuracy_difference(rows), "C_original": float(np.median(c_before)),
            "C_adapted": float(np.median(c_after)), "train_rows": int(np.median([len(p["train"]) for p in parts])),
            "test_rows": len(target), "folds": len(parts),
            # per test row, for intervals that resample the retained test set (analysis.forgetting)
            "rows": rows}
