"""Specs: validation names the bad value; run keys change exactly when the resolved spec changes."""

from __future__ import annotations

import dataclasses
import math

import pytest

from headstart.errors import ConfigError
from headstart.recipe import setup
from headstart.arguments import parse_n
from headstart.specs import RunSpec, TrainConfig, run_key


def key(toy, make_tiny, **changes) -> str:
    spec = RunSpec(data="toy", backbone="tiny", strategy=changes.pop("strategy", "full-finetune"), n=changes.pop("n", 32),
                   seed=changes.pop("seed", 0), options=changes.pop("options", {}),
                   train=TrainConfig(precision="fp32", **changes))
    return run_key(setup(spec, data=toy, pretrained=make_tiny(0)).resolved())


def test_unchanged_spec_same_key(toy, make_tiny):
    assert key(toy, make_tiny) == key(toy, make_tiny)


def test_explicit_default_same_key(toy, make_tiny):
    # full-finetune's default lr is 5e-5: saying so explicitly is the same run.
    assert key(toy, make_tiny, lr=5e-5, head_lr=1e-3) == key(toy, make_tiny)
    assert key(toy, make_tiny, strategy="llrd", options={"decay": 0.7}) == key(toy, make_tiny, strategy="llrd")


@pytest.mark.parametrize("change", [
    {"lr": 2e-5}, {"head_lr": 1e-2}, {"epochs": 4}, {"batch_size": 8}, {"accumulate": 2}, {"warmup": 0.2},
    {"schedule": "linear"}, {"weight_decay": 0.0}, {"clip": 0.5}, {"patience": 1}, {"max_steps": 10},
    {"metric": "macro_f1"}, {"class_weights": "balanced"}, {"seed": 1}, {"n": 16}, {"strategy": "scratch"},
    {"strategy": "llrd", "options": {"decay": 0.5}}, {"evals_per_epoch": 2},
])
def test_changed_hyperparameter_new_key(toy, make_tiny, change):
    assert key(toy, make_tiny, **change) != key(toy, make_tiny, **({"strategy": "llrd"} if "options" in change else {}))


def test_a_field_added_after_results_version_4_leaves_old_keys_alone(toy, make_tiny):
    """evals_per_epoch is absent from the resolved spec while unset, so stores made before it still match."""
    def resolved(strategy, **train):
        spec = RunSpec(data="toy", backbone="tiny", strategy=strategy, n=32, train=TrainConfig(precision="fp32", **train))
        return setup(spec, data=toy, pretrained=make_tiny(0)).resolved()["train"]

    assert "evals_per_epoch" not in resolved("full-finetune")
    assert resolved("full-finetune", evals_per_epoch=2)["evals_per_epoch"] == 2
    assert resolved("linear-probe")["evals_per_epoch"] == 1  # the probe's default


def test_changed_data_new_key(toy_factory, make_tiny):
    assert key(toy_factory(200, seed=0), make_tiny) != key(toy_factory(200, seed=1), make_tiny)


def test_key_is_canonical():
    assert run_key({"a": 1, "b": [1, 2]}) == run_key({"b": [1, 2], "a": 1})
    assert len(run_key({})) == 16


@pytest.mark.parametrize("field,value,shown", [
    ("lr", -1.0, "-1.0"), ("lr", 0.0, "0.0"), ("lr", math.nan, "nan"), ("lr", math.inf, "inf"), ("head_lr", -0.1, "-0.1"),
    ("epochs", 0, "0"), ("batch_size", -4, "-4"), ("batch_size", 2.5, "2.5"), ("accumulate", 0, "0"), ("max_steps", 0, "0"),
    ("eval_batch_size", 0, "0"), ("evals_per_phase", 0, "0"), ("evals_per_epoch", 0, "0"), ("max_length", 0, "0"), ("min_steps", -1, "-1"),
    ("patience", -1, "-1"), ("warmup", 1.0, "1.0"), ("warmup", -0.1, "-0.1"), ("weight_decay", -0.01, "-0.01"),
    ("clip", -1.0, "-1.0"), ("schedule", "cosin", "'cosin'"), ("precision", "fp16", "'fp16'"),
    ("class_weights", "yes", "'yes'"), ("metric", "f1", "'f1'"),
])
def test_train_config_errors_name_the_value(field, value, shown):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{field: value})
    message = str(e.value)
    assert message.startswith(field) and f"got {shown}" in message


@pytest.mark.parametrize("cls, field, value, message", [
    ("SplitConfig", "test_fraction", "x", "test_fraction must be a number, got 'x'; e.g. test_fraction=0.2"),  # was a TypeError
    ("SplitConfig", "max_val", True, "max_val must be a whole number, got True; e.g. max_val=300"),  # was read as 1
    ("SplitConfig", "seed", None, "seed must be a whole number, got None; e.g. seed=0"),  # was an unseeded split
    ("TrainConfig", "warmup", "0.1", "warmup must be a number, got '0.1'; e.g. warmup=0.1"),
    ("TrainConfig", "lr", "x", "lr must be a number, got 'x'; leave it out for the default"),
    ("SftConfig", "dropout", "x", "dropout must be a number, got 'x'; e.g. dropout=0.05"),
    ("SftConfig", "n", "16", "n must be a whole number or 'all', got '16'; e.g. n=16"),
    ("PreferConfig", "batch_size", 2.0, "batch_size must be a whole number, got 2.0; e.g. batch_size=4"),
    ("MetaConfig", "inner_lr", False, "inner_lr must be a number, got False; e.g. inner_lr=0.01"),
])
def test_every_settings_class_names_a_wrongly_typed_field(cls, field, value, message):
    import headstart

    with pytest.raises(ConfigError) as e:
        getattr(headstart, cls)(**{field: value})
    assert str(e.value) == message


def test_numpy_numbers_are_settings_as_python_numbers():
    import numpy as np

    from headstart.data.splits import SplitConfig

    split = SplitConfig(seed=np.int64(3), test_fraction=np.float64(0.25), dedupe=np.True_)
    assert (split.seed, split.test_fraction, split.dedupe) == (3, 0.25, True) and type(split.seed) is int


def test_lr_error_suggests_a_fix():
    with pytest.raises(ConfigError, match=r"lr must be > 0, got -1; try lr=1e-5"):  # built from Python: the field's name
        TrainConfig(lr=-1)


def test_choice_error_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        TrainConfig(schedule="cosin")


def test_with_defaults_fills_only_none():
    cfg = TrainConfig(lr=5e-5).with_defaults({"lr": 1e-5, "head_lr": 2e-3, "epochs": 7})
    assert (cfg.lr, cfg.head_lr, cfg.epochs, cfg.min_steps) == (5e-5, 2e-3, 7, 100)


@pytest.mark.parametrize("kwargs,match", [({"n": -1}, "n must be a non-negative integer or 'all', got -1"),
                                           ({"n": -5}, "got -5"), ({"seed": -1}, r"seed must be an integer from 0 to 2\*\*63 - 1, got -1")])
def test_run_spec_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RunSpec(**kwargs)


def test_run_spec_round_trip():
    spec = RunSpec(data="x.csv", strategy="llrd", n=8, seed=2, options={"decay": 0.5}, train=TrainConfig(lr=1e-4), text_column="t")
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert dataclasses.asdict(spec)["train"]["lr"] == 1e-4


@pytest.mark.parametrize("value,expected", [("all", None), ("ALL", None), (None, None), ("64", 64), (16, 16), ("0", 0)])
def test_parse_n(value, expected):
    assert parse_n(value) == expected


@pytest.mark.parametrize("value", ["abc", "-3", "1.5"])
def test_parse_n_errors(value):
    with pytest.raises(ConfigError, match=f"got {value!r}; try --n 64"):
        parse_n(value)


@pytest.mark.parametrize(("arm", "fixed"), [
    ("lora[rank=4,, alpha=8]", "lora[rank=4, alpha=8]"),
    ("lora[rank=4,]", "lora[rank=4]"),
    ("lora[, rank=4]", "lora[rank=4]"),
    ("lora[rank=4, , alpha=8]", "lora[rank=4, alpha=8]"),
    ("full-finetune+l2sp[weight=0.1,,]", "full-finetune+l2sp[weight=0.1]"),
    ("lora[rank=4,,alpha=8]+ewc[weight=100]", "lora[rank=4, alpha=8]+ewc[weight=100]"),
])
def test_an_empty_entry_inside_an_arms_brackets_is_named_not_read_as_a_bad_value(arm, fixed):
    """``lora[rank=4,, alpha=8]`` read rank as the text '4,' and was refused as a bad rank; the empty entry is named
    in the words every comma list uses (errors.comma_entries)."""
    from headstart.arm_text import parse_arm

    with pytest.raises(ConfigError) as raised:
        parse_arm(arm)
    assert str(raised.value) == (f"arm {arm!r} has an empty entry (a comma with no option beside it); drop the extra "
                                 f"comma or add the option, e.g. {fixed}")
    assert parse_arm(fixed)[1:] == parse_arm(fixed.replace(", ", ","))[1:]


def test_an_empty_entry_inside_an_arms_brackets_is_one_line_from_compare(tmp_path, monkeypatch, capsys):
    from conftest import assert_user_error, run_cli

    out = tmp_path / "cmp"
    result = run_cli(["compare", "--arms", "lora[rank=4,, alpha=8]", "--sizes", "8", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "arm 'lora[rank=4,, alpha=8]' has an empty entry", "e.g. lora[rank=4, alpha=8]")
    assert not out.exists()


@pytest.mark.parametrize(("pooling", "says"), [
    ("avg", "pooling must be one of cls, max, mean, mean_sqrt_len, weightedmean, lasttoken (or several joined by '+'), "
            "got 'avg'; e.g. "),
    ("mean+mean", "pooling 'mean+mean' names 'mean' twice; give each mode once, e.g. "),
    ("", "got ''"),
])
def test_a_bad_pooling_is_refused_where_the_spec_is_built(pooling, says):
    """--pooling was read only when a text backbone loaded: after the data, and never for a backbone that does not pool.
    A SweepSpec built from Python names its example in Python's words (pooling='mean')."""
    from headstart.sweep_spec import SweepSpec

    for build in (RunSpec, SweepSpec):
        with pytest.raises(ConfigError) as raised:
            build(pooling=pooling)
        assert says in str(raised.value)
        assert pooling == "" or str(raised.value).endswith("--pooling mean" if build is RunSpec else "pooling='mean'")
    assert RunSpec(pooling="mean + cls").pooling == "mean + cls"  # as given: the backbone reads it in its own order


@pytest.mark.parametrize("command", [["train", "--quiet"], ["compare", "--quiet", "--sizes", "8", "--out", "cmp"]])
def test_a_bad_pooling_fails_in_one_line_before_the_data_is_read(command, tiny_registry, tmp_path, monkeypatch, capsys):
    from conftest import assert_user_error, run_cli

    monkeypatch.chdir(tmp_path)
    result = run_cli([*command, "--data", "nope.csv", "--backbone", "tiny", "--pooling", "avg"], monkeypatch, capsys)
    assert_user_error(result, "got 'avg'; e.g. --pooling mean")
    assert list(tmp_path.iterdir()) == []


def test_an_image_size_past_any_backbones_use_is_refused_before_memory_runs_out():
    """--image-size 22400 (224 with two zeros) ran until the allocator failed: an 85-line traceback asking 140 GB."""
    from headstart.specs import MAX_IMAGE_SIZE, TrainConfig

    with pytest.raises(ConfigError, match=r"^image_size must be at most 2048 \(a batch of 16 images at 22400 px is 96 GB "
                                          r"of input alone\), got 22400; try image_size=224$"):  # Python's words here
        TrainConfig(image_size=22400)
    assert TrainConfig(image_size=MAX_IMAGE_SIZE).image_size == MAX_IMAGE_SIZE


@pytest.mark.parametrize("command", [
    ["continual", "--n", "16", "--seeds", "1", "--arms", "naive", "--no-alone"],
    ["compare", "--strategies", "linear-probe", "--sizes", "16", "--seeds", "1"],
    ["multitask", "--tasks", "drug-reviews,drug-reviews-sentiment", "--weighting", "equal", "--seeds", "1"],
    ["train", "--data", "rotten-tomatoes"],
])
def test_a_floor_above_the_cap_is_refused_by_every_command_that_takes_both(command, tmp_path, monkeypatch, capsys):
    """continual --min-steps 50 --max-steps 5 ran, its report saying "at least 50 steps, capped at 5 by max_steps"."""
    from conftest import assert_user_error, run_cli

    result = run_cli([*command, "--min-steps", "50", "--max-steps", "5", "--out", str(tmp_path / "out")], monkeypatch, capsys)
    assert_user_error(result, "--min-steps 50 is above --max-steps 5", "give --min-steps at most 5, or --max-steps at least 50")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_default_floor_above_a_given_cap_still_resolves_and_a_stored_spec_still_loads():
    from headstart.specs import RunSpec

    cfg = TrainConfig(max_steps=5).with_defaults({"min_steps": 100})  # the strategy's floor, the caller's cap: the cap wins
    assert (cfg.min_steps, cfg.max_steps) == (100, 5)
    assert RunSpec.from_dict({"data": "x", "strategy": "lora", "train": dataclasses.asdict(cfg)}).train == cfg
    TrainConfig(min_steps=5, max_steps=5).check_as_given()
