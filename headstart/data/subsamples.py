"""Nested stratified subsamples: the n labelled training rows a run draws from its pool.

For a given seed every prefix of the draw is stratified and holds each class at least once, so the first 16 rows are
inside the first 32: label-efficiency curves are paired across sizes (``subsample_order``). ``subsample`` draws a run's
n rows, refusing an n the pool cannot give.
"""

from __future__ import annotations

import numpy as np

from headstart.data.dataset import Dataset
from headstart.errors import DataError


def subsample_order(strata: np.ndarray, seed: int, length: int | None = None) -> np.ndarray:
    """A seeded order of positions ``0..len(strata)-1`` whose every prefix is stratified.

    The first ``C`` positions hold one example of each class (random class order); after that each next
    position goes to the class furthest below its share of the prefix. ``order[:n]`` is therefore a
    stratified sample of size n with at least one example per class, and smaller n are nested in larger.

    Args:
        strata: (M,) int labels of the pool.
        seed: the run seed.
        length: compute only the first ``length`` positions (each position depends only on those before it,
            so this is exactly the full order's prefix, at a fraction of the cost for small n).

    Returns:
        (M,) int64 permutation of pool positions, or its first ``length``.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(strata)
    queues = {c: list(rng.permutation(np.flatnonzero(strata == c))) for c in classes}
    share = {c: len(queues[c]) / len(strata) for c in classes}
    taken = {c: 0 for c in classes}
    order: list[int] = []
    for c in rng.permutation(classes):
        order.append(queues[c][0])
        taken[c] = 1
    jitter = rng.random(len(classes)) * 1e-9  # breaks exact ties without favouring low class ids
    stop = len(strata) if length is None else max(len(classes), min(length, len(strata)))
    while len(order) < stop:
        t = len(order) + 1
        deficit = [share[c] * t - taken[c] + jitter[i] if taken[c] < len(queues[c]) else -np.inf for i, c in enumerate(classes)]
        c = classes[int(np.argmax(deficit))]
        order.append(queues[c][taken[c]])
        taken[c] += 1
    return np.asarray(order, dtype=np.int64)


def subsample(data: Dataset, pool: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Draw the ``n`` training rows (stratified, nested across n for a seed) from the pool.

    Args:
        data: the dataset the indices refer to.
        pool: (M,) pool row indices.
        n: number of labelled examples, or None for the whole pool.
        seed: the run seed.

    Returns:
        (n,) row indices into ``data``.

    Raises:
        DataError: n larger than the pool, or smaller than the number of classes.
    """
    if n is None:
        return pool
    if n == 0:  # no labelled examples: a label-free strategy (zero-shot)
        return pool[:0]
    if n > len(pool):
        raise DataError(f"--n {n} is larger than the training pool of {data.name!r} ({len(pool)} examples); use --n {len(pool)} or --n all")
    if data.task == "classification" and n < data.num_classes:
        raise DataError(f"--n {n} is smaller than the number of classes ({data.num_classes}); use --n {data.num_classes} or more")
    if n < 0:
        raise DataError(f"--n must be >= 0, got {n}")
    strata = data.stratify_labels()[pool]
    return pool[subsample_order(strata, seed, n)[:n]]
