"""A mistake's message names what the user typed: the CLI's flags from the CLI ("try --n 64"), the function's
parameters from Python ("try n=64"), rewritten at the public function's boundary (``headstart.python_checks.python_named``)."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest

import headstart
from headstart.errors import ConfigError, HeadstartError
from headstart.surface import SURFACE_ENV, python_names

NAMES = {"n", "tta", "oracle", "arms", "max_test", "tune", "lr", "ways", "text_column", "options", "strategies", "data", "measured", "backbone"}


@pytest.mark.parametrize("message, python", [
    ("--n 0 gives each task no labelled rows; try --n 64", "n=0 gives each task no labelled rows; try n=64"),
    ("--arms is empty; try --arms naive,ewc", "arms is empty; try arms='naive,ewc'"),
    ("got 'x'; e.g. --max-test 1000", "got 'x'; e.g. max_test=1000"),
    ("try --tune lr, a higher --lr or more steps", "try tune='lr', a higher lr or more steps"),
    ("no text column; pass --text-column NAME", "no text column; pass text_column=NAME"),
    ("draw more pairs (--option iterations=…) or try --tune lr", "draw more pairs (options={'iterations': …}) or try tune='lr'"),
    ("use --n 9934 or --n all", "use n=9934 or n='all'"),
    ("a regression dataset (pass --tune lr if so)", "a regression dataset (pass tune='lr' if so)"),
    ("--arm and --size choose what --measured reads", "--arm and --size choose what measured reads"),  # not parameters here
    ("lr must be > 0, got -1; try --lr 5e-5.", "lr must be > 0, got -1; try lr=5e-5."),
    ("use --data a.csv instead", "use data='a.csv' instead"),
    ("pass its folder: --backbone /path/to/model (built-in: x)", "pass its folder: backbone='/path/to/model' (built-in: x)"),
    ("drop scratch from the sweep, or drop --tta bn-adapt", "drop scratch from the sweep, or drop tta='bn-adapt'"),
    ("drop --oracle (without it, a mapped target has no oracle)", "drop oracle (without it, a mapped target has no oracle)"),
    # a quoted value the message goes on from with a colon (eval_data's brackets on a built-in dataset)
    ("--data 'drug-reviews': [text=x] names a file's columns", "data='drug-reviews': [text=x] names a file's columns"),
    ("--arm 'x': not this function's", "--arm 'x': not this function's"),
    # left as the CLI's: a quoted value with spaces, a shell command quoted in the message, punctuation, flag lists
    ("e.g. --data 'reviews[negative=fresh, positive=rotten]'", "e.g. --data 'reviews[negative=fresh, positive=rotten]'"),
    ("merge it: headstart adapters merge DIR --data X --n 3; or try --n 4", "merge it: headstart adapters merge DIR --data X --n 3; or try n=4"),
    ("bad --data lora=1e-4: not a number", "bad --data lora=1e-4: not a number"),
    ("drop --data linear-probe=..", "drop --data linear-probe=.."),
    ("pass --text-column/--n/--data", "pass --text-column/--n/--data"),
])
def test_flags_become_parameters_values_stay_values_and_prose_stays_prose(message, python):
    assert python_names(message, NAMES) == python


def test_the_public_functions_stay_picklable_and_name_parameters():
    import pickle

    for function in (headstart.fit, headstart.evaluate, headstart.predict, headstart.rank_backbones, headstart.check_leakage):
        assert pickle.loads(pickle.dumps(function)) is function
    with pytest.raises(ConfigError, match=r"^split must be 'test' or 'val'.*; e.g. split='val'$"):
        headstart.evaluate("unused", split="bad")


def test_a_fit_results_own_methods_name_parameters_too():
    """``headstart.fit(...).evaluate(split=...)``: the result's methods are Python surface as the functions are."""
    import dataclasses

    from headstart.api import FitResult

    fields = {f.name: None for f in dataclasses.fields(FitResult)}
    result = FitResult(**{**fields, "status": "done"})
    with pytest.raises(ConfigError, match=r"^split must be 'test' or 'val'.*; e.g. split='val'$"):
        result.evaluate(split="bad")


def test_python_names_parameters_the_cli_names_flags_and_the_cli_leaves_no_mark(monkeypatch, capsys, tmp_path):
    from tests.conftest import run_cli

    with pytest.raises(ConfigError) as python:
        headstart.fit(n=-5, out=tmp_path / "x")
    assert "try n=64" in str(python.value) and "--n" not in str(python.value)
    code, _, err = run_cli(["train", "--n", "-5", "--out", str(tmp_path / "x")], monkeypatch, capsys)
    assert code == 2 and "try --n 64" in err
    assert SURFACE_ENV not in os.environ  # reset when the command closed: the next Python call is Python again
    with pytest.raises(ConfigError, match="try n=64"):
        headstart.fit(n=-5, out=tmp_path / "x")


def test_the_cli_marks_the_worker_processes_it_starts(monkeypatch, capsys):
    """Workers raise the errors the CLI prints: they inherit the mark, so a worker's load_backbone names --flags."""
    import headstart.api

    seen = []

    def fit(*args, **kwargs):
        seen.append(os.environ.get(SURFACE_ENV))
        raise ConfigError("stopped")

    monkeypatch.setattr(headstart.api, "fit", fit)
    from tests.conftest import run_cli

    run_cli(["train", "--out", "unused"], monkeypatch, capsys)
    assert seen == ["cli"]


def test_a_column_error_from_python_names_the_parameter(tmp_path):
    path = tmp_path / "odd.csv"
    pd.DataFrame({"a": ["x y", "y z"] * 20, "b": ["p", "q"] * 20, "c": ["u v", "w t"] * 20}).to_csv(path, index=False)
    with pytest.raises(HeadstartError) as caught:
        headstart.fit(str(path), out=tmp_path / "run")
    assert "text_column=" in str(caught.value) and "--text-column" not in str(caught.value)


def test_parse_sizes_names_sizes_to_python_and_the_flag_to_the_cli(monkeypatch):
    from headstart.sweep_spec import parse_sizes

    with pytest.raises(ConfigError, match=r"^sizes entry 'x' is not a non-negative integer or 'all'; e.g. sizes='0,8,16,32,all'$"):
        parse_sizes("8,x")
    with pytest.raises(ConfigError, match=r"^sizes must be text like '8,16,all' or a list of sizes, got 1.5; e.g. sizes="):
        parse_sizes(1.5)
    monkeypatch.setenv(SURFACE_ENV, "cli")
    with pytest.raises(ConfigError, match=r"^--sizes entry 'x' is not a non-negative integer or 'all'; e.g. --sizes 0,8,16,32,all$"):
        parse_sizes("8,x")


def test_a_training_setting_passed_as_a_keyword_names_config():
    """``headstart.continual(..., warmup=0.2)`` mirrors a TrainConfig field that continual has no flag (and so no
    keyword) for; Python takes it in ``config``: a TypeError named no way there, this names the call that works. (Its
    flags' fields, ``max_steps`` and the like, are keywords: tests/test_api_keywords.py.)"""
    with pytest.raises(ConfigError, match=r"^continual\(\) takes these settings through config, not as keywords: "
                                          r"config=\{'warmup': 0.2\}$"):
        headstart.continual("permuted-mnist", warmup=0.2)
    with pytest.raises(ConfigError, match=r"^sft\(\) takes these settings through config.*config=\{'epochs': 0\}$"):
        headstart.sft(epochs=0)  # SftConfig's field, by the annotation of sft's config
    with pytest.raises(ConfigError, match=r"^meta_train\(\) takes these settings through config.*config=\{'ways': 1\}$"):
        headstart.meta_train("unused", ways=1)
    with pytest.raises(ConfigError, match=r"^lr is given twice, as lr=0\.001 and in config \(lr=0\.0001\); give it "
                                          r"one way, e\.g\. lr=0\.001$"):
        headstart.fit("rotten-tomatoes", config={"lr": 1e-4}, lr=1e-3)  # fit takes its flags as keywords too
    with pytest.raises(ConfigError, match=r"^fit\(\) has no keyword 'colour'.* \(its keywords: data, backbone, "):
        headstart.fit("rotten-tomatoes", colour="red")  # not a setting: the keywords it takes


PUBLIC_FUNCTIONS = sorted(name for name in headstart.__all__
                          if callable(getattr(headstart, name)) and not isinstance(getattr(headstart, name), type))


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_every_public_function_names_an_unknown_keyword(name):
    """A notebook user's ``multitask(option=...)`` was Python's bare TypeError; every function headstart exports
    refuses an unknown keyword with a ConfigError naming the function, the keyword and the ones it takes."""
    with pytest.raises(ConfigError, match=rf"^{name}\(\) has no keyword 'colour'.* \((its keywords: |it takes none)"):
        getattr(headstart, name)(colour="red")


@pytest.mark.parametrize("call, keyword, meant", [
    ("multitask", "option", "did you mean 'options'?"),  # the CLI's --option
    ("multitask", "strategy_options", "did you mean 'options'?"),  # what a stored multitask config calls it
    ("fit", "option", "did you mean 'options'?"),
    ("compare", "grid", "did you mean 'grids'?"),  # fit's spelling
    ("fit", "grids", "did you mean 'grid'?"),
    ("compare", "strategy", "did you mean 'strategies'?"),
    ("continual", "strategies", "did you mean 'arms' or 'strategy'?"),
    ("adapt", "arms", "did you mean 'methods'?"),  # continual's and compare's spelling
    ("continual", "methods", "did you mean 'arms'?"),
    ("compare", "quiet", "progress=False is the CLI's --quiet"),
    ("report", "metrics", "did you mean 'metric'?"),  # no other spelling: the closest
])
def test_an_unknown_keyword_names_the_spelling_this_function_takes(call, keyword, meant):
    with pytest.raises(ConfigError, match=rf"^{call}\(\) has no keyword {keyword!r}; {re.escape(meant)} \(its keywords: "):
        getattr(headstart, call)(**{keyword: "x"})


@pytest.mark.parametrize("call, args, given, meant", [
    # the options / config route, where the closest keyword was a wrong guess ('retain', 'max_test')
    # (train's flags, rank and max_steps among them, are fit's keywords: tests/test_api_keywords.py)
    ("fit", dict(strategy="tfidf-logreg", n=16), dict(max_iter=50), "it is a strategy option: options={'max_iter': 50}"),
    ("fit", dict(strategy="setfit"), dict(iteration=4), "did you mean options={'iterations': 4} or 'retrain'?"),
    ("fit", dict(strategy="lora"), dict(max_iter=50),
     "did you mean options={'max_iter': 50} (an option of embed-logreg, tfidf-logreg, setfit, not of 'lora') or 'max_test'?"),
    ("fit", dict(strategy="lora"), dict(ranks=4), "did you mean 'rank'?"),  # a keyword of its own
    ("fit", {}, dict(max_step=3), "did you mean 'max_steps'?"),
    ("compare", dict(strategies=["lora"]), dict(rank=4), "it is a strategy option: options={'lora': {'rank': 4}}"),
    ("compare", {}, dict(max_step=3), "did you mean 'max_steps'?"),  # a keyword of its own
    ("continual", {}, dict(lr_warmup=0.1), "did you mean config={'warmup': 0.1}?"),
    ("adapt", dict(target="b"), dict(max_step=3), "did you mean 'max_steps'?"),
])
def test_an_unknown_keyword_that_is_an_option_or_setting_names_that_route(call, args, given, meant):
    """fit(data, strategy='lora', rank=4) said "did you mean 'retain'?"; fit(max_step=3) "did you mean 'max_test'?"."""
    with pytest.raises(ConfigError, match=rf"^{call}\(\) has no keyword {next(iter(given))!r}; {re.escape(meant)} \(its keywords: "):
        getattr(headstart, call)("rotten-tomatoes", **args, **given)


@pytest.mark.parametrize("given, python, cli", [
    (dict(strategies=()), "strategies is empty; e.g. strategies=('scratch', 'linear-probe', 'full-finetune')",
     "--strategies is empty; e.g. --strategies scratch,linear-probe,full-finetune"),
    (dict(sizes=()), "sizes is empty; e.g. sizes=(8, 16, 32, 64, None)", "--sizes is empty; e.g. --sizes 8,16,32,64,all"),
    (dict(seeds=0), "seeds must be a positive integer, got 0; try seeds=5",
     "--seeds must be a positive integer, got 0; try --seeds 5"),
    (dict(strategies=("lora",), tune=None, grids={"lora": [1e-4, 3e-4]}),
     "grids lists the learning rates tune searches, but tuning is off (tune=None); drop one",
     "--grid lists the learning rates --tune searches, but tuning is off (--no-tune); drop one"),
    (dict(tune="x"), "tune must be 'lr' (the learning rate, chosen on validation) or None (no tuning; True and False mean these two), got 'x'; try tune='lr'",
     "--tune must be 'lr' (the learning rate, chosen on validation), got 'x'; try --tune lr"),  # "tune must be" before
    (dict(eval_data=("",)), "eval_data must be a list of dataset names, got ('',); e.g. eval_data=('drug-reviews-sentiment',)",
     "--eval-data must be a list of dataset names, got ('',); e.g. --eval-data drug-reviews-sentiment"),
])
def test_a_sweep_spec_built_from_python_names_its_fields_and_from_the_cli_its_flags(monkeypatch, given, python, cli):
    """SweepSpec is built by ``headstart compare`` and by Python callers alike: each is told what it wrote."""
    from headstart.sweep_spec import SweepSpec

    with pytest.raises(ConfigError) as caught:
        SweepSpec(**given)
    assert str(caught.value) == python
    monkeypatch.setenv(SURFACE_ENV, "cli")
    with pytest.raises(ConfigError) as caught:
        SweepSpec(**given)
    assert str(caught.value) == cli


def test_compare_from_python_names_grids_not_the_grid_flag(tmp_path):
    """compare's ``grids`` reached SweepSpec's checks, which answered ``--grid lora=`` to a Python caller."""
    with pytest.raises(ConfigError) as caught:
        headstart.compare(strategies="linear-probe", sizes="16", grids={"lora": [1e-4, 3e-4]}, out=tmp_path / "out")
    assert str(caught.value).startswith("grids['lora']: 'lora' is not in strategies (linear-probe); name one of them, "
                                        "e.g. grids={'linear-probe': (2e-5, 5e-5, 1e-4)}"), str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_column_argument_for_a_built_in_dataset_names_the_argument_given(monkeypatch, capsys, tmp_path):
    """The refusal listed every reading flag (--text-column/--label-column/...), none of them what a Python caller wrote."""
    from tests.conftest import assert_user_error, run_cli

    with pytest.raises(HeadstartError) as caught:
        headstart.fit(data="rotten-tomatoes", text_column="x", out=tmp_path / "run")
    assert str(caught.value) == ("text_column='x' applies to files, not to the built-in dataset 'rotten-tomatoes', whose "
                                 "columns and task are fixed; drop it")
    assert_user_error(run_cli(["train", "--data", "rotten-tomatoes", "--text-column", "x", "--out", str(tmp_path / "run")],
                              monkeypatch, capsys),
                      "--text-column 'x' applies to files, not to the built-in dataset 'rotten-tomatoes'")


def test_class_weights_for_an_arm_with_nothing_to_weigh_is_refused_on_both_surfaces(monkeypatch, capsys, tmp_path):
    """train --strategy embed-knn --class-weights balanced trained unweighted, unsaid (a vote has no loss to weigh), and
    a run that learned nothing was then told to 'try --class-weights balanced'."""
    from tests.conftest import assert_user_error, run_cli

    assert_user_error(run_cli(["train", "--strategy", "embed-knn", "--class-weights", "balanced", "--out",
                               str(tmp_path / "a")], monkeypatch, capsys),
                      "--class-weights balanced: embed-knn has no loss or fit to weigh classes in")
    with pytest.raises(ConfigError, match=r"^config's class_weights='balanced': zero-shot has no loss or fit .*; drop it$"):
        headstart.fit(strategy="zero-shot", config={"class_weights": "balanced"}, out=tmp_path / "b")


def test_settings_a_closed_form_strategy_ignores_and_a_cache_part_are_named_in_python_words(monkeypatch, capsys, tmp_path):
    """'--lr: tfidf-logreg is fitted in closed form', '--tune lr: ...; drop --tune' and '(e.g. --clear temp)' reached
    Python callers as the CLI wrote them: the punctuation after each flag kept python_named from rewriting it."""
    from tests.conftest import assert_user_error, run_cli

    with pytest.raises(ConfigError, match=r"^config's lr, max_steps: tfidf-logreg is fitted in closed form, .*; drop them$"):
        headstart.fit(strategy="tfidf-logreg", config={"lr": 1e-3, "max_steps": 3}, out=tmp_path / "a")
    with pytest.raises(ConfigError, match=r"^tune='lr': tfidf-logreg has no learning rate to search .*; drop tune$"):
        headstart.fit(strategy="tfidf-logreg", tune="lr", out=tmp_path / "a")
    assert_user_error(run_cli(["train", "--strategy", "tfidf-logreg", "--lr", "1e-3", "--out", str(tmp_path / "a")],
                              monkeypatch, capsys), "--lr: tfidf-logreg is fitted in closed form")
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"unknown cache part 'feature'; .* \(e\.g\. clear_cache\('temp'\)\)$"):
        headstart.clear_cache("feature")
    assert_user_error(run_cli(["cache", "--clear", "feature"], monkeypatch, capsys), "(e.g. --clear temp)")


def test_an_unknown_report_to_gives_one_hint_in_the_callers_words(monkeypatch, capsys, tmp_path):
    """``fit(report_to='x')`` hinted twice: "e.g. report_to='mlflow' (report_to='mlflow' in Python)"."""
    from tests.conftest import assert_user_error, run_cli

    with pytest.raises(ConfigError) as caught:
        headstart.fit(report_to="x", out=tmp_path / "run")
    assert str(caught.value) == "report_to takes 'mlflow', got 'x'; e.g. report_to='mlflow'"
    code, _, err = run_cli(["train", "--report-to", "x", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error((code, _, err), "--report-to takes 'mlflow', got 'x'; e.g. --report-to mlflow")
    assert "Python" not in err and not (tmp_path / "run").exists()


def test_load_dataset_speaks_python_to_python_and_its_flags_to_headstarts_own_callers(tmp_path, monkeypatch, capsys):
    """``headstart.load_dataset`` is public, yet said "--task must be one of ..." and "pass --text-column NAME" from
    Python. adapt and multitask call it too and rewrite its flags their own way, so from inside headstart it keeps them."""
    from headstart.errors import ColumnError
    from headstart.python_checks import python_named
    from headstart.multitask.tasks import load_tasks
    from tests.conftest import assert_user_error, run_cli

    path = tmp_path / "t.csv"
    pd.DataFrame({"text": [f"review {i}" for i in range(20)], "label": ["a", "b"] * 10}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"^task must be one of classification, .*, got 'bad'; e.g. task='classification'$"):
        headstart.load_dataset(str(path), task="bad")
    with pytest.raises(ColumnError) as caught:
        headstart.load_dataset(str(path), text_column="zz")
    assert str(caught.value).endswith("(columns: text, label); pass text_column=NAME")
    assert caught.value.problem == f"text column 'zz' not found in {str(path)!r} (columns: text, label)"
    assert_user_error(run_cli(["train", "--data", str(path), "--task", "bad", "--out", str(tmp_path / "r")], monkeypatch, capsys),
                      "--task must be one of", "e.g. --task classification")
    with pytest.raises(HeadstartError, match=r"drop :regression from .*t.csv:label:regression' in --tasks"):
        load_tasks(f"{path}:label:regression,{path}:label")  # multitask still finds the --task it rewrites

    @python_named
    def read(text_column: str) -> None:
        raise ColumnError(f"text column {text_column!r} not found (see --text-column)", "text")

    with pytest.raises(ColumnError) as caught:  # the renaming overwrote problem with the whole message, fix and all
        read("zz")
    assert caught.value.problem == "text column 'zz' not found (see text_column)"
    assert str(caught.value) == "text column 'zz' not found (see text_column); pass text_column=NAME"


def test_a_config_fields_flag_is_named_from_python_in_checks_outside_the_config_class(tmp_path):
    """prefer's check of its start (an sft run of another strategy) names --strategy / --sft, which Python sets as
    config fields: renamed as the config's own checks are, not left as flags Python has not got."""
    start = tmp_path / "fsft"
    start.mkdir()
    (start / "spec.json").write_text('{"kind": "sft", "strategy": "lora", "backbone": "smollm2-135m", "base": "x"}')
    with pytest.raises(ConfigError) as raised:
        headstart.prefer(out=tmp_path / "p", config={"sft": str(start), "strategy": "qlora"})
    assert "strategy qlora differs from the sft run's (lora)" in str(raised.value)
    assert "--" not in str(raised.value), str(raised.value)


def test_a_missing_backbone_folder_is_named_as_the_caller_gave_it(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """fit(backbone=...) and compare(backbones=...) said "--backbone '...'", the CLI's flag; compare --backbones said
    --backbone, a flag its list is not given by."""
    from conftest import assert_user_error, run_cli

    from headstart.errors import BackboneError

    missing = str(tmp_path / "no" / "encoder")
    with pytest.raises(BackboneError, match=f"^backbone={re.escape(repr(missing))}: no such folder"):
        headstart.fit(data=str(toy_csv), backbone=missing, out=tmp_path / "f")
    with pytest.raises(BackboneError, match=f"^backbones names {re.escape(repr(missing))}: no such folder"):
        headstart.compare(data=str(toy_csv), backbones=f"tiny,{missing}", sizes=16, seeds=1, out=tmp_path / "p")
    capsys.readouterr()  # the Python compare's own leakage warning (its split's test rows duplicate training rows)
    assert_user_error(run_cli(["compare", "--data", str(toy_csv), "--backbones", f"tiny,{missing}", "--sizes", "16",
                               "--seeds", "1", "--out", str(tmp_path / "c")], monkeypatch, capsys),
                      f"--backbones names {missing!r}: no such folder")
    assert_user_error(run_cli(["train", "--data", str(toy_csv), "--backbone", missing, "--out", str(tmp_path / "t")],
                              monkeypatch, capsys), f"--backbone {missing!r}: no such folder")


def test_load_backbone_called_from_python_names_its_own_parameter(tmp_path):
    """headstart.load_backbone('path/x') said "--backbone 'path/x'", a flag it is not given by."""
    from headstart.errors import BackboneError

    missing = str(tmp_path / "no" / "encoder")
    with pytest.raises(BackboneError, match=f"^name_or_path={re.escape(repr(missing))}: no such folder"):
        headstart.load_backbone(missing)
    with pytest.raises(BackboneError, match="^name_or_path='.*' is a file; give the model's folder"):
        headstart.load_backbone(__file__)


def test_a_strategy_options_refusal_in_compare_names_the_fix_compare_takes(toy_csv, tiny_registry, tmp_path, monkeypatch,
                                                                           capsys):
    """compare --option lora.rank=0 said "try --option rank=8", which compare refuses (its options name their
    strategy); Python's compare was told options={'rank': 8}, another strategy-less table."""
    from conftest import assert_user_error, run_cli

    assert_user_error(run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "lora",
                               "--option", "lora.rank=0", "--sizes", "16", "--seeds", "1", "--out", str(tmp_path / "c")],
                              monkeypatch, capsys),
                      "rank must be a positive integer, got 0; try --option lora.rank=8")
    with pytest.raises(ConfigError, match=r"got 0; try options=\{'lora': \{'rank': 8\}\}$"):
        headstart.compare(data=str(toy_csv), backbone="tiny", strategies="lora", options={"lora": {"rank": 0}}, sizes=16,
                          seeds=1, out=tmp_path / "p")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
