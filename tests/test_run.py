"""A run end to end (setup -> train -> save -> load -> evaluate / predict), on the tiny backbone; real model when slow."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

import headstart
from headstart.errors import StoreError
from headstart.loaded import evaluate_loaded, predict_loaded
from headstart.recipe import budget_for, selection_metric, setup, train
from headstart.saved import save
from headstart.run_meta import read_meta
from headstart.saved import load_run
from headstart.specs import RunSpec, TrainConfig

FAST = TrainConfig(max_steps=20, min_steps=20, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2)


def test_budget():
    cfg = TrainConfig(epochs=3, min_steps=10, batch_size=8, accumulate=2).with_defaults({})
    assert budget_for(cfg, 100).steps_per_epoch == 7 and budget_for(cfg, 100).steps == 21
    assert budget_for(cfg, 8).steps == 10  # the floor for tiny n
    assert budget_for(TrainConfig(max_steps=5).with_defaults({}), 1000).steps == 5


def test_selection_metric(toy_factory):
    skewed = toy_factory(100, weights=(0.9, 0.1), seed=3)
    cfg = TrainConfig()
    assert selection_metric(cfg, skewed, np.arange(100)) == "macro_f1"
    assert selection_metric(cfg, toy_factory(100), np.arange(100)) == "accuracy"
    assert selection_metric(TrainConfig(metric="loss"), skewed, np.arange(100)) == "loss"


def test_resolved_spec(toy, make_tiny):
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="llrd", n=16, seed=2, train=FAST), data=toy, pretrained=make_tiny(0))
    r = s.resolved()
    assert r["n"] == 16 and r["n_requested"] == 16 and r["seed"] == 2 and r["strategy"] == "llrd"
    assert r["options"] == {"decay": 0.7} and r["train"]["lr"] == 3e-3 and r["train"]["precision"] == "fp32"
    assert r["data"]["hash"] == toy.hash and r["backbone"] == "tiny" and r["backbone_config"]["pretrained"] is True
    s_all = setup(RunSpec(data="toy", backbone="tiny", n=None, train=FAST), data=toy, pretrained=make_tiny(0))
    assert s_all.resolved()["n_requested"] == "all" and s_all.resolved()["n"] == len(s_all.splits.pool)


@pytest.fixture
def saved_run(toy_csv, tiny_registry, tmp_path):
    result = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=64, out=tmp_path / "run", config=FAST)
    return result, tmp_path / "run"


def test_saved_run_layout(saved_run):
    result, out = saved_run
    meta = json.loads((out / "spec.json").read_text())
    assert meta["key"] == result.key and meta["backbone_saved"] == "trained"
    assert len(meta["train_rows"]) == 64 and meta["label_names"] == ["neg", "pos"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["val"]["accuracy"] == result.val_metrics["accuracy"]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_evaluate_in_memory_equals_from_disk(saved_run):
    result, out = saved_run
    assert headstart.evaluate(result) == headstart.evaluate(out)
    assert headstart.evaluate(result, "val")["accuracy"] == pytest.approx(result.val_metrics["accuracy"])
    texts = ["good", "awful plot"]
    assert headstart.predict(result, texts) == headstart.predict(out, texts)


def test_evaluate_refuses_changed_data(saved_run, toy_csv):
    _, out = saved_run
    frame = pd.read_csv(toy_csv)
    frame.loc[0, "text"] = "changed"
    frame.to_csv(toy_csv, index=False)
    with pytest.raises(StoreError, match="changed since this run was trained"):
        headstart.evaluate(out)


def test_load_errors(saved_run, tmp_path):
    _, out = saved_run
    with pytest.raises(StoreError, match="nowhere.* does not exist; pass the folder"):
        load_run(tmp_path / "nowhere")
    meta = json.loads((out / "spec.json").read_text())
    (out / "spec.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(StoreError, match="incompatible headstart"):
        read_meta(out)
    (out / "spec.json").write_text(json.dumps(meta))
    (out / "weights.safetensors").write_bytes(b"truncated")
    with pytest.raises(StoreError, match="is corrupt"):
        load_run(out)
    (out / "weights.safetensors").unlink()
    with pytest.raises(StoreError, match="is missing"):
        load_run(out)
    (out / "spec.json").write_text("{")
    with pytest.raises(StoreError, match="damaged"):
        load_run(out)


def test_unwritable_out(toy, make_tiny, tmp_path):
    s = setup(RunSpec(data="toy", backbone="tiny", n=16, train=FAST), data=toy, pretrained=make_tiny(0))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot write to output directory"):
        save(s, train(s), blocker / "run")


def test_linear_probe_saves_no_backbone_weights(toy_csv, tiny_registry, tmp_path):
    from safetensors.torch import load_file

    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, out=tmp_path / "lp", config=dataclasses.replace(FAST, lr=None))
    assert json.loads((tmp_path / "lp" / "spec.json").read_text())["backbone_saved"] == "none"
    assert set(load_file(str(tmp_path / "lp" / "weights.safetensors"))) == {"head.weight", "head.bias", "target_mean", "target_std"}


def test_regression_round_trip_in_target_units(tmp_path, tiny_registry, toy_factory):
    data = toy_factory(200, seed=4)
    values = np.where(data.targets == 1, 80.0, 20.0) + np.random.default_rng(0).normal(size=200)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"text": data.inputs, "score": values}).to_csv(path, index=False)
    result = headstart.fit(str(path), "tiny", strategy="full-finetune", n=100, out=tmp_path / "reg", config=FAST)
    predictions = headstart.predict(tmp_path / "reg", ["good great", "awful bad"])
    assert predictions == headstart.predict(result, ["good great", "awful bad"])
    assert predictions[0]["prediction"] > predictions[1]["prediction"]
    assert 0 < predictions[1]["prediction"] < 100  # in target units, not standardised
    assert headstart.evaluate(result)["rmse"] < values.std()


def test_diverged_run_is_reported(toy, make_tiny):
    s = setup(RunSpec(data="toy", backbone="tiny", n=16, train=FAST), data=toy, pretrained=make_tiny(0))
    s.model.head.weight.data.fill_(float("nan"))
    report = train(s)
    assert report.status == "diverged" and "at step 1" in report.error


# ---- real model, real data ---------------------------------------------------------------------------------

REAL = TrainConfig(max_steps=8, min_steps=8, batch_size=8, eval_batch_size=64, precision="fp32", patience=0, evals_per_phase=1)


@pytest.fixture(scope="module")
def minilm():
    from headstart.backbones import load_backbone

    return load_backbone()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["full-finetune", "scratch"])
def test_real_save_load_same_predictions(strategy, tmp_path, minilm):
    from headstart.data import SplitConfig

    # A small validation split keeps the (fine-tuned, so uncached) validation passes short.
    s = setup(RunSpec(strategy=strategy, n=16, train=REAL, split=SplitConfig(max_val=48)), pretrained=minilm)
    report = train(s)
    assert report.status == "done" and report.steps == 8
    save(s, report, tmp_path / strategy)
    texts = ["a triumph, funny and moving", "a dull, lifeless mess", "it is a film"]
    from headstart.saved import LoadedRun

    s.model.eval()
    in_memory = predict_loaded(LoadedRun(tmp_path, {"resolved": s.resolved()}, s.model, "classification", s.data.label_names, s.device), texts)
    from_disk = predict_loaded(load_run(tmp_path / strategy), texts)
    for a, b in zip(in_memory, from_disk):
        assert a["label"] == b["label"]
        assert np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-5)
    saved = json.loads((tmp_path / strategy / "spec.json").read_text())["backbone_saved"]
    assert saved == ("full" if strategy == "scratch" else "trained")
    # The backbone moved: predictions from the untouched pre-trained encoder with this head would differ.
    assert not all(torch.equal(p, q) for p, q in zip(s.model.backbone.parameters(), minilm.parameters()))


@pytest.mark.slow
def test_real_val_metrics_reproduce_from_disk(tmp_path):
    result = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=32, out=tmp_path / "lp", config=REAL)
    assert evaluate_loaded(load_run(tmp_path / "lp"), "val")["accuracy"] == pytest.approx(result.val_metrics["accuracy"])


def test_the_model_card_says_what_validation_chose():
    """A stepped run's checkpoint, a closed-form run's setting (embed-logreg's C), or nothing (zero-shot)."""
    from headstart.model_card import model_card

    def line(metrics):
        return next(x for x in model_card({}, metrics, how="").splitlines() if x.startswith("Validation"))

    assert line({"steps": 40, "val": {"n": 12}}).startswith("Validation (the split that chose the checkpoint, 12 examples)")
    assert line({"steps": 0, "chosen": {"C": 1.0}, "val": {"n": 12}}).startswith("Validation (the split that chose C=1, 12 examples)")
    assert line({"steps": 0, "chosen": {}, "val": {"n": 12}}).startswith("Validation (scored only: nothing was chosen on it")


def test_a_one_value_grid_chose_nothing_on_validation():
    """embed-logreg with grid=[1.0] had one candidate: its C is a setting, not a choice (the model card, the report and
    train say so); a k grid that n caps to one value likewise; a grid of several keeps its choice."""
    from headstart.model_card import model_card
    from headstart.results import chosen_on_validation, given

    assert given({"C": 1.0}, {"grid": [1.0]}) == {"C": 1.0} == given({"C": 1.0}, {"grid": 1.0})
    assert given({"alpha": 1.0}, {"grid": "1"}) == {"alpha": 1.0}
    assert given({"k": 2}, {"grid": [3, 5]}, 2) == {"k": 2} and given({"k": 3}, {"grid": [3, 5]}, 16) == {}
    assert chosen_on_validation({"C": 1.0, "pair_steps": 4}, {"grid": [1.0]}) == {}
    assert chosen_on_validation({"C": 0.1}, {"grid": [0.1, 1.0]}) == {"C": 0.1}
    card = model_card({"resolved": {"options": {"grid": [1.0]}, "n": 16}}, {"steps": 0, "chosen": {"C": 1.0}, "val": {"n": 12}}, how="")
    assert "Validation (scored only: nothing was chosen on it" in card


def test_the_python_api_reads_one_string_as_one_text_and_keeps_its_reprs_short(toy_csv, tiny_registry, tmp_path):
    """predict("text") answers what predict(["text"]) does (not one row per character); a text run's Path is a file to
    read, refused; a FitResult's repr would print the model, a Dataset's its every input; terms take the CLI's text too."""
    import headstart
    from headstart.adapter_set import AdapterSet
    from headstart.data import load_dataset
    from headstart.errors import ConfigError
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, out=tmp_path / "ft", config=cfg,
                        terms="l2sp[weight=0.01]")
    assert json.loads((tmp_path / "ft" / "spec.json").read_text())["resolved"]["terms"] == {"l2sp": {"weight": 0.01}}
    for predict in (run.predict, lambda texts: headstart.predict(tmp_path / "ft", texts)):
        one = predict("a joy to watch")
        assert one == predict(["a joy to watch"]) and len(one) == 1 and one[0]["text"] == "a joy to watch", one
        with pytest.raises(ConfigError, match=r"got path '[^']*'; read its inputs first: headstart\.data\.read_inputs"):
            predict(toy_csv)
        with pytest.raises(ConfigError, match=r"predict got '[^']*toy[^']*', which names a file: to predict its rows read "
                                              r"them first, headstart\.data\.read_inputs\("):
            predict(str(toy_csv))  # a file's name meant as its rows, not the words of its path
        assert predict([str(toy_csv)])[0]["text"] == str(toy_csv)
        with pytest.raises(ConfigError, match=r"predict got 'reveiws\.csv', which reads as a file's name \(no such file "
                                              r"here\): to predict its rows read them first"):
            predict("reveiws.csv")  # a misspelt file name is not a review either
        assert len(predict("see it: reviews.csv")) == 1, "a text that ends like a file name is still a text"
        with pytest.raises(ConfigError, match=r"got bytes b'a joy'; decode them to a str first"):
            predict(b"a joy")
        with pytest.raises(ConfigError, match=r"predict takes a list of inputs, got NoneType None; e\.g\. "):
            predict(None)
        assert len(predict(["a joy to watch"])) == 1
    with pytest.raises(ConfigError, match="terms must be a dict"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=cfg, terms=["l2sp"])
    assert len(repr(run)) < 1500 and "BertModel" not in repr(run), repr(run)
    data = load_dataset(str(toy_csv))
    assert repr(data) == f"Dataset({data.name!r}: 200 text examples, classification, 2 classes, hash {data.hash})"
    assert repr(AdapterSet()) == "AdapterSet(empty)"


def test_the_record_says_when_max_steps_cut_the_budget(toy_csv, tiny_registry):
    """lp-ft's two phases are each capped: planned steps (6) never equal max_steps (3), so the record says it."""
    from headstart.recipe import run
    from headstart.specs import RunSpec, TrainConfig

    def budget(**train):
        spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="lp-ft", n=32, train=TrainConfig(precision="fp32", **train))
        return run(spec, test=False).result.record["budget"]

    capped = budget(max_steps=3)
    assert capped["capped"] and capped["planned_steps"] == 6
    assert not budget(max_steps=1000, min_steps=4, epochs=1)["capped"]


def test_a_run_that_diverges_never_replaces_a_finished_one(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """A diverged run into the --out of a finished one deleted its weights and wrote "diverged" over its metrics; the
    finished run is kept and the result says so (a diverged run into a new folder is still saved, as before)."""
    import headstart.recipe as recipe
    from conftest import run_cli

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, out=tmp_path / "ft", config=cfg)
    before = {p.name: p.read_bytes() for p in (tmp_path / "ft").iterdir() if p.is_file()}
    original = recipe.setup

    def poisoned(*args, **kwargs):
        s = original(*args, **kwargs)
        s.model.head.weight.data.fill_(float("nan"))
        return s

    monkeypatch.setattr(recipe, "setup", poisoned)
    code, out, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune",
                              "--n", "16", "--max-steps", "4", "--min-steps", "4", "--batch-size", "8", "--precision", "fp32",
                              "--out", str(tmp_path / "ft"), "--retrain"], monkeypatch, capsys)  # the same run's spec: it may replace it
    assert code == 1 and "replaced" not in err
    assert f"note: this run diverged and was not saved: the finished run already in '{tmp_path / 'ft'}' was kept" in out, out
    assert {p.name: p.read_bytes() for p in (tmp_path / "ft").iterdir() if p.is_file()} == before
    fresh = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, out=tmp_path / "new", config=cfg)
    assert fresh.status == "diverged" and json.loads((tmp_path / "new" / "metrics.json").read_text())["status"] == "diverged"


def test_a_folder_that_is_no_run_names_the_python_call_from_python(tmp_path, monkeypatch, capsys):
    """``headstart.evaluate`` / ``predict`` / ``generate`` on the wrong folder told Python callers to pass "the --out
    directory of 'headstart train'" or to run ``headstart generate … --prompt``; the CLI keeps those words."""
    from conftest import assert_user_error, run_cli

    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "spec.json").write_text(json.dumps({"kind": "sft"}))
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "spec.json").write_text(json.dumps({"format_version": 1}))
    (tmp_path / "empty").mkdir()  # a folder without spec.json (one that does not exist is said as such)
    for call in (lambda: headstart.evaluate(tmp_path / "empty"), lambda: headstart.predict(str(tmp_path / "empty"), ["a"])):
        with pytest.raises(StoreError) as caught:
            call()
        assert str(caught.value).endswith("is not a headstart run (no spec.json); pass the folder headstart.fit(..., out=DIR) saved")
    with pytest.raises(StoreError) as caught:
        headstart.predict(tmp_path / "sft", ["a"])
    assert f"ask it with: headstart.generate({str(tmp_path / 'sft')!r}, prompts)" in str(caught.value)
    assert f"headstart.export({str(tmp_path / 'sft')!r}, 'FOLDER', format='hf')" in str(caught.value)
    with pytest.raises(StoreError) as caught:  # evaluate scores an sft run's test prompts: this spec.json names no data
        headstart.evaluate(tmp_path / "sft")
    assert str(caught.value) == (f"{str(tmp_path / 'sft' / 'spec.json')!r} names no data the run trained on (its data.name is "
                                 "missing): the run folder is damaged, so its test prompts cannot be drawn again; "
                                 f"headstart.generate({str(tmp_path / 'sft')!r}, [TEXT]) still asks it")
    with pytest.raises(StoreError) as caught:
        headstart.generate(tmp_path / "fit", ["a"])
    assert str(caught.value).endswith("is a headstart.fit run, not an sft / prefer run; give a run folder "
                                      "headstart.sft(..., out=DIR) or headstart.prefer(..., out=DIR) wrote, or what they returned")
    assert_user_error(run_cli(["evaluate", str(tmp_path / "empty")], monkeypatch, capsys),
                      "pass the --out directory of 'headstart train'")
    assert_user_error(run_cli(["predict", str(tmp_path / "sft"), "-"], monkeypatch, capsys),
                      f"ask it with: headstart generate {tmp_path / 'sft'} --prompt TEXT",
                      f"headstart export {tmp_path / 'sft'} --format hf --out FOLDER")
    assert_user_error(run_cli(["generate", str(tmp_path / "fit"), "--prompt", "a"], monkeypatch, capsys),
                      "is a 'headstart train' run", "written by headstart sft or headstart prefer")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "spec.json").write_text(json.dumps({"kind": "export"}))
    with pytest.raises(StoreError, match=r"is an 'export' run, not an sft / prefer run"):
        headstart.generate(tmp_path / "other", ["a"])


def test_a_runs_validation_checks_are_read_from_what_an_older_metrics_json_kept(tmp_path):
    """A run saved before val_checks: its held-out score's count (a solver's ranked candidates among them) comes
    first; its history, one entry for a solve that ranked five, counted too few and put an interval back."""
    from headstart.saved import validation_checks

    cases = [({"val_checks": 7, "val_held_out": {"checks": 5}}, 7),
             ({"val_held_out": {"checks": 5}, "history": [{"step": 0, "val_score": 0.6, "chosen": {"C": 1.0}}]}, 5),
             ({"val_held_out": None, "history": [{"val_score": 0.5}, {"train_loss": 1.0}, {"val_score": 0.6}]}, 2),
             ({}, 0)]
    for number, (metrics, expected) in enumerate(cases):
        (tmp_path / str(number)).mkdir()
        (tmp_path / str(number) / "metrics.json").write_text(json.dumps(metrics))
        assert validation_checks(tmp_path / str(number)) == expected, metrics
    assert validation_checks(tmp_path / "absent") == 0
