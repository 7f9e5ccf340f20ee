"""zero-shot: the head is the normalised description embeddings, it beats chance with no labels, and n = 0 runs in
a sweep beside arms that need labels (which skip it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import NEGATIVE, POSITIVE, make_toy_images, run_cli, tiny_backbone

from headstart.errors import ConfigError
from headstart.evaluation import model_outputs
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies.zero_shot import TEMPLATE, parse_label_texts, read_label_descriptions
from headstart.sweep_spec import SweepSpec, parse_sizes

CFG = TrainConfig(precision="fp32", batch_size=8)
SEPARABLE = {"neg": " ".join(NEGATIVE), "pos": " ".join(POSITIVE)}  # words of the tiny backbone's vocabulary


def zero_shot(data, descriptions=None):
    spec = RunSpec(data="toy", backbone="tiny", strategy="zero-shot", n=0, train=CFG,
                   options={"descriptions": descriptions} if descriptions else {})
    return setup(spec, data=data, pretrained=tiny_backbone(0))


def test_head_is_the_normalised_description_embeddings_and_beats_chance(toy):
    s = zero_shot(toy, SEPARABLE)
    assert len(s.train_rows) == 0
    report = train(s)
    assert report.status == "done" and report.steps == 0
    texts = [SEPARABLE[label] for label in toy.label_names]
    with torch.no_grad():
        expected = F.normalize(s.model.backbone(s.model.backbone.collate(s.model.backbone.encode(texts))), dim=-1)
    assert torch.allclose(s.model.head.weight, expected, atol=1e-6)
    assert torch.equal(s.model.head.bias, torch.zeros(len(texts)))
    rows = s.splits.pool  # never trained on: no row was read
    predicted = model_outputs(s.model, s.encoded, rows, batch_size=128).argmax(1).numpy()
    accuracy = float((predicted == toy.targets[rows]).mean())
    assert accuracy > 0.6, accuracy  # chance is ~0.5 on the two balanced classes (a random tiny encoder: 0.66)


def test_swapped_descriptions_score_below_chance(toy):
    """The descriptions are what decides: swapped, the same head gets most rows wrong."""
    s = zero_shot(toy, {"neg": SEPARABLE["pos"], "pos": SEPARABLE["neg"]})
    train(s)
    predicted = model_outputs(s.model, s.encoded, s.splits.pool, batch_size=128).argmax(1).numpy()
    assert float((predicted == toy.targets[s.splits.pool]).mean()) < 0.4


def test_default_descriptions_are_the_template_over_the_label_names_in_class_order(toy):
    s = zero_shot(toy, {"pos": "a good film"})
    assert s.options.descriptions == (("neg", TEMPLATE.format(label="neg")), ("pos", "a good film"))
    stored = json.loads(json.dumps(s.resolved()))  # as spec.json and the store keep it
    assert stored["options"]["descriptions"] == [["neg", "This example is neg."], ["pos", "a good film"]]


def test_label_descriptions_from_text_json_and_toml(tmp_path):
    assert parse_label_texts('fresh="a good film, warm",rotten=a bad film') == [("fresh", "a good film, warm"), ("rotten", "a bad film")]
    (tmp_path / "d.json").write_text(json.dumps({"fresh": "good"}))
    (tmp_path / "d.toml").write_text('fresh = "good"\nrotten = "bad"\n')
    assert read_label_descriptions(str(tmp_path / "d.json")) == [("fresh", "good")]
    assert read_label_descriptions(str(tmp_path / "d.toml")) == [("fresh", "good"), ("rotten", "bad")]
    with pytest.raises(ConfigError, match="cannot read label descriptions"):
        read_label_descriptions(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="LABEL=TEXT pairs"):
        parse_label_texts("no pairs here")


def test_a_description_of_a_label_the_data_lacks_names_the_labels(toy):
    with pytest.raises(ConfigError, match=r"'positive', not a label of the data \(its labels: neg, pos\)"):
        zero_shot(toy, {"positive": "good"})


def test_n_must_be_0_for_zero_shot_and_positive_for_strategies_that_need_labels(toy):
    with pytest.raises(ConfigError, match="'zero-shot' reads no labelled examples .* give --n 0"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="zero-shot", n=8, train=CFG), data=toy, pretrained=tiny_backbone(0))
    with pytest.raises(ConfigError, match="'linear-probe' trains on labelled examples, but n is 0; .* zero-shot"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=0, train=CFG), data=toy, pretrained=tiny_backbone(0))


def test_sizes_accept_0_and_the_sweep_runs_each_arm_where_it_applies():
    assert parse_sizes("0,8,all") == (0, 8, None)
    sweep = SweepSpec(data="toy", backbone="tiny", strategies=("zero-shot", "linear-probe"), sizes=(0, 8), seeds=2)
    cells = {(c.strategy, c.n, c.seed) for c in sweep.cells()}
    assert cells == {("zero-shot", 0, 0), ("zero-shot", 0, 1), ("linear-probe", 8, 0), ("linear-probe", 8, 1)}
    with pytest.raises(ConfigError, match=r"runs at size 0 only, which sizes lacks; add it, e.g. sizes=\(0, 8\)$"):
        SweepSpec(strategies=("zero-shot", "linear-probe"), sizes=(8,))
    with pytest.raises(ConfigError, match="size 0 in sizes runs only strategies that need no labels"):
        SweepSpec(strategies=("linear-probe",), sizes=(0, 8))


def test_compare_at_n_0_runs_zero_shot_and_skips_the_arms_that_need_labels(toy_csv, tiny_registry, tmp_path):
    import headstart

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    result = headstart.compare(str(toy_csv), backbone="tiny", strategies="zero-shot,linear-probe,embed-logreg", sizes=[0, 16],
                               seeds=2, out=tmp_path / "zs", config=cfg, tune=None,
                               options={"zero-shot": {"descriptions": SEPARABLE}})
    assert (result.total, result.trained, result.reused, result.statuses) == (6, 5, 1, {"done": 6})
    cells = {(r["strategy"], r["n"]) for r in result.summary["curves"]}
    assert cells == {("zero-shot", 0), ("linear-probe", 16), ("embed-logreg", 16)}
    zs = next(r for r in result.summary["curves"] if r["strategy"] == "zero-shot")
    assert zs["mean"] > 0.55 and zs["n_actual"] == 0
    assert result.reports["chart.png"].read_bytes().startswith(b"\x89PNG")
    assert "Math.log" in result.reports["report.html"].read_text()  # the HTML chart's x: n = 0 sits left of 16, not at log(0)
    payload = result.reports["report.html"].read_text()
    assert '"x": 4.0' in payload and "-Infinity" not in payload


def test_a_label_free_arm_at_size_0_trains_once_and_its_run_stands_for_every_seed(toy_csv, tiny_registry, tmp_path,
                                                                                   monkeypatch):
    """zero-shot at n = 0 draws no row by seed, takes no step and overwrites the head the seed initialised: a compare
    trained it once per seed for the same predictions. It trains the lowest seed's cell once, stores that run for the
    others (saying so), and the report counts the cell as one run with no seed interval; a repeat of it is trained
    where something else reads the seed (--retain's probe rows, --eval-data)."""
    import headstart
    import headstart.sweep as sweep_module
    from headstart.store import Store
    from headstart.sweep_plan import repeats_a_seed

    trained = []
    real = sweep_module.run_cell
    monkeypatch.setattr(sweep_module, "run_cell", lambda spec, **kw: trained.append((spec.strategy, spec.seed)) or real(spec, **kw))
    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    kwargs = dict(backbone="tiny", strategies="zero-shot,linear-probe", sizes=[0, 16], seeds=3, out=tmp_path / "zs",
                  config=cfg, tune=None, options={"zero-shot": {"descriptions": SEPARABLE}})
    result = headstart.compare(str(toy_csv), **kwargs)
    assert sorted(s for name, s in trained if name == "zero-shot") == [0], "one zero-shot run, not one per seed"
    assert (result.total, result.trained, result.reused, result.statuses) == (6, 4, 2, {"done": 6})
    assert "2 stored from the seed they repeat" in repr(result)
    with Store(tmp_path / "zs") as store:
        runs = {int(r.spec["seed"]): r for r in store.results("done") if r.spec["strategy"] == "zero-shot"}
    assert sorted(runs) == [0, 1, 2] and runs[0].record.get("same_run_as") is None
    for seed in (1, 2):
        assert runs[seed].record["same_run_as"] == {"seed": 0, "key": runs[0].key} and runs[seed].key != runs[0].key
        assert runs[seed].metrics == runs[0].metrics and runs[seed].record["test"] == runs[0].record["test"]
    row = next(r for r in result.summary["curves"] if r["strategy"] == "zero-shot")
    assert row["seeds"] == 3 and row["runs"] == 1 and row["note"].startswith("no random part"), row
    again = headstart.compare(str(toy_csv), **kwargs)  # all stored: nothing trained or copied again
    assert (again.trained, again.reused, again.skipped) == (0, 0, 6)
    import dataclasses

    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="zero-shot", n=0, train=cfg)
    assert repeats_a_seed(spec) and not repeats_a_seed(dataclasses.replace(spec, strategy="linear-probe", n=16))
    assert not repeats_a_seed(dataclasses.replace(spec, retain=("sst2",))), "the retention probe's rows read the seed"
    assert not repeats_a_seed(dataclasses.replace(spec, eval_data=("sst2",))), "so do an out-of-domain score's"


def test_compare_reads_label_descriptions_from_the_flag_and_the_toml(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    toml = tmp_path / "sweep.toml"
    toml.write_text(f'data = "{toy_csv}"\nbackbone = "tiny"\nstrategies = ["zero-shot"]\nsizes = [0]\nseeds = 1\n'
                    f'tune = false\n[label_descriptions]\nneg = "{SEPARABLE["neg"]}"\npos = "{SEPARABLE["pos"]}"\n')
    code, out, err = run_cli(["compare", "--config", str(toml), "--out", str(tmp_path / "toml"), "--quiet", "--json"], monkeypatch, capsys)
    assert code == 0, err
    curve = json.loads(out)["summary"]["curves"][0]
    assert curve["strategy"] == "zero-shot" and curve["mean"] > 0.55
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "8",
                            "--label-descriptions", "neg=bad,pos=good", "--out", str(tmp_path / "no")], monkeypatch, capsys)
    assert code == 2 and "none of which is among the arms" in err


def test_train_zero_shot_defaults_to_n_0_saves_and_predicts_the_same(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    import pandas as pd

    from headstart.loaded import predict_loaded
    from headstart.saved import load_run

    out = tmp_path / "zs"
    code, stdout, err = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "zero-shot", "--precision", "fp32",
                                 "--label-descriptions", f'neg="{SEPARABLE["neg"]}",pos="{SEPARABLE["pos"]}"', "--out", str(out), "-q"],
                                monkeypatch, capsys)
    assert code == 0, err
    assert "trainable params: 0 of 1,346: nothing trained" in stdout, stdout
    assert "no optimiser step" in stdout and "no label read (n = 0)" in stdout, stdout
    assert json.loads((out / "metrics.json").read_text())["trainable_params"] == 0  # it trains nothing
    code, listed, err = run_cli(["adapters", "list", str(out)], monkeypatch, capsys)  # it listed trainable=770 on MiniLM
    assert code == 0 and "trainable=0 " in listed, (listed, err)
    assert "best at step" not in stdout  # nothing was stepped
    assert "Validation (scored only: nothing was chosen on it, " in (out / "README.md").read_text()
    loaded = load_run(out)
    assert loaded.meta["resolved"]["n"] == 0
    table = pd.read_csv(toy_csv)
    got = [g["label"] for g in predict_loaded(loaded, table["text"].tolist())]
    assert float(np.mean(np.asarray(got) == table["label"].to_numpy())) > 0.55  # (save -> load equality: test_contract)


def test_an_image_backbone_is_refused_with_the_reason(tmp_path, tiny_registry, monkeypatch, capsys):
    from PIL import Image

    images = make_toy_images(24, size=12)
    for i, (array, y) in enumerate(zip(images.inputs, images.targets)):
        folder = tmp_path / "images" / images.label_names[y]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / f"{i}.png")  # grey (12, 12) uint8
    code, out, err = run_cli(["train", "--data", str(tmp_path / "images"), "--backbone", "tiny-cnn", "--strategy", "zero-shot",
                              "--out", str(tmp_path / "run")], monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "does not apply to image backbones (it needs an image-text model" in lines[0]


def test_commands_that_need_labelled_rows_refuse_n_0(toy_csv, tmp_path):
    """--n now parses 0; rank-backbones and continual, which score or train on labels, say why not before loading."""
    from headstart.continual import continual
    from headstart.rank import rank_backbones

    with pytest.raises(ConfigError, match="rank-backbones scores features against labels and n=0 draws none"):
        rank_backbones(str(toy_csv), "tiny", n=0)
    with pytest.raises(ConfigError, match="--n 0 gives each task no labelled rows"):
        continual(n=0, out=tmp_path / "c")


def test_the_python_api_takes_label_descriptions_as_the_cli_does(toy_csv, tiny_registry, tmp_path):
    """fit and compare take ``label_descriptions`` (a dict, or the CLI's text), and compare ``max_test`` / ``dedupe`` as
    the CLI's flags: the Python API mirrors the CLI."""
    import json

    import headstart

    texts = {"neg": SEPARABLE["neg"], "pos": SEPARABLE["pos"]}
    run = headstart.fit(str(toy_csv), "tiny", strategy="zero-shot", out=tmp_path / "zs", label_descriptions=texts)
    given = json.loads((tmp_path / "zs" / "spec.json").read_text())["resolved"]["options"]["descriptions"]
    assert [tuple(p) for p in given] == list(texts.items()) and run.status == "done"
    result = headstart.compare(str(toy_csv), "tiny", strategies="zero-shot", sizes="0", seeds=1, out=tmp_path / "cmp",
                               label_descriptions=f'neg="{texts["neg"]}",pos="{texts["pos"]}"', max_test=40, dedupe=True)
    sweep = json.loads((tmp_path / "cmp" / "results.json").read_text())["sweep"]
    assert sweep["split"]["max_test"] == 40 and sweep["split"]["dedupe"] is True, sweep["split"]
    assert [tuple(p) for p in sweep["options"]["zero-shot"]["descriptions"]] == list(texts.items()) and result.total == 1
