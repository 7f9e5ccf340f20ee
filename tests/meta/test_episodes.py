"""Episodes: seeded, disjoint support and query, labels in draw order, novel classes never in base episodes."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.errors import ConfigError, DataError
from headstart.meta.episodes import check_episode_shape, ci95, episodes, rows_by_class, sample_episode
from headstart.meta.pools import class_split


def test_episodes_are_seeded_and_well_formed():
    targets = np.repeat(np.arange(8), 30)
    by_class = rows_by_class(targets, list(range(8)))
    a = episodes(by_class, ways=5, shots=2, queries=3, count=20, seed=4)
    b = episodes(by_class, ways=5, shots=2, queries=3, count=20, seed=4)
    c = episodes(by_class, ways=5, shots=2, queries=3, count=20, seed=5)
    assert all(np.array_equal(x.support, y.support) and np.array_equal(x.query, y.query) for x, y in zip(a, b))
    assert any(not np.array_equal(x.support, y.support) for x, y in zip(a, c))
    for e in a:
        assert len(set(e.classes)) == 5 and len(e.support) == 10 and len(e.query) == 15
        assert not set(e.support) & set(e.query)
        assert np.array_equal(targets[e.support], e.classes[e.support_y])  # label k is the k-th class drawn
        assert np.array_equal(targets[e.query], e.classes[e.query_y])


def test_novel_classes_never_appear_in_base_episodes():
    targets = np.repeat(np.arange(10), 40)
    base_classes, novel_classes = class_split("fashion-mnist", "fashion-mnist", 10)
    assert base_classes == [0, 1, 2, 3, 4] and novel_classes == [5, 6, 7, 8, 9]
    base = rows_by_class(targets, base_classes)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        e = sample_episode(base, ways=5, shots=1, queries=5, rng=rng)
        seen |= set(targets[np.concatenate([e.support, e.query])].tolist())
    assert seen == set(base_classes)
    assert class_split("fashion-mnist", "mnist-5k", 10) == (list(range(10)), list(range(10)))


def test_per_class_cap_is_a_seeded_draw():
    targets = np.repeat(np.arange(3), 100)
    a, b = rows_by_class(targets, [0, 1, 2], per_class=10, seed=1), rows_by_class(targets, [0, 1, 2], per_class=10, seed=1)
    assert all(len(v) == 10 and np.array_equal(v, b[k]) and set(targets[v]) == {k} for k, v in a.items())


@pytest.mark.parametrize("ways, shots, queries, error, text", [
    (6, 1, 5, ConfigError, "--ways 6 needs 6 classes"),
    (5, 0, 5, ConfigError, "--shots must be >= 1"),
    (5, 1, 0, ConfigError, "--queries must be >= 1"),
    (5, 8, 5, DataError, r"fewer than shots \+ queries = 13"),
])
def test_impossible_episode_shapes_are_refused(ways, shots, queries, error, text):
    by_class = rows_by_class(np.repeat(np.arange(5), 10), list(range(5)))
    with pytest.raises(error, match=text):
        check_episode_shape(by_class, ways=ways, shots=shots, queries=queries, where="the toy classes")


def test_ci95_is_the_fields_convention_where_episodes_are_many_and_wider_where_few():
    values = np.array([0.2, 0.4, 0.6, 0.8])
    mean, half = ci95(values)
    assert mean == pytest.approx(0.5)
    assert half == pytest.approx(3.182 * values.std(ddof=1) / 2, rel=1e-3), "t with 3 degrees of freedom, not 1.96"
    many = np.random.default_rng(0).random(600)
    assert ci95(many)[1] == pytest.approx(1.96 * many.std(ddof=1) / np.sqrt(600), rel=0.01), "the field's 1.96 at 600"
    assert ci95([0.4]) == (0.4, None), "one episode: no interval"
