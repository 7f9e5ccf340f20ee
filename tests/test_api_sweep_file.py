"""``headstart.compare(config="sweep.toml")``: the Python call reads the CLI's sweep file, and keywords given win as flags
do (headstart.api_sweep_file)."""

from __future__ import annotations

import pytest

import headstart
from headstart.errors import ConfigError, HeadstartError

FILE = ('strategies = ["scratch", "linear-probe", "full-finetune"]\nsizes = [16, 32]\nseeds = 3\nworkers = 1\n'
        'tune = true\n[train]\nmin_steps = 100\nepochs = 2\n[train_by_strategy.scratch]\nlr = 1e-3\n'
        '[train_by_strategy.full-finetune]\nmin_steps = 60\n[split]\nmax_test = 50\n[grid]\nfull-finetune = [2e-5, 5e-5]\n')


def _captured(monkeypatch) -> list:
    """Each compare's (sweep, keywords of run_compare); nothing trains (the call ends in ConfigError 'captured')."""
    import headstart.api_compare

    calls = []

    def captured(sweep, out, **kwargs):
        calls.append((sweep, out, kwargs))
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "run_compare", captured)
    return calls


def _python(path, **keywords) -> None:
    with pytest.raises(ConfigError, match="captured"):
        headstart.compare(config=str(path), progress=False, **keywords)


def _both(tmp_path, monkeypatch, capsys, toy_csv, text: str, flags: list[str], **keywords) -> tuple:
    """The sweeps ``headstart compare --config FILE FLAGS`` and ``compare(config=FILE, **keywords)`` build from a file
    holding ``text`` (nothing trains)."""
    from tests.conftest import run_cli

    calls = _captured(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    code, _, err = run_cli(["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), *flags, "--out",
                            str(tmp_path / "out")], monkeypatch, capsys)
    assert "captured" in err, err
    _python(path, data=str(toy_csv), out=tmp_path / "out", **keywords)
    (cli, _, _), (python, _, _) = calls
    return cli, python


@pytest.mark.parametrize("flags, keywords", [
    ([], {}),
    (["--seeds", "5", "--sizes", "8"], {"seeds": 5, "sizes": "8"}),  # 5 is the keyword's default: given, so it wins
    (["--max-steps", "20"], {"max_steps": 20}),  # the cap over the file's floors, as the flag's
    (["--min-steps", "30"], {"min_steps": 30}),  # every strategy's floor, [train_by_strategy.full-finetune]'s 60 replaced
    (["--strategies", "linear-probe,full-finetune"], {"strategies": ["linear-probe", "full-finetune"]}),
    (["--no-tune", "--epochs", "4", "--max-test", "30"], {"tune": False, "epochs": 4, "max_test": 30}),
])
def test_a_sweep_file_builds_the_sweep_the_cli_builds_with_the_same_flags(tmp_path, monkeypatch, capsys, toy_csv,
                                                                        flags, keywords):
    """The same file with flags on the command line and with keywords in Python builds the same sweep (so both share its
    stored runs), and the same notes."""
    from tests.conftest import run_cli

    calls = _captured(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text(FILE)
    out = tmp_path / "out"
    code, _, cli_err = run_cli(["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--out", str(out),
                                *flags], monkeypatch, capsys)
    assert "captured" in cli_err, cli_err
    _python(path, data=str(toy_csv), out=out, **keywords)
    python_err = capsys.readouterr().err
    (cli, cli_out, _), (python, python_out, _) = calls
    assert python == cli and str(python_out) == str(cli_out)
    cli_notes = [line.split(" in ")[0] for line in cli_err.splitlines() if line.startswith("note: ")]
    python_notes = [line.split(" in ")[0] for line in python_err.splitlines() if line.startswith("note: ")]
    assert len(python_notes) == len(cli_notes), (cli_err, python_err)
    if keywords.get("seeds") == 5:
        assert (python.seeds, python.sizes) == (5, (8,))
    if "max_steps" in keywords:
        assert {c.strategy: (c.train.min_steps, c.train.max_steps) for c in python.cells()}["full-finetune"] == (60, 20)
        assert "note: max_steps=20 caps the floors" in python_err and "--max-steps" not in python_err, python_err
    if "min_steps" in keywords:
        assert {c.strategy: c.train.min_steps for c in python.cells()}["full-finetune"] == 30
        assert "min_steps=30 replaces min_steps = 100 in [train], min_steps = 60 in [train_by_strategy.full-finetune]" in python_err


def test_the_keywords_given_win_and_the_file_fills_the_rest(tmp_path, monkeypatch, toy_csv):
    calls = _captured(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text(FILE.replace('"full-finetune"]', '"full-finetune", "partial-freeze"]')
                    + '[options.partial-freeze]\nfreeze = 3\n')
    _python(path, data=str(toy_csv), out=tmp_path / "out", seeds=1, split={"test_fraction": 0.3},
            train_by_strategy={"scratch": {"epochs": 9}}, grids={"scratch": [1e-4, 1e-3]},
            options={"partial-freeze": {"freeze": 2}}, sizes=None, strategies=None, max_steps=None)  # None: not given
    sweep = calls[0][0]
    assert sweep.seeds == 1 and sweep.sizes == (16, 32) and sweep.train.epochs == 2
    assert sweep.strategies == ("scratch", "linear-probe", "full-finetune", "partial-freeze")
    assert (sweep.split.max_test, sweep.split.test_fraction) == (50, 0.3)
    assert sweep.train_by_strategy["scratch"] == {"lr": 1e-3, "epochs": 9}
    assert set(sweep.grids) == {"full-finetune", "scratch"} and sweep.options == {"partial-freeze": {"freeze": 2}}
    command = calls[0][2]["command"]  # the report's "Produced by": the call as written, not the file's values spelt out
    assert command.startswith("headstart.compare(") and f"config={str(path)!r}" in command and "seeds=1" in command
    assert "sizes" not in command and "max_test" not in command


@pytest.mark.parametrize("text, message", [
    ("sizes = [1,\n", "cannot parse"),
    ("colour = 1\n", "unknown key(s) ['colour']"),
    ("[train]\nlr = -1\n", "[train] lr in"),
    ('tune = false\n[grid]\nfull-finetune = [2e-5, 5e-5]\n', "sets tune = false; drop one (or pass tune='lr')"),
])
def test_a_bad_sweep_file_is_the_clis_one_line_error(tmp_path, text, message):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        headstart.compare(config=path, progress=False)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert error.value.__cause__ is None and (error.value.__context__ is None or error.value.__suppress_context__)
    with pytest.raises(ConfigError, match="not found"):
        headstart.compare(config=tmp_path / "missing.toml", progress=False)


def test_a_training_setting_typed_as_a_keyword_beside_a_sweep_file_is_told_the_files_table(tmp_path):
    """``compare(config="sweep.toml", lr=1e-3)``: lr (a keyword of compare, set in a dict config) beside a sweep file
    goes in the file's [train] table; the fix names that table, not
    "add it to the config you passed" (a dict's advice, which a path cannot take)."""
    path = tmp_path / "sweep.toml"
    path.write_text("seeds = 1\n")
    with pytest.raises(ConfigError, match=rf"^compare\(\) reads the training settings from the sweep file '{path}': add "
                                          rf"lr = 0\.001; warmup = 0\.2 under \[train\] there, or pass config as a dict$"):
        headstart.compare(config=path, lr=1e-3, warmup=0.2)


def test_a_files_backbones_list_beside_its_backbone_sweeps_the_list_as_the_cli_does(tmp_path, monkeypatch, capsys, toy_csv):
    """A file with both ``backbone`` and ``backbones`` sweeps the list from the CLI; from Python it was refused as if the
    caller had typed both keywords."""
    cli, python = _both(tmp_path, monkeypatch, capsys, toy_csv, 'backbone = "tiny"\nbackbones = ["all-minilm-l6-v2", '
                        '"tiny"]\nstrategies = ["linear-probe"]\nsizes = [16]\nseeds = 1\n', [])
    assert python == cli and python.backbones == ("all-minilm-l6-v2", "tiny")


def test_a_backbone_typed_beside_a_files_backbones_list_is_the_one_backbone_from_the_cli_as_from_python(
        tmp_path, monkeypatch, capsys, toy_csv):
    """--backbone X beside a file listing backbones: the flag overrides the file (the CLI swept the file's list)."""
    cli, python = _both(tmp_path, monkeypatch, capsys, toy_csv, 'backbones = ["all-minilm-l6-v2", "tiny"]\nstrategies = '
                        '["linear-probe"]\nsizes = [16]\nseeds = 1\n', ["--backbone", "tiny"], backbone="tiny")
    assert cli == python and cli.backbone == "tiny" and cli.backbones == ()


def test_with_a_sweep_file_the_lists_are_read_before_the_training_values_as_the_cli_reads_them(tmp_path, monkeypatch,
                                                                                              capsys):
    """An empty entry in ``strategies`` beside ``max_steps=0`` is named first, by the CLI and by Python with or without a
    file (``max_steps=0``'s refusal came first from Python with a file)."""
    from tests.conftest import run_cli

    path = tmp_path / "sweep.toml"
    path.write_text("seeds = 1\n")
    code, _, err = run_cli(["compare", "--config", str(path), "--strategies", "lora,", "--max-steps", "0", "--out",
                            str(tmp_path / "cli")], monkeypatch, capsys)
    assert code == 2 and "has an empty entry" in err, err
    for config in (path, None):
        with pytest.raises(ConfigError, match=r"^strategies 'lora,' has an empty entry"):
            headstart.compare(config=config, strategies="lora,", max_steps=0, out=tmp_path / "py")


def test_a_files_floor_above_its_cap_is_named_after_the_lists_from_the_cli_as_from_python(tmp_path, monkeypatch, capsys):
    """A file whose [train] min_steps is above its max_steps, beside a strategies list with an empty entry: the list is
    named first, then the floor, from both (Python named the file's floor first)."""
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    path.write_text("seeds = 1\n[train]\nmin_steps = 100\nmax_steps = 50\n")
    for strategies, message in (("lora,", "has an empty entry"), ("lora", "[train]")):
        assert_user_error(run_cli(["compare", "--config", str(path), "--strategies", strategies, "--out",
                                   str(tmp_path / "cli")], monkeypatch, capsys), message)
        with pytest.raises(ConfigError) as error:
            headstart.compare(config=path, strategies=strategies, out=tmp_path / "py", progress=False)
        assert message in str(error.value) and ("empty" in message or "min_steps" in str(error.value)), str(error.value)


def test_arms_typed_beside_a_files_strategies_leave_the_files_list_unread_from_the_cli_as_from_python(
        tmp_path, monkeypatch, capsys, toy_csv):
    """--arms overrides the file's strategies list: an empty entry in it is not refused (the CLI read it, Python did
    not)."""
    cli, python = _both(tmp_path, monkeypatch, capsys, toy_csv, 'strategies = ["linear-probe", ""]\nsizes = [16]\nseeds = 1\n',
                        ["--arms", "linear-probe"], arms="linear-probe")
    assert cli == python and cli.strategies == ("linear-probe",)


def test_label_descriptions_typed_over_a_files_are_not_said_unused_from_python_as_from_the_cli(tmp_path, monkeypatch,
                                                                                               capsys, toy_csv):
    """Descriptions typed beside a file's take their place: a narrowing that keeps no reader of them refuses the typed
    ones and says nothing of the file's (Python also noted the file's as not used, though it had replaced them)."""
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["zero-shot", "linear-probe"]\nsizes = [0, 16]\nseeds = 1\n'
                    '[label_descriptions]\npositive = "a good one"\nnegative = "a bad one"\n')
    common = ["compare", "--quiet", "--config", str(path), "--data", str(toy_csv), "--strategies", "linear-probe",
              "--sizes", "16", "--label-descriptions", "positive=good,negative=bad", "--out", str(tmp_path / "out")]
    assert_user_error(run_cli(common, monkeypatch, capsys), "none of which is among the arms")
    with pytest.raises(ConfigError, match="none of which is among the arms"):
        headstart.compare(config=path, data=str(toy_csv), strategies="linear-probe", sizes=16, progress=False,
                          label_descriptions={"positive": "good", "negative": "bad"}, out=tmp_path / "out")
    assert "label_descriptions" not in capsys.readouterr().err


def test_a_files_floor_above_its_cap_offers_the_keyword_from_python_and_the_flag_from_the_cli(tmp_path, monkeypatch, capsys):
    """The fix beside the file's own tables: "--max-steps 50 beside the file" from the CLI, "max_steps=50 beside the
    file" from Python (which said "max_steps=50 on the command line")."""
    from tests.conftest import run_cli

    path = tmp_path / "sweep.toml"
    path.write_text("seeds = 1\n[train]\nmin_steps = 100\nmax_steps = 50\n")
    code, _, err = run_cli(["compare", "--config", str(path), "--strategies", "lora", "--out", str(tmp_path / "cli")],
                           monkeypatch, capsys)
    assert code == 2 and "or --max-steps 50 beside the file, which caps the file's floors" in err, err
    with pytest.raises(ConfigError) as error:
        headstart.compare(config=path, strategies="lora", out=tmp_path / "py", progress=False)
    assert "or max_steps=50 beside the file, which caps the file's floors" in str(error.value), str(error.value)
    assert "command line" not in str(error.value)


def test_an_empty_entry_in_a_files_strategies_offers_the_flag_as_its_example(tmp_path, monkeypatch, capsys):
    """The example is a flag that works ("e.g. --strategies lora"), not the list's label ("e.g. strategies in
    'sweep.toml' lora")."""
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "sweep.toml"
    path.write_text('strategies = "lora,"\n')
    assert_user_error(run_cli(["compare", "--config", str(path), "--out", str(tmp_path / "cli")], monkeypatch, capsys),
                      f"strategies in {str(path)!r} 'lora,' has an empty entry", "e.g. --strategies lora")


def _refusal(surface: str, tmp_path, monkeypatch, capsys, flags: list[str], **keywords) -> str:
    """The one-line refusal of ``headstart compare FLAGS`` (``surface="cli"``) or ``compare(**keywords)``."""
    from tests.conftest import assert_user_error, run_cli

    if surface == "cli":
        result = run_cli(["compare", "--quiet", *flags, "--out", str(tmp_path / "out")], monkeypatch, capsys)
        assert_user_error(result)
        return result[2].strip().removeprefix("error: ")
    with pytest.raises(HeadstartError) as error:
        headstart.compare(progress=False, out=tmp_path / "out", **keywords)
    return str(error.value)


@pytest.mark.parametrize("surface", ["cli", "python"])
@pytest.mark.parametrize("text, named", [('strategies = "lora,"\n', "strategies in {path} 'lora,' has an empty entry"),
                                         ('sizes = "8,8"\n', "sizes in {path} lists a size twice")])
def test_a_list_the_file_gave_is_named_as_the_files_key_from_both_surfaces(tmp_path, monkeypatch, capsys, surface,
                                                                           text, named):
    """A bad list the file gave names the file's key and the file from Python as from the CLI (Python said
    "strategies 'lora,' ...", as if typed)."""
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    message = _refusal(surface, tmp_path, monkeypatch, capsys, ["--config", str(path)], config=path)
    assert message.startswith(named.format(path=repr(str(path)))), message


@pytest.mark.parametrize("surface", ["cli", "python"])
def test_the_lists_are_read_before_the_columns_beside_eval_data_from_both_surfaces(tmp_path, monkeypatch, capsys,
                                                                                    surface):
    """An empty entry in strategies beside a text column on a built-in dataset with eval data: the list is named first
    by both (Python named the column first)."""
    message = _refusal(surface, tmp_path, monkeypatch, capsys,
                       ["--strategies", "lora,", "--text-column", "x", "--eval-data", "other.csv"],
                       strategies="lora,", text_column="x", eval_data="other.csv")
    assert "has an empty entry" in message and "column" not in message.split(";")[0], message


@pytest.mark.parametrize("surface", ["cli", "python"])
def test_the_lists_are_read_before_max_test_from_both_surfaces(tmp_path, monkeypatch, capsys, surface):
    """An empty entry in strategies beside a bad max_test: the list is named first by both (the CLI named --max-test
    first)."""
    message = _refusal(surface, tmp_path, monkeypatch, capsys, ["--strategies", "lora,", "--max-test", "x"],
                       strategies="lora,", max_test="x")
    assert "has an empty entry" in message and "max" not in message, message


@pytest.mark.parametrize("surface", ["cli", "python"])
@pytest.mark.parametrize("data, extra, said", [
    ("rotten-tomatoes", "", "{named} applies to files, not to the built-in dataset 'rotten-tomatoes'"),
    ("rotten-tomatoes", 'eval_data = ["other.csv"]\n', "{named} names the columns of the training data"),
    ("TOY", "", "{named} names no column of {toy} (columns: text, label); name one of them there (or pass {fix})"),
])
def test_a_column_the_file_names_is_refused_as_the_files_key(tmp_path, monkeypatch, capsys, toy_csv, surface, data,
                                                             extra, said):
    """text_column = "x" in a sweep file that the data refuses is named as the file's key and the file, as the file's
    other refusals are (it was named as the flag, "--text-column 'x'", though none was typed)."""
    data = str(toy_csv) if data == "TOY" else data
    path = tmp_path / "sweep.toml"
    path.write_text(f'data = "{data}"\ntext_column = "x"\nstrategies = ["linear-probe"]\nsizes = [16]\nseeds = 1\n{extra}')
    message = _refusal(surface, tmp_path, monkeypatch, capsys, ["--config", str(path), "--max-steps", "3"], config=path,
                       max_steps=3)
    fix = "--text-column NAME" if surface == "cli" else "text_column=NAME"
    expected = said.format(named=f'text_column = "x" in {str(path)!r}', toy=repr(str(toy_csv)), fix=fix)
    assert message.startswith(expected) and "'x'" not in message.split(";")[0], message


def test_a_column_typed_beside_the_file_is_still_named_as_the_flag(tmp_path, monkeypatch, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('text_column = "x"\nstrategies = ["linear-probe"]\nsizes = [16]\nseeds = 1\n')
    message = _refusal("cli", tmp_path, monkeypatch, capsys, ["--config", str(path), "--text-column", "y"])
    assert message.startswith("--text-column 'y' applies to files"), message


@pytest.mark.parametrize("surface", ["cli", "python"])
def test_the_lists_are_read_before_the_options_from_both_surfaces(tmp_path, monkeypatch, capsys, surface):
    """An empty entry in strategies beside an option without its strategy: the list is named first, by --option's
    reading as by the options table's (the one builder read --option before the lists)."""
    message = _refusal(surface, tmp_path, monkeypatch, capsys, ["--strategies", "lora,", "--option", "freeze=3"],
                       strategies="lora,", options="freeze=3")
    assert "has an empty entry" in message and "option" not in message, message


def test_a_split_keyword_over_the_files_split_is_named_in_the_keywords_note(tmp_path, monkeypatch, capsys, toy_csv):
    """``compare(config=FILE, max_test=..., max_val=..., dedupe=True)`` replaced the file's ``[split]`` values unsaid;
    they join the note a training keyword's replacement is named in, each written as the keyword."""
    calls = _captured(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["linear-probe"]\nsizes = [16]\nseeds = 1\n[train]\nmax_steps = 6\n'
                    '[split]\nmax_test = 200\nmax_val = 100\ndedupe = false\n')
    _python(path, data=str(toy_csv), out=tmp_path / "out", max_steps=3, max_test="all", max_val=50, dedupe=True)
    err = capsys.readouterr().err
    assert (f"keywords override {str(path)!r}: max_steps=3 replaces max_steps = 6 in [train]; max_test='all' replaces "
            "max_test = 200 in [split]; max_val=50 replaces max_val = 100 in [split]; dedupe=True replaces dedupe = "
            "false in [split]") in err, err
    assert (calls[0][0].split.max_test, calls[0][0].split.max_val, calls[0][0].split.dedupe) == ("all", 50, True)
    _python(path, data=str(toy_csv), out=tmp_path / "out", dedupe=False)  # dedupe=False sets nothing: the file's holds
    assert "override" not in capsys.readouterr().err


def test_a_split_keyword_over_the_files_split_table_is_said(tmp_path, monkeypatch, capsys, toy_csv):
    """``compare(config=FILE, split={...})`` set its fields over the file's [split], and a SplitConfig replaced the
    whole table, both unsaid (a keyword replacing one field of it is said)."""
    from headstart.data.splits import SplitConfig

    calls = _captured(monkeypatch)
    path = tmp_path / "sweep.toml"
    path.write_text('strategies = ["linear-probe"]\nsizes = [16]\nseeds = 1\n[split]\ntest_fraction = 0.2\nmax_test = 200\n')
    _python(path, data=str(toy_csv), out=tmp_path / "out", split={"test_fraction": 0.3, "max_test": 200})
    err = capsys.readouterr().err
    assert (f"keywords override {str(path)!r}: split['test_fraction']=0.3 replaces test_fraction = 0.2 in [split]"
            in err and "max_test" not in err), err  # the same value replaces nothing to say
    assert (calls[-1][0].split.test_fraction, calls[-1][0].split.max_test) == (0.3, 200)
    _python(path, data=str(toy_csv), out=tmp_path / "out", split=SplitConfig(test_fraction=0.25))
    err = capsys.readouterr().err
    assert f"split=SplitConfig(...) replaces [split] of {str(path)!r} (its test_fraction = 0.2, max_test = 200)" in err, err


def test_a_files_test_data_is_every_runs_test_split_from_both_surfaces(tmp_path, monkeypatch, capsys, toy_csv):
    """test_data = "held.csv" in a sweep file is --test-data: the compare's test split is that file, from the CLI as from
    Python (it was refused as an unknown key, so a file could not say what compare --test-data says)."""
    import pandas as pd

    held = tmp_path / "held.csv"
    pd.read_csv(toy_csv).head(40).to_csv(held, index=False)
    cli, python = _both(tmp_path, monkeypatch, capsys, toy_csv, f'strategies = ["linear-probe"]\nsizes = [16]\n'
                        f'test_data = "{held}"\n', [])
    assert cli == python and str(cli.test_data) == str(held), cli.test_data


def test_a_files_test_data_must_be_a_string(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text("test_data = 5\n")
    with pytest.raises(ConfigError, match='test_data in .* must be a string like test_data = "test.csv", got 5'):
        headstart.compare(config=str(path), progress=False)
