"""Tests of headstart/model_card.py: a run's README.md says what its numbers cover and carries its flags."""

import json


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
    assert f"On a stratified {test['rows']} of its {full} test rows (--max-test), always predicting" in card, card


def test_a_stepped_runs_card_says_the_step_whose_weights_it_kept():
    """An exported classifier's card said which split chose the checkpoint, not which step it kept."""
    from headstart.model_card import model_card

    card = model_card({}, {"steps": 40, "best_step": 30, "val": {"accuracy": 0.8}}, how="")
    assert "The weights kept are step 30's of 40, the best on validation." in card
    assert "The weights kept" not in model_card({}, {"steps": 0, "best_step": 0, "val": {}}, how="")
