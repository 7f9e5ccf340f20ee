"""Before a sweep trains (``headstart.sweep_plan``): more --workers than cores is said, never refused."""

from __future__ import annotations

import headstart.distributed
from conftest import run_cli


def test_more_workers_than_cores_is_a_note_naming_the_count_and_the_fix(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                         tmp_path):
    """--workers 16 on 2 cores ran 82 s against 46 s with 2, silently: now one note line, and the sweep goes on (here to
    the size it refuses, which shows the note came first and refused nothing)."""
    monkeypatch.setattr(headstart.distributed, "usable_cpus", lambda: 2)
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "99999",
               "--seeds", "1", "--out", str(tmp_path / "cmp")]
    code, _, err = run_cli([*compare, "--workers", "16"], monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: size 99999"), err
    assert ("note: --workers 16 is more than the 2 CPU(s) this process may use: the workers take turns on them and the "
            "sweep runs slower than with one per CPU; try --workers 2") in lines, err
    code, _, err = run_cli([*compare, "--workers", "2"], monkeypatch, capsys)
    assert code == 2 and "--workers" not in err, err


def test_tta_arms_give_the_test_time_adaptations_to_the_arms_named_alone():
    """SweepSpec.tta_arms: adapt's tent runs on its source-only arm, not on coral's too (sweep_spec.SweepSpec.cells)."""
    import pytest

    from headstart.errors import ConfigError
    from headstart.sweep_spec import SweepSpec

    sweep = SweepSpec(arms=("full-finetune", "full-finetune+coral[data=drug-reviews-sentiment]"), sizes=(16,), seeds=1,
                      eval_data=("drug-reviews-sentiment",), tta=("tent",), tta_arms=("full-finetune",))
    assert [(c.strategy, bool(c.terms), c.tta) for c in sweep.cells()] == [("full-finetune", False, ("tent",)),
                                                                             ("full-finetune", True, ())]
    with pytest.raises(ConfigError, match="tta_arms names 'lora', which is not an arm of this sweep"):
        SweepSpec(arms=("full-finetune",), eval_data=("drug-reviews-sentiment",), tta=("tent",), tta_arms=("lora",))


def test_a_stored_cell_that_ran_more_test_time_adaptations_stands_for_the_planned_one():
    from headstart.specs import RunSpec, run_key
    from headstart.sweep_plan import stood_in_by_more_tta

    def cell(tta: tuple[str, ...], seed: int = 0) -> tuple[RunSpec, str, dict]:
        resolved = {"strategy": "full-finetune", "seed": seed, **({"tta": list(tta)} if tta else {})}
        return RunSpec(seed=seed), run_key(resolved), resolved

    stored = [cell(("tent", "tent-episodic"))[1:], cell(("bn-adapt",), seed=1)[1:]]
    planned = [cell(()), cell(("tent",), seed=1), cell((), seed=2)]
    kept = stood_in_by_more_tta(planned, stored)
    assert [key for _, key, _ in kept] == [stored[0][0], planned[1][1], planned[2][1]], "bn-adapt is not tent"
    assert kept[0][2]["tta"] == ["tent", "tent-episodic"], "the stored cell's resolved spec, under its key"
    assert stood_in_by_more_tta([cell(("tent",))], stored)[0][1] == stored[0][0], "fewer of them, too"


def test_a_size_equal_to_the_pool_is_refused_as_what_all_runs(monkeypatch, capsys, tmp_path):
    """--sizes 8,16,all,56 on a 56-row pool trained 56 and all as two cells of the same rows (in another order, so
    other batches and another tuned learning rate: linear-probe read 68.8% at 56 and 90.6% at all), and the report
    listed both; a size equal to the pool is now refused, naming 'all', before any cell trains, a file's sizes as its key."""
    from conftest import assert_user_error

    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(40)))
    compare = ["compare", "--data", str(data), "--strategies", "tfidf-logreg", "--seeds", "1", "--out", str(tmp_path / "cmp")]
    code, _, err = run_cli([*compare, "--sizes", "99999"], monkeypatch, capsys)  # the pool's size, from its refusal
    pool = int(err.split("training pool of 'data.csv' (")[1].split(")")[0])
    assert_user_error(run_cli([*compare, "--sizes", f"8,{pool},all"], monkeypatch, capsys),
                      f"size {pool} in --sizes is the whole training pool of 'data.csv' ({pool}), which 'all' names; drop it")
    assert_user_error(run_cli([*compare, "--sizes", f"8,{pool}"], monkeypatch, capsys), "which 'all' names; write all instead")
    config = tmp_path / "sweep.toml"
    config.write_text(f'sizes = [8, 16, "all", {pool}]\n')
    assert_user_error(run_cli([*compare, "--config", str(config)], monkeypatch, capsys),
                      f"size {pool} of sizes in {str(config)!r} is the whole training pool")
    assert not (tmp_path / "cmp" / "runs.sqlite").exists()
