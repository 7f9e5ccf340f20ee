"""The Python API mirrors the CLI: each command's flags are keywords of its function (or a deliberate difference, listed
and said why), and the training flags of adapt / continual / multitask / compare are keywords over ``config``."""

from __future__ import annotations

import inspect

import pytest
from conftest import assert_user_error, run_cli

from headstart.errors import ConfigError


@pytest.mark.parametrize("command, flags", [
    (["continual", "--stream", "text", "--arms", "naive", "--n", "8", "--seeds", "1"],
     {"lr": 1e-4, "head_lr": 1e-2, "epochs": 2, "min_steps": 3, "max_steps": 5, "image_size": 32}),
    (["multitask", "--tasks", "drug-reviews,drug-reviews-sentiment", "--weighting", "equal", "--n", "8", "--seeds", "1"],
     {"lr": 1e-4, "head_lr": 1e-2, "epochs": 2, "min_steps": 3, "max_steps": 5, "batch_size": 8}),
])
def test_continual_and_multitask_take_their_training_flags_as_keywords(command, flags, tmp_path, monkeypatch, capsys):
    """``headstart continual --max-steps 5 ...`` is ``continual(..., max_steps=5)`` (it was reachable only through
    ``config``): the same training settings, a keyword over ``config``'s field, a floor above the cap refused."""
    import headstart.outdir

    trained = []

    def captured(out, name, settings, **kwargs):
        trained.append(settings["train"])
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.outdir, "check_same_report", captured)
    monkeypatch.setattr(headstart.continual, "check_same_report", captured)
    typed = [f for k, v in flags.items() for f in (f"--{k.replace('_', '-')}", str(v))]
    assert_user_error(run_cli([*command, "--out", str(tmp_path / "cli"), "-q", *typed], monkeypatch, capsys), "captured")
    function = getattr(headstart, command[0])
    given = {"stream": "text", "arms": "naive"} if command[0] == "continual" else {
        "tasks": "drug-reviews,drug-reviews-sentiment", "weighting": "equal"}
    with pytest.raises(ConfigError, match="^captured$"):
        function(**given, n=8, seeds=1, out=tmp_path / "py", config={"max_steps": 99, "clip": 0.5}, **flags)
    cli, python = trained
    assert python == {**cli, "clip": 0.5} and python["max_steps"] == 5
    with pytest.raises(ConfigError, match=r"min_steps=9 is above max_steps=5"):
        function(**given, n=8, seeds=1, out=tmp_path / "py2", min_steps=9, max_steps=5)


# Each command and the function that mirrors it (README: "Every command has its function, named like it").
FUNCTIONS = {"train": "fit", "evaluate": "evaluate", "predict": "predict", "compare": "compare", "adapt": "adapt",
             "check-leakage": "check_leakage", "runs": "runs", "report": "report", "continual": "continual",
             "multitask": "multitask", "export": "export", "rank-backbones": "rank_backbones", "sft": "sft",
             "prefer": "prefer", "generate": "generate", "meta-train": "meta_train", "strategies": "strategies",
             "backbones": "backbones", "datasets": "datasets", "cache": "cache_info",
             "adapters list": "adapters.find", "adapters show": "adapters.inspect", "adapters merge": "adapters.merge",
             "adapters unmerge": "adapters.unmerge"}
# A flag whose keyword is spelt otherwise (python_checks.OTHER_SPELLINGS names these to a caller who types the flag's),
# each for a reason: --quiet is the negation of progress (which also takes a function); a repeated --option KEY=VALUE is
# one dict, options; strategies_ is typer's name for --strategies; a repeated --prompt is a list, prompts;
RENAMED = {"quiet": "progress", "option": "options", "strategies_": "strategies", "prompt": "prompts"}
# compare's repeated --grid STRATEGY=V1,V2 is one dict by strategy, grids (fit's grid is one strategy's list of rates);
# export's --run is its first positional, directory; adapters list's repeated path is a list, paths.
RENAMED_IN = {("compare", "grid"): "grids", ("export", "run"): "directory", ("adapters list", "paths"): "paths"}
# Deliberate differences: a flag with no keyword of its function, and why. ("*", flag): every command's.
NO_KEYWORD = {
    ("*", "as_json"): "a call returns the data --json prints",
    ("train", "no_tune"): "tune=None is --no-tune",
    ("evaluate", "quiet"): "progress=True is the CLI's bar; None (the default) none, as a callback's default",
    ("predict", "inputs"): "texts=[...] or a DataFrame is the rows; headstart.data.read_inputs(path) reads a file or stdin as --inputs",
    ("predict", "out"): "a call returns the predictions; the caller writes them",
    ("predict", "overwrite"): "goes with --out",
    ("predict", "adapter_dir"): "AdapterSet().add(dir).predict(texts, adapter=name) serves several adapters",
    ("predict", "adapter"): "AdapterSet.predict(texts, adapter=name)",
    ("runs", "to_mlflow"): "headstart.tracking.log_store(directory)",
    ("runs", "mlflow_uri"): "headstart.tracking.log_store(directory, uri=...)",
    ("datasets", "install"): "headstart.install_datasets(names)",
    ("cache", "clear"): "headstart.clear_cache(kind)",
    ("adapters merge", "base"): "a plain PEFT adapter merges by headstart.adapters.merge_base(directory, out, base=...)",
    ("sft", "quiet"): "progress as evaluate's", ("prefer", "quiet"): "progress as evaluate's",
    ("predict", "quiet"): "it drops the CLI's 'wrote N predictions' line; a call returns them and prints none",
    ("report", "quiet"): "it drops the CLI's summary lines; a call returns the report's paths and prints none",
}
# The flags a function takes through its ``config`` (one settings dataclass, README: "a function's config goes in as
# its dataclass or a dict of its fields"): sft's / prefer's / meta-train's every setting. (train's are fit's keywords.)
THROUGH_CONFIG = {"sft", "prefer", "meta-train"}
# A keyword whose default reads differently from the flag's but means the same, or means "the config's value".
SAME_DEFAULT = {
    ("adapt", "tune"): "True is 'lr'", ("adapt", "bn"): "None: config's bn, 'auto' by default",
    ("meta-train", "setting"): "None: config's base and novel, cross-domain's by default",
    ("train", "out"): "None saves nothing: a call returns the run in memory",
    ("sft", "out"): "as train's", ("prefer", "out"): "as train's",
}


def _norm(value):
    """A default as text: a Path, a tuple (``"a,b"``), a number and ``"all"`` (None) read as the CLI's text does."""
    from pathlib import Path

    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    if value == "all" or value is None:
        return "None"
    return str(value) if isinstance(value, (Path, int, float)) and not isinstance(value, bool) else value


def _function(name):
    import headstart

    found = headstart
    for part in name.split("."):
        found = getattr(found, part)
    return inspect.signature(found).parameters, found


def test_every_flag_of_a_command_is_a_keyword_of_its_function_or_a_listed_difference():
    """A new flag without its keyword (or a keyword whose default differs from the flag's) fails here: add the
    keyword, or list the difference above with its reason."""
    from typer.main import get_command

    from headstart.cli.common import app
    from headstart.python_checks import settings_of
    from headstart.train_keywords import routed

    root = get_command(app)
    commands = {}
    for name, command in root.commands.items():
        for sub, leaf in getattr(command, "commands", {None: command}).items():
            commands[f"{name} {sub}" if sub else name] = leaf
    assert set(commands) == set(FUNCTIONS), "a new command: name its function in FUNCTIONS"
    missing, differ = [], []
    for name, command in commands.items():
        parameters, function = _function(FUNCTIONS[name])
        fields = settings_of(function) if name in THROUGH_CONFIG else set()
        routes = routed(function)  # fit's and compare's training flags: None is config's (or options') value
        for flag in command.params:
            keyword = RENAMED_IN.get((name, flag.name), RENAMED.get(flag.name, flag.name))
            if (name, flag.name) in NO_KEYWORD or ("*", flag.name) in NO_KEYWORD or flag.name in fields:
                continue
            if keyword not in parameters:
                missing.append(f"{name} --{flag.name}")
                continue
            default = parameters[keyword].default
            if keyword in routes:
                if default is not None:
                    differ.append(f"{name} --{flag.name}: a routed keyword defaults to {default!r}, not None")
            elif keyword == "progress":  # --quiet off is progress on: None (on where someone watches) or True
                if default not in (None, True):
                    differ.append(f"{name} --quiet: progress={default!r}")
            elif flag.default is not None and (name, flag.name) not in SAME_DEFAULT and \
                    _norm(flag.default) != _norm(default) and default is not inspect.Parameter.empty:
                differ.append(f"{name} --{flag.name}: CLI {flag.default!r}, Python {default!r}")
    assert not missing, f"flags without a keyword (add one, or list it in NO_KEYWORD with why): {missing}"
    assert not differ, f"defaults that differ (align them, or list them in SAME_DEFAULT with why): {differ}"


def test_evaluate_sft_and_prefer_take_progress_true_as_the_clis_bar(tmp_path, monkeypatch):
    """``evaluate(run, progress=True)`` (the CLI's bar, which --quiet turns off) called True as a function mid-way
    (TypeError: 'bool' object is not callable); it draws the bar now, and a progress that is no bool, None or function is
    refused by name before anything runs."""
    import contextlib

    import headstart.api
    import headstart.loaded
    import headstart.progress
    import headstart.saved

    drawn = []

    @contextlib.contextmanager
    def bar(description, *, enabled=True):
        yield (lambda done, total, info: drawn.append((description, done, total))) if enabled else None

    monkeypatch.setattr(headstart.progress, "progress_bar", bar)
    monkeypatch.setattr(headstart.api, "_is_lm_run", lambda run: False)
    monkeypatch.setattr(headstart.saved, "load_run", lambda run: run)
    monkeypatch.setattr(headstart.loaded, "evaluate_loaded",
                        lambda run, split, progress: (progress and progress("scoring the test split", 5, 10))
                        or {"accuracy": 1.0})
    assert headstart.api.evaluate("runs/x", progress=True) == {"accuracy": 1.0} and drawn == [("evaluate", 5, 10)]
    assert headstart.api.evaluate("runs/x", progress=False) == {"accuracy": 1.0} and len(drawn) == 1
    fitted = headstart.api.FitResult(key="k", out=None, status="done", val_metrics={}, steps=1, best_step=1,
                                     train_seconds=0.0, trainable_params=1, total_params=1, error=None, _loaded=object())
    assert fitted.evaluate(progress=True) == {"accuracy": 1.0} and drawn[-1] == ("evaluate", 5, 10)  # the run in memory
    for call in (lambda: headstart.api.evaluate("runs/x", progress="yes"),
                 lambda: headstart.sft(out=tmp_path / "sft", progress="yes"),
                 lambda: headstart.prefer(out=tmp_path / "prefer", progress="yes")):
        with pytest.raises(ConfigError, match=r"^progress must be True \(a bar on stderr\), False, None or a function"):
            call()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("function, others", [("fit", ()), ("compare", ("train",))])
def test_fit_and_compare_take_every_training_flag_as_a_keyword(function, others):
    """``fit(max_steps=10)`` was refused ("takes these settings through config") and ``compare(lr=1e-3)`` too, while
    continual took lr: fit takes each of train's flags, compare each of compare's and of train's training settings,
    under the flag's own name (derived from the commands' options: a new flag without its keyword fails here)."""
    from typer.main import get_command

    import headstart
    from headstart.cli.common import app
    from headstart.specs import TrainConfig

    parameters = inspect.signature(getattr(headstart, function)).parameters
    commands = get_command(app).commands
    training = {f.name for f in __import__("dataclasses").fields(TrainConfig)}
    for command in (function if function != "fit" else "train", *others):
        flags = {f.name for f in commands[command].params}
        if command != function and function != "fit":  # train's flags compare shares: its training settings
            flags &= training
        lacking = [f for f in sorted(flags) if RENAMED_IN.get((command, f), RENAMED.get(f, f)) not in parameters
                   and (command, f) not in NO_KEYWORD and ("*", f) not in NO_KEYWORD]
        assert not lacking, f"{command}'s flags without a keyword of {function}(): {lacking}"


def test_fit_routes_its_training_keywords_into_config_and_options_as_the_dicts_would(monkeypatch):
    """``fit(lr=1e-3, max_steps=10, rank=4)`` is ``fit(config={'lr': 1e-3, 'max_steps': 10}, options={'rank': 4})``;
    one given both ways is refused, naming it; ``config=`` keeps working alone."""
    import headstart
    import headstart.api
    from headstart.specs import TrainConfig

    seen = []

    def captured(*args, **kwargs):
        seen.append((kwargs["config"], kwargs["options"]))
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api, "_start_up", captured)
    with pytest.raises(ConfigError, match="^captured$"):
        headstart.fit(strategy="lora", n=16, lr=1e-3, max_steps=10, rank=4, config={"clip": 0.5}, options={"alpha": 8})
    with pytest.raises(ConfigError, match="^captured$"):
        headstart.fit(strategy="lora", n=16, config={"lr": 1e-3, "max_steps": 10, "clip": 0.5},
                      options={"alpha": 8, "rank": 4})
    with pytest.raises(ConfigError, match="^captured$"):
        headstart.fit(strategy="lora", n=16, batch_size=8, config=TrainConfig(clip=0.5))
    keywords, dicts, dataclass = seen
    assert keywords == dicts == ({"clip": 0.5, "lr": 1e-3, "max_steps": 10}, {"alpha": 8, "rank": 4})
    assert dataclass[0] == TrainConfig(clip=0.5, batch_size=8)
    with pytest.raises(ConfigError, match=r"^max_steps is given twice, as max_steps=10 and in config \(max_steps=5\); "):
        headstart.fit(strategy="lora", n=16, max_steps=10, config={"max_steps": 5})
    with pytest.raises(ConfigError, match=r"^rank is given twice, as rank=4 and in options \(rank=8\); "):
        headstart.fit(strategy="lora", n=16, rank=4, options={"rank": 8})
    with pytest.raises(ConfigError, match=r"^batch_size is given twice"):
        headstart.fit(strategy="lora", n=16, batch_size=4, config=TrainConfig(batch_size=8))


def test_compare_routes_lr_and_batch_size_into_config(monkeypatch):
    """``compare(lr=1e-3, batch_size=8)`` was refused ("takes these settings through config"); it sets them in config as
    ``config={'lr': 1e-3, 'batch_size': 8}`` would, and one given both ways is refused."""
    import headstart
    import headstart.api_compare

    seen = []

    def captured(arguments, **kwargs):
        seen.append(arguments["config"])
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "built_sweep", captured)
    with pytest.raises(ConfigError, match="^captured$"):
        headstart.compare(strategies="linear-probe", sizes=16, seeds=1, lr=1e-3, batch_size=8, progress=False)
    assert seen == [{"lr": 1e-3, "batch_size": 8}]
    with pytest.raises(ConfigError, match=r"^lr is given twice"):
        headstart.compare(strategies="linear-probe", sizes=16, seeds=1, lr=1e-3, config={"lr": 1e-4}, progress=False)
