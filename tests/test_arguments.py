"""headstart.arguments: the values a caller passes (seeds, counts, sizes, rate grids, the Python API's settings) are
taken or refused with a message that names the value and the fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from headstart.arguments import as_table, as_items, check_count, check_once, check_seed, parse_grid, parse_n
from headstart.errors import ConfigError


@pytest.mark.parametrize("seed", [0, 2**63 - 1])
def test_a_seed_at_either_end_of_the_range_numpy_and_torch_take_is_taken(seed):
    check_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.0, "0"])
def test_a_seed_numpy_or_torch_would_refuse_or_misread_is_named_with_the_fix(seed):
    with pytest.raises(ConfigError, match=rf"^--seed must be an integer from 0 to 2\*\*63 - 1, got {seed!r}; try --seed 0$"):
        check_seed(seed)


def test_a_list_naming_a_value_twice_is_refused_with_the_list_and_all_for_none():
    check_once("--sizes", [16, 64, None], "size")
    with pytest.raises(ConfigError, match=r"^--sizes lists a size twice \(16, all, 16\); give each once$"):
        check_once("--sizes", [16, None, 16], "size")
    with pytest.raises(ConfigError, match=r"^--arms lists an arm twice \(ewc, ewc\)"):
        check_once("--arms", iter(["ewc", "ewc"]), "arm")  # any iterable: read once, into a list


@pytest.mark.parametrize("name, value, expected", [("max_new_tokens", 1, 1), ("n", None, None), ("n", "all", None),
                                                   ("n", " All ", None), ("epochs", None, None),
                                                   ("n", np.int64(64), 64)])
def test_a_count_of_at_least_one_or_none_is_taken(name, value, expected):
    """numpy's integers (a size taken from np.arange) count and come back as int, which JSON writes; "all" in any case,
    as parse_n reads it."""
    taken = check_count(name, value, example=8)
    assert taken == expected and type(taken) is type(expected)


@pytest.mark.parametrize("name, value, message", [
    ("max_new_tokens", 0, "--max-new-tokens must be a whole number >= 1, got 0; e.g. --max-new-tokens 8"),
    ("max_new_tokens", True, "--max-new-tokens must be a whole number >= 1, got True; e.g. --max-new-tokens 8"),
    ("max_new_tokens", 2.0, "--max-new-tokens must be a whole number >= 1, got 2.0; e.g. --max-new-tokens 8"),
    ("max_new_tokens", "all", "--max-new-tokens must be a whole number >= 1, got 'all'; e.g. --max-new-tokens 8"),
    ("n", -3, "--n must be a whole number >= 1 or all, got -3; e.g. --n 8"),
])
def test_a_count_below_one_or_of_the_wrong_type_names_its_flag_and_an_example(name, value, message):
    """Only ``n`` reads ``"all"`` (and says so); the field's snake_case name is written as its flag."""
    with pytest.raises(ConfigError) as error:
        check_count(name, value, example=8)
    assert str(error.value) == message


@pytest.mark.parametrize("value, expected", [(20.0, 20), (" 64 ", 64), (" All ", None), (0, 0)])
def test_parse_n_reads_a_whole_float_padded_text_and_any_case_of_all(value, expected):
    assert parse_n(value) == expected


@pytest.mark.parametrize("value", [20.5, True, math.inf, math.nan, "1e3", [64]])
def test_parse_n_refuses_what_int_would_misread_naming_the_flag_it_came_from(value):
    """int(True) is 1 and int(20.5) is 20: a bool or a fraction would silently train on a different n."""
    with pytest.raises(ConfigError, match=r"^--sizes must be a non-negative integer or 'all', got .*; try --sizes 64$"):
        parse_n(value, flag="--sizes")


def test_a_grid_is_the_sorted_distinct_rates_from_text_or_a_list():
    assert parse_grid("1e-4, 2e-5,5e-5,1e-4") == (2e-5, 5e-5, 1e-4)
    assert parse_grid([3e-4, "1e-4"]) == (1e-4, 3e-4)


@pytest.mark.parametrize("value, message", [
    ("1e-4,0", "--grid entry '0' is not a positive number; e.g. --grid 2e-5,5e-5,1e-4"),
    ("1e-4,-1e-5", "--grid entry '-1e-5' is not a positive number"),
    ("1e-4,inf", "--grid entry 'inf' is not a positive number"),
    ("1e-4,nan", "--grid entry 'nan' is not a positive number"),
    ("1e-4,fast", "--grid entry 'fast' is not a positive number"),
    ([True, 1e-4], "--grid entry True is not a positive number"),  # float(True) is 1.0: a bool is no rate
    ("1e-4,1e-4", "--grid needs at least two distinct values to choose between, got '1e-4,1e-4'"),
    ("1e-4", "--grid needs at least two distinct values to choose between, got '1e-4'"),
])
def test_a_grid_entry_that_is_no_positive_rate_or_a_grid_with_one_rate_is_named(value, message):
    with pytest.raises(ConfigError) as error:
        parse_grid(value)
    assert str(error.value).startswith(message), str(error.value)


def test_a_grid_named_with_an_equals_sign_writes_its_example_without_a_space():
    with pytest.raises(ConfigError, match=r"^--grid lora= entry '0' is not a positive number; e.g. --grid lora=2e-5,5e-5,1e-4$"):
        parse_grid("0,1e-4", name="--grid lora=")
    with pytest.raises(ConfigError, match=r"^grids\['lora'\] needs at least two .*; e.g. grids=\{'lora': \[1e-5, 1e-4\]\}$"):
        parse_grid([1e-4], name="grids['lora']", example="grids={'lora': [1e-5, 1e-4]}")


def test_a_single_number_given_as_a_grid_from_python_is_named_not_a_type_error():
    """headstart.fit(tune='lr', grid=1e-4) ended in "'float' object is not iterable"; a grid of one rate is named."""
    with pytest.raises(ConfigError, match=r"^grid needs at least two distinct values to choose between, got 0.0001; "
                                          r"e.g. grid=\[2e-5, 1e-4\]$"):
        parse_grid(1e-4, name="grid", example="grid=[2e-5, 1e-4]")
    assert parse_grid(np.array([1e-4, 2e-5])) == (2e-5, 1e-4)  # any iterable of numbers, as before


def test_a_table_argument_is_a_copy_of_its_dict_and_anything_else_is_named():
    given = {"rank": 8}
    taken = as_table(given, name="options", example="{'rank': 8}")
    assert taken == given and taken is not given  # the caller's dict is never changed by what headstart adds
    assert as_table(None, name="options", example="{}") == {}
    with pytest.raises(ConfigError, match=r"^options must be a dict, got list \['rank=8'\]; e.g. options=\{'rank': 8\}$"):
        as_table(["rank=8"], name="options", example="{'rank': 8}")


def test_items_take_paths_as_names_and_refuse_a_list_holding_something_else():
    assert as_items(Path("a.csv"), name="eval_data") == ("a.csv",)
    assert as_items((Path("a.csv"), "b"), name="eval_data") == ("a.csv", "b")
    with pytest.raises(ConfigError, match=r"^eval_data must be a name or a list of names, got \['a', 3\]$"):
        as_items(["a", 3], name="eval_data")


def test_one_name_or_several_is_read_by_one_helper_for_names_and_for_staged_data():
    """``as_items`` (``eval_data``) and ``data.memory.staged_names`` (``retain``, whose items may be DataFrames) each
    read "one, or a list or tuple of them" with their own copy of the rule; both read it through ``as_list``."""
    from headstart.arguments import as_list
    from headstart.data.memory import staged_names

    assert as_list(None) == [] and as_list("a") == ["a"] and as_list(("a", Path("b"))) == ["a", Path("b")]
    assert as_list({"a"}) == [{"a"}]  # a set is one thing, refused by name where names are read
    for given in (None, "a", Path("a.csv"), ["a", Path("b")], ("a",), []):
        assert staged_names(given, name="retain") == as_items(given, name="eval_data")
    with pytest.raises(ConfigError, match=r"^eval_data must be a name or a list of names, got \{'a'\}$"):
        as_items({"a"}, name="eval_data")
    with pytest.raises(ConfigError, match=r"^retain must be a dataset name, a file path or a pandas DataFrame"):
        staged_names({"a"}, name="retain")


def test_a_count_from_1_says_the_same_range_for_a_word_and_for_0():
    """``--n abc`` said "a non-negative integer" where ``--n 0`` said ">= 1": a command that takes no 0 (sft) says one
    range for both, as ``check_count`` words it."""
    with pytest.raises(ConfigError) as word:
        parse_n("abc", least=1)
    with pytest.raises(ConfigError) as zero:
        parse_n("0", least=1)
    with pytest.raises(ConfigError) as checked:
        check_count("n", 0, example=64)
    stem = "--n must be a whole number >= 1 or all, got "
    assert all(str(e.value).startswith(stem) for e in (word, zero, checked)), (word.value, zero.value, checked.value)
    assert parse_n("1", least=1) == 1 and parse_n("all", least=1) is None and parse_n("0") == 0
