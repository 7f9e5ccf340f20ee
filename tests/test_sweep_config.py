"""sweep.toml parsing: known tables pass through, unknown keys are named with the allowed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from headstart.errors import ConfigError
from headstart.sweep_config import read_config


def test_demo_config_parses_with_split_and_per_strategy_training():
    config = read_config("examples/demo.toml")
    assert config["strategies"] == "scratch,linear-probe,full-finetune"
    assert config["split"] == {"max_test": 600}
    assert config["train_by_strategy"]["full-finetune"] == {"lr": 5e-5, "epochs": 8, "min_steps": 60, "evals_per_phase": 4}
    assert config["tune"] == "lr"  # only the probe searches: the others are given their rates


@pytest.mark.parametrize("text, message", [
    ("colour = 1\n", "unknown key"),
    ("[train]\nlrate = 1\n", r"unknown \[train\] key"),
    ("[split]\ntest = 1\n", r"unknown \[split\] key"),
    ("[train_by_strategy.lora]\nbogus = 1\n", r"train_by_strategy.lora"),
    ("sizes = [1,\n", "cannot parse"),
    ("grid = [1e-5, 2e-5]\n", r"grid must be a table of strategy = \[values\]"),
])
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(path)


@pytest.mark.parametrize("text, message", [
    ("size = [16]\n", "unknown key(s) ['size'] in {path}; did you mean 'sizes'? (allowed: address, arm, arms, "),
    ("size = [16]\nsed = 3\nzzz = 1\n", "unknown key(s) ['sed', 'size', 'zzz'] in {path}; did you mean 'seeds' for 'sed', "
                                        "'sizes' for 'size'? (allowed: "),
    ("zzz = 1\n", "unknown key(s) ['zzz'] in {path} (allowed: address, "),  # nothing close: no guess
    ("[train]\nmax_step = 3\n", "unknown [train] key(s) ['max_step'] in {path}; did you mean 'max_steps'? (allowed: "),
    ("[train_by_strategy.lora]\nlrr = 1\n", "unknown [train_by_strategy.lora] key(s) ['lrr'] in {path}; did you mean 'lr'?"),
    ("[split]\ntest_fractoin = 0.2\n", "unknown [split] key(s) ['test_fractoin'] in {path}; did you mean 'test_fraction'?"),
    ('[[arm]]\nstrategie = "lora"\n', "each [[arm]] in {path} needs strategy = \"NAME\", e.g. [[arm]] strategy = \"lora\" "
                                      "rank = 4; got {{'strategie': 'lora'}}; did you mean 'strategy' for 'strategie'?"),
])
def test_a_misspelt_key_in_any_table_of_the_file_gets_its_fix(tmp_path, text, message):
    """``size = [16]`` said "unknown key(s) ['size'] ...; allowed: address, arm, arms, ..." and no more, while a
    misspelt strategy name gets "did you mean": every table of a sweep file names the key a typo is closest to."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_config(path)
    assert str(e.value).startswith(message.format(path=repr(str(path)))), str(e.value)


@pytest.mark.parametrize(("text", "message"), [
    ('strategies = ["full-finetune"]\n[grid]\nfull-finetun = [1e-5]\n',
     "[grid] full-finetun in {path}: unknown strategy 'full-finetun'; did you mean 'full-finetune'?"),
    ('strategies = ["full-finetune"]\n[options.full-finetun]\nx = 1\n',
     "[options.full-finetun] in {path}: unknown strategy 'full-finetun'; did you mean 'full-finetune'?"),
    ('strategies = ["full-finetune"]\n[train_by_strategy.ful-finetune]\nlr = 1e-5\n',
     "[train_by_strategy.ful-finetune] in {path}: unknown strategy 'ful-finetune'; did you mean 'full-finetune'?"),
    ('strategies = ["lora"]\n[grid]\nlinear-probe = [1e-5, 1e-4]\n',  # a strategy, but not the sweep's
     "[grid] linear-probe in {path} is for 'linear-probe', which is not in strategies in {path} (lora)"),
    ('[[arm]]\nstrategy = "full-finetune"\nterms = { ewc = { wieght = 1 } }\n',
     "unknown option(s) ['wieght'] for objective term 'ewc'; did you mean 'weight'? (options: data, samples, weight)"),
])
def test_a_misspelt_strategy_or_term_option_in_a_tables_name_gets_its_fix(tmp_path, monkeypatch, capsys, text, message):
    """The tables named by a strategy ([grid], [options.NAME], [train_by_strategy.NAME]) and an [[arm]]'s term options
    are checked when the sweep is built: a typo there is named with its fix too."""
    from conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    path.write_text('data = "rotten-tomatoes"\nsizes = [16]\nseeds = 1\n' + text)
    assert_user_error(run_cli(["compare", "--config", str(path), "--out", str(tmp_path / "cmp")], monkeypatch, capsys),
                      message.format(path=repr(str(path))))


@pytest.mark.parametrize(("text", "message"), [
    ("[options.lora]\nrnak = 4\n",
     "unknown [options.lora] key(s) ['rnak'] in {path}; did you mean 'rank'? (allowed: alpha, dropout, rank, targets)"),
    ("[options.lora]\nrank = 0\n", "[options.lora] rank in {path} must be a positive integer, got 0; try rank = 8"),
    ("[options.llrd]\ndecay = 2\n", "[options.llrd] decay in {path} must be in (0, 1], got 2; try decay = 0.7"),
    ("[grid]\nlroa = [1e-4, 1e-3]\n", "[grid] lroa in {path}: unknown strategy 'lroa'; did you mean 'lora'? (available: "),
    ("[grid]\nlora = [-1e-4, 1e-3]\n",
     "[grid] lora in {path} entry -0.0001 is not a positive number; e.g. lora = [2e-5, 5e-5, 1e-4]"),
])
def test_a_typo_in_a_strategys_table_is_named_by_the_files_table_and_key_not_by_flags(tmp_path, text, message):
    """[options.lora] rnak, [grid] lroa and a value out of range there were told as the flags that stand in for the
    tables ("--grid lroa=: 'lroa' is not in --strategies", "try --option lora.rank=8"); now as the file writes them."""
    path = tmp_path / "sweep.toml"
    path.write_text('data = "rotten-tomatoes"\nstrategies = ["lora", "llrd"]\n' + text)
    with pytest.raises(ConfigError) as e:
        read_config(path)
    assert str(e.value).startswith(message.format(path=repr(str(path)))), str(e.value)
    assert "--" not in str(e.value), str(e.value)


@pytest.mark.parametrize("text, message", [
    ('[split]\ntest_fraction = "x"\n', '[split] test_fraction in {path} must be a number, got "x"; e.g. test_fraction = 0.2'),
    ("[split]\ntest_fraction = 1.5\n", "[split] test_fraction in {path} must be in (0, 0.5), got 1.5"),
    ("[train]\nepochs = true\n", "[train] epochs in {path} must be a whole number, got true; leave it out for the default"),
    ("[train_by_strategy.lora]\npatience = -1\n", "[train_by_strategy.lora] patience in {path} must be an integer >= 0"),
    ("seeds = true\n", "seeds in {path} must be a positive integer like seeds = 3, got true"),
])
def test_a_wrongly_typed_setting_names_the_file_and_the_key_as_toml_writes_them(tmp_path, text, message):
    """A table's settings are checked where the file is read: the message names the file and ``[table] key``, and the
    value as the file spells it (``true``, ``"x"``), from the CLI or from Python alike."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_config(path)
    assert str(e.value).startswith(message.format(path=repr(str(path))))


def test_arm_tables_are_arms_and_values_may_hold_commas(tmp_path):
    """[[arm]] tables write the arms the text form writes; a list option (LoRA's targets) survives in both forms."""
    from headstart.arm_text import parse_arm

    path = tmp_path / "arms.toml"
    path.write_text('data = "rotten-tomatoes"\narms = ["linear-probe"]\n\n'
                    '[[arm]]\nstrategy = "lora"\nrank = 4\ntargets = ["query", "value"]\nlr = 2e-4\n\n'
                    '[[arm]]\nstrategy = "full-finetune"\nterms = { ewc = { weight = 100 }, l2sp = {} }\n')
    arms = read_config(path)["arms"]
    assert arms == ["linear-probe", "lora[rank=4, targets=query,value, lr=0.0002]", "full-finetune+ewc[weight=100]+l2sp"]
    assert parse_arm(arms[1]) == ("lora", {"rank": 4, "targets": "query,value"}, {"lr": 0.0002}, {})
    assert parse_arm(arms[2]) == ("full-finetune", {}, {}, {"ewc": {"weight": 100}, "l2sp": {}})


@pytest.mark.parametrize("table, message", [
    ('[[arm]]\nrank = 4\n', 'each \\[\\[arm\\]\\] in .* needs strategy = "NAME"'),
    ('[[arm]]\nstrategy = "lora"\nterms = { ewc = 1 }\n', "terms of \\[\\[arm\\]\\] 'lora' .* must be a table of term"),
    ('[[arm]]\nstrategy = "lora"\ntargets = "a]b"\n', 'targets = "a\\]b" cannot be written in an arm'),
    ('arm = "lora"\n', "arm in .* must be \\[\\[arm\\]\\] tables"),
])
def test_a_bad_arm_table_is_named(tmp_path, table, message):
    path = tmp_path / "bad.toml"
    path.write_text('data = "rotten-tomatoes"\n' + table)
    with pytest.raises(ConfigError, match=message):
        read_config(path)


@pytest.mark.parametrize("value", ["1", '"true"', "0"])
def test_an_arm_tables_switch_must_be_true_or_false_named_as_the_file_writes_it(tmp_path, value):
    """calibrate = 1 became the arm text calibrate=1, refused later as the --option flag's "calibrate must be true or
    false, got 1", not by the file's key."""
    path = tmp_path / "prompt.toml"
    path.write_text(f'data = "rotten-tomatoes"\n\n[[arm]]\nstrategy = "zero-shot-prompt"\ncalibrate = {value}\n')
    with pytest.raises(ConfigError) as refused:
        read_config(path)
    assert str(refused.value) == (f"[[arm]] 'zero-shot-prompt' calibrate in {str(path)!r} must be true or false, got {value}; "
                                  "e.g. calibrate = true")
    path.write_text('data = "rotten-tomatoes"\n\n[[arm]]\nstrategy = "zero-shot-prompt"\ncalibrate = true\n')
    assert read_config(path)["arms"] == ["zero-shot-prompt[calibrate=true]"]


def test_an_arm_tables_list_option_reaches_the_strategy_as_a_list(tmp_path):
    from headstart.arm_text import parse_arm
    from headstart.strategies import get_strategy

    path = tmp_path / "knn.toml"
    path.write_text('data = "rotten-tomatoes"\n\n[[arm]]\nstrategy = "embed-knn"\ngrid = [1, 5, 15]\n')
    (arm,) = read_config(path)["arms"]
    strategy, options, _, _ = parse_arm(arm)
    assert get_strategy(strategy).options(options).grid == (1, 5, 15)


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_parses(path):
    """The configs that docs/BENCHMARKS.md and README cite stay readable as the config format moves."""
    config = read_config(path)
    assert config.get("data") and (config.get("strategies") or config.get("arms"))
    for strategy, values in config.get("grid", {}).items():
        assert isinstance(values, list) and values == sorted(values), (path.name, strategy)


@pytest.mark.parametrize("text, message", [
    ("[train]\nlr = -1\n", "[train] lr in {path} must be > 0, got -1; try lr = 1e-5"),
    ("[train]\nmax_steps = 0\n", "[train] max_steps in {path} must be a positive integer, got 0; try max_steps = 1000"),
    ("[train]\nwarmup = 1.0\n", "[train] warmup in {path} must be a fraction in [0, 1), got 1.0; try warmup = 0.1"),
    ("[train_by_strategy.lora]\nlr = 0\n", "[train_by_strategy.lora] lr in {path} must be > 0, got 0; try lr = 1e-5"),
    ("[train_by_strategy.lora]\nepochs = 0\n",
     "[train_by_strategy.lora] epochs in {path} must be a positive integer, got 0; try epochs = 3"),
    ("[split]\nmax_test = 0\n",  # it went on "(max_test = 1000 in a TOML's [split])", the fix twice
     "[split] max_test in {path} must be a positive integer (leave it out for the default: every test row, or 2,000 of a larger image test split), got 0; try max_test = 1000"),
])
def test_a_setting_out_of_range_in_the_file_names_its_key_and_file_not_a_flag(tmp_path, monkeypatch, capsys, text, message):
    """``headstart compare --config f.toml``: TrainConfig's range checks name the table, the key and the file, and the
    fix as the file writes it (``lr = 1e-5``), not the CLI's ``--lr``, which compare does not even take."""
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "f.toml"
    path.write_text(text)
    expected = message.format(path=repr(str(path)))
    result = run_cli(["compare", "--config", str(path), "--out", str(tmp_path / "out")], monkeypatch, capsys)
    assert_user_error(result, expected)
    assert result[2].strip() == f"error: {expected}"


def test_a_flag_out_of_range_beside_a_file_still_names_the_flag(tmp_path, monkeypatch, capsys):
    """The value typed as a flag is named as that flag: only the file's own values speak TOML."""
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "f.toml"
    path.write_text("[train]\nepochs = 2\n")
    assert_user_error(run_cli(["compare", "--config", str(path), "--max-steps", "0", "--out", str(tmp_path / "out")],
                              monkeypatch, capsys), "--max-steps must be a positive integer, got 0; try --max-steps 1000")


def test_toml_names_writes_a_flag_as_the_files_key():
    from headstart.surface import toml_names

    names = {"lr", "schedule", "clip"}
    assert toml_names("lr must be > 0, got -1; try --lr 1e-5", names) == "lr must be > 0, got -1; try lr = 1e-5"
    assert toml_names("try --clip 1.0", names) == "try clip = 1.0"
    assert toml_names("try --schedule cosine", names) == 'try schedule = "cosine"'
    assert toml_names("try --n 64", names) == "try --n 64", "not a field of the table: left as it is"


def _captured_sweeps(monkeypatch) -> list:
    """``compare``'s sweeps as the command built them; nothing trains (each call ends in a ConfigError 'captured')."""
    import headstart.api_compare

    sweeps = []

    def captured(sweep, out, **kwargs):
        sweeps.append(sweep)
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "run_compare", captured)
    return sweeps


def _sweep_file(tmp_path, toy_csv, text: str) -> tuple:
    """A sweep file holding ``text`` and the compare command that reads it (one size, one seed), before its flags."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path, ["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--sizes", "16", "--seeds", "1",
                  "--out", str(tmp_path / "out")]


def test_a_max_steps_flag_caps_the_files_floors_as_it_caps_a_strategys_own(tmp_path, monkeypatch, capsys, toy_csv):
    """``compare --config demo.toml --max-steps 20`` was refused for the file's ``min_steps = 60`` of full-finetune
    (naming --min-steps, never typed); the flag overrides the file: the cap wins, the floor stays in the spec (the
    report says "capped at 20 by max_steps") and a note names the floors it cuts."""
    from tests.conftest import run_cli

    sweeps = _captured_sweeps(monkeypatch)
    path, common = _sweep_file(tmp_path, toy_csv, 'strategies = ["linear-probe", "full-finetune"]\n[train]\nmin_steps = 100\n'
                               '[train_by_strategy.full-finetune]\nmin_steps = 60\n')
    code, _, err = run_cli([*common, "--max-steps", "20"], monkeypatch, capsys)
    assert "captured" in err, err
    assert (f"note: --max-steps 20 caps the floors {str(path)!r} sets above it (min_steps = 100 in [train]; min_steps = 60 "
            "in [train_by_strategy.full-finetune])") in err, err
    assert {c.strategy: (c.train.min_steps, c.train.max_steps) for c in sweeps[0].cells()} == {
        "linear-probe": (100, 20), "full-finetune": (60, 20)}
    code, _, err = run_cli([*common, "--max-steps", "20", "--min-steps", "20"], monkeypatch, capsys)
    assert "captured" in err and "caps the floors" not in err, err  # --min-steps replaced every floor the file set
    assert {c.strategy: c.train.min_steps for c in sweeps[1].cells()} == {"linear-probe": 20, "full-finetune": 20}


def test_a_training_flag_replaces_the_files_value_in_every_table_a_strategys_own_included(tmp_path, monkeypatch, capsys,
                                                                                          toy_csv):
    """``--min-steps 10`` left a file's ``[train_by_strategy.full-finetune] min_steps = 60`` in place, and that table's
    ``max_steps = 80`` won over ``--max-steps 20``: flags override the file, so each replaces its field wherever the
    file sets it, with one note naming the values it replaced."""
    from tests.conftest import run_cli

    sweeps = _captured_sweeps(monkeypatch)
    path, common = _sweep_file(tmp_path, toy_csv, 'strategies = ["linear-probe", "full-finetune"]\n[train]\nmax_steps = 50\n'
                               'epochs = 2\n[train_by_strategy.full-finetune]\nmin_steps = 60\nmax_steps = 80\nlr = 5e-5\n')
    code, _, err = run_cli([*common, "--max-steps", "20", "--min-steps", "10"], monkeypatch, capsys)
    assert "captured" in err, err
    assert (f"note: flags override {str(path)!r}: --max-steps 20 replaces max_steps = 50 in [train], max_steps = 80 in "
            "[train_by_strategy.full-finetune]; --min-steps 10 replaces min_steps = 60 in "
            "[train_by_strategy.full-finetune]") in err.splitlines(), err
    assert {c.strategy: (c.train.min_steps, c.train.max_steps, c.train.epochs, c.train.lr) for c in sweeps[0].cells()} == {
        "linear-probe": (10, 20, 2, None), "full-finetune": (10, 20, 2, 5e-5)}, "the fields no flag sets stay the file's"
    code, _, err = run_cli(common, monkeypatch, capsys)  # no flag: the strategy's own table over [train], as before
    assert "captured" in err and "flags override" not in err, err
    assert {c.strategy: (c.train.min_steps, c.train.max_steps) for c in sweeps[1].cells()} == {
        "linear-probe": (None, 50), "full-finetune": (60, 80)}
    # a table for a strategy the file does not compare, emptied by a flag, is still refused as a typo, not dropped unseen
    path.write_text('strategies = ["linear-probe"]\n[train_by_strategy.lora]\nmax_steps = 80\n')
    code, _, err = run_cli([*common, "--max-steps", "20"], monkeypatch, capsys)
    assert code == 2 and "[train_by_strategy.lora] in" in err and "is for 'lora', which is not in strategies in" in err, err


@pytest.mark.parametrize("text, flags, message", [
    ("", ["--min-steps", "30", "--max-steps", "20"],  # both typed: two budgets at once, as before
     "--min-steps 30 is above --max-steps 20, so the cap would cut the floor; give --min-steps at most 20, or --max-steps at least 30"),
    ("[train]\nmax_steps = 20\n[train_by_strategy.full-finetune]\nmin_steps = 60\n", [],
     "min_steps = 60 in [train_by_strategy.full-finetune] of {path} is above max_steps = 20 in [train] of {path}, so the "
     "cap would cut the floor; give min_steps at most 20 in [train_by_strategy.full-finetune], or max_steps at least 60 "
     "in [train], or --max-steps 20 beside the file, which caps the file's floors"),
    ("[train_by_strategy.full-finetune]\nmax_steps = 20\n", ["--min-steps", "60"],
     "--min-steps 60 is above max_steps = 20 in [train_by_strategy.full-finetune] of {path}, so the cap would cut the "
     "floor; give --min-steps at most 20, or max_steps at least 60 in [train_by_strategy.full-finetune], or --max-steps "
     "60 beside the file, which replaces the file's caps"),
])
def test_a_floor_above_a_cap_set_beside_it_is_refused_naming_where_each_was_set(tmp_path, monkeypatch, capsys, toy_csv,
                                                                                 text, flags, message):
    from tests.conftest import assert_user_error, run_cli

    _captured_sweeps(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["linear-probe", "full-finetune"]\n' + text)
    assert_user_error(run_cli(["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--sizes", "16",
                               "--seeds", "1", "--out", str(tmp_path / "out"), *flags], monkeypatch, capsys),
                      message.format(path=repr(str(path))))


def test_a_strategies_or_arms_flag_leaves_out_the_files_settings_for_the_strategies_it_drops(tmp_path, monkeypatch,
                                                                                              capsys, toy_csv):
    """``compare --config demo.toml --strategies linear-probe,full-finetune`` was refused for the file's
    [train_by_strategy.scratch]; the flag overrides the file's list, so those settings are left out, with a note. The
    file alone naming a strategy's table outside its own list is still refused (a typo in it is caught)."""
    from tests.conftest import assert_user_error, run_cli

    sweeps = _captured_sweeps(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["scratch", "linear-probe", "full-finetune", "partial-freeze"]\n'
                    '[train_by_strategy.scratch]\nlr = 1e-3\n[train_by_strategy.full-finetune]\nlr = 5e-5\n'
                    '[options.partial-freeze]\nfreeze = 3\n[grid]\nscratch = [1e-4, 1e-3]\n')
    common = ["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--sizes", "16", "--seeds", "1",
              "--out", str(tmp_path / "out")]
    code, _, err = run_cli([*common, "--strategies", "linear-probe,full-finetune"], monkeypatch, capsys)
    assert "captured" in err, err
    assert (f"note: --strategies leaves out partial-freeze, scratch: [options.partial-freeze], [train_by_strategy.scratch], "
            f"[grid] scratch in "
            f"{str(path)!r} are not used") in err.splitlines(), err
    assert (sweeps[0].strategies, sweeps[0].train_by_strategy, sweeps[0].options, sweeps[0].grids) == (
        ("linear-probe", "full-finetune"), {"full-finetune": {"lr": 5e-5}}, {}, {})
    code, _, err = run_cli([*common, "--arms", "linear-probe,lora[rank=4]"], monkeypatch, capsys)
    assert "captured" in err and "note: --arms leaves out full-finetune, partial-freeze, scratch: " in err, err
    assert (sweeps[1].strategies, sweeps[1].train_by_strategy) == (("linear-probe", "lora"), {})
    path.write_text('strategies = ["linear-probe"]\n[train_by_strategy.scratch]\nlr = 1e-3\n')
    assert_user_error(run_cli(common, monkeypatch, capsys), "[train_by_strategy.scratch] in", "is for 'scratch', which is not in")


def test_a_strategies_or_arms_flag_that_keeps_no_reader_of_the_files_label_descriptions_leaves_them_out(
        tmp_path, monkeypatch, capsys, toy_csv):
    """``compare --config zs.toml --strategies linear-probe`` was refused for the file's label_descriptions, which only
    zero-shot, zero-shot-prompt and icl read; the flag overrides the file's list, so they are left out with a note, as
    its tables for the strategies dropped are. Kept where a strategy kept reads them; the file alone is still refused."""
    from tests.conftest import assert_user_error, run_cli

    sweeps = _captured_sweeps(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["zero-shot", "linear-probe"]\nsizes = [0, 16]\n'
                    '[label_descriptions]\npositive = "a good one"\nnegative = "a bad one"\n')
    common = ["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--seeds", "1",
              "--out", str(tmp_path / "out")]
    code, _, err = run_cli([*common, "--strategies", "linear-probe", "--sizes", "16"], monkeypatch, capsys)
    assert "captured" in err, err
    assert (f"note: --strategies keeps no strategy that reads label_descriptions (zero-shot, zero-shot-prompt, icl): "
            f"label_descriptions in {str(path)!r} is not used") in err.splitlines(), err
    assert sweeps[-1].strategies == ("linear-probe",) and sweeps[-1].options == {}
    path.write_text(path.read_text() + '[options.zero-shot]\ntemplate = "It is {label}."\n')
    code, _, err = run_cli([*common, "--arms", "linear-probe", "--sizes", "16"], monkeypatch, capsys)
    assert (f"note: --arms leaves out zero-shot: [options.zero-shot], label_descriptions in {str(path)!r} are not used "
            "(no strategy kept reads label_descriptions: zero-shot, zero-shot-prompt, icl do)") in err.splitlines(), err
    assert sweeps[-1].options == {}
    code, _, err = run_cli([*common, "--strategies", "zero-shot,linear-probe"], monkeypatch, capsys)
    assert "captured" in err and "label_descriptions" not in err, err  # a strategy kept reads them: kept
    assert sweeps[-1].options["zero-shot"]["descriptions"] == [("positive", "a good one"), ("negative", "a bad one")]
    path.write_text('strategies = ["linear-probe"]\n[label_descriptions]\npositive = "a good one"\n')
    assert_user_error(run_cli([*common, "--sizes", "16"], monkeypatch, capsys), "none of which is among the arms")


def test_a_split_flag_over_the_files_split_is_named_in_the_flags_note(tmp_path, monkeypatch, capsys, toy_csv):
    """``--max-test`` / ``--max-val`` / ``--dedupe`` replaced a file's ``[split]`` values unsaid, while a training flag
    over ``[train]`` is named: they join the same note, and the sweep takes the flags' values."""
    from tests.conftest import run_cli

    sweeps = _captured_sweeps(monkeypatch)
    path, common = _sweep_file(tmp_path, toy_csv, 'strategies = ["linear-probe"]\n[train]\nmax_steps = 6\n'
                               '[split]\nmax_test = 200\nmax_val = 100\ndedupe = false\nval_fraction = 0.2\n')
    code, _, err = run_cli([*common, "--max-steps", "3", "--max-test", "all", "--max-val", "50", "--dedupe"],
                           monkeypatch, capsys)
    assert "captured" in err, err
    assert (f"note: flags override {str(path)!r}: --max-steps 3 replaces max_steps = 6 in [train]; --max-test all "
            "replaces max_test = 200 in [split]; --max-val 50 replaces max_val = 100 in [split]; --dedupe replaces "
            "dedupe = false in [split]") in err.splitlines(), err
    split = sweeps[0].split
    assert (split.max_test, split.max_val, split.dedupe, split.val_fraction) == ("all", 50, True, 0.2)
    code, _, err = run_cli([*common, "--max-val", "50"], monkeypatch, capsys)  # alone, the note is its own
    assert f"note: flags override {str(path)!r}: --max-val 50 replaces max_val = 100 in [split]" in err.splitlines(), err
    code, _, err = run_cli(common, monkeypatch, capsys)
    assert "captured" in err and "flags override" not in err, err
    assert (sweeps[2].split.max_test, sweeps[2].split.max_val, sweeps[2].split.dedupe) == (200, 100, False)
    code, _, err = run_cli([*common, "--max-val", "100", "--max-steps", "6"], monkeypatch, capsys)  # the file's values
    assert "captured" in err and "flags override" not in err, err  # it said "--max-val 100 replaces max_val = 100"


# every key the sweep file documents as one string (sweep_config's docstring, README, docs/SCALE.md)
STRING_KEYS = ("data", "backbone", "out", "text_column", "label_column", "task", "pooling", "group_column",
               "split_column", "backend", "address")
LIST_KEYS = ("strategies", "sizes", "arms", "retain", "eval_data", "tta", "backbones")


@pytest.mark.parametrize("key", STRING_KEYS + LIST_KEYS)
def test_a_number_for_a_string_or_list_key_is_named_as_the_file_writes_it(tmp_path, key):
    """``out = 5``, ``backbone = 5`` and ``text_column = 5`` reached the store's, the backbone's and the data's code as a
    number: a TypeError or AttributeError traceback, exit 1; ``data = 5`` named Python types ("got int"). Each string
    key is checked where the file is read, as ``backend`` and ``address`` were."""
    path = tmp_path / "sweep.toml"
    value = "8.5" if key == "sizes" else "5"  # one whole size is one: sizes = 8
    path.write_text(f"{key} = {value}\n")
    with pytest.raises(ConfigError) as e:
        read_config(path)
    kind = "a list" if key in LIST_KEYS else "a string"
    assert str(e.value).startswith(f"{key} in {str(path)!r} must be {kind} like {key} = " if kind == "a string"
                                   else f"{key} in {str(path)!r} must be {kind} like "), str(e.value)
    assert str(e.value).endswith(f"got {value}"), str(e.value)


@pytest.mark.parametrize("key", ["out", "backbone", "text_column", "data"])
def test_a_number_for_a_string_key_is_one_line_at_the_cli(tmp_path, monkeypatch, capsys, key):
    from conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(40)))
    lines = {"data": f"data = {str(data)!r}", "strategies": 'strategies = ["tfidf-logreg"]', "sizes": "sizes = [8]",
             "seeds": "seeds = 1", "out": f"out = {str(tmp_path / 'cmp')!r}", key: f"{key} = 5"}
    path.write_text("\n".join(lines.values()) + "\n")
    assert_user_error(run_cli(["compare", "--config", str(path)], monkeypatch, capsys),
                      f"{key} in {str(path)!r} must be a string like {key} = ")
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("text, message", [
    ("tune = 1\n", 'tune in {path} must be true, false or "lr", got 1'),  # 1 == True: it read as tune = true
    ("tune = 0\n", 'tune in {path} must be true, false or "lr", got 0'),
    ("tune = 1.0\n", 'tune in {path} must be true, false or "lr", got 1.0'),
    ("[split]\ndedupe = 1\n", "[split] dedupe in {path} must be true or false, got 1"),
    ("[split]\nstratify = 0\n", "[split] stratify in {path} must be true or false, got 0"),
    ('strategies = ["qlora"]\n[options.qlora]\ncheckpointing = 1\n',
     "[options.qlora] checkpointing in {path} must be true or false, got 1"),
])
def test_a_switch_in_the_file_takes_true_or_false_not_a_number(tmp_path, text, message):
    """``tune = 1`` ran as ``tune = true`` (Python's 1 == True) where ``tune = "yes"`` was refused: every switch of a
    sweep file takes a TOML boolean (or, for tune, "lr")."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_config(path)
    assert str(e.value).startswith(message.format(path=repr(str(path)))), str(e.value)


@pytest.mark.parametrize("text, message", [
    ('task = "regresion"\n', "task in {path} must be one of classification, multilabel, regression, got \"regresion\"; "
                             "did you mean task = \"regression\"?"),
    ("strategies = []\n", "strategies in {path} is empty; e.g. strategies = ["),
    ("arms = []\n", "arms in {path} is empty; e.g. arms = ["),  # it ran the default strategies
    ('arms = ["tfidf-logreg", "embed-knn", "tfidf-logreg"]\n',
     "arms in {path} lists an arm twice (tfidf-logreg, embed-knn, tfidf-logreg); give each once"),
    ('strategies = ["tfidf-logreg"]\nsizes = [8, 16, 10000, "all"]\n',
     "size 10000 of sizes in {path} is larger than the training pool of 'data.csv' ("),
    ("[train_by_strategy.lora]\nlr = 1e-3\n", "[train_by_strategy.lora] in {path} is for 'lora', which is not in the "
                                              "default strategies (scratch, linear-probe, full-finetune); add it to strategies"),
    ('strategies = ["tfidf-logreg"]\n[options.lora]\nrank = 4\n',
     "[options.lora] in {path} is for 'lora', which is not in strategies in {path} (tfidf-logreg); add it to strategies"),
    ('arms = ["tfidf-logreg"]\n[train_by_strategy.lora]\nlr = 1e-3\n',
     "[train_by_strategy.lora] in {path} is for 'lora', which is not in the strategies of arms in {path} (tfidf-logreg)"),
])
def test_a_list_or_task_the_file_sets_is_named_as_its_key_not_as_a_flag(tmp_path, monkeypatch, capsys, text, message):
    """task = "regresion", strategies = [], an arm listed twice, a size beyond the pool and a [train_by_strategy.NAME]
    for a strategy the sweep lacks were told as the flags the keys stand for ("--task must be one of", "--strategies is
    empty", "--arms lists an arm twice", "size 64 in --sizes", "not in --strategies"), as sizes given twice was not."""
    from conftest import assert_user_error, run_cli

    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(40)))
    path = tmp_path / "sweep.toml"
    path.write_text(f"data = {str(data)!r}\nseeds = 1\nout = {str(tmp_path / 'cmp')!r}\n" + text)
    result = run_cli(["compare", "--config", str(path)], monkeypatch, capsys)
    assert_user_error(result, message.format(path=repr(str(path))))
    assert "--" not in result[2], result[2]


@pytest.mark.parametrize("text, message", [
    ('pooling = "meen"\n', "pooling in {path} must be one of cls, max, mean, "),
    ('pooling = "mean++cls"\n', 'pooling = "mean++cls" in {path} has an empty part'),
    ('backend = "rayy"\n', 'backend in {path} must be "local" or "ray", got "rayy"; did you mean backend = "ray"?'),
])
def test_the_files_pooling_and_backend_are_named_as_its_keys(tmp_path, monkeypatch, capsys, text, message):
    """pooling = "meen" said "--pooling must be one of ...; e.g. --pooling mean", backend = "rayy" "--backend must be
    local or ray": flags the file's user never typed."""
    from conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    path.write_text(f'data = "rotten-tomatoes"\nstrategies = ["tfidf-logreg"]\nsizes = [8]\nseeds = 1\n' + text)
    result = run_cli(["compare", "--config", str(path), "--out", str(tmp_path / "cmp")], monkeypatch, capsys)
    assert_user_error(result, message.format(path=repr(str(path))))
    assert "--" not in result[2], result[2]


@pytest.mark.parametrize("text, message", [
    ('pooling = "meen"\n', 'got "meen"; e.g. pooling = "mean"'),
    ('[train]\nprecision = "fp8"\n', '[train] precision in {path} must be one of auto, fp32, bf16, got "fp8"; did you mean '
                                      'precision = "fp32"?'),
    ('[split]\nmax_test = "lots"\n', 'got "lots"; try max_test = 1000'),
    ('[options.tfidf-logreg]\nmax_iter = "many"\n', '[options.tfidf-logreg] max_iter in {path} must be a positive integer, got "many"'),
    ('[grid]\ntfidf-logreg = ["a"]\n', '[grid] tfidf-logreg in {path} entry "a" is not a positive number'),
    ('sizes = ["many"]\n', 'sizes in {path} entry "many" is not a non-negative integer or "all"; e.g. sizes = [0, 8, 16, 32, "all"]'),
])
def test_a_sweep_files_values_are_quoted_as_the_file_writes_them(tmp_path, monkeypatch, capsys, text, message):
    """A sweep file's refusals quoted its values as Python writes them, got 'meen', in a file that writes "meen" (and
    sizes = ["many"] was told "e.g. --sizes 0,8,16,32,all", a flag): each value is now written as TOML writes it."""
    from conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    head = 'data = "rotten-tomatoes"\nstrategies = ["tfidf-logreg"]\nseeds = 1\n' + ("" if "sizes" in text else "sizes = [8]\n")
    path.write_text(head + text)
    result = run_cli(["compare", "--config", str(path), "--out", str(tmp_path / "cmp")], monkeypatch, capsys)
    assert_user_error(result, message.format(path=repr(str(path))))
    assert "got '" not in result[2] and "entry '" not in result[2] and "--" not in result[2], result[2]
