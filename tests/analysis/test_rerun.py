"""Tests of headstart/analysis/rerun.py: a compare into a store says which shared training setting makes its arms new."""

from __future__ import annotations

import pytest

from headstart.analysis.rerun import changed_settings, changed_text
from headstart.results import RunResult
from headstart.surface import SURFACE_ENV

DATA = {"name": "d.csv", "hash": "h", "task": "classification", "split": {"seed": 0}}


def spec(strategy: str, n: int = 16, seed: int = 0, *, backbone: str = "tiny", options: dict | None = None, **train) -> dict:
    return {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "backbone": backbone, "data": DATA,
            "options": options or {}, "terms": {}, "tune": None,
            "train": {"max_steps": 3, "batch_size": 16, "lr": 1e-5, **train}}


@pytest.fixture(autouse=True)
def on_cli(monkeypatch):
    """The lines as the CLI says them (``test_from_python_...`` says them as Python)."""
    monkeypatch.setenv(SURFACE_ENV, "cli")


def stored(*specs: dict) -> list[RunResult]:
    return [RunResult(key=f"k{i}", spec=s, status="done", metrics={"accuracy": 0.5}) for i, s in enumerate(specs)]


def test_a_new_max_steps_is_named_with_both_values_and_the_new_arms():
    store = stored(spec("lora"), spec("lora", seed=1), spec("linear-probe"))
    planned = [spec("lora", max_steps=4), spec("lora", seed=1, max_steps=4), spec("linear-probe", max_steps=4)]
    assert changed_settings(planned, [r.spec for r in store]) == {"max_steps": ([3], [4])}
    assert changed_text(planned, store) == ("the store's arms ran with --max-steps 3; these run with --max-steps 4: new arms "
                                            "lora[max_steps=4], linear-probe[max_steps=4]; the stored ones stay in the "
                                            "report beside them")


def test_nothing_is_said_where_the_arms_are_stored_or_only_a_new_strategy_or_experiment_is_added():
    store = stored(spec("lora"), spec("linear-probe"))
    assert changed_text([spec("lora", seed=1), spec("linear-probe", n=32)], store) is None, "more seeds and sizes reuse the arms"
    assert changed_text([spec("lora"), spec("full-finetune", max_steps=9)], store) is None, "no stored full-finetune to differ from"
    assert changed_text([spec("lora", backbone="other", max_steps=9)], store) is None, "another experiment is reported apart"
    assert changed_text([spec("lora", options={"rank": 4})], store) is None, "an option, not a shared training setting"


def test_each_new_arm_is_read_against_its_nearest_stored_arm_and_a_default_is_said_as_one():
    """Stored at max_steps 3 (batch 16) and max_steps 4 with batch 8: a new max_steps 4 at batch 16 differs from the
    first in max_steps alone and from the second in batch_size alone, so both are named; a setting the store left
    unset is 'its default'."""
    store = stored(spec("lora"), spec("lora", max_steps=4, batch_size=8), spec("linear-probe", max_steps=None))
    planned = [spec("lora", max_steps=4), spec("linear-probe", max_steps=5)]
    assert changed_settings(planned, [r.spec for r in store]) == {"max_steps": ([3, None], [4, 5]),
                                                                  "batch_size": ([8], [16])}
    text = changed_text(planned, store)
    assert text.startswith("the store's arms ran with --max-steps 3 or no --max-steps (its default), batch_size = 8; "
                           "these run with --max-steps 4 or --max-steps 5, batch_size = 16: new arms "
                           "lora[batch_size=16, max_steps=4], linear-probe[max_steps=5]"), text


def test_a_compare_without_tuning_after_a_tuned_one_says_so():
    tuned = {"param": "lr", "grid": [0.001, 0.01]}
    store = stored({**spec("lora"), "tune": tuned})
    assert changed_settings([spec("lora")], [r.spec for r in store]) == {"tune": ([tuned], [None])}
    assert changed_text([spec("lora")], store).startswith(
        "the store's arms ran with --tune (lr over 0.001,0.01); these run with --no-tune: new arm lora[tuned=no]; the stored ones")


def test_many_new_arms_are_counted_past_the_first_four():
    names = ["a", "b", "c", "d", "e", "f"]
    text = changed_text([spec(n, max_steps=4) for n in names], stored(*(spec(n) for n in names)))
    assert "new arms a[max_steps=4], b[max_steps=4], c[max_steps=4], d[max_steps=4] and 2 more;" in text, text


def test_from_python_the_settings_are_said_as_keywords(monkeypatch):
    monkeypatch.delenv(SURFACE_ENV)
    store = stored({**spec("lora"), "tune": {"param": "lr", "grid": [0.001]}})
    assert changed_text([spec("lora", max_steps=4, batch_size=8)], store).startswith(
        "the store's arms ran with max_steps=3, batch_size=16, tune='lr' (lr over 0.001); these run with max_steps=4, "
        "batch_size=8, tune=None: new arm ")


def test_a_store_file_another_compare_has_made_but_not_filled_is_no_refusal(tmp_path):
    """Two compares started at once on one store: the second found the first's runs.sqlite before its tables and was
    refused as 'holds no headstart runs (an empty or foreign SQLite file)' (a full-suite failure of
    test_two_compares_at_once_train_each_cell_once); it reads it as the writer it is, finding no stored arms."""
    import sqlite3

    from headstart.api_compare import _changed

    sqlite3.connect(tmp_path / "runs.sqlite").close()  # the file, before its first writer made the tables
    assert _changed(tmp_path, [("cell", "key", spec("lora"))]) is None


def test_a_changed_split_setting_is_named_as_a_new_experiment(monkeypatch):
    """--max-test 80 into a store of --max-test 100 runs started a new experiment in silence ("0 already stored, 8 to
    train"), where --max-steps, --grid and --no-tune each said what changed. A split setting is said the same way."""
    def split(s: dict, **fields) -> dict:
        return {**s, "data": {**DATA, "split": {**DATA["split"], **fields}}}

    store = stored(split(spec("lora"), max_test=100), split(spec("linear-probe"), max_test=100))
    planned = [split(spec("lora"), max_test=80), split(spec("linear-probe"), max_test=80)]
    assert changed_settings(planned, [r.spec for r in store]) == {"split.max_test": ([100], [80])}
    assert changed_text(planned, store) == ("the store's runs ran with --max-test 100; these run with --max-test 80: a new "
                                            "experiment (another split of the data), so no stored run is reused; the "
                                            "report shows it, and the stored one under Other experiments in this store")
    both = changed_text([split(spec("lora", max_steps=4), max_test=100, dedupe=True)], store)
    assert both.startswith("the store's runs ran with --max-steps 3, no --dedupe; these run with --max-steps 4, "
                           "--dedupe: a new experiment"), both
    assert changed_text([split(spec("lora"), max_test=None, seed=1)], store).startswith(
        "the store's runs ran with [split] seed = 0, --max-test 100; these run with [split] seed = 1, no --max-test (its "
        "default):")
    assert changed_text([split(spec("lora"), max_test=100)], store) is None, "the same split: the stored runs are reused"
    monkeypatch.delenv(SURFACE_ENV)
    assert changed_text(planned, store).startswith("the store's runs ran with max_test=100; these run with max_test=80:")
