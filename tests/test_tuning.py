"""--tune lr: successive halving over each strategy's grid, chosen on validation only, stored and reported."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from headstart.specs import RunSpec, TrainConfig
from headstart.strategies import STRATEGIES, get_strategy
from headstart.tuning import ETA, grid_for

CFG = TrainConfig(max_steps=12, min_steps=12, batch_size=8, precision="fp32", patience=0, evals_per_phase=2)



def tuned_run(spec, **kw):
    """One run through the recipe, its learning rate tuned, the test split left unscored (only validation is read)."""
    from headstart.recipe import run

    return run(spec, test=False, **kw)

def test_every_gradient_strategy_has_a_grid_in_the_usual_ranges():
    for name, strategy in STRATEGIES.items():
        plan = grid_for(strategy)
        if strategy.solved:  # the baselines, zero-shot, setfit, the prompt arms: one closed-form phase, no lr to search
            assert plan is None, f"{name} chooses its own hyperparameters in closed form"
            continue
        assert plan is not None, f"{name} has no --tune grid"
        param, grid = plan
        assert param in ("lr", "head_lr") and len(grid) >= 2 and list(grid) == sorted(grid)
    assert grid_for(get_strategy("full-finetune"))[1] == (2e-5, 5e-5, 1e-4)  # around the measured default (issue 26)
    assert grid_for(get_strategy("lora"))[1] == (3e-4, 1e-3, 3e-3)  # ... and LoRA's
    assert grid_for(get_strategy("lora"), "image")[1] == (1e-4, 2e-4, 3e-4)  # images keep PEFT's usual range
    assert grid_for(get_strategy("linear-probe"))[0] == "head_lr"
    assert {n for n, s in STRATEGIES.items() if s.solved} >= {"embed-logreg", "embed-knn", "tfidf-logreg", "zero-shot", "icl"}


@pytest.mark.parametrize("modality", ["text", "image"])
def test_every_grid_spans_its_strategys_default(modality):
    """Tuning searches around what train does untuned: a default outside the grid would make --tune unable to keep it
    (LoRA's default moved to 1e-3 while its grid stayed at 1e-4..3e-4, and tuning could only pick worse rates)."""
    for name, strategy in STRATEGIES.items():
        plan = grid_for(strategy, modality) if modality in strategy.modalities else None
        if plan is None:
            continue
        param, grid = plan
        default = getattr(TrainConfig().with_defaults(strategy.defaults_for(modality)), param)
        assert grid[0] <= default <= grid[-1], (name, modality, default, grid)


class Recording(list):
    """The encoded inputs, remembering every row index read."""

    def __init__(self, items):
        super().__init__(items)
        self.read: set[int] = set()

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            self.read.add(int(index))
        return super().__getitem__(index)


def test_tuning_reads_validation_never_test_and_picks_the_validation_best(toy, make_tiny, monkeypatch):
    import headstart.recipe as run
    from headstart.data import split_dataset

    real = run.encoded_inputs
    recorded: list[Recording] = []

    def recording(backbone, data):
        recorded.append(Recording(real(backbone, data)))
        return recorded[-1]

    monkeypatch.setattr(run, "encoded_inputs", recording)
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, seed=0, train=CFG, tune="lr")
    tuned = tuned_run(spec, data=toy, pretrained=make_tiny(0))
    test_rows = set(split_dataset(toy).test.tolist())
    assert recorded and all(not (r.read & test_rows) for r in recorded), "tuning read a test row"
    assert all(r.read for r in recorded[1:]), "the instrumentation saw the rows that were read"
    grid = grid_for(get_strategy("full-finetune"))[1]
    assert [t["lr"] for t in tuned.trials] == list(grid) and all(t["steps"] == 12 // ETA for t in tuned.trials)
    best = max(tuned.trials, key=lambda t: (t["val_score"], -t["val_loss"]))
    assert tuned.chosen["lr"] == best["lr"]
    assert tuned.setup.cfg.lr == best["lr"] and tuned.report.steps == 12, "the chosen value trains the full budget"
    assert tuned.report.chosen["lr"] == best["lr"], "saved with the run"


def test_a_tuned_run_says_which_trial_runs_before_its_own_steps(toy, make_tiny):
    """A tuned cell of a compare said nothing for minutes, its trials reporting no progress: each trial's steps now
    go to the bar as what the run is doing, at none of the run's own steps done."""
    from headstart.tuning import halve, trials_planned

    for values in (1, 3, 4, 6, 10):
        ran = []
        halve(tuple(range(1, values + 1)), param="lr", full_steps=27, evals_per_phase=1,
              trial=lambda v, steps, evals: ran.append(v) or type("R", (), {"status": "done", "best_score": -v,
                                                                           "val_metrics": {"loss": 0.0}})())
        assert trials_planned(values) == len(ran), values
    seen = []
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, seed=0, train=CFG, tune="lr")
    tuned = tuned_run(spec, data=toy, pretrained=make_tiny(0), progress=lambda done, total, info: seen.append((done, total, info)))
    said = [info["tuning"] for done, total, info in seen if "tuning" in info]
    grid = grid_for(get_strategy("full-finetune"))[1]
    assert said[0] == f"lr {grid[0]:g}, trial 1 of {len(grid)}, step 0/{12 // ETA}", said[:3]
    assert f"lr {grid[-1]:g}, trial {len(grid)} of {len(grid)}, step {12 // ETA}/{12 // ETA}" in said
    assert all(done == 0 and total == 12 for done, total, info in seen if "tuning" in info), "none of the run's steps"
    first_own = next(i for i, (_, _, info) in enumerate(seen) if "tuning" not in info)
    assert all("tuning" not in info for _, _, info in seen[first_own:]) and tuned.report.steps == 12


def test_untuned_keys_do_not_change_and_tuned_keys_differ(toy, make_tiny):
    from headstart.recipe import setup
    from headstart.specs import run_key

    plain = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=CFG), data=toy,
                  pretrained=make_tiny(0)).resolved()
    tuned = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=CFG, tune="lr"), data=toy,
                  pretrained=make_tiny(0)).resolved()
    assert "tune" not in plain
    assert tuned["tune"] == {"param": "lr", "grid": [2e-5, 5e-5, 1e-4], "eta": ETA, "trial_checks": "proportional"}
    assert run_key(plain) != run_key(tuned)


@pytest.mark.parametrize("evals, trial_evals", [(2, 1), (5, 2), (30, 10)])
def test_trials_validate_in_proportion_to_their_budget(toy, make_tiny, monkeypatch, evals, trial_evals):
    """A trial of a third of the steps gets a third of the checks (rounded up), the final run all of them."""
    import dataclasses

    import headstart.recipe as run

    seen = []
    real = run.setup
    monkeypatch.setattr(run, "setup", lambda spec, **kw: seen.append(spec.train) or real(spec, **kw))
    cfg = dataclasses.replace(CFG, max_steps=30, min_steps=30, evals_per_phase=evals)
    tuned = tuned_run(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=cfg, tune="lr"),
                      data=toy, pretrained=make_tiny(0))
    trials, final = seen[1:-1], seen[-1]
    assert len(trials) == 3 and all(t.max_steps == 10 and t.evals_per_phase == trial_evals for t in trials)
    assert final.max_steps == 30 and final.evals_per_phase == evals
    assert len([h for h in tuned.report.history if "train_loss" in h]) == evals


def test_bad_tune_value_is_refused():
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match="tune must be 'lr'"):
        RunSpec(tune="momentum")


def test_a_bool_tune_reads_as_on_or_off():
    """``headstart.adapt(..., tune=False)``, Python's natural --no-tune, was refused with a fix that turned tuning on."""
    from headstart.sweep_spec import SweepSpec

    assert RunSpec(tune=False).tune is None and RunSpec(tune=True).tune == "lr"
    assert SweepSpec(data="toy", tune=False).tune is None and SweepSpec(data="toy", tune=True).tune == "lr"


def test_compare_tunes_by_default_stores_and_reports_the_choice(toy_csv, tiny_registry, tmp_path):
    from headstart.report.render import render
    from headstart.store import Store
    from headstart.sweep import run_sweep
    from headstart.sweep_spec import SweepSpec

    sweep = SweepSpec(data=str(toy_csv), backbone="tiny", strategies=("linear-probe", "full-finetune"), sizes=(32,), seeds=1,
                      train=CFG)
    assert sweep.tune == "lr"
    run_sweep(sweep, tmp_path)
    with Store(tmp_path, create=False) as store:
        results = store.results("done")
    assert len(results) == 2
    for r in results:
        param = "head_lr" if r.spec["strategy"] == "linear-probe" else "lr"
        assert param in r.chosen and len(r.chosen["trials"]) == 3 and r.chosen["tune_seconds"] >= 0
    summary = json.loads(render(tmp_path)["results.json"].read_text())
    assert all(row["chosen"].startswith(("lr ", "head_lr ")) for row in summary["curves"])
    assert "chosen on validation" in (tmp_path / "report.md").read_text()


def test_cli_train_tune_prints_the_choice(toy_csv, tiny_registry, tmp_path):
    from typer.testing import CliRunner

    from headstart.cli import app

    result = CliRunner().invoke(app, ["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
                                      "--max-steps", "6", "--min-steps", "6", "--tune", "lr", "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "chosen on validation: lr=" in result.output
    assert "lr" in json.loads((tmp_path / "run" / "metrics.json").read_text())["chosen"]


def test_an_explicit_learning_rate_is_kept_not_tuned(toy, make_tiny):
    import dataclasses

    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=32, train=dataclasses.replace(CFG, lr=3e-5), tune="lr")
    tuned = tuned_run(spec, data=toy, pretrained=make_tiny(0))
    assert tuned.trials == [] and tuned.setup.cfg.lr == 3e-5 and "lr" not in tuned.chosen
    from headstart.recipe import setup

    assert "tune" not in setup(spec, data=toy, pretrained=make_tiny(0)).resolved()


def test_a_given_grid_replaces_the_strategys_and_enters_the_key(toy, make_tiny):
    from headstart.recipe import setup
    from headstart.specs import run_key

    pretrained = make_tiny(0)
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, seed=0, train=CFG, tune="lr",
                   grid=[1e-4, 3e-5, 1e-5])  # any order; searched ascending
    assert spec.grid == (1e-5, 3e-5, 1e-4)
    tuned = tuned_run(spec, data=toy, pretrained=pretrained)
    assert [t["lr"] for t in tuned.trials] == [1e-5, 3e-5, 1e-4]
    assert tuned.chosen["lr"] in (1e-5, 3e-5, 1e-4)
    own = setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=CFG, tune="lr"), data=toy,
                pretrained=pretrained).resolved()
    given = setup(spec, data=toy, pretrained=pretrained).resolved()
    assert given["tune"]["grid"] == [1e-5, 3e-5, 1e-4] and own["tune"]["grid"] == [2e-5, 5e-5, 1e-4]
    assert run_key(given) != run_key(own)
    same = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, train=CFG, tune="lr", grid="2e-5,5e-5,1e-4")
    assert run_key(setup(same, data=toy, pretrained=pretrained).resolved()) == run_key(own), \
        "giving the strategy's own grid is the same run"


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": "1e-5,5e-5"}, "add --tune lr"),
    ({"tune": "lr", "grid": "1e-5"}, "at least two distinct values"),
    ({"tune": "lr", "grid": "1e-5,1e-5"}, "at least two distinct values"),
    ({"tune": "lr", "grid": "1e-5,fast"}, "'fast' is not a positive number"),
    ({"tune": "lr", "grid": "0,1e-5"}, "'0' is not a positive number"),
    ({"tune": "lr", "grid": [1e-5, float("nan")]}, "nan is not a positive number"),
])
def test_a_bad_grid_is_refused_naming_the_value(kwargs, message):
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        RunSpec(strategy="full-finetune", **kwargs)


def test_a_grid_for_a_strategy_without_a_learning_rate_or_beside_an_explicit_one_is_refused(toy, make_tiny):
    from headstart.errors import ConfigError
    from headstart.tuning import plan_for

    with pytest.raises(ConfigError, match="embed-logreg has no learning rate to tune"):
        plan_for(RunSpec(strategy="embed-logreg", tune="lr", grid="1,2"), get_strategy("embed-logreg"))
    explicit = RunSpec(strategy="full-finetune", tune="lr", grid="1e-5,2e-5", train=TrainConfig(lr=3e-5))
    with pytest.raises(ConfigError, match="--grid and --lr both set"):
        plan_for(explicit, get_strategy("full-finetune"))


def test_sweep_grids_reach_their_strategys_cells_only_and_are_checked_up_front(monkeypatch):
    from headstart.errors import ConfigError
    from headstart.surface import SURFACE_ENV
    from headstart.sweep_spec import SweepSpec

    sweep = SweepSpec(strategies=("linear-probe", "full-finetune"), sizes=(16,), seeds=1,
                      grids={"full-finetune": "2e-5,5e-5,1e-4"})
    by_strategy = {c.strategy: c.grid for c in sweep.cells()}
    assert by_strategy == {"linear-probe": None, "full-finetune": (2e-5, 5e-5, 1e-4)}
    # built from Python, SweepSpec names its fields; built by the CLI, the flags
    python = {
        "grids['lora']: 'lora' is not in strategies (full-finetune); name one of them, e.g. "
        "grids={'full-finetune': (2e-5, 5e-5, 1e-4)}": dict(strategies=("full-finetune",), grids={"lora": [1e-4, 3e-4]}),
        "grids lists the learning rates tune searches, but tuning is off (tune=None); drop one":
            dict(strategies=("full-finetune",), tune=None, grids={"full-finetune": [1e-5, 3e-5]}),
        "embed-knn has no learning rate to tune (it chooses its own hyperparameters on validation); drop grids['embed-knn']":
            dict(strategies=("embed-knn",), grids={"embed-knn": [1, 3]}),
        "grids['full-finetune'] entry 'x' is not a positive number; e.g. grids={'full-finetune': (2e-5, 5e-5, 1e-4)}":
            dict(strategies=("full-finetune",), grids={"full-finetune": "1e-5,x"}),
    }
    for message, given in python.items():
        with pytest.raises(ConfigError) as caught:
            SweepSpec(**given)
        assert str(caught.value) == message
    monkeypatch.setenv(SURFACE_ENV, "cli")
    cli = ["--grid lora=: 'lora' is not in --strategies (full-finetune); name one of them, e.g. --grid full-finetune=2e-5,5e-5,1e-4",
           "--grid lists the learning rates --tune searches, but tuning is off (--no-tune); drop one",
           "embed-knn has no learning rate to tune (it chooses its own hyperparameters on validation); drop --grid embed-knn=...",
           "--grid full-finetune= entry 'x' is not a positive number; e.g. --grid full-finetune=2e-5,5e-5,1e-4"]
    for message, given in zip(cli, python.values()):
        with pytest.raises(ConfigError) as caught:
            SweepSpec(**given)
        assert str(caught.value) == message


def test_cli_grid_flags_reach_the_runs_and_bad_ones_exit_2(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from headstart.store import Store

    base = ["--data", str(toy_csv), "--backbone", "tiny", "--max-steps", "6", "--min-steps", "6", "--quiet"]
    code, out, err = run_cli(["train", *base, "--strategy", "full-finetune", "--n", "32", "--grid", "1e-5,2e-5",
                              "--out", str(tmp_path / "t")], monkeypatch, capsys)
    assert code == 2 and "add --tune lr" in err and len(err.strip().splitlines()) == 1, err
    code, out, err = run_cli(["compare", *base, "--strategies", "full-finetune", "--sizes", "32", "--seeds", "1",
                              "--grid", "2e-5,5e-5", "--out", str(tmp_path / "c")], monkeypatch, capsys)
    assert code == 2 and "--grid must be STRATEGY=V1,V2" in err and len(err.strip().splitlines()) == 1, err
    config = tmp_path / "sweep.toml"
    config.write_text('strategies = ["linear-probe", "full-finetune"]\n[grid]\nfull-finetune = [1e-5, 3e-5]\n')
    code, out, err = run_cli(["compare", *base, "--config", str(config), "--sizes", "32", "--seeds", "1",
                              "--grid", "linear-probe=0.001,0.1", "--out", str(tmp_path / "c")], monkeypatch, capsys)
    assert code in (0, None), err
    with Store(tmp_path / "c", create=False) as store:
        grids = {r.spec["strategy"]: r.spec["tune"]["grid"] for r in store.results("done")}
    assert grids == {"full-finetune": [1e-5, 3e-5], "linear-probe": [0.001, 0.1]}, "file and flag grids both reach the runs"


def test_a_tuned_fits_key_is_the_key_of_the_run_it_saved(toy_csv, tiny_registry, tmp_path):
    import json

    import headstart
    from headstart.specs import TrainConfig

    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", tune="lr",
                        config=TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32"))
    assert run.key == json.loads((tmp_path / "run" / "spec.json").read_text())["key"]


def test_compare_json_prints_the_summary_on_stdout_and_a_sweep_that_all_fails_exits_1(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    import json

    from conftest import run_cli

    base = ["--data", str(toy_csv), "--backbone", "tiny", "--max-steps", "6", "--min-steps", "6", "--quiet", "--no-tune",
            "--sizes", "32", "--seeds", "1"]
    code, out, err = run_cli(["compare", *base, "--strategies", "linear-probe", "--json", "--out", str(tmp_path / "j")],
                             monkeypatch, capsys)
    assert code in (0, None), err
    payload = json.loads(out)
    assert payload["total"] == 1 and payload["statuses"] == {"done": 1} and payload["summary"]["curves"]
    assert "1 cells" in err and "leakage" in err.lower(), "the counts and notes go to stderr"
    config = tmp_path / "bad.toml"
    config.write_text('arms = ["full-finetune[lr=1e9, head_lr=1e9]"]\n')
    code, out, err = run_cli(["compare", *base, "--config", str(config), "--out", str(tmp_path / "bad")], monkeypatch, capsys)
    assert code == 1 and "every cell failed (1 diverged)" in err, (code, err)


def test_trial_steps_are_the_steps_halve_gives_each_trial_in_order():
    from headstart.tuning import halve, trial_steps

    for values, full in ((1, 27), (3, 27), (4, 100), (10, 7)):
        ran = []
        halve(tuple(range(1, values + 1)), param="lr", full_steps=full, evals_per_phase=1,
              trial=lambda v, steps, evals: ran.append(steps) or type("R", (), {"status": "done", "best_score": -v,
                                                                               "val_metrics": {"loss": 0.0}})())
        assert trial_steps(values, full) == ran, (values, full)


def test_a_tuned_runs_trials_carry_its_eta_from_the_second_trial_on(toy, make_tiny, monkeypatch):
    """`train --tune lr` printed "trial 2 of 3, step 1/1 elapsed 28s ETA ?" on every line of its tuning, most of the
    run's time: from the second trial on, the steps left (this trial's, the trials to come, the final run's) at the
    finished trials' pace."""
    import headstart.recipe as recipe
    from headstart.progress import ETA_KEY
    from headstart.tuning import trial_steps

    clock = [0.0]
    monkeypatch.setattr(recipe.time, "perf_counter", lambda: clock[0])
    trained = recipe.train
    seen = []
    spec = RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=64, seed=0, train=CFG, tune="lr")
    grid = grid_for(get_strategy("full-finetune"))[1]
    steps = trial_steps(len(grid), 12)
    timed = []

    def trial_train(s, progress=None, **kw):
        report = trained(s, progress=progress, **kw)
        if len(timed) < len(steps):  # a trial (the final run comes last): 10 s a step
            timed.append(s.spec.train.max_steps)
            clock[0] += 10.0 * s.spec.train.max_steps
        return report

    monkeypatch.setattr(recipe, "train", trial_train)
    tuned_run(spec, data=toy, pretrained=make_tiny(0), progress=lambda done, total, info: seen.append(dict(info)))
    tuning = [info for info in seen if "tuning" in info]
    first = [info[ETA_KEY] for info in tuning if ", trial 1 of" in info["tuning"]]
    assert first and all(eta is None for eta in first), "nothing timed yet: unknown"
    second = next(info for info in tuning if ", trial 2 of" in info["tuning"])
    assert second["tuning"].endswith(f"step 0/{steps[1]}")
    assert second[ETA_KEY] == pytest.approx(10.0 * (sum(steps[1:]) + 12)), "every step left at 10 s a step"
    last = [info[ETA_KEY] for info in tuning if f", trial {len(steps)} of" in info["tuning"]]
    assert last[-1] == pytest.approx(10.0 * 12), "its last step done: the final run's 12 steps left"


def test_a_tuned_run_is_saved_as_asked_and_the_same_request_is_the_same_run(toy_csv, tiny_registry, tmp_path):
    """spec.json keeps --tune (not the chosen rate's trial spec, which read as --lr given), so the same command again
    replaces its own run rather than being refused; metrics.json keeps the trials, the card says what was chosen,
    and loading the run does not tune again."""
    import headstart
    from headstart.same_run import check_replaces_same_run
    from headstart.specs import RunSpec as Spec

    config = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32")
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", tune="lr", config=config)
    meta = json.loads((tmp_path / "run" / "spec.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert meta["spec"]["tune"] == "lr" and meta["spec"]["train"]["lr"] is None
    assert meta["resolved"]["tune"]["param"] == "lr" and run.key == meta["key"]
    chosen = metrics["chosen"]["lr"]
    assert chosen in meta["resolved"]["tune"]["grid"]
    tuning = metrics["tuning"]
    assert tuning["param"] == "lr" and len(tuning["trials"]) == 3 and tuning["seconds"] >= 0
    assert all({"lr", "steps", "val_score"} <= set(t) for t in tuning["trials"])
    card = (tmp_path / "run" / "README.md").read_text()
    assert "was tuned on validation by successive halving over" in card and f": {chosen:g} was chosen (3 trials" in card
    asked = Spec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=config, tune="lr")
    check_replaces_same_run(tmp_path / "run", asked)  # the same request: not refused as another run
    loaded = headstart.load(tmp_path / "run")
    assert loaded.chosen["lr"] == chosen and loaded.tune_seconds == tuning["seconds"]
    texts = ["a b c", "d e f"]
    assert [r["label"] for r in loaded.predict(texts)] == [r["label"] for r in run.predict(texts)]


def test_a_run_tuned_by_an_older_headstart_is_the_same_request_again(toy_csv, tiny_registry, tmp_path):
    """Before spec.json kept --tune (2026-12-07), a tuned run was saved as its chosen rate's trial spec: tune null, the
    chosen lr written in as if given, no metrics.json tuning. The same train --tune lr into that folder was refused
    ('--lr 0.001 there, default asked'); it reads as the request it was. A run whose lr was given is still another run."""
    import headstart
    from headstart.errors import ConfigError
    from headstart.same_run import check_replaces_same_run
    from headstart.specs import RunSpec as Spec, run_key
    from headstart.tuning import trial_spec

    config = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32")
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", tune="lr", config=config)
    asked = Spec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=config, tune="lr")
    meta_path, metrics_path = tmp_path / "run" / "spec.json", tmp_path / "run" / "metrics.json"
    meta, metrics = json.loads(meta_path.read_text()), json.loads(metrics_path.read_text())
    chosen = metrics["chosen"]["lr"]
    old = trial_spec(asked, "lr", chosen, config.max_steps).to_dict()  # what the older headstart wrote
    resolved = {k: v for k, v in meta["resolved"].items() if k != "tune"}
    resolved["train"] = {**resolved["train"], "lr": chosen}
    meta_path.write_text(json.dumps({**meta, "spec": old, "resolved": resolved, "key": run_key(resolved)}))
    metrics_path.write_text(json.dumps({k: v for k, v in metrics.items() if k != "tuning"}))
    assert old["tune"] is None and old["train"]["lr"] == chosen
    check_replaces_same_run(tmp_path / "run", asked)  # the same request: not refused
    check_replaces_same_run(tmp_path / "run", dataclasses.replace(asked, grid=(1e-5, chosen)))  # its grid was not kept
    fixed = dataclasses.replace(asked, tune=None, train=dataclasses.replace(config, lr=chosen))
    check_replaces_same_run(tmp_path / "run", fixed)  # --lr at the rate it chose, as the older spec.json wrote it
    with pytest.raises(ConfigError, match="another run"):  # another request is still another run
        check_replaces_same_run(tmp_path / "run", dataclasses.replace(asked, n=16))
    metrics_path.write_text(json.dumps({**metrics, "chosen": {}}))  # lr given, not chosen: another run than --tune lr
    with pytest.raises(ConfigError, match="train.lr .* there, default asked"):
        check_replaces_same_run(tmp_path / "run", asked)
