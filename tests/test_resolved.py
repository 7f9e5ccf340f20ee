"""Tests of headstart/resolved.py: what enters a run's resolved spec, and so its key."""

from __future__ import annotations

import dataclasses

from headstart import resolved
from headstart.specs import RunSpec


def test_a_file_read_by_the_runs_own_columns_is_keyed_apart_from_scores_read_before_that_rule(toy_csv, other_csv):
    """An --eval-data file (or a term's data=) is read by the run's own text and label columns since 0a8c0d8; before,
    by name order. Its hash is of its bytes, so without the rule in the key a compare resumed on an older store reused
    scores read from the other column. A retained file is read as before, and built-in datasets carry no hash: those
    runs keep their keys."""
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, seed=0)
    scored = resolved._other_files(dataclasses.replace(spec, eval_data=(str(other_csv),)))
    assert list(scored) == ["other_data", "other_data_read"], "the reading rule is part of the run's key"
    assert list(scored["other_data"]) == [str(other_csv)] and scored["other_data_read"] == resolved.READ_AGAINST_RUN
    term = resolved._other_files(dataclasses.replace(spec, terms={"dann": {"data": str(other_csv)}}))
    assert term.get("other_data_read") == resolved.READ_AGAINST_RUN
    assert list(resolved._other_files(dataclasses.replace(spec, retain=(str(other_csv),)))) == ["other_data"]
    assert resolved._other_files(dataclasses.replace(spec, eval_data=("drug-reviews-sentiment",))) == {}


def test_a_closed_form_arm_keeps_its_key_whatever_step_settings_a_compare_shares():
    """A compare's --max-steps 5 then --max-steps 6 (or --lr, --batch-size) reaches its stepping arms only: embed-logreg,
    fitted in closed form, keeps one resolved spec and key (it used to be stored twice, reported as
    ``embed-logreg[max_steps=5]`` beside ``embed-logreg[max_steps=6]``), the key of a run given none of them; a
    stepping arm (linear-probe) and setfit, whose encoder steps at --lr, still key them."""
    from headstart.data import SplitConfig
    from headstart.specs import TrainConfig, run_key
    from tests.conftest import make_toy, tiny_backbone

    data, pretrained = make_toy(60), tiny_backbone()

    def key(strategy: str, **train) -> str:
        spec = RunSpec(data="toy", backbone="tiny", strategy=strategy, n=16, seed=0, train=TrainConfig(**train))
        return run_key(resolved.resolve(spec, data, pretrained, split_config=SplitConfig(), n_train=16, precision="fp32"))

    plain = key("embed-logreg")
    assert key("embed-logreg", max_steps=5) == key("embed-logreg", max_steps=6) == plain
    assert key("embed-logreg", lr=1e-4, head_lr=0.1, epochs=2, min_steps=7, batch_size=4, warmup=0.2) == plain
    assert key("embed-logreg", metric="macro_f1") != plain, "a setting it reads stays in its key"
    assert key("linear-probe", max_steps=5) != key("linear-probe", max_steps=6)
    assert key("setfit", lr=1e-4) != key("setfit")
