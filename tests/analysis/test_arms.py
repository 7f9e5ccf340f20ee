"""Arm labels: the strategy, plus the settings in which arms of one strategy differ."""

from __future__ import annotations

from headstart.analysis.arms import arm_key, label_arms
from headstart.results import RunResult


def _run(key: str, strategy: str = "lora", **options) -> RunResult:
    return RunResult(key, {"strategy": strategy, "options": {"rank": 8, **options}, "train": {}}, "done")


def test_one_way_is_the_strategy_alone():
    runs = [_run("a", targets=None), _run("b", "qlora", targets=None)]
    assert sorted(label_arms(runs).values()) == ["lora", "qlora"]


def test_an_unset_setting_beside_a_set_one_reads_as_the_strategy():
    """``lora`` (default targets) beside ``lora[targets=all-linear]``: not ``lora[]``."""
    default, every = _run("a", targets=None), _run("b", targets="all-linear")
    labels = label_arms([default, every])
    assert labels[arm_key(default.spec)] == "lora"
    assert labels[arm_key(every.spec)] == "lora[targets=all-linear]"


def test_labels_stay_distinct_when_each_arm_sets_a_different_setting():
    runs = [_run("a", targets=None, alpha=32), _run("b", targets="all-linear", alpha=None), _run("c", targets=None, alpha=None)]
    labels = label_arms(runs)
    assert sorted(labels.values()) == ["lora", "lora[alpha=32]", "lora[targets=all-linear]"]


def test_a_terms_setting_is_shown_after_the_term_as_the_arm_is_written():
    """``full-finetune+l2sp[weight=0.1]``, as typed, not ``full-finetune+l2sp[l2sp.weight=0.1]``; a strategy setting
    stays after the strategy."""
    def run(key: str, lr: float, **terms) -> RunResult:
        return RunResult(key, {"strategy": "full-finetune", "options": {}, "train": {"lr": lr}, "terms": terms}, "done")

    runs = [run("a", 5e-5, l2sp={"weight": 0.1}, ewc={"weight": 100.0}), run("b", 5e-5, l2sp={"weight": 1.0}, ewc={"weight": 100.0}),
            run("c", 1e-4, l2sp={"weight": 1.0}, ewc={"weight": 100.0}), run("d", 5e-5)]
    labels = [label_arms(runs)[arm_key(r.spec)] for r in runs]
    assert labels == ["full-finetune[lr=5e-05]+ewc+l2sp[weight=0.1]", "full-finetune[lr=5e-05]+ewc+l2sp[weight=1]",
                      "full-finetune[lr=0.0001]+ewc+l2sp[weight=1]", "full-finetune"]


def test_a_progress_label_writes_label_texts_as_the_flag_takes_them_not_as_a_python_tuple():
    """The sweep's progress line read ``zero-shot-prompt[descriptions=(('rotten', '...``: Python's tuple text."""
    from headstart.analysis.arms import spec_label

    spec = {"strategy": "zero-shot-prompt", "options": {"descriptions": (("rotten", "negative"), ("fresh", "positive")),
                                                        "shots": [1, 2]}}
    assert spec_label(spec) == 'zero-shot-prompt[descriptions=rotten="negative",fresh="positive", shots=1,2]'
    assert spec_label({"strategy": "zero-shot", "options": {"descriptions": {"fresh": "a good film"}}}) == \
        'zero-shot[descriptions=fresh="a good film"]'


def test_a_closed_form_run_stored_with_a_compares_max_steps_is_one_arm_with_those_stored_after():
    """embed-logreg stored under a compare's --max-steps 5, then resolved with its step settings at their defaults
    (``resolve``): the report showed ``embed-logreg[max_steps=5]`` beside ``embed-logreg``, both closed form. A run that
    took steps (linear-probe) keeps them apart; so does setfit, whose solve steps (``pair_steps``)."""
    closed = {"budget": {"planned_steps": 0, "steps": 0, "lr": None, "max_steps": 5}}

    def run(key: str, strategy: str, max_steps: int | None, record: dict, **fields) -> RunResult:
        spec = {"strategy": strategy, "options": {}, "train": {"max_steps": max_steps, "lr": 1e-5, "metric": "auto"}}
        return RunResult(key, spec, "done", record=record, **fields)

    old, new = run("a", "embed-logreg", 5, closed), run("b", "embed-logreg", None, closed)
    stepped = {"budget": {"planned_steps": 5, "steps": 5, "lr": None, "max_steps": 5}}
    probes = [run("c", "linear-probe", 5, stepped, steps=5), run("d", "linear-probe", 6, stepped, steps=6)]
    setfit = [run("e", "setfit", 5, closed, chosen={"pair_steps": 5}), run("f", "setfit", None, closed, chosen={"pair_steps": 9})]
    labels = label_arms([old, new, *probes, *setfit])
    assert labels[arm_key(old.spec)] == labels[arm_key(new.spec)] == "embed-logreg"
    assert sorted(labels[arm_key(r.spec)] for r in probes) == ["linear-probe[max_steps=5]", "linear-probe[max_steps=6]"]
    assert sorted(labels[arm_key(r.spec)] for r in setfit) == ["setfit", "setfit[max_steps=5]"]
