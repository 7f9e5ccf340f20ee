"""Bad flags a fuzz found, each through the surface a user meets: one line naming the value and the fix, exit 2, no
traceback, nothing written (the CLI's cases through ``headstart.cli.main`` in this process, as tests/test_cli.py)."""

from __future__ import annotations

import pytest

import headstart
from conftest import assert_user_error, run_cli
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError
from headstart.specs import TrainConfig


def test_an_empty_size_between_commas_is_refused_not_dropped(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    result = run_cli(["compare", "--strategies", "linear-probe", "--sizes", "8,,16", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "--sizes '8,,16' has an empty entry", "e.g. --sizes 8,16")
    assert not out.exists()


def test_a_flag_and_an_option_setting_one_option_differently_are_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    train = ["train", "--quiet", "--strategy", "lora", "--out", str(out), "--max-steps", "0"]  # never trains: a check after fails
    assert_user_error(run_cli([*train, "--rank", "4", "--option", "rank=8"], monkeypatch, capsys),
                      "--option rank=8 and --rank 4 set rank to different values; give one")
    assert_user_error(run_cli([*train, "--option", "rank=4", "--option", "lora.rank=8"], monkeypatch, capsys),
                      "--option rank=4 and --option lora.rank=8 set rank")
    assert_user_error(run_cli([*train, "--option", "rank=4", "--option", "rank=8"], monkeypatch, capsys),
                      "--option rank= is given twice, as 4 and 8; give it once")
    # the same value twice says one thing: the run goes on to the next check (here a bad --max-steps, so nothing trains)
    assert_user_error(run_cli([*train, "--rank", "8", "--option", "rank=8"], monkeypatch, capsys),
                      "--max-steps must be a positive integer")
    assert_user_error(run_cli([*train, "--targets", "query,value", "--option", 'targets=["query","value"]'], monkeypatch,
                              capsys), "--max-steps must be a positive integer")  # a flag's list as an option's: the same
    assert not out.exists()


def test_a_strategy_options_refusal_in_train_names_trains_own_flag(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """train --rank 0 said "try --option rank=8" though train has --rank: the fix names the flag an option has, and
    --option only for an option without one; Python keeps options={...}."""
    train = ["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--n", "16", "--out", str(tmp_path / "run")]
    result = run_cli([*train, "--strategy", "lora", "--rank", "0"], monkeypatch, capsys)
    assert_user_error(result, "rank must be a positive integer, got 0; try --rank 8")
    assert "--option" not in result[2], result[2]
    assert_user_error(run_cli([*train, "--strategy", "tfidf-logreg", "--option", "max_iter=0"], monkeypatch, capsys),
                      "try --option max_iter=1000")
    with pytest.raises(ConfigError, match=r"got 0; try options=\{'rank': 8\}$"):
        headstart.fit(str(toy_csv), "tiny", strategy="lora", n=16, options={"rank": 0}, out=tmp_path / "p")


def test_an_option_given_through_option_is_fixed_through_option(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """train --option rank=abc said "try --rank 8": a real flag, but not the form the user typed. The fix keeps the
    user's own form, --option KEY=VALUE (its strategy-scoped form too); a flag given as a flag keeps the flag."""
    train = ["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--n", "16", "--out", str(tmp_path / "run")]
    for given in ("rank=abc", "lora.rank=abc", "rank=0"):
        result = run_cli([*train, "--strategy", "lora", "--option", given], monkeypatch, capsys)
        assert_user_error(result, "try --option rank=8")
        assert "--rank " not in result[2], result[2]
    assert_user_error(run_cli([*train, "--strategy", "llrd", "--option", "decay=2"], monkeypatch, capsys),
                      "decay must be in (0, 1], got 2; try --option decay=0.7")
    assert_user_error(run_cli([*train, "--strategy", "llrd", "--decay", "2"], monkeypatch, capsys),
                      "decay must be in (0, 1], got 2.0; try --decay 0.7")


def test_a_negative_patience_names_the_range_and_an_example(tmp_path, monkeypatch, capsys):
    result = run_cli(["train", "--quiet", "--patience", "-1", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "--patience must be an integer >= 0", "0 never stops early", "got -1; try --patience 3")


def test_an_unclosed_term_bracket_is_named_in_the_term_syntax_with_the_closed_form(tmp_path, monkeypatch, capsys):
    train = ["train", "--quiet", "--strategy", "full-finetune", "--out", str(tmp_path / "run"), "--max-steps", "0"]
    result = run_cli([*train, "--terms", "l2sp[weight=0.1"], monkeypatch, capsys)
    assert_user_error(result, "cannot read --terms 'l2sp[weight=0.1' (a [ without its ])", "e.g. --terms l2sp[weight=0.1]")
    assert "arm" not in result[2]
    result = run_cli([*train, "--terms", "l2sp+ewc[weight=1"], monkeypatch, capsys)
    assert_user_error(result, "('ewc[weight=1': a [ without its ])", "e.g. --terms l2sp+ewc[weight=1]")


def test_a_name_in_the_wrong_case_is_suggested_in_lower_case(tmp_path, monkeypatch, capsys):
    from headstart.objectives import get_term

    result = run_cli(["train", "--quiet", "--strategy", "LoRA", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "unknown strategy 'LoRA'; did you mean 'lora'?")
    with pytest.raises(ConfigError, match="unknown objective term 'L2SP'; did you mean 'l2sp'"):
        get_term("L2SP")
    result = run_cli(["train", "--quiet", "--data", "Rotten-Tomatoes", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "unknown dataset 'Rotten-Tomatoes'; did you mean 'rotten-tomatoes'?")
    assert not (tmp_path / "run").exists()


def test_a_stream_file_with_an_unknown_key_names_it_and_the_known_one(tmp_path, monkeypatch, capsys):
    stream = tmp_path / "stream.toml"
    stream.write_text('task = ["rotten-tomatoes", "drug-reviews"]\n')  # tasks, misspelt
    out = tmp_path / "continual"
    result = run_cli(["continual", "--stream", str(stream), "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "unknown key 'task' in the stream file", "did you mean 'tasks'? (known: tasks)")
    assert "None" not in result[2] and not out.exists()
    stream.write_text('task = ["rotten-tomatoes", "drug-reviews"]\nseed = 1\n')  # every unknown key is named
    result = run_cli(["continual", "--stream", str(stream), "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "unknown key 'task' (and 'seed') in the stream file", "did you mean 'tasks'?")


@pytest.mark.parametrize("build, message", [
    (lambda: TrainConfig(lr=float("nan")), r"^lr must be > 0, got nan; try lr=1e-5$"),
    (lambda: TrainConfig(patience=-1), r"got -1; try patience=3$"),
    (lambda: TrainConfig(lrr=1), r"^TrainConfig has no field 'lrr'; did you mean 'lr'\? \(its fields: lr, head_lr, "),
    (lambda: SplitConfig(max_tset=5), r"^SplitConfig has no field 'max_tset'; did you mean 'max_test'\?"),
    (lambda: headstart.SftConfig(batch_size=0), r"^batch_size must be a positive integer, got 0; e.g. batch_size=8$"),
    (lambda: headstart.PreferConfig(bta=0.1), r"^PreferConfig has no field 'bta'; did you mean 'beta'\?"),
    (lambda: headstart.MetaConfig(ways=1), r"^ways must be >= 2 .*; try ways=5$"),
])
def test_a_settings_class_built_from_python_names_its_fields_not_flags(build, message):
    with pytest.raises(ConfigError, match=message) as caught:
        build()
    assert "--" not in str(caught.value)


def test_a_settings_class_built_by_the_cli_still_names_its_flags(tmp_path, monkeypatch, capsys):
    result = run_cli(["train", "--quiet", "--lr", "nan", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error(result, "lr must be > 0, got nan; try --lr 1e-5")


def test_a_non_finite_member_of_a_list_option_is_refused_as_a_non_finite_number_is():
    """A list option whose own check reads no nan (every ``v <= 0`` is False for nan) is still refused."""
    from dataclasses import dataclass

    from headstart.strategies.base import Strategy

    @dataclass(frozen=True)
    class GridOptions:
        grid: tuple[float, ...] = (0.1, 1.0)
        scale: float = 1.0

    class Gridded(Strategy):
        name, description, Options = "gridded", "a strategy with a list option", GridOptions

    assert Gridded().options({"grid": [0.5, 2.0]}).grid == [0.5, 2.0]
    with pytest.raises(ConfigError, match=r"^option grid of gridded must be finite numbers, got \[0.5, nan\]; "
                                          r"e.g. --option grid=\[0.1,1.0\]$"):
        Gridded().options({"grid": [0.5, float("nan")]})
    with pytest.raises(ConfigError, match=r"^option scale of gridded must be a finite number, got inf; e.g. --option scale=1.0$"):
        Gridded().options({"scale": float("inf")})



@pytest.mark.parametrize("argv, message", [  # each list is read before the bad --max-steps / --episodes: nothing trains
    (["compare", "--strategies", "linear-probe,,lora", "--max-steps", "0"], "--strategies 'linear-probe,,lora' has an empty "
     "entry (a comma with no strategy beside it); drop the extra comma or add the strategy, e.g. --strategies linear-probe,lora"),
    (["meta-train", "--arms", "protonet,,maml", "--episodes", "0"], "--arms 'protonet,,maml' has an empty entry"),
    (["meta-train", "--shots", "1,,5", "--episodes", "0"], "--shots '1,,5' has an empty entry (a comma with no number beside it)"),
])
def test_an_empty_entry_in_a_comma_list_flag_is_refused_as_sizes_are(argv, message, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert_user_error(run_cli([*argv, "--out", str(out)], monkeypatch, capsys), message)
    assert not out.exists()


def test_every_comma_list_parser_refuses_an_empty_entry_in_the_same_words(tmp_path):
    from headstart.meta.base import parse_arms
    from headstart.multitask.tasks import split_tasks
    from headstart.multitask.weighting import parse_weightings
    from headstart.arm_text import split_arms
    from headstart.arguments import parse_grid
    from headstart.sweep_spec import parse_list

    cases = [  # split_arms reads compare's, continual's and a sweep file's arms; parse_list --strategies, --methods, ...
        (lambda: parse_grid("1e-5,,1e-4"), r"^--grid '1e-5,,1e-4' has an empty entry \(a comma with no value beside it\); "
                                            r"drop the extra comma or add the value, e.g. --grid 1e-5,1e-4$"),
        (lambda: parse_grid("1e-5,1e-4,", name="--grid lora="), r"e.g. --grid lora=1e-5,1e-4$"),
        (lambda: split_arms("lora[rank=4, alpha=8],,linear-probe"),
         r"^--arms .* has an empty entry \(a comma with no arm beside it\); .* e.g. --arms lora\[rank=4, alpha=8\],linear-probe$"),
        (lambda: parse_list("source-only,,dann", name="--methods", noun="method"), r"e.g. --methods source-only,dann$"),
        (lambda: parse_arms("protonet,"), r"^--arms 'protonet,' has an empty entry"),
        (lambda: parse_weightings("equal,,gradnorm"), r"^--weighting 'equal,,gradnorm' has an empty entry"),
        (lambda: split_tasks("a,,b"), r"^--tasks 'a,,b' has an empty entry \(a comma with no task beside it\)"),
        (lambda: headstart.compare(strategies="lora,", config={"max_steps": 0}, out=tmp_path / "out"), r"^strategies 'lora,' has an empty entry .* e.g. strategies=lora$"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError, match=message):
            call()
    assert split_arms("lora[rank=4,alpha=8]") == ("lora[rank=4,alpha=8]",) and parse_list(" a, b ", name="--x") == ("a", "b")


def test_a_term_option_in_terms_and_in_option_set_differently_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    train = ["train", "--quiet", "--strategy", "full-finetune", "--out", str(out), "--max-steps", "0"]  # never trains
    result = run_cli([*train, "--terms", "l2sp[weight=0.1]", "--option", "l2sp.weight=0.2"], monkeypatch, capsys)
    assert_user_error(result, "--terms l2sp[weight=0.1] and --option l2sp.weight=0.2 set l2sp's weight to different "
                              "values; give one")
    # the same value twice, or an option the term's brackets leave out, goes on to the next check (the bad --max-steps)
    for option in ("l2sp.weight=0.1", "ewc.weight=5"):
        result = run_cli([*train, "--terms", "l2sp[weight=0.1]", "--option", option], monkeypatch, capsys)
        assert_user_error(result, "--max-steps must be a positive integer")
    assert not out.exists()


def test_an_unclosed_arm_bracket_is_named_with_the_closed_form(tmp_path):
    from headstart.continual import parse_continual_arm
    from headstart.sweep_spec import SweepSpec

    def refused(build, message):
        with pytest.raises(ConfigError) as caught:
            build()
        assert message in str(caught.value), str(caught.value)

    compare = lambda arms: lambda: SweepSpec(data="rotten-tomatoes", arms=arms)  # noqa: E731  compare's arms, from Python
    refused(compare("lora[rank=4"), "cannot read arms='lora[rank=4' (a [ without its ]); write strategy[options]+"
                                    "term[options], arms joined by commas, e.g. arms='lora[rank=4]'")
    # the arm after the comma, swallowed by the open bracket, is given back
    refused(compare("lora[rank=4,linear-probe"), "('lora[rank=4': a [ without its ]); write strategy[options]+term[options], "
                                                 "arms joined by commas, e.g. arms='lora[rank=4],linear-probe'")
    refused(compare("lora[targets=query,value"), "e.g. arms='lora[targets=query,value]'")  # a value's comma stays inside
    refused(compare(["full-finetune+l2sp[weight=1"]), "cannot read arm 'full-finetune+l2sp[weight=1' ('l2sp[weight=1': "
                                                      "a [ without its ]); write strategy[options]+term[options], "
                                                      "e.g. full-finetune+l2sp[weight=1]")
    refused(lambda: headstart.continual(arms="naive,ewc[lambda=10,replay", out=tmp_path / "out", config={"max_steps": 0}),
            "('ewc[lambda=10': a [ without its ])")
    refused(lambda: parse_continual_arm("lora+ewc[lambda=10", "full-finetune"), "e.g. lora+ewc[lambda=10]")


def test_an_unclosed_arm_bracket_on_the_command_line_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"  # an arm that cannot be read stops compare before anything loads, with the fix or without
    result = run_cli(["compare", "--arms", "linear-probe,lora[rank=4", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "cannot read --arms 'linear-probe,lora[rank=4' ('lora[rank=4': a [ without its ])",
                      "e.g. --arms linear-probe,lora[rank=4]")
    assert not out.exists()


def test_a_signed_number_inside_brackets_is_a_value_not_a_plus_joining_terms():
    from headstart.cli.common import _parse_option
    from headstart.continual import grid_arms, parse_continual_arm
    from headstart.arm_text import arm_text, parse_arm, terms_of

    assert terms_of("l2sp[weight=1e+2]+ewc", "full-finetune") == {"l2sp": {"weight": 100.0}, "ewc": {}}
    assert terms_of("l2sp[weight=+0.5]", "full-finetune") == {"l2sp": {"weight": 0.5}}
    assert parse_arm("lora[rank=4, lr=+1e-4]+l2sp[weight=1e-3]") == ("lora", {"rank": 4}, {"lr": 1e-4}, {"l2sp": {"weight": 1e-3}})
    assert _parse_option("l2sp.weight=+0.5") == ("l2sp.weight", 0.5)
    assert len(grid_arms(parse_continual_arm("lora+ewc[weight=1e+2]", "full-finetune"))) == 1  # its weight is set
    arm = arm_text({"strategy": "full-finetune", "terms": {"l2sp": {"weight": 1e20}}}, "sweep.toml")  # str(1e20): 1e+20
    assert parse_arm(arm)[3] == {"l2sp": {"weight": 1e20}}
    with pytest.raises(ConfigError, match=r"e\.g\. --terms l2sp\[weight=1e\+2\]\+ewc$"):  # a [ left open still closes
        terms_of("l2sp[weight=1e+2+ewc", "full-finetune")


def test_a_number_with_leading_zeros_in_brackets_or_an_option_is_refused_naming_the_number_it_likely_means(tmp_path, monkeypatch, capsys):
    """lora[lr=007] read as lr 7 (where 0.07 may have been meant); 0, 0.5, 0e-3 and the signed forms stay numbers."""
    from headstart.cli.common import _parse_option
    from headstart.arm_text import parse_arm

    with pytest.raises(ConfigError) as caught:
        parse_arm("lora[lr=007]")
    assert str(caught.value) == ("arm 'lora[lr=007]': lr=007 is a number with a leading zero; write lr=7 (or lr=0.07 if a "
                                 "point was left out)")
    with pytest.raises(ConfigError, match=r"weight=-07\.5 is a number with a leading zero; write weight=-7\.5$"):
        parse_arm("full-finetune+l2sp[weight=-07.5]")
    with pytest.raises(ConfigError, match=r"^--option lr=00 is a number with a leading zero; write --option lr=0$"):
        _parse_option("lr=00")
    assert parse_arm("lora[rank=0, weight_decay=0e-3, dropout=0.5, alpha=.5]+l2sp[weight=+0.5]") == (
        "lora", {"rank": 0, "dropout": 0.5, "alpha": 0.5}, {"weight_decay": 0.0}, {"l2sp": {"weight": 0.5}})
    assert parse_arm("lora[targets=q007]")[1] == {"targets": "q007"}, "text that is not a number stays text"
    out = tmp_path / "cmp"
    result = run_cli(["compare", "--arms", "linear-probe,lora[lr=007]", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "lr=007 is a number with a leading zero; write lr=7")
    assert not out.exists()


def test_a_training_override_out_of_range_in_an_arm_is_named_in_the_arms_words(tmp_path, monkeypatch, capsys):
    """lora[lr=0] was told "try --lr 1e-5": a flag the arm does not use, and a full fine-tuning rate for LoRA."""
    from headstart.arm_text import parse_arm

    with pytest.raises(ConfigError) as caught:
        parse_arm("lora[lr=0, rank=4]")
    assert str(caught.value) == ("arm 'lora[lr=0, rank=4]': lr must be > 0, got 0; change it inside the brackets, or drop "
                                 "it for lora's default")
    with pytest.raises(ConfigError, match=r"^arm 'lora\[precision=fp8\]': precision must be one of .*did you mean 'fp32'\?$"):
        parse_arm("lora[precision=fp8]")
    with pytest.raises(ConfigError) as caught:  # a word where a number goes: one fix, the arm's (it read "leave it out ...; change it ...")
        parse_arm("lora[epochs=abc]")
    assert str(caught.value) == ("arm 'lora[epochs=abc]': epochs must be a whole number, got 'abc'; change it inside the "
                                 "brackets, or drop it for lora's default")
    out = tmp_path / "cmp"
    assert_user_error(run_cli(["compare", "--arms", "linear-probe,lora[epochs=0]", "--out", str(out)], monkeypatch, capsys),
                      "arm 'lora[epochs=0]': epochs must be a positive integer, got 0; change it inside the brackets")
    assert not out.exists()


def test_an_empty_entry_in_an_options_comma_list_is_refused_not_dropped(tmp_path, monkeypatch, capsys):
    from headstart.listings import install_datasets
    from headstart.llm.sft import SftConfig
    from headstart.strategies.classical import check_grid
    from headstart.strategies.peft_base import check_targets

    def refused(build, message):
        with pytest.raises(ConfigError) as caught:
            build()
        assert message in str(caught.value), str(caught.value)

    refused(lambda: check_targets("query,,value"), "targets 'query,,value' has an empty entry (a comma with no module name "
                                                   "beside it); drop the extra comma or add the module name, e.g. targets=query,value")
    refused(lambda: check_grid("grid", "1,5,", integer=True, example="[1,5,15]"), "e.g. grid=1,5")
    refused(lambda: install_datasets("rotten-tomatoes,,mnist-5k"), "--install 'rotten-tomatoes,,mnist-5k' has an empty entry")
    refused(lambda: SftConfig(targets="q_proj,,v_proj"), "targets='q_proj,,v_proj' has an empty entry")
    out = tmp_path / "run"
    (tmp_path / "pairs.csv").write_text("premise,hypothesis,label\na,b,x\nc,d,y\n")
    result = run_cli(["train", "--data", str(tmp_path / "pairs.csv"), "--text-column", "premise,", "--out", str(out)],
                     monkeypatch, capsys)
    assert_user_error(result, "--text-column 'premise,' has an empty entry (a comma with no column beside it)")
    result = run_cli(["train", "--strategy", "lora", "--option", "targets=query,,value", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "e.g. --option targets=query,value")  # as it was given (--targets gets --targets)
    assert not out.exists()
