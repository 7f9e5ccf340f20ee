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
