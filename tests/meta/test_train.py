"""The recipe: meta-training raises episode accuracy; every method meets the same episodes; the CLI end to end."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from headstart.meta.config import MetaConfig
from headstart.meta.pools import make_pool
from headstart.meta.train import evaluate, train_arm
from meta_fixtures import band_images, flat_cnn


def pools(cfg: MetaConfig):
    backbone, data = flat_cnn(0), band_images(classes=6)
    pool = make_pool(data, list(range(6)), backbone, cfg=cfg, shots=max(cfg.shots + (cfg.train_shots,)), where="bands")
    return backbone, pool


def accuracy(rows: list[dict], method: str) -> float:
    return next(r["mean"] for r in rows if r["method"] == method)


def test_meta_training_raises_episode_accuracy():
    cfg = MetaConfig(arms=("protonet",), novel=("bands",), ways=5, shots=(1,), train_shots=1, queries=5, episodes=60,
                     meta_steps=30, meta_lr=1e-2, per_class=40, finetune_steps=1)
    plain, pool = pools(cfg)
    before = accuracy(evaluate({"protonet": (plain, None)}, plain, [pool], cfg, progress=False), "protonet")
    trained, head, summary = train_arm("protonet", plain, pool, cfg, progress=False)
    after = accuracy(evaluate({"protonet": (trained, head)}, plain, [pool], cfg, progress=False), "protonet")
    assert summary["last_loss"] < summary["first_loss"]
    assert after > before + 0.05, (before, after)


def test_every_method_meets_the_same_episodes():
    cfg = MetaConfig(arms=("protonet",), novel=("bands",), ways=5, shots=(1, 2), queries=3, episodes=25, per_class=20,
                     finetune_steps=1)
    plain, pool = pools(cfg)
    rows = evaluate({"protonet": (plain, None)}, plain, [pool], cfg, progress=False)
    for shots in (1, 2):
        by = {r["method"]: r for r in rows if r["shots"] == shots}
        # the un-meta-trained ProtoNet is the plain backbone's nearest prototype: equal only on the same episodes
        assert by["protonet"]["mean"] == by["plain prototypes"]["mean"] and by["protonet"]["episodes"] == 25
        # one meta-training run: its episodes' interval holds no training randomness, and says so; a plain arm trains per episode
        assert by["protonet"]["caveat"] == "1 seed: training randomness is not in the interval" and "caveat" not in by["plain prototypes"]
    assert {r["method"] for r in rows} == {"protonet", "plain linear-probe", "plain fine-tune", "plain prototypes"}
    for r in rows:  # the paired difference is the mean of the per-episode differences from the probe
        probe = next(p for p in rows if p["method"] == "plain linear-probe" and p["shots"] == r["shots"])
        if r is probe:
            assert r["vs_linear_probe"] is None
        else:
            assert r["vs_linear_probe"][0] == pytest.approx(r["mean"] - probe["mean"])


@pytest.mark.parametrize("args, text", [
    (["--shots", "0"], "--shots must be >= 1"),
    (["--arms", "protonet,mamal"], "unknown meta-learning arm 'mamal'; did you mean 'maml'?"),
    (["--setting", "fashion-split", "--ways", "6"], "--ways 6 needs 6 classes, but the novel classes of 'fashion-mnist' are 5"),
    (["--setting", "cross-over"], "unknown setting 'cross-over'"),
    (["--inner", "some"], "--inner must be one of head, all"),
    (["--base", "fashion-mnst"], "unknown image dataset 'fashion-mnst'; did you mean 'fashion-mnist'? (available: "
                                 "fashion-mnist, mnist-5k, opencv-digits, sklearn-digits)"),  # not the text ones too
])
def test_bad_input_is_one_line_and_exit_2(args, text, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    code, out, err = run_cli(["meta-train", *args, "--out", str(tmp_path / "m"), "-q"], monkeypatch, capsys)
    assert code == 2 and text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_shows_an_example(monkeypatch, capsys):
    from typer.testing import CliRunner

    from headstart.cli import app

    from headstart.meta.config import META_LR_GRID
    from headstart.meta.results import rate_text

    result = CliRunner().invoke(app, ["meta-train", "--help"])
    assert result.exit_code == 0 and "Example: headstart meta-train" in result.output
    grid = ", ".join(map(rate_text, META_LR_GRID))  # the help's words (the CLI imports no torch, so not the constant)
    assert grid in " ".join(result.output.split()), grid


def test_cli_end_to_end_saves_backbones_that_load(tmp_path, monkeypatch, capsys):
    """fashion-split, two arms, a handful of steps and episodes: results written, each arm's folder a backbone."""
    from conftest import run_cli

    from headstart.backbones.registry import load_backbone

    out = tmp_path / "meta"
    code, stdout, err = run_cli(["meta-train", "--setting", "fashion-split", "--arms", "protonet,reptile", "--meta-steps", "2",
                                 "--episodes", "3", "--per-class", "20", "--queries", "3", "--shots", "1", "--train-shots", "1",
                                 "--val-episodes", "4", "--tune", "meta-lr", "--out", str(out), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert "| protonet |" in stdout and "plain linear-probe" in stdout and "Paired difference from plain linear-probe" in stdout
    result = json.loads((out / "meta.json").read_text())
    assert {r["method"] for r in result["rows"]} >= {"protonet", "reptile", "plain linear-probe", "plain fine-tune"}
    assert all(r["novel"] == "fashion-mnist" and r["episodes"] == len(r["accuracies"]) == 3 for r in result["rows"])
    assert "Validation: 4 episodes per shot count on held-out rows of the base classes" in stdout
    assert "where --tune meta-lr chose each arm's Adam rate" in stdout
    protonet, reptile = result["training"]
    assert [r["meta_lr"] for r in protonet["tried"]] == [3e-5, 1e-4, 3e-4] and protonet["meta_lr"] in (3e-5, 1e-4, 3e-4)
    assert reptile["meta_lr"] is None and "tried" not in reptile and reptile["validation"][0]["episodes"] == 4
    saved = json.loads((out / "protonet" / "headstart-image.json").read_text())["trained_by"]
    assert saved["meta_lr"] == protonet["meta_lr"], "the saved backbone names the rate it was trained at"
    loaded = load_backbone(str(out / "reptile"))
    assert loaded.modality == "image" and loaded.dim == 128 and (out / "reptile" / "meta-head.safetensors").exists()
    images = [np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)]
    with torch.no_grad():
        assert not torch.equal(loaded(loaded.collate(loaded.encode(images))),
                               load_backbone("mnist-cnn")(loaded.collate(loaded.encode(images))))


def test_the_loss_label_counts_the_steps_it_averages(tmp_path, monkeypatch):
    """The bar said "loss (last 20 steps)" after 2 steps."""
    import contextlib

    import headstart
    import headstart.progress

    labels = []

    @contextlib.contextmanager
    def bar(*args, **kwargs):
        yield lambda step, total, info=None: labels.append(next(iter(info or {}), None))

    monkeypatch.setattr(headstart.progress, "progress_bar", bar)
    headstart.meta_train(tmp_path / "m", {"arms": ("protonet",), "meta_steps": 2, "episodes": 2, "per_class": 20,
                                          "queries": 3, "shots": (1,), "train_shots": 1, "val_episodes": 2},
                         setting="fashion-split", progress=True)
    assert "loss (last 1 step)" in labels and "loss (last 2 steps)" in labels, labels


def test_the_python_call_mirrors_the_command(tmp_path):
    """headstart.meta_train(out, MetaConfig(...), setting=...): the arms as the CLI writes them, the setting's datasets."""
    import headstart

    cfg = MetaConfig(arms="reptile, protonet", meta_steps=1, episodes=2, per_class=20, queries=2, shots=(1,), train_shots=1,
                     val_episodes=2)
    result = headstart.meta_train(tmp_path / "meta", cfg, setting="fashion-split")
    assert tuple(result.config["arms"]) == ("reptile", "protonet") and tuple(result.config["novel"]) == ("fashion-mnist",)
    assert {r["method"] for r in result.rows} >= {"reptile", "protonet", "plain linear-probe"}
    assert json.loads((tmp_path / "meta" / "meta.json").read_text())["rows"] == json.loads(json.dumps(result.rows))
    assert (tmp_path / "meta" / "protonet").is_dir()
    assert result.out == tmp_path / "meta" and f" s; out={tmp_path / 'meta'}" in repr(result), repr(result)  # as fit's
    with pytest.raises(headstart.HeadstartError, match="unknown meta-learning arm 'protonett'"):
        headstart.meta_train(tmp_path / "other", MetaConfig(arms=("protonett",)))
    assert not (tmp_path / "other").exists(), "refused before anything loads or is written"


def test_novel_classes_the_backbone_was_pre_trained_on_are_named_in_the_notes():
    """mnist-cnn learnt MNIST's digits: digits are the episodes' novel classes, not the backbone's; the notes say so."""
    from headstart.meta.pools import setup

    cfg = MetaConfig(arms=("protonet",), backbone="mnist-cnn", base="sklearn-digits", novel=("mnist-5k",), shots=(1,),
                     per_class=8, queries=2)
    notes = setup(cfg)[3]
    assert any(n.startswith("mnist-5k: its classes are not novel to mnist-cnn") for n in notes), notes
    assert not any("sklearn-digits: its classes" in n for n in notes), "only the novel datasets are named"


def test_a_backbone_meta_trained_from_mnist_cnn_keeps_its_caveat(tmp_path):
    """A saved arm (OUT/<arm>, whose manifest names mnist-cnn as where it started) used as --backbone: the digits are
    still not novel to it, and the note says it was trained from mnist-cnn."""
    from headstart.data_defaults import seen_by

    (tmp_path / "protonet").mkdir()
    (tmp_path / "protonet" / "headstart-image.json").write_text(json.dumps({"trained_by": {"command": "meta-train",
                                                                                          "backbone": "mnist-cnn"}}))
    seen, origin = seen_by(str(tmp_path / "protonet"))
    assert origin == "mnist-cnn" and "mnist-5k" in seen
    assert seen_by("efficientnet-lite0")[0] == () and seen_by(str(tmp_path / "nothing")) == ((), str(tmp_path / "nothing"))


def test_shots_as_the_command_line_writes_them_and_per_class_named_when_it_limits_episodes():
    from headstart.errors import DataError
    from headstart.meta.episodes import check_episode_shape, rows_by_class

    assert MetaConfig(shots="1,5").shots == (1, 5) and MetaConfig(shots=5).shots == (5,)
    assert MetaConfig(novel="mnist-5k, opencv-digits").novel == ("mnist-5k", "opencv-digits"), "names, not letters"
    by_class = rows_by_class(np.repeat(np.arange(5), 30), list(range(5)), per_class=8)
    with pytest.raises(DataError, match=r"has 8 rows kept \(--per-class\), fewer than shots \+ queries = 10; lower --shots or "
                                         r"--queries, or raise --per-class to 10 or more"):
        check_episode_shape(by_class, ways=5, shots=5, queries=5, where="the toy classes", per_class=8)


def test_validation_rows_are_held_out_base_rows_and_tuning_keeps_the_best_rate(monkeypatch):
    """Validation episodes draw only base rows that meta-training never draws; --tune meta-lr trains at every rate of
    the grid (a diverging one recorded and skipped), keeps the best mean validation accuracy — not the first rate, not
    the last — and returns the network trained at it."""
    import headstart.meta.train as train
    from headstart.meta.pools import validation_pool
    from headstart.meta.train import train_arm, train_chosen, validate

    cfg = MetaConfig(arms=("protonet",), novel=("bands",), ways=5, shots=(1, 2), train_shots=1, queries=3, episodes=5,
                     meta_steps=6, per_class=20, val_per_class=15, val_episodes=12, tune="meta-lr")
    assert cfg.tune == ("meta-lr",)
    backbone, data = flat_cnn(0), band_images(n=360, classes=6)
    base = make_pool(data, list(range(6)), backbone, cfg=cfg, shots=1, where="bands")
    validation = validation_pool(data, base, backbone, cfg)
    for c in range(6):
        assert len(validation.by_class[c]) == 15 and not set(validation.by_class[c]) & set(base.by_class[c])
        assert set(validation.by_class[c]) <= set(np.flatnonzero(data.targets == c))
    rows = validate("protonet", backbone, None, validation, cfg, progress=False)
    assert [r["shots"] for r in rows] == [1, 2] and all(r["episodes"] == 12 for r in rows)
    # the toy task is easy (every rate scores 100%): score each rate by a table instead, the best in the middle
    made_up = {1e-3: 0.5, 3e-2: 0.7, 3e-3: 0.6}
    monkeypatch.setattr(train, "validate", lambda name, net, head, pool, c, progress: [
        {"shots": k, "mean": made_up[c.meta_lr], "ci95": 0.0, "episodes": 12} for k in c.shots])
    monkeypatch.setattr(train, "META_LR_GRID", (1e-3, 3e-2, 3e-3, 1e30))  # the last rate's loss is not finite
    chosen, _, summary = train_chosen("protonet", backbone, base, validation, cfg, progress=False)
    assert [(r["meta_lr"], r["validation"]) for r in summary["tried"]] == [(1e-3, 0.5), (3e-2, 0.7), (3e-3, 0.6), (1e30, None)]
    assert all(r["seconds"] >= 0 for r in summary["tried"][:3]), "what each rate cost"
    assert "diverged" in summary["tried"][3] and summary["meta_lr"] == 3e-2
    fresh = train_arm("protonet", backbone, base, dataclasses.replace(cfg, meta_lr=3e-2), progress=False)[0]
    kept, again = chosen.network().state_dict(), fresh.network().state_dict()
    assert all(torch.equal(kept[k], again[k]) for k in kept), "the network returned is the one the kept score belongs to"


def test_too_few_held_out_rows_for_validation_is_one_clear_error():
    from headstart.errors import DataError
    from headstart.meta.pools import validation_pool

    cfg = MetaConfig(novel=("bands",), ways=5, shots=(1,), train_shots=1, queries=3, per_class=40)
    backbone, data = flat_cnn(0), band_images(classes=6)  # 40 rows a class: meta-training draws all of them
    base = make_pool(data, list(range(6)), backbone, cfg=cfg, shots=1, where="bands")
    with pytest.raises(DataError, match=r"class 0 of the base dataset 'bands' has 40 rows, 40 of them drawn for meta-training "
                                         r"\(--per-class\), leaving 0, fewer than the 4 a validation episode needs \(shots \+ "
                                         r"queries\); --per-class 36 leaves 4, or --val-episodes 0 turns validation off"):
        validation_pool(data, base, backbone, cfg)
    seven = band_images(n=42, classes=6)  # 7 rows a class: too few for a training episode and a validation one apart
    base = make_pool(seven, list(range(6)), backbone, cfg=cfg, shots=1, where="bands")
    with pytest.raises(DataError, match=r"has 7 rows, 7 of them .*leaving 0, .*; lower --shots or --queries, or --val-episodes 0"):
        validation_pool(seven, base, backbone, cfg)
    assert MetaConfig(val_episodes=0).val_episodes == 0  # validation off is a setting, not an error


@pytest.mark.parametrize("changes, text", [
    ({"tune": "lr"}, "unknown tune setting 'lr'"),  # built from Python: the fields, not the CLI's flags
    ({"tune": "meta-lr", "val_episodes": 0}, "tune meta-lr chooses on validation episodes, and val_episodes=0 asks for none"),
    ({"val_episodes": -1}, "val_episodes must be >= 0"),
    ({"val_per_class": 0}, "val_per_class must be >= 1"),
])
def test_validation_settings_are_checked(changes, text):
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(text)):
        MetaConfig(**changes)


def test_the_validation_table_names_the_rate_kept_and_every_rate_tried():
    from headstart.meta.results import MetaResult

    cfg = MetaConfig(tune="meta-lr", val_episodes=200).to_json()
    scores = [{"shots": 1, "mean": 0.5, "ci95": 0.014, "episodes": 200}, {"shots": 5, "mean": 0.7, "ci95": 0.012, "episodes": 200}]
    result = MetaResult(config=cfg, training=[
        {"arm": "maml", "meta_lr": 3e-4, "validation": scores,
         "tried": [{"meta_lr": 3e-5, "validation": 0.634}, {"meta_lr": 1e-4, "validation": None, "diverged": "x"},
                   {"meta_lr": 3e-4, "validation": 0.718}]},
        {"arm": "reptile", "meta_lr": None, "validation": scores}])
    lines = result.validation_table()
    assert "| base 5-way 1-shot | base 5-way 5-shot | meta-lr |" in lines[3]
    assert lines[-2] == "| maml | 50.0 (48.6–51.4) | 70.0 (68.8–71.2) | 3e-4 (3e-5: 63.4, 1e-4: diverged, 3e-4: 71.8) |"
    assert lines[-1] == "| reptile | 50.0 (48.6–51.4) | 70.0 (68.8–71.2) | – |"
    assert MetaResult(config=cfg, training=[{"arm": "maml", "validation": []}]).validation_table() == []


def test_an_interval_over_a_few_episodes_is_clipped_to_what_an_accuracy_can_be():
    """Two episodes' t-interval reached past 0–100%: the validation table read "| protonet | 30.0 ± 211.8 | 60.0 ± 50.8 |"."""
    from headstart.meta.results import MetaResult

    cfg = MetaConfig(val_episodes=2).to_json()
    scores = [{"shots": 1, "mean": 0.3, "ci95": 2.118, "episodes": 2}, {"shots": 5, "mean": 0.6, "ci95": 0.508, "episodes": 2}]
    result = MetaResult(config=cfg, training=[{"arm": "protonet", "meta_lr": None, "validation": scores}], rows=[
        {"novel": cfg["novel"][0], "shots": 1, "method": "protonet", "kind": "meta", "mean": 0.3, "ci95": 2.118, "episodes": 2,
         "vs_linear_probe": (0.05, 1.5)},
        {"novel": cfg["novel"][0], "shots": 1, "method": "linear-probe", "kind": "plain", "mean": 0.25, "ci95": None,
         "episodes": 1, "vs_linear_probe": None}])
    lines = result.table()
    assert result.validation_table()[-1] == "| protonet | 30.0 (0.0–100.0) | 60.0 (9.2–100.0) | – |"
    assert "| protonet | 30.0 (0.0–100.0) |" in lines and "| linear-probe | 25.0 |" in lines, "one episode: no interval"
    assert "| protonet | +5.0 (-100.0 to +100.0) |" in lines, "a difference of two accuracies is within ±100 points"
    assert not any("±" in line and "211" in line for line in lines)


def test_a_tiny_difference_from_the_probe_is_said_as_one_not_as_none():
    """An arm 0.03 points above the probe read "+0.0 (+0.0 to +0.1)" in meta.md's difference table (one decimal): it
    reads as the report says points (``signed_points``), "+0.03 (-0.02 to +0.1)"."""
    from headstart.meta.results import MetaResult

    cfg = MetaConfig().to_json()
    result = MetaResult(config=cfg, rows=[
        {"novel": cfg["novel"][0], "shots": 1, "method": "protonet", "kind": "meta", "mean": 0.8, "ci95": 0.01, "episodes": 40,
         "vs_linear_probe": (0.0003, 0.0005)},
        {"novel": cfg["novel"][0], "shots": 1, "method": "linear-probe", "kind": "plain", "mean": 0.8, "ci95": 0.01,
         "episodes": 40, "vs_linear_probe": None}])
    lines = result.table()
    assert "| protonet | +0.03 (-0.02 to +0.1) |" in lines, lines


def test_episodes_that_all_scored_the_same_show_no_interval_and_the_differences_say_one_meta_training_run():
    """Every episode 100% (an easy novel split) read "100.0 (100.0–100.0)", and an arm no different from the probe on any
    episode "+0.0 (+0.0 to +0.0)": no error seen, not certainty. Now the "no interval" words of compare's report, in
    meta.md and meta.json's rows, and the difference table says each meta-trained arm is one training run."""
    from headstart.meta.episodes import ci95, no_spread
    from headstart.meta.results import MetaResult

    assert ci95([1.0] * 40) == (1.0, 0.0) and ci95([0.8] * 3) == (0.8, 0.0), "exactly 0, not their mean's rounding"
    assert no_spread(0.0) == {"no_interval": "every episode gave the same value"} and no_spread(0.01) == no_spread(None) == {}
    cfg = MetaConfig().to_json()
    result = MetaResult(config=cfg, rows=[
        {"novel": cfg["novel"][0], "shots": 1, "method": "protonet", "kind": "meta", "mean": 1.0, "ci95": 0.0, "episodes": 40,
         "vs_linear_probe": (0.0, 0.0)},
        {"novel": cfg["novel"][0], "shots": 1, "method": "linear-probe", "kind": "plain", "mean": 1.0, "ci95": 0.0,
         "episodes": 40, "vs_linear_probe": None}])
    lines = result.table()
    assert "| protonet | 100.0 (no interval: every episode gave the same value) |" in lines
    assert "| protonet | 0.0 (no interval: every episode gave the same value) |" in lines, "no difference: no sign"
    assert not any("100.0–100.0" in line or "+0.0 to +0.0" in line for line in lines)
    assert any("each meta-trained arm is one meta-training run, 1 seed: training randomness is not in the interval" in line
               for line in lines)


def test_a_name_passed_where_meta_train_takes_its_folder_is_refused_at_once(tmp_path, monkeypatch):
    """``headstart.meta_train("fashion-mnist")`` (fit and compare take their data first) wrote into a folder of that name
    while the default experiment ran for over ten minutes; a bad name inside the config fails in seconds, as before."""
    import headstart
    from headstart.errors import ConfigError, DataError

    def ran(*args, **kwargs):
        raise AssertionError("the default experiment started")

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="unknown image dataset 'nope'"):
        headstart.meta_train(tmp_path / "out", MetaConfig(base="nope"))
    monkeypatch.setattr(headstart.meta.train, "run_meta", ran)
    for name, fix in (("fashion-mnist", "MetaConfig(base='fashion-mnist')"), ("mnist-cnn", "MetaConfig(backbone='mnist-cnn')"),
                      ("fashion-split", "setting='fashion-split'"), ("protonet", "MetaConfig(arms=('protonet',))")):
        with pytest.raises(ConfigError) as caught:
            headstart.meta_train(name)
        what = 'a setting' if 'setting' in fix else 'a dataset' if 'base' in fix else 'an arm' if 'arms' in fix else 'a backbone'
        assert str(caught.value) == (f"meta_train's first argument is out, the folder it writes; {name!r} is {what}: "
                                     f"e.g. meta_train('runs/meta', {fix})")
    assert not list(tmp_path.iterdir()), "refused before any folder is made"


def test_a_bad_image_size_is_named_before_the_folder_is_read(tmp_path, monkeypatch, capsys):
    """On an earlier meta-train's --out, --image-size 4 was answered with the folder conflict ("holds another
    meta-train (--image-size none, not 4)"), not with the value no backbone takes."""
    from conftest import assert_user_error, run_cli

    out = tmp_path / "meta"
    out.mkdir()
    (out / "meta.json").write_text(json.dumps({"config": json.loads(json.dumps(MetaConfig(ways=3).to_json())), "rows": []}))
    result = run_cli(["meta-train", "--out", str(out), "--ways", "3", "--image-size", "4"], monkeypatch, capsys)
    assert_user_error(result, "--image-size must be an integer >= 8, got 4; try --image-size 224")
    assert "holds another meta-train" not in result[2]
    with pytest.raises(Exception, match=r"image_size must be at most 2048"):
        MetaConfig(image_size=4096)


@pytest.mark.usefixtures("default_sigterm")
def test_sigterm_during_meta_training_says_so_and_exits_130(tmp_path, monkeypatch, capsys):
    """SIGTERM (timeout, a scheduler's limit) ended meta-train at once, silent, exit 143; it stops as Ctrl-C does."""
    import os
    import signal

    from conftest import run_cli

    import headstart.meta.train as meta_train

    def terminated(*args, **kwargs):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises before the next line
        raise AssertionError("nothing read SIGTERM")

    monkeypatch.setattr(meta_train, "sample_episode", terminated)
    code, _, err = run_cli(["meta-train", "--setting", "fashion-split", "--arms", "protonet", "--meta-steps", "2",
                            "--episodes", "3", "--per-class", "20", "--queries", "3", "--shots", "1", "--train-shots", "1",
                            "--val-episodes", "4", "--out", str(tmp_path / "meta"), "-q"], monkeypatch, capsys)
    assert code == 130 and err.strip().splitlines()[-1] == ("interrupted by SIGTERM: before any arm was saved: nothing "
                                                            "kept; the same command trains again from the start"), err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert not (tmp_path / "meta").exists(), "the empty folder this run made is not left behind"


def test_a_stop_after_an_arm_was_saved_says_what_the_folder_holds(tmp_path, monkeypatch):
    """meta-train stopped by Ctrl-C said only "interrupted", its finished arms in --out, said nowhere."""
    import headstart
    from headstart.backbones.registry import load_backbone
    from headstart.meta.train import MetaInterrupted

    import headstart.meta.train as meta_train

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(meta_train, "evaluate", stopped)
    out = tmp_path / "meta"
    with pytest.raises(MetaInterrupted) as stop:
        headstart.meta_train(out, {"arms": ("protonet",), "meta_steps": 2, "episodes": 3, "per_class": 20, "queries": 3,
                                   "shots": (1,), "train_shots": 1, "val_episodes": 4}, setting="fashion-split")
    assert str(stop.value) == (f"interrupted: 1 of 1 arms trained and saved in {str(out)!r} (protonet: each loads as "
                               f"--backbone {str(out / 'protonet')!r}), none scored (meta.json is written once every arm "
                               "is); the same command keeps them, trains the rest and scores every arm")
    assert isinstance(stop.value, KeyboardInterrupt) and not (out / "meta.json").exists()
    assert load_backbone(str(out / "protonet")).modality == "image"


SMALL = {"meta_steps": 2, "episodes": 3, "per_class": 20, "queries": 3, "shots": (1,), "train_shots": 1, "val_episodes": 4}


def as_json(value):
    return json.loads(json.dumps(value))


def arm_files(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.parent != out}


def test_a_rerun_keeps_the_arms_saved_with_the_same_settings_and_refuses_other_settings(tmp_path, monkeypatch, capsys):
    """meta-train again into its --out replaced OUT/<arm>/, so a run trained with --backbone OUT/<arm> read other weights
    than it trained on (refused on load, its fingerprint no longer theirs). Now an arm saved with the same settings is
    kept as it is; --arms may add arms; other settings are refused in one line, nothing written."""
    import headstart
    import headstart.meta.train as meta_train
    from headstart.errors import ConfigError

    out = tmp_path / "meta"
    first = headstart.meta_train(out, {"arms": ("protonet",), **SMALL}, setting="fashion-split")
    saved, report = arm_files(out), json.loads((out / "meta.json").read_text())
    real, trained = meta_train.train_chosen, []
    monkeypatch.setattr(meta_train, "train_chosen", lambda name, *a, **k: trained.append(name) or real(name, *a, **k))
    again = headstart.meta_train(out, {"arms": ("protonet",), **SMALL, "threads": 2}, setting="fashion-split")
    assert trained == [] and arm_files(out) == saved and json.loads((out / "meta.json").read_text()) == report
    assert as_json(again.rows) == as_json(first.rows) and again.notes[-1].startswith("every arm of these settings is meta-trained and scored")
    grown = headstart.meta_train(out, {"arms": ("protonet", "reptile"), **SMALL}, setting="fashion-split")
    assert trained == ["reptile"] and {k: v for k, v in arm_files(out).items() if k.startswith("protonet")} == saved
    protonet, reptile = grown.training
    assert protonet["kept"] and as_json(protonet["validation"]) == report["training"][0]["validation"] and "kept" not in reptile
    assert f"protonet: the arm saved in {str(out / 'protonet')!r} with these settings was kept" in " ".join(grown.notes)
    assert {r["method"] for r in grown.rows} >= {"protonet", "reptile"}
    assert as_json([r for r in grown.rows if r["method"] == "protonet"]) == as_json([r for r in first.rows if r["method"] == "protonet"])
    both = arm_files(out)
    for changed, said in ((dict(SMALL, meta_steps=3), "(config={'meta_steps': 2}, not 3)"),
                           (dict(SMALL, seed=1), "(config={'seed': 0}, not 1)")):
        with pytest.raises(ConfigError, match=re.escape(f"out={str(out)!r} holds another meta-train {said}; nothing was written")):
            headstart.meta_train(out, {"arms": ("protonet", "reptile"), **changed}, setting="fashion-split")
    with pytest.raises(ConfigError, match=re.escape("holds another meta-train (config={'arms': 'protonet,reptile'}, not protonet); nothing "
                                                    f"was written there; choose a new folder, e.g. {str(tmp_path / 'meta-2')!r}, "
                                                    "or give config={'arms': 'protonet,reptile'} (its saved arms are kept)")):
        headstart.meta_train(out, {"arms": ("protonet",), **SMALL}, setting="fashion-split")
    assert arm_files(out) == both and trained == ["reptile"]
    for report_file in ("meta.json", "meta.md"):  # arms saved, none scored (a stop before meta.json): each arm's record decides
        (out / report_file).unlink()
    with pytest.raises(ConfigError, match=re.escape("holds another meta-train (config={'meta_steps': 2}, not 3)")):
        headstart.meta_train(out, {"arms": ("protonet", "reptile"), **dict(SMALL, meta_steps=3)}, setting="fashion-split")
    scored = headstart.meta_train(out, {"arms": ("protonet", "reptile"), **SMALL}, setting="fashion-split")
    assert trained == ["reptile"] and arm_files(out) == both and all(t["kept"] for t in scored.training)
    assert as_json(scored.training[0]["validation"]) == report["training"][0]["validation"], "validated again, on the same episodes"
    assert as_json([r for r in scored.rows if r["method"] == "protonet"]) == as_json([r for r in first.rows if r["method"] == "protonet"])
    # stopped between reptile's network and its head: that arm is not saved, so the same command trains it again
    (out / "reptile" / "meta-head.safetensors").unlink()
    for report_file in ("meta.json", "meta.md"):
        (out / report_file).unlink()
    mended = headstart.meta_train(out, {"arms": ("protonet", "reptile"), **SMALL}, setting="fashion-split")
    assert trained == ["reptile", "reptile"] and (out / "reptile" / "meta-head.safetensors").exists()
    assert [bool(t.get("kept")) for t in mended.training] == [True, False]
    from conftest import assert_user_error, run_cli

    command = ["meta-train", "--setting", "fashion-split", "--arms", "protonet,reptile", "--meta-steps", "3", "--episodes", "3",
               "--per-class", "20", "--queries", "3", "--shots", "1", "--train-shots", "1", "--val-episodes", "4", "--out", str(out)]
    assert_user_error(run_cli(command, monkeypatch, capsys), f"--out {str(out)!r} holds another meta-train (--meta-steps 2, "
                      "not 3); nothing was written there; choose a new folder")
    assert arm_files(out) == both


def test_an_arm_kept_by_its_settings_is_trained_again_once_the_backbone_folder_holds_other_weights(tmp_path, monkeypatch):
    """A re-run with the same settings kept the saved arm though --backbone FOLDER had been saved again with other
    weights since: the arm was meta-trained from weights the folder no longer holds. Their fingerprint is recorded and
    compared: other weights, the arm is trained again, and a note says why."""
    import headstart
    import headstart.meta.train as meta_train
    from headstart.backbones.image_folder import save_image_backbone
    from headstart.backbones.registry import load_backbone

    def backbone(seed: int) -> None:
        plain = load_backbone("mnist-cnn")
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in plain.network().parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=generator))
        save_image_backbone(plain, tmp_path / "bb", architecture="mnist-cnn", trained_by={})

    backbone(1)
    out, config = tmp_path / "meta", {"arms": ("protonet",), **SMALL, "backbone": str(tmp_path / "bb")}
    headstart.meta_train(out, config, setting="fashion-split")
    real, trained = meta_train.train_chosen, []
    monkeypatch.setattr(meta_train, "train_chosen", lambda name, *a, **k: trained.append(name) or real(name, *a, **k))
    headstart.meta_train(out, config, setting="fashion-split")
    assert trained == [], "the same weights: kept"
    backbone(2)  # the folder saved again, with other weights
    again = headstart.meta_train(out, config, setting="fashion-split")
    assert trained == ["protonet"] and not again.training[0].get("kept"), again.training
    assert (f"protonet: the arm saved in {str(out / 'protonet')!r} was meta-trained from other weights than --backbone "
            f"{str(tmp_path / 'bb')!r} holds now: meta-trained again from these") in again.notes, again.notes
    headstart.meta_train(out, config, setting="fashion-split")
    assert trained == ["protonet"], "trained from these weights: kept from then on"


def test_the_repr_names_the_arm_best_on_validation_not_the_one_highest_on_the_novel_episodes():
    """``MetaResult``'s line said "best maml 0.9 on fashion 5-shot": the arm highest on the novel datasets' episodes,
    the test. The arm named is the one best on base-class validation, with its novel score beside the probe's."""
    from headstart.meta.results import MetaResult

    cfg = MetaConfig().to_json()
    novel = cfg["novel"][0]
    result = MetaResult(config=cfg, training=[
        {"arm": "protonet", "validation": [{"shots": 1, "mean": 0.7}, {"shots": 5, "mean": 0.8}]},
        {"arm": "maml", "validation": [{"shots": 1, "mean": 0.5}, {"shots": 5, "mean": 0.6}]}], rows=[
        {"novel": novel, "shots": 5, "method": "protonet", "kind": "meta", "mean": 0.7},
        {"novel": novel, "shots": 5, "method": "maml", "kind": "meta", "mean": 0.9},
        {"novel": novel, "shots": 5, "method": "plain linear-probe", "kind": "plain", "mean": 0.6}])
    assert result.best_on_validation() == "protonet"
    assert f"best on validation protonet: 0.7 on {novel} 5-shot (plain linear-probe 0.6)" in repr(result), repr(result)
    assert "maml" not in repr(result)
    unvalidated = MetaResult(config=cfg, training=[{"arm": "maml", "validation": []}], rows=result.rows)
    assert unvalidated.best_on_validation() is None and "best" not in repr(unvalidated)
