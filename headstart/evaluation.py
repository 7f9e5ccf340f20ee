"""Forward passes for evaluation and prediction, and metrics from their outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from headstart.features import equal_length_batches, length_sorted_batches, padded_length
from headstart.metrics import classification_metrics, multilabel_metrics, regression_metrics
from headstart.modes import module_modes, restore_modes
from headstart.precision import under


@torch.inference_mode()
def model_outputs(model: torch.nn.Module, encoded: list, rows: np.ndarray, *, batch_size: int,
                  features: Callable[[np.ndarray], torch.Tensor] | None = None, autocast: Callable | None = None,
                  progress: Callable[[int], None] | None = None, padded: bool = False) -> torch.Tensor:
    """(len(rows), outputs) raw head outputs, in eval mode, batched by length: under ``autocast`` (bf16) in batches of
    one length each (``equal_length_batches``), so that a row's outputs do not depend on the rows scored beside it.
    ``padded``: padded batches of similar length whatever the precision — the engine's validation checks, which only
    choose a checkpoint, from the same batches every time, and would take longer in one-length batches (more, smaller
    ones); what a user reads row by row (predict, evaluate, the merge checks) is not padded. So a bf16 run's stored
    validation metrics can differ from ``evaluate``'s on the same rows by a row near a class boundary.

    Padding a row to a longer neighbour's width moved a bf16 LoRA MiniLM run's probability by ~6e-4 (0.5957 alone,
    0.5951 beside a long review), enough to flip a label near 0.5. Unpadded, the same row gives the same bits in any
    batch. fp32 keeps padded batches of similar length (``length_sorted_batches``): there padding moves a row by ~1e-7,
    and fewer, fuller batches score faster.

    Args:
        features: when given (a frozen, unchanged backbone), the head runs on these cached features.
        progress: called with the rows done so far, 0 before the first batch, then after each batch (the prompt arms'
            bar counts them; their batches are as many rows as one LM call scores, ``pieces``).
    """
    if features is not None:  # only the head runs: switch only its modes (a probe validates hundreds of times a sweep)
        modes = module_modes(model.head)
        model.head.eval()
        try:
            out = model.head(features(rows).to(model.head.weight.device)).float().cpu()
        finally:
            restore_modes(modes)
        if progress:
            progress(len(rows))
        return out
    modes = module_modes(model)
    model.eval()
    try:
        device = model.head.weight.device
        items = [encoded[r] for r in rows]
        out = torch.empty(len(rows), model.head.out_features)
        done = 0
        if progress:  # the count starts here, so that the first batch paces it (its ETA read "?" until a second)
            progress(done)
        per_pass = getattr(model.backbone, "inputs_per_pass", None)  # a prompted LM: a batch is that many LM calls
        batched = equal_length_batches if autocast is not None and not padded else length_sorted_batches
        for batch in pieces(batched([padded_length(x) for x in items], batch_size), per_pass, items):
            collated = {k: v.to(device) for k, v in model.backbone.collate([items[i] for i in batch]).items()}
            with under(autocast):
                out[torch.as_tensor(batch)] = model(collated).float().cpu()
            done += len(batch)
            if progress:
                progress(done)
        return out
    finally:
        restore_modes(modes)


def pieces(batches: list[np.ndarray], per_pass: Callable[[list], int] | None, items: list) -> Iterator[np.ndarray]:
    """``batches`` each cut into runs of at most ``per_pass(its items)`` positions (``PromptScorer.inputs_per_pass``),
    or as they are without ``per_pass``."""
    for batch in batches:
        size = len(batch) if per_pass is None else per_pass([items[i] for i in batch])
        yield from (batch[i : i + size] for i in range(0, len(batch), size))


def outputs_to_predictions(outputs: torch.Tensor, task: str, model: torch.nn.Module) -> np.ndarray:
    """Class probabilities (classification / multilabel) or values in target units (regression)."""
    if task == "classification":
        return torch.softmax(outputs, dim=-1).numpy()
    if task == "multilabel":
        return torch.sigmoid(outputs).numpy()
    return (outputs.squeeze(-1) * model.target_std + model.target_mean).numpy()


def score_rows(model: torch.nn.Module, encoded: list, rows: np.ndarray, targets: np.ndarray, *, task: str,
               label_names: tuple[str, ...], batch_size: int, features: Callable[[np.ndarray], torch.Tensor] | None = None,
               autocast: Callable | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on dataset ``rows`` (``targets`` indexed by row): forward, predictions, metrics;
    ``progress``: ``model_outputs``'s rows done."""
    return scored_rows(model, encoded, rows, targets[rows], task=task, label_names=label_names, batch_size=batch_size,
                       features=features, autocast=autocast, progress=progress)[0]


def scored_rows(model: torch.nn.Module, encoded: list, rows: np.ndarray, targets: np.ndarray, *, task: str,
                label_names: tuple[str, ...], batch_size: int, features: Callable[[np.ndarray], torch.Tensor] | None = None,
                autocast: Callable | None = None, progress: Callable[[int], None] | None = None
                ) -> tuple[dict[str, Any], dict[str, list]]:
    """Metrics of ``model`` on ``rows`` (``targets``: one per row, in order), and each row's prediction (class index, or
    value for regression) beside its target, for intervals that resample the rows (``analysis.stats``); multilabel
    keeps none (its intervals are over seeds only). ``progress``: ``model_outputs``'s rows done."""
    outputs = model_outputs(model, encoded, rows, batch_size=batch_size, features=features, autocast=autocast,
                            progress=progress)
    predictions = outputs_to_predictions(outputs, task, model)
    metrics = compute_metrics(task, predictions, targets, label_names)
    if task == "classification":
        return metrics, {"predicted": predictions.argmax(1).tolist(), "target": targets.astype(np.int64).tolist()}
    if task == "regression":
        return metrics, {"predicted": [float(f"{v:.6g}") for v in predictions], "target": [float(v) for v in targets]}
    return metrics, {}


def compute_metrics(task: str, predictions: np.ndarray, targets: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any]:
    if task == "classification":
        return classification_metrics(targets.astype(np.int64), predictions, label_names)
    if task == "multilabel":
        return multilabel_metrics(targets, predictions, label_names)
    return regression_metrics(targets.astype(np.float64), predictions.astype(np.float64))


def prior_predictions(task: str, pool_targets: np.ndarray, n_rows: int) -> np.ndarray:
    """Predictions of a model that learned nothing but the training pool's label distribution, for ``n_rows`` rows.

    Classification: the pool's class frequencies (its argmax is the majority class, so accuracy is the majority rate
    and balanced accuracy is chance, 1 / C); multilabel: each label's frequency; regression: the pool's mean.
    """
    if task == "classification":
        prior = np.bincount(pool_targets.astype(np.int64), minlength=int(pool_targets.max()) + 1) / len(pool_targets)
        return np.tile(prior, (n_rows, 1))
    if task == "multilabel":
        return np.tile(pool_targets.astype(np.float64).mean(0), (n_rows, 1))
    return np.full(n_rows, float(pool_targets.astype(np.float64).mean()))


def majority_class(targets: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any] | None:
    """A split's most frequent class and its share of the split's rows: the accuracy of always answering it.

    Args:
        targets: (rows,) the split's class indices. label_names: the class names, by index.

    Returns:
        ``{"class": name, "rate": share, "rows": count}``, or None for a split with no rows.
    """
    if len(targets) == 0:
        return None
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(label_names))
    top = int(counts.argmax())
    return {"class": label_names[top] if top < len(label_names) else str(top), "rate": float(counts[top] / len(targets)),
            "rows": int(len(targets))}


def reference_metrics(task: str, targets: np.ndarray, pool: np.ndarray, rows: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any]:
    """Metrics of ``prior_predictions`` on dataset ``rows``: the majority-class line every report draws."""
    predictions = prior_predictions(task, targets[pool], len(rows))
    if task == "classification" and predictions.shape[1] < len(label_names):
        predictions = np.pad(predictions, ((0, 0), (0, len(label_names) - predictions.shape[1])))
    metrics = compute_metrics(task, predictions, targets[rows], label_names)
    metrics.pop("per_class", None)
    return metrics
