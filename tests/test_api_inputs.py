"""The Python API takes what a Python user passes: a string where one thing is named, a list where several are, a
dict where a settings object is, and refuses anything else in one HeadstartError before any data or model loads."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

import headstart
from headstart.errors import ConfigError, DataError, HeadstartError
from headstart.arguments import as_config, as_items
from headstart.specs import TrainConfig


def test_a_settings_dict_is_its_dataclass_and_a_wrong_one_is_named():
    assert as_config(None, TrainConfig) == TrainConfig()
    assert as_config({"max_steps": 5, "lr": 1e-4}, TrainConfig) == TrainConfig(max_steps=5, lr=1e-4)
    given = TrainConfig(epochs=2)
    assert as_config(given, TrainConfig) is given
    with pytest.raises(ConfigError, match=r"config has no setting 'max_stepz'; did you mean 'max_steps'\?"):
        as_config({"max_stepz": 5}, TrainConfig)
    with pytest.raises(ConfigError, match=r"got str 'sweep.toml' \(a sweep TOML file is compare's config, as compare --config's\)"):
        as_config("sweep.toml", TrainConfig)


def test_one_name_is_one_item_never_its_letters():
    assert as_items("drug-reviews-sentiment[negative=rotten, positive=fresh]", name="eval_data") == (
        "drug-reviews-sentiment[negative=rotten, positive=fresh]",)
    assert as_items(["a", "b"], name="eval_data") == ("a", "b") and as_items(None, name="x") == ()
    with pytest.raises(ConfigError, match="eval_data must be a name or a list of names, got 5"):
        as_items(5, name="eval_data")


@pytest.mark.parametrize("call, error, message", [
    (lambda: headstart.fit(n=8, eval_data="drug-reviws"), DataError, "unknown dataset 'drug-reviws'; did you mean"),
    (lambda: headstart.fit(n=8, eval_data="drug-reviews-sentiment", tta="bn-adapt,tentt"), ConfigError,
     "unknown test-time adaptation 'tentt'"),
    (lambda: headstart.fit(n=8, config={"max_stepz": 1}), ConfigError, "no setting 'max_stepz'"),
    (lambda: headstart.fit(config="examples/demo.toml", out="unused"), ConfigError, "a sweep TOML file is compare's config"),
    (lambda: headstart.compare(config="examples/missing.toml", out="unused"), ConfigError, "'examples/missing.toml' not found"),
    (lambda: headstart.compare(sizes={16}, out="unused"), ConfigError, r"got \{16\}; e.g. sizes=\[16, 64, 'all'\]"),
    (lambda: headstart.sft(config={"rows": 8}), ConfigError, "config has no setting 'rows'"),
    (lambda: headstart.sft(config={"strategy": "full-finetune", "rank": 4}, out="unused"), ConfigError,
     "'rank' shapes a lora/qlora adapter, and full-finetune trains every weight instead"),  # was quietly ignored
    (lambda: headstart.generate("no-such-run", "Hi"), ConfigError, "generate takes a list of prompts, got one string 'Hi'"),
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", methods=["tentt"], out="unused"), ConfigError,
     r"unknown adaptation method 'tentt'; did you mean 'tent'\? \(methods: "),
    (lambda: headstart.MetaConfig(ways="five"), ConfigError, "^ways must be a whole number, got 'five'; e.g. ways=5$"),
    (lambda: headstart.MetaConfig(shots=(1.5,)), ConfigError, r"^shots must be whole numbers, got \(1.5,\)"),
    (lambda: headstart.compare(strategies="linear-probe", arms="lora", out="unused"), ConfigError,
     "strategies and arms both say what to compare"),  # the strategies were dropped, as the CLI refuses it
    (lambda: headstart.compare(backbone="tiny", backbones=["all-minilm-l6-v2"], out="unused"), ConfigError,
     "backbone='tiny' and backbones both name the backbone"),
    (lambda: headstart.compare(backbone="all-minilm-l6-v2", backbones=["all-minilm-l6-v2", "all-mpnet-base-v2"], out="unused"),
     ConfigError, r"^backbone='all-minilm-l6-v2' and backbones both name the backbone; give the list alone, e\.g\. "
     r"backbones=\['all-minilm-l6-v2', 'all-mpnet-base-v2'\]$"),  # its value the default's: once taken, and not said
    (lambda: headstart.compare(strategies=[], out="unused"), ConfigError, "strategies is empty"),  # never the defaults
    (lambda: headstart.compare(sizes=[], out="unused"), ConfigError, "must list sizes"),
    (lambda: headstart.rank_backbones("rotten-tomatoes", "all-minilm-l6-v2", arm="lora"), ConfigError,
     "^arm and size choose what measured reads; add measured=DIR"),
    (lambda: headstart.rank_backbones(), ConfigError, "^backbones must name backbones"),  # data defaults as the CLI's
    (lambda: headstart.meta_train("unused", {"novel": "mnist-5k,opencv-digit"}), HeadstartError,
     "unknown image dataset 'opencv-digit'"),  # the names, not the letters of the string
    (lambda: headstart.continual(arms=[], out="unused"), ConfigError, "^arms is empty"),
    (lambda: headstart.SftConfig(seed=-1), ConfigError, r"seed must be an integer from 0 to 2\*\*63 - 1, got -1"),
    (lambda: headstart.sft(config={"n": "16"}, out="unused"), ConfigError, "^n must be a whole number or 'all', got '16'; e.g. n=16$"),
    (lambda: headstart.fit(strategy=None), ConfigError, r"unknown strategy None \(available: "),
    (lambda: headstart.fit(strategy=["lora"]), ConfigError, r"unknown strategy \['lora'\]"),
    (lambda: headstart.compare(out=5), ConfigError, "^out must name a folder, got 5"),
    (lambda: headstart.fit(out=5), ConfigError, "^out must name a folder, got 5"),
    (lambda: headstart.compare(train_by_strategy={"linear-probe": {"max_stepz": 2}}, out="unused"), ConfigError,
     r"train_by_strategy\['linear-probe'\] has no setting 'max_stepz'; did you mean 'max_steps'\?"),
    (lambda: headstart.fit(options=["freeze"]), ConfigError, r"options must be a dict, got list \['freeze'\]"),
    (lambda: headstart.compare(grids="linear-probe=1e-3", out="unused"), ConfigError,  # a ValueError from dict() before
     r"^grids must be a dict, got str 'linear-probe=1e-3'; e\.g\. grids=\{'lora': \[3e-4, 1e-3, 3e-3\]\}$"),
    (lambda: headstart.compare(arms=5, out="unused"), ConfigError, "arms must be a list of arms or a comma-separated string"),
    (lambda: headstart.fit(n=20.5), ConfigError, "^n must be a non-negative integer or 'all', got 20.5; try n=64"),  # was read as 20
    (lambda: headstart.fit(n=True), ConfigError, "got True"),
    (lambda: headstart.compare(seeds=True, out="unused"), ConfigError, "^seeds must be a positive integer, got True"),
    (lambda: headstart.compare(dedupe="no", out="unused"), ConfigError, "dedupe must be True or False, got str 'no'"),
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", oracle="no", out="unused"), ConfigError,
     "oracle must be True, False or None \\(the default\\), got str 'no'; e.g. oracle=False"),  # through the callable module
    (lambda: headstart.compare(sizes=[16, 16], out="unused"), ConfigError, r"^sizes lists a size twice \(16, 16\)"),
    # adapt takes sizes as compare does, in one parser whose errors name sizes to Python, --sizes to the CLI
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", sizes=0, out="unused"), ConfigError,
     "^sizes holds 0, but every adaptation method trains on the source's labels; drop it, e.g. sizes=256$"),  # a TypeError
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", sizes=[None, 0], out="unused"), ConfigError,
     "^sizes holds 0, .* e.g. sizes='all'$"),  # None was the entry 'None', not all
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", sizes={16, 64}, out="unused"), ConfigError,
     r"^sizes must be text like '8,16,all' or a list of sizes, got \{16, 64\}; e.g. sizes=\[16, 64, 'all'\]$"),  # was run
    (lambda: headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", sizes="16,x", out="unused"), ConfigError,
     r"^sizes entry 'x' is not a non-negative integer or 'all'; e.g. sizes='0,8,16,32,all'$"),
    (lambda: headstart.compare(strategies={"lora"}, out="unused"), ConfigError,
     r"^strategies must be a name or a list of names, got \{'lora'\}; e.g. strategies=\['linear-probe', 'lora'\]$"),
])
def test_python_mistakes_are_one_headstart_error(call, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # "unused" out folders are never made: the call fails first
    with pytest.raises(error, match=message):
        call()
    assert not (tmp_path.parent / "unused").exists()


def test_compare_and_adapt_say_they_take_sizes_as_their_parser_takes_them():
    """One size (an int), a list or tuple of sizes, or text: compare's and adapt's annotations say what parse_sizes
    takes (an int was taken and not said)."""
    import inspect

    from headstart.sweep_spec import parse_sizes

    taken = inspect.signature(parse_sizes).parameters["sizes"].annotation
    for function in (headstart.compare, headstart.adapt.adapt):  # the function in the callable module, with its docstring
        said = inspect.signature(function).parameters["sizes"].annotation
        assert said.removesuffix(" | None") == taken, (function, said)
        assert "one size (" in inspect.getdoc(function)


def test_a_text_model_refuses_inputs_that_are_not_strings():
    from headstart.backbones import load_backbone

    with pytest.raises(DataError, match="a text model reads strings, got int 1 among the inputs"):
        load_backbone("all-minilm-l6-v2").encode(["fine", 1])
    with pytest.raises(DataError, match="a text model reads strings, got NoneType None among the inputs"):
        load_backbone("all-minilm-l6-v2").encode(["fine", None])  # a TypeError from the tokenizer's input check before


def test_adapters_find_takes_one_folder_and_passes_over_causal_lm_runs(tmp_path):
    from headstart.adapter_info import passed_over

    sft = tmp_path / "sft"
    sft.mkdir()
    (sft / "spec.json").write_text(json.dumps({"kind": "sft"}))
    (sft / "adapter_config.json").write_text("{}")
    save_file({"w": torch.zeros(1)}, str(sft / "adapter_model.safetensors"))  # a whole run: a damaged one is listed as such
    assert headstart.adapters.find(str(tmp_path)) == []  # before: stopped at the sft run; a str was read letter by letter
    with pytest.raises(HeadstartError, match=r"is a headstart sft run; ask it with: headstart\.generate\(.*\(its test exact "
                                              r"match: headstart\.evaluate\('.*sft'\)\), or make it"):
        headstart.adapters.find(sft)  # named on its own, it is still told what to do with it (and how it is scored)
    (sft / "spec.json").write_text(json.dumps({"kind": "prefer"}))
    with pytest.raises(HeadstartError, match=r"is a headstart prefer run; ask it with: [^(]*\([^)]*\), or make it"):
        headstart.adapters.find(sft)  # prefer answers no test prompts: no exact match is promised
    assert passed_over(tmp_path) == [sft] and passed_over(sft) == []


def test_adapters_list_says_which_sft_runs_it_passed_over(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    sft = tmp_path / "sft"
    sft.mkdir()
    (sft / "spec.json").write_text(json.dumps({"kind": "prefer"}))
    (sft / "adapter_config.json").write_text("{}")
    save_file({"w": torch.zeros(1)}, str(sft / "adapter_model.safetensors"))  # a whole run: a damaged one is listed as such
    code, out, _ = run_cli(["adapters", "list", str(tmp_path)], monkeypatch, capsys)
    assert code in (0, None) and "0 listed" in out
    assert f"not listed: 1 sft / prefer run(s), causal LMs generated from rather than adapters of a classifier ({sft})" in out


def test_dir_shows_the_lazy_api():
    names = dir(headstart)
    assert {"fit", "compare", "evaluate", "adapters", "SftConfig", "PreferConfig", "meta_train"} <= set(names)
    import subprocess
    import sys

    fresh = subprocess.run([sys.executable, "-c", "import headstart; print(headstart.adapters.find.__name__)"],
                           capture_output=True, text=True, check=True)  # a fresh process: reachable without importing it
    assert fresh.stdout == "find\n"


def test_results_print_in_one_line():
    from headstart.api import FitResult
    from headstart.llm.runs import LoadedLM

    fitted = FitResult(key="k", out=None, status="done", val_metrics={"accuracy": 0.7123, "loss": 0.55, "per_class": {"a": {}}},
                       steps=100, best_step=80, train_seconds=12.34, trainable_params=1, total_params=2, error=None,
                       flags=[{"reason": "slow", "text": "t", "advice": "a"}], _loaded=object())
    assert repr(fitted) == "FitResult(done, val accuracy 0.7123, loss 0.55; best step 80 of 100, 12.3 s; out=None; 1 flag(s))"
    probe = FitResult(key="k", out=None, status="done", val_metrics={"accuracy": 0.7}, steps=20, best_step=20,
                      train_seconds=0.0123, trainable_params=1, total_params=2, error=None)
    assert "best step 20 of 20, 0.0123 s;" in repr(probe), "a fast probe's time, not 0.0 s"
    lm = LoadedLM(model=object(), tokenizer=None, spec={"kind": "sft", "backbone": "smollm2-135m"}, metrics={"exact_match": 0.1})
    assert repr(lm) == "LoadedLM(sft run of smollm2-135m, directory=None, metrics={'exact_match': 0.1})"
    assert repr(headstart.adapt).startswith("<headstart.adapt: call headstart.adapt(source, target, *, backbone=")


def test_a_fit_result_says_closed_form_and_writes_counts_as_the_cli():
    """A tfidf-logreg run printed "best step 0 of 0" (a run that stopped before it began, read so) and "35 of 2589
    test rows" where the CLI writes "parameters set in closed form" and "2,589"."""
    from headstart.api import FitResult
    from headstart.data.leakage import LeakageReport

    common = dict(key="k", out=None, status="done", val_metrics={"accuracy": 0.62}, best_step=0, train_seconds=1.85,
                  total_params=1808, error=None)
    solved = FitResult(steps=0, trainable_params=1808, leakage=LeakageReport(n_test=2589, exact=35, near=0,
                                                                              fraction=35 / 2589, examples=[]), **common)
    assert repr(solved) == ("FitResult(done, val accuracy 0.62; closed form, no optimiser step, 1.85 s; out=None; "
                            "35 of 2,589 test rows duplicate training rows)")
    assert "nothing trained, no optimiser step" in repr(FitResult(steps=0, trainable_params=0, **common))
    setfit = FitResult(steps=0, trainable_params=1808, chosen={"pair_steps": 40}, **common)
    assert "40 pair steps, then the head in closed form" in repr(setfit)


def test_every_result_prints_in_one_line(tmp_path):
    """compare's, continual's and multitask's results printed pages in a notebook (the leakage report's review texts,
    each arm's matrix); each is one line of counts, the pick with its score and the output folder."""
    from headstart.adapt import AdaptResult
    from headstart.compare_result import CompareResult
    from headstart.continual import ContinualResult
    from headstart.data.leakage import LeakageReport
    from headstart.meta.results import MetaResult
    from headstart.multitask import MultitaskResult
    from headstart.rank import BackboneScore, RankResult

    review = "a long review text " * 40
    band = {"text": "At n = 16-256: linear-probe (0.812 on validation), within 2 points of full-finetune and 9x cheaper; "
                    "full-finetune leads by 0.4 points", "evidence": [{"n": 16, "review": review}] * 5}
    compared = CompareResult(out=tmp_path, total=12, skipped=2, trained=9, statuses={"done": 11, "failed": 1}, seconds=30.04,
                             summary={"recommendation": [band, band]}, reports={"report.md": tmp_path / "report.md"},
                             leakage=LeakageReport(n_test=500, exact=3, near=1, fraction=0.008, examples=[(review, review, 1.0)] * 5),
                             notes=[{"note": review}])
    assert repr(compared) == (f"CompareResult(12 cells: 9 trained, 2 already stored, 1 failed; 30.0 s; recommendation: At n = "
                              f"16-256: linear-probe (0.812 on validation), within 2 points of full-finetune and 9… (+1 more); "
                              f"out={tmp_path}; 4 of 500 test rows duplicate training rows; 1 note(s))")
    arm = {"matrix": [[0.9, None], [0.5, 0.8]] * 20, "acc_by_seed": {0: 0.6, 1: 0.7}}
    streamed = ContinualResult(out=tmp_path, trained=48, flags=["x"], analysis={
        "arms": [{**arm, "arm": "naive", "acc": {"mean": 0.41}, "val_acc": {"mean": 0.4}},
                 {**arm, "arm": "ewc", "acc": {"mean": 0.61234}, "val_acc": {"mean": 0.63}}], "recommended": "ewc", "tried": [arm] * 8})
    assert repr(streamed) == (f"ContinualResult(2 arm(s), 48 step(s) trained; recommended ewc: ACC 0.6123 (validation 0.63); "
                              f"out={tmp_path}; 1 flag(s))")
    gain = lambda low, high: {"gain": {"mean": (low + high) / 2, "ci_low": low, "ci_high": high}, "seeds": [0, 1, 2]}
    shared = MultitaskResult(out=tmp_path, trained=27, analysis={"tasks": [
        {"task": "a", "single": {"mean": 0.8}, "difference": {"equal": gain(0.01, 0.03), "gradnorm": gain(-0.02, 0.01)}},
        {"task": "b", "single": {"mean": 0.7}, "difference": {"equal": gain(-0.03, -0.01), "gradnorm": gain(0.0, 0.02)}}],
        "weights": {"equal": {"a": 1.0, "b": 1.0}}})
    assert repr(shared) == (f"MultitaskResult(2 task(s), 27 run(s) trained; vs each task alone: equal better on 1, worse on 1; "
                            f"gradnorm better on 0, worse on 0; out={tmp_path})")
    row = lambda method, n, mean: {"method": method, "n": n, "mean": mean, "estimates": [review] * 3}
    adapted = AdaptResult(out=tmp_path, trained=30, notes=["n"], rows=[
        row("source-only", 16, 0.6), row("dann", 16, 0.9), row("source-only", 256, 0.7), row("dann", 256, 0.75), row("coral", 256, 0.72)])
    assert repr(adapted) == (f"AdaptResult(3 method(s), 30 run(s) trained; on the target's test split at n=256: source-only 0.7, "
                             f"dann 0.75, coral 0.72; out={tmp_path}; 1 note(s))")
    score = lambda method, kind, mean: {"novel": "fashion", "shots": 5, "method": method, "kind": kind, "mean": mean,
                                        "accuracies": [mean] * 200}
    met = MetaResult(config={"arms": ["protonet"]}, training=[{"arm": "protonet"}], seconds=61.25, rows=[
        score("plain linear-probe", "plain", 0.7), score("protonet", "meta", 0.8125)])
    assert repr(met) == "MetaResult(1 arm(s) meta-trained, 2 score(s); protonet 0.8125 on fashion 5-shot (plain linear-probe 0.7); 61.2 s)"
    backbone = lambda name, logme: BackboneScore(backbone=name, name=name, dim=8, logme=logme, h_score=0.1, knn_loo=0.5,
                                                 load_seconds=1.0, feature_seconds=1.0, score_seconds=1.0)
    ranked = RankResult(data="rotten-tomatoes", data_hash="h", n=500, n_requested=500, seed=0, out=tmp_path,
                        scores=[backbone("minilm", -0.51), backbone("tiny", -0.9)], agreement={"logme": {"tau": 1.0}})
    assert repr(ranked) == (f"RankResult(rotten-tomatoes, n 500: 2 backbone(s), best minilm (LogME -0.51); Kendall's tau of LogME "
                            f"vs measured 1.00; out={tmp_path})")


def test_use_device_is_the_global_device_flag_in_python(monkeypatch):
    from headstart.precision import DEVICE_ENV, pick_device

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert str(headstart.use_device(" CPU ")) == "cpu" and pick_device().type == "cpu"
    with pytest.raises(ConfigError, match="the device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"):
        headstart.use_device("tpu")
    assert os.environ[DEVICE_ENV] == "cpu", "a refused name leaves the device as it was"


def test_a_flag_takes_a_bool_numpys_included():
    import numpy as np

    from headstart.python_checks import flags_checked

    @flags_checked
    def call(a, *, x: bool = False):
        return a, x, type(x)

    assert call(1, x=np.True_) == (1, True, bool) and call(2) == (2, False, bool)
    with pytest.raises(ConfigError, match=r"x must be True or False, got int 1"):  # a numpy integer reads as its int
        call(1, x=np.int64(1))
    with pytest.raises(ConfigError, match="^packing must be True or False, got 'no'; e.g. packing=True$"):
        headstart.SftConfig(packing="no")


def test_meta_train_refuses_a_shot_count_given_twice():
    with pytest.raises(ConfigError, match=r"^shots lists a shot count twice \(5, 5\)"):
        headstart.MetaConfig(shots=(5, 5))


def test_sft_and_prefer_claim_their_out_as_an_lm_run_before_anything_loads(tmp_path):
    """headstart.sft / prefer refuse a train run's folder and prefer its own --sft run, as the CLI does: nothing
    loads or trains, and the folder is left as it was."""
    train_run = tmp_path / "train"
    train_run.mkdir()
    (train_run / "spec.json").write_text(json.dumps({"key": "k", "resolved": {}}))
    for call in (lambda: headstart.sft(out=train_run), lambda: headstart.prefer(out=train_run)):
        with pytest.raises(ConfigError, match="holds a saved run .*, not a saved sft / prefer run"):
            call()
    sft_run = tmp_path / "sft"
    sft_run.mkdir()
    (sft_run / "spec.json").write_text(json.dumps({"kind": "sft"}))
    with pytest.raises(ConfigError, match="is the config's sft run this one starts from"):
        headstart.prefer(out=sft_run, config={"sft": str(sft_run)})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sft", "spec.json", "spec.json", "train"]


@pytest.mark.parametrize("name, sections", [
    ("continual", ("Returns:", "Example:")), ("multitask", ("Returns:", "Example:")), ("adapt", ("Returns:", "Example:")),
    ("meta_train", ("Returns:", "Example:")), ("evaluate", ("Returns:", "Example:")),
    ("predict", ("Returns:", "Example:", '"label"', '"probabilities"')),
])
def test_help_shows_what_a_function_returns_and_an_example(name, sections):
    """help(headstart.continual) had no Example and no Returns section; predict's did not say its rows are dicts of
    text, label and probabilities."""
    import pydoc

    shown = pydoc.render_doc(getattr(headstart, name), renderer=pydoc.plaintext)
    assert all(section in shown for section in sections), [s for s in sections if s not in shown]
    assert f">>> result = headstart.{name}(" in shown or f"headstart.{name}(" in shown.split("Example:")[1]


def no_logging_set_up(monkeypatch):
    """The logging of a script or notebook: no handler on the root or on headstart's loggers (pytest adds its own as
    the test starts, and a CLI test in this process leaves the CLI's)."""
    import logging

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    for name in ["headstart", *logging.root.manager.loggerDict]:
        if name == "headstart" or name.startswith("headstart."):
            monkeypatch.setattr(logging.getLogger(name), "handlers", [])
            monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
            monkeypatch.setattr(logging.getLogger(name), "propagate", True)


def test_read_inputs_from_python_says_the_row_it_drops_and_read_input_rows_keeps_each_rows_id(
        tmp_path, capsys, monkeypatch):
    """The README's way to predict on a file dropped a row with empty text without a word (the CLI says it) and lost
    the id column, so predictions zipped back to the file's rows shifted."""
    import headstart.data

    no_logging_set_up(monkeypatch)
    path = tmp_path / "three.csv"
    path.write_text("id,text\n7,great film\n8,\n9,awful\n")
    assert headstart.data.read_inputs(str(path)) == ["great film", "awful"]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith("note: three.csv: dropped 1 row with empty text (data row 2): the "
                                                   "inputs after it move up; headstart.data.read_input_rows(path)"), notes
    texts, columns = headstart.data.read_input_rows(str(path))
    assert list(zip(texts, [c["id"] for c in columns])) == [("great film", 7), ("awful", 9)]
    assert "dropped 1 row with empty text (data row 2)" in capsys.readouterr().err


def test_read_pair_rows_from_python_says_its_notes_and_errors_in_keywords_as_read_input_rows_does(
        tmp_path, capsys, monkeypatch):
    """``headstart.data.read_pair_rows`` (how predict reads a pair run's table) dropped a row missing a text without a
    word from Python, named ``--text-column`` in its errors and met a misspelt keyword with a bare TypeError, where
    ``read_input_rows`` says its notes and names its keywords."""
    import headstart.data

    no_logging_set_up(monkeypatch)
    path = tmp_path / "pairs.csv"
    path.write_text("premise,hypothesis,id\na cat,an animal,1\n,empty,2\nx,y,3\n")
    pairs, names, columns = headstart.data.read_pair_rows(str(path), pair=("premise", "hypothesis"))
    assert pairs == [("a cat", "an animal"), ("x", "y")] and [c["id"] for c in columns] == [1, 3]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == ["note: pairs.csv: dropped 1 row missing a text of the pair (data row 2): the inputs after it move "
                     "up; the third value read_pair_rows returns holds each pair's other columns (an id) to match "
                     "predictions back to rows"]
    with pytest.raises(DataError, match=r"^text_column='premise' names one column, .*: text_column='FIRST,SECOND' "):
        headstart.data.read_pair_rows(str(path), pair=("premise", "hypothesis"), text_column="premise")
    with pytest.raises(ConfigError, match=r"^read_pair_rows\(\) has no keyword 'text_colum'; did you mean 'text_column'\?"):
        headstart.data.read_pair_rows(str(path), pair=("premise", "hypothesis"), text_colum="premise,hypothesis")


def test_predict_refuses_an_empty_text_that_headstart_predict_drops(toy_csv, tiny_registry, tmp_path):
    run = headstart.fit(str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, out=tmp_path / "lp")
    for predict in (lambda texts: headstart.predict(tmp_path / "lp", texts), run.predict):
        with pytest.raises(ConfigError, match=r"^input 1 of 3 is empty text \(and 1 more\), nothing to predict from; leave "
                                              r"it out, e\.g\. \[t for t in texts if t\.strip\(\)\]"):
            predict(["", "great", "  "])
        assert [r["text"] for r in predict(["fine", "great"])] == ["fine", "great"]


def test_predict_on_a_numpy_array_echoes_plain_str(toy_csv, tiny_registry, tmp_path):
    """A numpy array's texts came back as ``'text': np.str_('fine')``; each row's text is a plain str now."""
    import numpy as np

    run = headstart.fit(str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, out=tmp_path / "lp")
    for predict in (lambda texts: headstart.predict(tmp_path / "lp", texts), run.predict):
        rows = predict(np.array(["fine", "great"]))
        assert [type(r["text"]) for r in rows] == [str, str] and "np.str_" not in repr(rows), rows


def test_compare_results_recommendation_is_the_list_of_lines_the_readme_says(tmp_path) -> None:
    """README called ``result.recommendation`` "the report's advice" while it is a list of strings, one per band of
    sizes: the README and the property's docstring now say it is a list of lines, and it is."""
    import inspect
    from pathlib import Path

    from headstart.compare_result import CompareResult

    bands = [{"text": "up to 16 labelled examples: zero-shot", "evidence": []},
             {"text": "from 64 labelled examples: linear-probe", "evidence": []}]
    result = CompareResult(out=tmp_path, total=2, skipped=0, trained=2, statuses={"done": 2}, seconds=1.0,
                           summary={"recommendation": bands}, reports={})
    assert result.recommendation == [b["text"] for b in bands]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith("result.recommendation"))
    assert "a list of lines, one per band of sizes" in line, line
    assert "list of lines, one per band of sizes" in inspect.getdoc(CompareResult.recommendation)


def test_a_compare_results_flags_are_where_its_recommendation_points(tmp_path) -> None:
    """The recommendation ended "(flags below)", but a CompareResult had nothing below: its flags sat in
    ``summary["budget_flags"]``, which neither the lines nor the repr named. ``flags`` holds them, and the
    recommendation and the repr point there."""
    from headstart.compare_result import CompareResult

    bands = [{"text": "at every size tried: linear-probe (...); note: lora never beat the majority-class rate on "
                      "validation at n = 16: within its budget it learned nothing there (flags below)", "evidence": []}]
    budget = [{"text": "lora never beat the majority-class rate on validation at n = 16 (...): try tune='lr'"}]
    edges = [{"text": "linear-probe chose head_lr 0.01, the top of its grid (...); try grids={'linear-probe': (...)}"}]
    result = CompareResult(out=tmp_path, total=2, skipped=0, trained=2, statuses={"done": 2}, seconds=1.0,
                           summary={"recommendation": bands, "budget_flags": budget, "grid_edges": edges}, reports={})
    assert result.flags == [budget[0]["text"], edges[0]["text"]]
    assert result.recommendation[0].endswith("learned nothing there (see .flags)"), result.recommendation
    assert "2 flag(s) in .flags" in repr(result), repr(result)
    quiet = CompareResult(out=tmp_path, total=1, skipped=0, trained=1, statuses={"done": 1}, seconds=1.0,
                          summary={"recommendation": []}, reports={})
    assert quiet.flags == [] and "flag(s)" not in repr(quiet)


@pytest.mark.parametrize("call, message", [
    (lambda: headstart.predict(None, ["a"]), r"^run must be the path of a run folder, got None; e\.g\. "
     r"headstart\.predict\('runs/lp64', texts\) \(a fit without out= saved nothing: pass the FitResult itself"),
    (lambda: headstart.load(None), r"^run must be the path of a run folder, got None; e\.g\. headstart\.load\('runs/lp64'\) "
     r"\(a fit without out= saved nothing"),
    (lambda: headstart.load(5), r"^run must be the path of a run folder, got 5; e\.g\. headstart\.load\('runs/lp64'\)$"),
    (lambda: headstart.evaluate(None), r"^run must be the path of a run folder, got None; e\.g\. headstart\.evaluate"),
    (lambda: headstart.runs(None), r"^directory must be the path of a store folder \(runs\.sqlite\), got None; e\.g\. headstart\.runs\("),
    (lambda: headstart.report(None), r"^directory must be the path of a store folder \(runs\.sqlite\), got None; e\.g\. headstart\.report\("),
    (lambda: headstart.export(None, "exp/z"), r"^directory must be the path of a run folder, got None; e\.g\. headstart\.export\("),
    (lambda: headstart.export("runs/lp", None), r"^out must name a folder, got None"),
    (lambda: headstart.AdapterSet().add(None), r"^directory must be the path of a run folder, got None; e\.g\. AdapterSet\(\)\.add\("),
    (lambda: headstart.check_leakage(run=5), r"^run must be the path of a run folder, got 5; e\.g\. headstart\.check_leakage\(run="),
    (lambda: headstart.load(["runs/lp"]), r"^run must be the path of a run folder, got a list; e\.g\. "),  # a type, not its repr
    (lambda: headstart.generate(None, ["hi"]), r"^run must be the path of a run folder, got None; e\.g\. headstart\.generate\("),
])
def test_a_value_that_names_no_run_or_store_folder_is_refused_by_name(call, message, tmp_path, monkeypatch):
    """A FitResult's ``out`` is None after a fit without out=: passed where a path goes, it is one ConfigError naming
    the argument and the way on, not Python's TypeError from deep inside the load; nothing is written."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        call()
    assert list(tmp_path.iterdir()) == []


def test_help_of_a_fit_result_documents_every_field():
    """val_metrics, chosen, flags, val_held_out, leakage, ended_by, not_scored ... were explained only in source
    comments, which help() does not show: the class docstring's Attributes section names each public field."""
    import dataclasses
    import inspect
    import re

    from headstart.fit_result import FitResult

    doc = inspect.getdoc(FitResult)
    assert "Attributes:" in doc, doc
    attributes = doc.split("Attributes:", 1)[1]
    named = {n for line in re.findall(r"^    (\S[^:]*):", attributes, flags=re.M) for n in re.split(r"\s*/\s*", line)}
    fields = {f.name for f in dataclasses.fields(FitResult) if not f.name.startswith("_")}
    assert not fields - named, f"fields help() does not explain: {sorted(fields - named)}"


def test_train_seconds_is_the_runs_own_time_with_cached_features_apart(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """A 25.5 s linear-probe call reported 47.1 s: train_seconds counted the cached features at what computing them
    cost (compare's charge), features an earlier call had computed. It is the run's own time now, never more than the
    call took, and ``feature_seconds`` names that cost apart; the saved run and ``load`` say the same."""
    import time

    import headstart.features

    real = headstart.features.embed_rows

    def costly(*args, seconds=None, **kwargs):  # as if an earlier call had spent 60 s computing the features
        out = real(*args, seconds=seconds, **kwargs)
        if seconds is not None:
            seconds += 60.0 / len(seconds)
        return out

    monkeypatch.setattr(headstart.features, "embed_rows", costly)
    began = time.perf_counter()
    run = headstart.fit(str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, out=tmp_path / "lp",
                        max_steps=3, precision="fp32")
    took = time.perf_counter() - began
    assert run.feature_seconds >= 60.0 and run.train_seconds < took, (run.train_seconds, run.feature_seconds, took)
    loaded = headstart.load(tmp_path / "lp")
    assert loaded.train_seconds == round(run.train_seconds, 3) and loaded.feature_seconds == round(run.feature_seconds, 3)
