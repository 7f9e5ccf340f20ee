"""Tests of headstart/model_card.py: a run's README.md says what its numbers cover and carries its flags."""

import json

import pytest


def test_a_runs_card_says_its_test_interval_covers_rows_not_seeds_and_carries_its_flags(tmp_path, toy_csv, tiny_registry):
    """The card said "one run has no interval of its own" while ``evaluate`` prints a 95% interval over the test rows,
    and quoted the validation score without the run's own flag that it never beat the majority class there."""
    import headstart
    from headstart.specs import TrainConfig

    run = tmp_path / "lp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run,  # a rate far too small: it learns nothing
                  config=TrainConfig(max_steps=2, head_lr=1e-9, batch_size=8, precision="fp32"))
    flags = json.loads((run / "metrics.json").read_text())["flags"]
    card = (run / "README.md").read_text()
    assert flags and "majority" in {f["reason"] for f in flags}, flags
    for flag in flags:  # each as train prints it: "this run <text>; <advice>"
        assert f"This run {flag['text']}; {flag['advice']}." in card.replace("\\", ""), card
    assert "no interval of its own" not in card
    assert "95% interval over its test rows" in card and "does not cover seeds" in card, card
    # a Python fit's card names where its caller read them, not the CLI it never ran
    assert "Flags (as `headstart.fit` returned them in `FitResult.flags`):" in card and "headstart train" not in card, card


def test_a_classifiers_card_quotes_each_splits_majority_class_beside_accuracy_and_an_old_one_still_cards(tmp_path, toy_csv, tiny_registry):
    """The card quoted validation accuracy with nothing to read it against: metrics.json did not hold the splits'
    majority-class rate, so "accuracy 0.6" could be a constant answer. A metrics.json written before it still cards."""
    import numpy as np

    import headstart
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.model_card import model_card
    from headstart.specs import TrainConfig

    run = tmp_path / "lp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run,
                  config=TrainConfig(max_steps=2, batch_size=8, precision="fp32"))
    metrics, meta = json.loads((run / "metrics.json").read_text()), json.loads((run / "spec.json").read_text())
    data = load_dataset(str(toy_csv))
    splits = split_dataset(data, SplitConfig(**meta["resolved"]["data"]["split"]))
    for part, rows in (("val", splits.val), ("test", splits.test)):  # counted here from the labels, not read back
        counts = np.bincount(data.targets[rows], minlength=len(data.label_names))
        assert metrics["majority"][part] == {"class": data.label_names[int(counts.argmax())],
                                             "rate": counts.max() / len(rows), "rows": len(rows)}
    card = (run / "README.md").read_text().replace("\\", "")
    val, test = metrics["majority"]["val"], metrics["majority"]["test"]
    assert f"accuracy {metrics['val']['accuracy']:.4f}" in card, card
    assert f"; always predicting '{val['class']}' scores {val['rate']:.4f} on these rows." in card, card
    assert f"On its {test['rows']:,} test rows, always predicting '{test['class']}' scores {test['rate']:.3f}" in card, card
    old = model_card(meta, {k: v for k, v in metrics.items() if k != "majority"}, how="")
    assert "always predicting" not in old and f"accuracy {metrics['val']['accuracy']:.4f}" in old.replace("\\", ""), old


def test_a_capped_test_split_is_carded_as_a_stratified_part_of_the_whole(tmp_path, toy_csv, tiny_registry):
    """With --max-test 50 the card said only "On its 50 test rows": it names them a stratified 50 of the full split,
    as evaluate does; an uncapped run's card says its rows alone."""
    import headstart
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.specs import TrainConfig

    run = tmp_path / "lp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run, max_test=10,
                  config=TrainConfig(max_steps=2, batch_size=8, precision="fp32"))
    test = json.loads((run / "metrics.json").read_text())["majority"]["test"]
    full = len(split_dataset(load_dataset(str(toy_csv)), SplitConfig()).test)
    assert test["rows"] < full and test["of"] == full, (test, full)
    card = (run / "README.md").read_text().replace("\\", "")
    # fitted from Python: the card and evaluate name fit's keyword, not train's --max-test
    assert f"On a stratified {test['rows']} of its {full} test rows (max_test), always predicting" in card, card
    assert headstart.evaluate(run, "test")["note"].endswith("; train with max_test='all' to score them all")
    card = (run / "README.md").read_text().replace("\\", "")  # evaluate cards its test score
    assert "train with max_test='all' to score them all" in card and "--max-test" not in card, card


def test_a_stepped_runs_card_says_the_step_whose_weights_it_kept():
    """An exported classifier's card said which split chose the checkpoint, not which step it kept."""
    from headstart.model_card import model_card

    card = model_card({}, {"steps": 40, "best_step": 30, "val": {"accuracy": 0.8}}, how="")
    assert "The weights kept are step 30's of 40, the best on validation." in card
    assert "The weights kept" not in model_card({}, {"steps": 0, "best_step": 0, "val": {}}, how="")


def test_evaluate_writes_a_classifiers_test_score_into_its_card_and_a_second_evaluate_replaces_it(tmp_path, toy_csv, tiny_registry,
                                                                                                  monkeypatch, capsys):
    """``headstart evaluate RUN`` printed the test score but left the card (which points the reader to evaluate) without
    it, while an sft run's evaluate writes its own. The line carries the rows and the 95% interval evaluate printed; a
    second evaluate replaces it; validation and the other metrics.json fields stay as they were."""
    from conftest import run_cli

    import headstart
    from headstart.specs import TrainConfig

    run = tmp_path / "lp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run, max_test=30,
                  config=TrainConfig(max_steps=2, batch_size=8, precision="fp32"))
    before = json.loads((run / "metrics.json").read_text())
    assert "Test (scored by" not in (run / "README.md").read_text()
    code, out, err = run_cli(["evaluate", str(run), "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert {k: v for k, v in metrics.items() if k != "test"} == before
    low, high = test["accuracy_ci"]
    line = (f"Test (scored by `headstart evaluate`, {test['n']} examples): accuracy {test['accuracy']:.4f} "
            f"(95% CI {low:.4f}–{high:.4f} over these rows), macro_f1 {test['macro_f1']:.4f}")
    assert test["n"] == metrics["majority"]["test"]["rows"] < metrics["majority"]["test"]["of"]
    assert f"test ({test['n']} examples): accuracy {test['accuracy']:.4f} (95% CI {low:.4f}–{high:.4f}" in out, out
    card = (run / "README.md").read_text().replace("\\", "")
    assert line in card and f"Scored on a stratified {test['n']} of the" in card, card
    assert "Test: `headstart evaluate` scores the test split" not in card, "the scored line, not the promise of one"
    assert "That interval is over the test rows (how precisely they measure this one run); it does not cover seeds" in card
    (run / "metrics.json").write_text(json.dumps({**metrics, "test": {**test, "accuracy": 0.0123}}))  # a stale score
    code, out, err = run_cli(["evaluate", str(run), "--quiet"], monkeypatch, capsys)
    card = (run / "README.md").read_text().replace("\\", "")
    assert code == 0 and card.count("Test (scored by") == 1 and line in card and "0.0123" not in card, card
    code, out, err = run_cli(["evaluate", str(run), "--quiet", "--split", "val"], monkeypatch, capsys)
    assert code == 0 and json.loads((run / "metrics.json").read_text())["test"] == test, "validation is not a test score"


def test_a_read_only_run_is_evaluated_and_says_its_card_is_not_written(tmp_path, toy_csv, tiny_registry, monkeypatch, capsys):
    """A run folder that cannot be written (a shared, read-only one) still prints its score, with one note saying
    neither metrics.json nor the card was written (it named only README.md); nothing in it changes."""
    import errno

    from conftest import run_cli

    import headstart
    import headstart.saved
    from headstart.specs import TrainConfig

    run = tmp_path / "lp"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16, out=run,
                  config=TrainConfig(max_steps=2, batch_size=8, precision="fp32"))
    card, metrics = (run / "README.md").read_text(), (run / "metrics.json").read_text()

    def read_only(path, payload):  # as a read-only folder answers (the tests may run as root, which chmod does not stop)
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(headstart.saved, "write_json", read_only)
    code, out, err = run_cli(["evaluate", str(run), "--quiet"], monkeypatch, capsys)
    assert code == 0 and "test (" in out, err
    assert (f"note: the test score is not written into {run}'s metrics.json or README.md: it cannot be written "
            "(Permission denied)") in err, err
    assert (run / "README.md").read_text() == card and (run / "metrics.json").read_text() == metrics


@pytest.mark.slow
def test_evaluate_cards_a_real_runs_test_score(tmp_path, monkeypatch, capsys):
    """rotten-tomatoes end to end: the score `headstart evaluate` prints, with its rows and 95% interval, is the one its
    README.md quotes afterwards, once after two evaluates."""
    from conftest import run_cli

    run = tmp_path / "lp"
    code, _, err = run_cli(["train", "--data", "rotten-tomatoes", "--strategy", "linear-probe", "--n", "16", "--max-steps", "1",
                            "--max-test", "100", "--quiet", "--out", str(run)], monkeypatch, capsys)
    assert code == 0, err
    for _ in range(2):
        code, out, err = run_cli(["evaluate", str(run), "--quiet", "--json"], monkeypatch, capsys)
        assert code == 0, err
    scored = json.loads(out)
    low, high = scored["accuracy_ci"]
    card = (run / "README.md").read_text().replace("\\", "")
    assert card.count("Test (scored by") == 1 and f"Scored on a stratified {scored['n']} of the" in card, card  # a cap fills whole groups
    assert (f"Test (scored by `headstart evaluate`, {scored['n']} examples): accuracy {scored['accuracy']:.4f} "
            f"(95% CI {low:.4f}–{high:.4f} over these rows)") in card, card


def test_evaluate_keeps_the_path_train_wrote_in_the_cards_use_section(tmp_path, toy_csv, tiny_registry, monkeypatch, capsys):
    """evaluate rebuilt the card with the path it was given: an absolute path, ``runs/../runs/lp`` or ``lp`` from inside
    runs/ rewrote train's ``runs/lp`` in every command of the Use section. The card keeps train's form (``card_name``);
    a folder moved since takes the path evaluate was given."""
    from conftest import run_cli

    def use(run) -> list[str]:
        card = (run / "README.md").read_text()
        return [line for line in card.split("## Use", 1)[1].splitlines() if line.startswith(("echo", "headstart"))]

    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                            "--max-steps", "2", "--quiet", "--out", "runs/lp/"], monkeypatch, capsys)
    assert code in (0, None), err
    trained = use(tmp_path / "runs" / "lp")
    assert "headstart evaluate runs/lp   # the test split" in trained and len(trained) == 3, trained
    for given, cwd in [(str(tmp_path / "runs" / "lp"), tmp_path), ("runs/../runs/lp/", tmp_path), ("lp", tmp_path / "runs")]:
        monkeypatch.chdir(cwd)
        code, _, err = run_cli(["evaluate", given, "--quiet"], monkeypatch, capsys)
        assert code == 0 and "Test (scored by" in (tmp_path / "runs" / "lp" / "README.md").read_text(), err
        assert use(tmp_path / "runs" / "lp") == trained, (given, use(tmp_path / "runs" / "lp"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "lp").rename(tmp_path / "runs" / "best")
    code, _, err = run_cli(["evaluate", "runs/best", "--quiet"], monkeypatch, capsys)
    assert code == 0 and "headstart evaluate runs/best   # the test split" in use(tmp_path / "runs" / "best"), err


def test_evaluate_keeps_trains_path_in_a_card_the_user_edited_and_an_old_run_still_keeps_its_cards(tmp_path, toy_csv,
                                                                                                        tiny_registry, monkeypatch,
                                                                                                        capsys):
    """evaluate found train's path by parsing it back out of the card's own evaluate line: a card whose Use section
    the user had edited (that line reworded) was rebuilt with the path evaluate was given. spec.json records the path
    train named (``card_path``); a run saved before it did still has it read from its card."""
    from conftest import run_cli

    def use(run) -> list[str]:
        card = (run / "README.md").read_text()
        return [line for line in card.split("## Use", 1)[1].splitlines() if line.startswith(("echo", "headstart"))]

    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                            "--max-steps", "2", "--quiet", "--out", "runs/lp/"], monkeypatch, capsys)
    assert code in (0, None), err
    run = tmp_path / "runs" / "lp"
    trained = use(run)
    assert json.loads((run / "spec.json").read_text())["card_path"] == "runs/lp"
    card = (run / "README.md").read_text()
    (run / "README.md").write_text(card.replace("   # the test split", "   # scores the held-out rows"))  # the user's words
    code, _, err = run_cli(["evaluate", str(run), "--quiet"], monkeypatch, capsys)  # an absolute path
    assert code == 0 and use(run) == trained, use(run)
    spec = json.loads((run / "spec.json").read_text())
    del spec["card_path"]  # a run saved before spec.json recorded it: its card's evaluate line says it
    (run / "spec.json").write_text(json.dumps(spec))
    code, _, err = run_cli(["evaluate", str(run), "--quiet"], monkeypatch, capsys)
    assert code == 0 and use(run) == trained, use(run)
    assert "card_path" not in json.loads((run / "spec.json").read_text()), "evaluate writes no spec.json: its save stays the same"


def test_a_regression_runs_scored_card_names_no_interval_it_does_not_show(monkeypatch):
    """After evaluate a regression run's card said "That interval is over the test rows" of a score with no interval."""
    from headstart.model_card import model_card
    from headstart.surface import SURFACE_ENV

    monkeypatch.setenv(SURFACE_ENV, "cli")  # as `headstart evaluate` writes it

    meta = {"resolved": {"options": {}, "n": 16}}
    regression = model_card(meta, {"steps": 3, "test": {"n": 40, "rmse": 0.5}}, how="").replace("\\", "")
    assert "Test (scored by `headstart evaluate`, 40 examples): rmse 0.5000." in regression, regression
    assert "That score is over the test rows; it does not cover seeds" in regression and "That interval" not in regression
    classifier = model_card(meta, {"steps": 3, "test": {"n": 40, "accuracy": 0.75, "accuracy_ci": [0.6, 0.86]}}, how="")
    assert "That interval is over the test rows (how precisely they measure this one run); it does not cover seeds" in classifier


def test_a_tfidf_run_is_carded_and_listed_with_no_backbone(tmp_path, toy_csv, tiny_registry):
    """tfidf-logreg reads nothing of the backbone given: its card and ``adapters list`` said it was built on it."""
    import headstart
    from headstart.adapter_info import inspect

    headstart.fit(str(toy_csv), "tiny", strategy="tfidf-logreg", n=32, out=tmp_path / "tf")
    card = (tmp_path / "tf" / "README.md").read_text()
    assert "backbone none (TF-IDF features)" in card and "backbone `tiny`" not in card
    assert inspect(tmp_path / "tf").base == "none (TF-IDF features)"
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, out=tmp_path / "lp")
    assert "backbone `tiny`" in (tmp_path / "lp" / "README.md").read_text() and inspect(tmp_path / "lp").base == "tiny"


def test_a_card_states_what_trained_and_with_what_and_the_value_validation_chose():
    """The card left out the trainable share, the rates, precision and optimizer (metrics.json and spec.json have them),
    showed lora's targets as null, and said "the split that chose C" without C's value."""
    from headstart.model_card import model_card

    lora = {"resolved": {"strategy": "lora", "options": {"rank": 8, "targets": None}, "tune": {"param": "lr", "grid": [1e-4, 3e-4]},
                         "train": {"lr": 2e-4, "head_lr": 1e-3, "precision": "fp32", "optimizer": "adamw"}},
            "adapted": ["query", "value"]}
    card = model_card(lora, {"steps": 10, "best_step": 10, "trainable_params": 1234, "total_params": 22714114,
                             "chosen": {"lr": 3e-4}, "val": {}}, how="")
    assert ("Trained 1,234 of 22,714,114 parameters (0.0054%); learning rate 0.0003 (tuned), head rate 0.001; "
            "precision fp32; optimizer adamw.") in card
    assert '`{"rank": 8, "targets": ["query", "value"]}`' in card
    probe = {"resolved": {"strategy": "linear-probe", "options": {}, "train": {"lr": 1e-5, "head_lr": 1e-3, "precision": "bf16",
                                                                              "optimizer": "adamw"}}}
    card = model_card(probe, {"steps": 5, "trainable_params": 770, "total_params": 770, "val": {}}, how="")
    assert "Trained 770 of 770 parameters (100%); head rate 0.001; precision bf16; optimizer adamw." in card  # no backbone rate
    solved = {"resolved": {"strategy": "embed-logreg", "options": {"grid": [0.1, 1.0, 100.0]}, "train": {"precision": "fp32"}}}
    card = model_card(solved, {"steps": 0, "chosen": {"C": 100.0}, "val": {"n": 12}}, how="")
    assert "Validation (the split that chose C=100, 12 examples)" in card and "learning rate" not in card


def test_a_lora_runs_card_names_the_modules_its_adapter_is_on(tmp_path, toy_csv, tiny_registry):
    import headstart
    from headstart.specs import TrainConfig

    headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=16, out=tmp_path / "lora",
                  config=TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32"))
    card = (tmp_path / "lora" / "README.md").read_text()
    assert '"targets": ["query", "value"]' in card and '"targets": null' not in card


def test_a_diverged_runs_card_offers_no_test_score_that_evaluate_would_refuse(tmp_path, toy_csv, tiny_registry):
    """A diverged run keeps no weights and ``evaluate`` refuses it, yet its card's Metrics said "Test: `headstart
    evaluate` scores the test split" and read the majority class against "the accuracy `headstart evaluate` prints"."""
    import headstart
    from headstart.specs import TrainConfig

    run = tmp_path / "ff"
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=run,
                  config=TrainConfig(max_steps=10, min_steps=10, lr=1e30, head_lr=1e30, batch_size=8, precision="fp32"))
    assert json.loads((run / "metrics.json").read_text())["status"] == "diverged"
    card = (run / "README.md").read_text().replace("\\", "")
    assert "Test: none; this run diverged and kept no weights to score (see Use)." in card, card
    assert "headstart evaluate" not in card and "does not cover seeds" not in card, card


def test_a_card_written_from_python_names_the_python_calls_not_the_cli_commands(monkeypatch):
    """A Python ``headstart.fit`` wrote a card saying "Test: `headstart evaluate` scores the test split" and "`headstart
    compare --seeds 3` or more measures" (its flags were already "as `headstart.fit` returned them"); a Python
    ``headstart.evaluate`` wrote "scored by `headstart evaluate`". Each now names the call its writer makes."""
    from headstart.model_card import model_card
    from headstart.surface import SURFACE_ENV

    meta = {"resolved": {"options": {}, "n": 16}}
    majority = {"test": {"rows": 40, "rate": 0.55, "class": "pos"}}
    unscored, scored = {"steps": 3, "majority": majority}, {"steps": 3, "test": {"n": 40, "rmse": 0.5}}
    python = model_card(meta, unscored, how="").replace("\\", "") + model_card(meta, scored, how="").replace("\\", "")
    assert "Test: `headstart.evaluate` scores the test split" in python, python
    assert "`headstart.compare(..., seeds=3)` or more measures" in python
    assert "the line the accuracy `headstart.evaluate` returns there is read against" in python
    assert "Test (scored by `headstart.evaluate`, 40 examples)" in python
    assert "headstart evaluate" not in python and "--seeds" not in python, python
    monkeypatch.setenv(SURFACE_ENV, "cli")
    cli = model_card(meta, unscored, how="").replace("\\", "") + model_card(meta, scored, how="").replace("\\", "")
    assert "Test: `headstart evaluate` scores the test split" in cli and "`headstart compare --seeds 3` or more" in cli
    assert "the line the accuracy `headstart evaluate` prints there" in cli and "(scored by `headstart evaluate`, 40" in cli
