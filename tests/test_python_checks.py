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
    with pytest.raises(ConfigError, match=r"^evaluate\(\) takes split as its only positional argument, got 2; drop the "
                                          r"extra one$"):
        result.evaluate("test", "val")


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_every_public_function_refuses_one_positional_argument_too_many(name):
    function = getattr(headstart, name)
    takes = [p for p in inspect.signature(function).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    with pytest.raises(ConfigError, match=rf"^{name}\(\) takes .*, got {len(takes) + 1}; (give (the others|them) by keyword, "
                                          r"e\.g\. \w+=|drop the extra one$)"):
        function(*["x"] * (len(takes) + 1))
