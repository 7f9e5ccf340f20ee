"""N-way K-shot episodes: the unit of meta-training and of few-shot evaluation (Vinyals et al. 2016).

An episode draws ``ways`` classes, then ``shots`` support and ``queries`` query examples of each, without overlap;
its labels are the classes' positions in the draw (0 … ways-1), so a learner cannot memorise class ids across
episodes. Everything here is pure: a seeded ``np.random.Generator`` in, index arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headstart.errors import ConfigError, DataError


@dataclass(frozen=True)
class Episode:
    """Indices into one dataset and the episode's labels.

    Attributes:
        classes: (ways,) dataset class ids, in label order.
        support / query: (ways * shots,) / (ways * queries,) dataset row indices, class-major.
        support_y / query_y: episode labels 0 … ways-1 of those rows.
    """

    classes: np.ndarray
    support: np.ndarray
    query: np.ndarray
    support_y: np.ndarray
    query_y: np.ndarray


def rows_by_class(targets: np.ndarray, classes: list[int], *, per_class: int | None = None, seed: int = 0) -> dict[int, np.ndarray]:
    """Row indices of each class in ``classes``; at most ``per_class`` of them, a seeded draw (None: all).

    mini-ImageNet keeps 600 images per class; the cap keeps a 70,000-image source as cheap to encode as that.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        rows = np.flatnonzero(np.asarray(targets) == c)
        if per_class is not None and len(rows) > per_class:
            rows = np.sort(rng.choice(rows, size=per_class, replace=False))
        out[int(c)] = rows
    return out


def held_out_rows(targets: np.ndarray, taken: dict[int, np.ndarray], *, per_class: int, seed: int) -> dict[int, np.ndarray]:
    """Row indices of each class of ``taken`` that ``taken`` does not hold: at most ``per_class`` of them, a seeded
    draw on its own stream (validation rows beside ``rows_by_class``'s training rows, never one of them)."""
    rng = np.random.default_rng([seed, 1])
    out = {}
    for c, rows in taken.items():
        rest = np.setdiff1d(np.flatnonzero(np.asarray(targets) == c), rows)
        out[int(c)] = np.sort(rng.choice(rest, size=per_class, replace=False)) if len(rest) > per_class else rest
    return out


def check_episode_shape(by_class: dict[int, np.ndarray], *, ways: int, shots: int, queries: int, where: str,
                        per_class: int | None = None) -> None:
    """Refuse an episode shape the classes cannot fill.

    Raises:
        ConfigError: ways < 2, shots < 1, queries < 1, or more ways than classes.
        DataError: a class with fewer than shots + queries rows.
    """
    if ways < 2:
        raise ConfigError(f"--ways must be >= 2 (an episode tells classes apart), got {ways!r}; try --ways 5")
    if shots < 1:
        raise ConfigError(f"--shots must be >= 1 (each class needs a labelled example), got {shots!r}; try --shots 1,5")
    if queries < 1:
        raise ConfigError(f"--queries must be >= 1, got {queries!r}; try --queries 15")
    if ways > len(by_class):
        raise ConfigError(f"--ways {ways} needs {ways} classes, but {where} are {len(by_class)}; try --ways {len(by_class)}")
    short = {c: len(rows) for c, rows in by_class.items() if len(rows) < shots + queries}
    if short:
        c, n = next(iter(short.items()))
        capped = per_class is not None and n >= per_class  # the draw kept fewer rows than the class holds
        raise DataError(f"class {c} of {where} has {n} rows{' kept (--per-class)' if capped else ''}, fewer than shots + queries "
                        f"= {shots + queries}; lower --shots or --queries"
                        + (f", or raise --per-class to {shots + queries} or more" if capped else ""))


def sample_episode(by_class: dict[int, np.ndarray], *, ways: int, shots: int, queries: int, rng: np.random.Generator) -> Episode:
    """One episode: ``ways`` classes drawn without replacement, then ``shots + queries`` distinct rows of each.

    Args:
        by_class: class id -> row indices (``rows_by_class``).
        rng: the only source of randomness.
    """
    keys = np.array(sorted(by_class))
    classes = rng.choice(keys, size=ways, replace=False)
    support, query = [], []
    for c in classes:
        rows = rng.choice(by_class[int(c)], size=shots + queries, replace=False)
        support.append(rows[:shots])
        query.append(rows[shots:])
    labels = np.arange(ways)
    return Episode(classes=classes, support=np.concatenate(support), query=np.concatenate(query),
                   support_y=np.repeat(labels, shots), query_y=np.repeat(labels, queries))


def episodes(by_class: dict[int, np.ndarray], *, ways: int, shots: int, queries: int, count: int, seed: int,
             stream: int = 0) -> list[Episode]:
    """``count`` episodes, the same list for the same arguments: every arm is evaluated on these. ``stream`` > 0 draws
    another seeded sequence (validation's), not test's."""
    rng = np.random.default_rng([seed, ways, shots, queries, *([stream] if stream else [])])
    return [sample_episode(by_class, ways=ways, shots=shots, queries=queries, rng=rng) for _ in range(count)]


def ci95(accuracies: list[float] | np.ndarray) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% interval over episodes, t(0.975, n − 1) · sd / √n (sample sd): the field's
    1.96 · sd / √n (Snell et al. 2017, Finn et al. 2017: 600 or more test episodes) where episodes are many, wider
    where they are few. None for the half-width under two episodes: one episode has no interval; 0 where every episode
    gave the same value, which is no interval either (``no_spread``). It carries the episodes' sampling only, not the
    meta-training seed's."""
    from scipy import stats

    values = np.asarray(accuracies, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()) if len(values) else float("nan"), None
    if np.ptp(values) == 0:  # every episode the same: exactly 0, not the rounding of their mean (``no_spread``)
        return float(values[0]), 0.0
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


SAME_EPISODES = "every episode gave the same value"  # why an interval over episodes has none (after "no interval: ")


def no_spread(half: float | None, key: str = "no_interval") -> dict[str, str]:
    """``{key: SAME_EPISODES}`` where ``ci95``'s half-width is 0 (every episode gave the same accuracy: no error seen,
    which is not certainty, as ``stats.interval``'s ``no_interval``), else ``{}``: what a row's JSON carries."""
    return {key: SAME_EPISODES} if half == 0.0 else {}
