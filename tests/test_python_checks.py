"""A public function called wrongly from Python: a ConfigError naming the call and the fix, not Python's bare TypeError."""

from __future__ import annotations

import inspect

import pytest

import headstart
from headstart.errors import ConfigError

PUBLIC_FUNCTIONS = sorted(name for name in headstart.__all__
                          if callable(getattr(headstart, name)) and not isinstance(getattr(headstart, name), type))


def test_too_many_positional_arguments_name_the_keywords_they_go_by():
    """``headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", "lora")`` said "fit() takes from 0 to 2 positional arguments
    but 3 were given", and not that strategy goes by keyword."""
    with pytest.raises(ConfigError) as raised:
        headstart.fit("rotten-tomatoes", "all-minilm-l6-v2", "lora", 64)
    assert str(raised.value) == ("fit() takes 2 positional arguments (data, backbone), got 4; give the others by keyword, "
                                 "e.g. strategy='lora', n=64")
    with pytest.raises(ConfigError, match=r"^continual\(\) takes stream as its only positional argument, got 2; give the "
                                          r"others by keyword, e.g. scenario='class'$"):
        headstart.continual("text", "class")
    with pytest.raises(ConfigError, match=r"^datasets\(\) takes no arguments, got 1; drop the extra one$"):
        headstart.datasets("rotten-tomatoes")


def test_a_fit_results_method_does_not_count_its_instance():
    import dataclasses

    from headstart.api import FitResult

    result = FitResult(**{**{f.name: None for f in dataclasses.fields(FitResult)}, "status": "done"})
    with pytest.raises(ConfigError, match=r"^evaluate\(\) takes split as its only positional argument, got 2; give the "
                                          r"others by keyword, e.g. progress='val'$"):
        result.evaluate("test", "val")


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_every_public_function_refuses_one_positional_argument_too_many(name):
    function = getattr(headstart, name)
    takes = [p for p in inspect.signature(function).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    with pytest.raises(ConfigError, match=rf"^{name}\(\) takes .*, got {len(takes) + 1}; (give (the others|them) by keyword, "
                                          r"e\.g\. \w+=|drop the extra one$)"):
        function(*["x"] * (len(takes) + 1))


def test_a_python_caller_sees_the_notes_the_cli_prints_in_its_own_words(tmp_path, monkeypatch, capsys):
    """``headstart.fit(pd.read_csv("messy.csv"))`` dropped empty texts and unlabelled rows without a word (only the CLI
    attached a handler to the notes): with no logging set up by the caller they print as the CLI's ``note:`` lines,
    flags as keywords, once for nested public calls; a caller's own handler (or level) takes them instead."""
    import logging

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as a script or notebook has it (pytest adds its own,
    for name in ["headstart", *logging.root.manager.loggerDict]:  # and a CLI test in this process leaves the CLI's)
        if name == "headstart" or name.startswith("headstart."):
            monkeypatch.setattr(logging.getLogger(name), "handlers", [])
            monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
            monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    path = tmp_path / "messy.csv"
    rows = [f"review {i} {'great fun' if i % 2 else 'dull and slow'},{'pos' if i % 2 else 'neg'}" for i in range(30)]
    path.write_text("review,verdict\n" + "\n".join(rows + [",pos"] * 5 + ["no label here,"] * 3) + "\n")
    headstart.load_dataset(str(path))
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == ["note: messy.csv: reading column 'verdict' as the label, the only column besides the text",
                     "note: messy.csv: dropped 5 rows with empty text", "note: messy.csv: dropped 3 rows with no label"]
    logger = logging.getLogger("headstart")
    assert not logger.handlers and logger.level == logging.NOTSET, "the caller's logging is left as it was"
    monkeypatch.setattr(logger, "level", logging.WARNING)  # the caller keeps them quiet
    headstart.load_dataset(str(path))
    assert "note:" not in capsys.readouterr().err
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    from headstart.python_checks import python_notes

    with python_notes({"n"}), python_notes({"n"}):  # fit calling load_dataset: one handler, each note once
        assert len(logger.handlers) == 1
        logging.getLogger("headstart.data.files").info("use --n 64")
    assert capsys.readouterr().err == "note: use n=64\n" and not logger.handlers
    child = logging.getLogger("headstart.data")  # a caller's own handler below headstart: its notes, printed once
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())
    monkeypatch.setattr(child, "handlers", [handler])
    monkeypatch.setattr(child, "level", logging.INFO)
    headstart.load_dataset(str(path))
    assert "note:" not in capsys.readouterr().err and any("dropped 5 rows" in m for m in seen)


@pytest.mark.parametrize("call, fix", [
    (lambda: headstart.runs("runs/x", to_mlflow=True), "; headstart.tracking.log_store(directory) is the CLI's runs --to-mlflow"),
    (lambda: headstart.datasets(install=["ag-news"]), "; headstart.install_datasets(names) is the CLI's datasets --install"),
    (lambda: headstart.cache_info(clear="temp"), "; headstart.clear_cache(kind) is the CLI's cache --clear"),
    (lambda: headstart.predict("runs/x", ["a"], adapter="b"), ".predict(texts, adapter=name) is the CLI's predict --adapter"),
    (lambda: headstart.export(run="runs/x", out="y"), "; did you mean 'directory'?"),
    (lambda: headstart.predict("runs/x", inputs=["a"]), "; did you mean 'texts'?"),
    (lambda: headstart.data.read_image_inputs("x.csv", column="img"), "; did you mean 'text_column'?"),
])
def test_a_flag_typed_as_a_keyword_is_told_the_call_that_does_it(call, fix):
    """``runs(DIR, to_mlflow=True)`` (the CLI's --to-mlflow) was told only the keywords runs takes, not that
    ``tracking.log_store`` is the call that logs; ``export(run=...)`` was not told its spelling ``directory``."""
    with pytest.raises(ConfigError) as raised:
        call()
    assert fix in str(raised.value), raised.value


def test_a_fit_error_names_a_setting_fit_takes_through_config_as_config():
    """A setting the caller gave in ``config`` reads ``config's max_steps``; one fit's fix names reads as the keyword
    fit takes for it (``head_lr=0.1``, train's ``--head-lr``)."""
    import headstart
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        headstart.fit("rotten-tomatoes", strategy="embed-knn", config={"max_steps": 3})
    assert str(e.value).startswith("config's max_steps: embed-knn is fitted in closed form"), e.value
    with pytest.raises(ConfigError) as e:
        headstart.fit("rotten-tomatoes", strategy="linear-probe", config={"lr": 0.1})
    assert "(e.g. head_lr=0.1)" in str(e.value), e.value  # a keyword of fit's, as train's --head-lr
