"""The held-out validation score: a checkpoint choice scored on validation rows that did not make it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from headstart import analysis
from headstart.analysis.cells import cells, held_out_score
from headstart.held_out import MIN_ROWS, choose, cross_fitted, halves, on_halves
from headstart.results import RunResult
from tests.test_engine import CFG, phase, run, setup_fit

NAMES = ("neg", "pos")


def probs(predicted: np.ndarray) -> np.ndarray:
    """Two-class probabilities whose argmax is ``predicted``."""
    return np.where(predicted[:, None] == np.arange(2), 0.8, 0.2)


def test_the_best_of_many_lucky_checks_is_optimistic_and_the_held_out_score_is_not() -> None:
    """30 checks that are each right on a random 60% of 400 rows: over five draws the best of them on all rows is ~5
    points luckier than any check is; the check one half picks, scored on the other half, is not."""
    best, held = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        target = rng.integers(0, 2, 400)
        checks = [probs(np.where(rng.random(400) < 0.6, target, 1 - target)) for _ in range(30)]
        best.append(max(float((c.argmax(1) == target).mean()) for c in checks))
        scored = cross_fitted(checks, target, task="classification", label_names=NAMES, metric="accuracy")
        held.append(scored["accuracy"])
    assert np.mean(best) > 0.64, "the maximum of 30 looks sits well above the 60% every check has"
    assert abs(np.mean(held) - 0.6) < 0.02 and np.mean(held) < np.mean(best) - 0.03
    assert scored["checks"] == 30 and scored["n"] == 400 and set(scored) >= {"accuracy", "macro_f1", "balanced_accuracy", "loss"}


def test_each_half_chooses_for_the_other() -> None:
    """Check 0 is right on half a only, check 1 on half b only: a picks 0 and scores it on b (0%), b picks 1 and
    scores it on a (0%); on all rows either would look 50%."""
    target = np.zeros(40, dtype=int)
    a, b = halves(40)
    right_on_a, right_on_b = np.ones(40, dtype=int), np.ones(40, dtype=int)
    right_on_a[a], right_on_b[b] = 0, 0
    held = cross_fitted([probs(right_on_a), probs(right_on_b)], target, task="classification", label_names=NAMES,
                        metric="accuracy")
    assert held["accuracy"] == 0.0
    # One check: nothing chosen, the held-out score is its score on all rows (two equal halves)
    one = cross_fitted([probs(right_on_a)], target, task="classification", label_names=NAMES, metric="accuracy")
    assert one["accuracy"] == pytest.approx(0.5) and one["checks"] == 1


def test_ties_go_to_the_lower_loss_then_the_earlier_check_as_the_run_chooses() -> None:
    target = np.zeros(40, dtype=int)
    sure, unsure = np.tile([0.9, 0.1], (40, 1)), np.tile([0.6, 0.4], (40, 1))
    held = cross_fitted([unsure, sure], target, task="classification", label_names=NAMES, metric="accuracy")
    assert held["loss"] == pytest.approx(-np.log(0.9)), "equal accuracy: the lower validation loss is chosen"
    # Equal score and loss on half a (the same predictions there); on half b only the earlier check is right: a must
    # pick the earlier one for b to score 100% (the later would score 0%)
    a, b = halves(40)
    earlier, later = np.zeros(40, dtype=int), np.zeros(40, dtype=int)
    later[b] = 1
    held = cross_fitted([probs(earlier), probs(later)], target, task="classification", label_names=NAMES, metric="accuracy")
    assert held["accuracy"] == 1.0
    held = cross_fitted([probs(later), probs(earlier)], target, task="classification", label_names=NAMES, metric="accuracy")
    assert held["accuracy"] == 0.5, "the order alone moved the pick: ties go to the earlier check"


def test_one_check_scores_exactly_its_all_rows_score_on_an_odd_count() -> None:
    """Halves of 142 and 143 rows weighed by their rows: a constant predictor meets the majority line exactly, not
    a hair above or below it (the recommendation compares with it to 1e-12)."""
    target = (np.arange(285) % 3 == 0).astype(int)
    constant = probs(np.zeros(285, dtype=int))
    held = cross_fitted([constant], target, task="classification", label_names=NAMES, metric="accuracy")
    assert held["accuracy"] == pytest.approx(float((target == 0).mean()), abs=1e-12)


def test_a_check_whose_score_is_not_finite_is_never_picked() -> None:
    """The run never keeps a NaN check (its comparison is false); neither may either half."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=60)
    checks = [np.full(60, np.nan), target + 0.1, target + 1.0]
    held = cross_fitted(checks, target, task="regression", label_names=("y",), metric="rmse")
    assert held["rmse"] == pytest.approx(0.1)


def test_the_halves_are_fixed_disjoint_and_cover_every_row() -> None:
    a, b = halves(285)
    assert len(a) == 142 and len(b) == 143 and not set(a) & set(b) and set(a) | set(b) == set(range(285))
    assert all(np.array_equal(x, y) for x, y in zip(halves(285), (a, b))), "the same rows for every run: paired"


def test_the_cached_halves_cannot_be_written_or_made_writable() -> None:
    """Every check of every run cuts the same cached rows: a caller that could write them would move every later
    run's halves. They were arrays owning their data, so ``flags.writeable = True`` turned the guard off."""
    a, b = halves(2000)
    assert halves(2000)[0] is a, "cached"
    for half in (a, b):
        with pytest.raises(ValueError):
            half[0] = 1
        with pytest.raises(ValueError):
            half.flags.writeable = True
        with pytest.raises(ValueError):
            half.base.flags.writeable = True
    assert np.array_equal(np.sort(np.concatenate([a, b])), np.arange(2000))


def test_a_run_keeps_each_checks_metrics_on_the_halves_and_they_score_as_the_predictions_do() -> None:
    """What a run keeps per check is two metric dicts, whatever the validation split's size and classes; from those,
    2,000 rows of 100 classes score held out as sklearn scores the raw predictions: each half's metrics are the check's
    on that half's rows, and each half's pick (half a likes check 0, half b check 1) is scored on the other half."""
    from sklearn.metrics import accuracy_score, log_loss

    rng = np.random.default_rng(0)
    rows, classes = 2000, 100
    target = rng.integers(0, classes, rows)
    names = tuple(str(i) for i in range(classes))
    a, b = halves(rows)

    def check(right_on_a: float, right_on_b: float) -> np.ndarray:
        """Probabilities whose argmax is the target on about these shares of each half's rows, another class elsewhere."""
        right = np.where(np.isin(np.arange(rows), a), rng.random(rows) < right_on_a, rng.random(rows) < right_on_b)
        answer = np.where(right, target, (target + rng.integers(1, classes, rows)) % classes)
        return 0.5 * rng.dirichlet(np.ones(classes), rows) + 0.5 * np.eye(classes)[answer]

    checks = [check(0.6, 0.4), check(0.4, 0.6), check(0.5, 0.5)]
    kept = [on_halves(c, target, task="classification", label_names=names) for c in checks]
    assert all(isinstance(h, dict) and "per_class" not in h for pair in kept for h in pair)

    def reference(c: np.ndarray, half: np.ndarray) -> dict[str, float]:
        return {"accuracy": accuracy_score(target[half], c[half].argmax(1)), "n": len(half),
                "loss": log_loss(target[half], c[half], labels=range(classes))}

    for c, pair in zip(checks, kept):
        for h, half in zip(pair, (a, b)):
            assert {k: h[k] for k in ("accuracy", "n", "loss")} == pytest.approx(reference(c, half), abs=1e-9)
    pick_a = max(range(3), key=lambda i: reference(checks[i], a)["accuracy"])
    pick_b = max(range(3), key=lambda i: reference(checks[i], b)["accuracy"])
    assert (pick_a, pick_b) == (0, 1), "the halves disagree, so which half scores which pick matters"
    expected = (len(b) * reference(checks[pick_a], b)["accuracy"] + len(a) * reference(checks[pick_b], a)["accuracy"]) / rows
    held = choose(kept, metric="accuracy")
    assert held["accuracy"] == pytest.approx(expected, abs=1e-12) and expected < 0.45, "a pick scored on its own half: ~0.6"
    assert held["n"] == rows and held["checks"] == 3


def test_too_few_rows_or_no_checks_hold_out_nothing() -> None:
    target = np.zeros(MIN_ROWS - 1, dtype=int)
    assert cross_fitted([probs(target)], target, task="classification", label_names=NAMES, metric="accuracy") is None
    assert cross_fitted([], np.zeros(100, dtype=int), task="classification", label_names=NAMES, metric="accuracy") is None
    assert on_halves(probs(target), target, task="classification", label_names=NAMES) is None


def test_regression_checks_choose_by_rmse() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=60)
    checks = [target + rng.normal(scale=s, size=60) for s in (1.0, 0.1, 2.0)]
    held = cross_fitted(checks, target, task="regression", label_names=("y",), metric="rmse")
    assert held["rmse"] == pytest.approx(0.1, abs=0.05), "both halves pick the accurate check"


def test_a_run_scores_every_check_held_out(toy, make_tiny) -> None:
    """fit keeps each validation check's predictions: the held-out score chooses among exactly the checks it made."""
    model, data = setup_fit(toy, make_tiny)
    report = run(model, data, [phase(model, 10)])
    assert report.held_out["checks"] == len(report.history) == 5 and report.held_out["n"] == 50
    assert 0.0 <= report.held_out["accuracy"] <= 1.0


def test_a_solvers_grid_is_a_choice_held_out_like_a_checkpoints(toy, make_tiny) -> None:
    """A closed-form phase that ranks three candidates on validation: each candidate is a look."""
    from headstart.strategies import ParamGroup, Phase
    from headstart.strategies.classical import head_outputs

    model, data = setup_fit(toy, make_tiny)

    def solve(m, problem):
        for scale in (0.5, 2.0, -1.0):
            m.head.weight.mul_(scale)
            problem.rank(head_outputs(m, problem.val_features()))
        return {"scale": -1.0}

    report = run(model, data, [Phase("solve", [ParamGroup("head", list(model.head.parameters()), 0.0)], 0, solve=solve)])
    assert report.held_out["checks"] == 3, "three ranked candidates; the check after the solve is the one chosen"


def _result(strategy: str, seed: int, *, val: float, held: float | None, looks: int = 5, solved: bool = False) -> RunResult:
    spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    history = [{"step": i, "phase": "train", "val_score": val} | ({"solved": True} if solved else {}) for i in range(looks)]
    record = {"history": history, **({"held_out": {"accuracy": held, "checks": looks}} if held is not None else {})}
    return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done", metrics={"accuracy": 0.7},
                     val_metrics={"accuracy": val}, record=record)


def test_choices_read_held_out_scores_when_every_run_kept_one() -> None:
    """The probe's best check looks 4 points better than fine-tuning's, held out it is 2 points worse: the choice
    reads the held-out scores and says so."""
    results = [r for s in range(3) for r in (_result("linear-probe", s, val=0.80, held=0.72, looks=30),
                                             _result("full-finetune", s, val=0.76, held=0.74))]
    table = cells(results)
    assert table[("linear-probe", 16)].val_by_seed == {0: 0.72, 1: 0.72, 2: 0.72}
    assert table[("full-finetune", 16)].val_source == "held-out validation"
    band = analysis.recommend(results)[0]
    assert band["strategy"] == "full-finetune" and "best on held-out validation" in band["text"]


def test_one_run_without_a_held_out_score_puts_every_choice_back_on_validation_maxima() -> None:
    """A store with runs from before held-out scores: one basis for all, never a mix (a maximum beside a held-out
    score would favour the run that kept none)."""
    results = [_result("linear-probe", s, val=0.80, held=0.72, looks=30) for s in range(3)]
    results += [_result("full-finetune", s, val=0.76, held=None if s == 0 else 0.74) for s in range(3)]
    table = cells(results)
    assert table[("linear-probe", 16)].val_by_seed == {0: 0.80, 1: 0.80, 2: 0.80}
    assert table[("linear-probe", 16)].val_source == ("validation (each run's best check: 1 of 6 runs were stored "
                                                      "before held-out scores were kept)")


def test_a_run_that_looked_once_stands_on_its_validation_score() -> None:
    """A run with one look chose nothing (a head set from descriptions: a solve phase at n = 0, as the engine records
    it); a solver that ranked a grid on labels did choose."""
    zero_shot = _result("zero-shot", 0, val=0.6, held=None, looks=1, solved=True)
    zero_shot = dataclasses.replace(zero_shot, spec={**zero_shot.spec, "n": 0, "n_requested": 0})
    assert held_out_score(zero_shot, "accuracy") == 0.6
    assert held_out_score(_result("embed-logreg", 0, val=0.6, held=None, looks=1, solved=True), "accuracy") is None
    assert held_out_score(_result("lora", 0, val=0.6, held=None, looks=5), "accuracy") is None


def test_the_gap_benchmark_prints_each_cells_optimism_and_both_recommendations(tmp_path, capsys) -> None:
    """benchmarks/held_out_gap.py on a store: the probe's best check is 8 points above its held-out score, and on the
    best checks it would be recommended; on held-out scores full fine-tuning is."""
    import importlib.util
    from pathlib import Path

    from headstart.store import Store

    spec = importlib.util.spec_from_file_location("held_out_gap", Path(__file__).resolve().parents[1] / "benchmarks" / "held_out_gap.py")
    gap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gap)
    with Store(tmp_path) as store:
        for s in range(3):
            store.put(_result("linear-probe", s, val=0.80, held=0.72, looks=30))
            store.put(_result("full-finetune", s, val=0.76, held=0.74))
    assert gap.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| linear-probe | 16 | 30 / 30 / 30 | 80.0 | 72.0 | +8.0 (+8.0 to +8.0) | 70.0 |" in out, out
    held, best = out.split("recommendation on best checks")
    assert "- at every size tried: full-finetune" in held and "- at every size tried: linear-probe" in best, out


def test_too_small_a_validation_is_named_as_why_no_score_is_held_out_and_the_footnote_says_optimistic() -> None:
    """Under MIN_ROWS validation rows a brand-new store said "8 of 10 runs were stored before held-out scores were kept"
    (zero-shot's single look stands as held out); now it names the rows, and the report's footnote says the choices
    read each run's best check, which is optimistic, as ``train`` says of its own."""
    from headstart.analysis import summarize
    from headstart.report.footnote import choice_text

    def small(r: RunResult) -> RunResult:
        return dataclasses.replace(r, val_metrics={**r.val_metrics, "n": 8}, train_seconds=1.0, steps=5)

    results = [small(_result(s, seed, val=v, held=None)) for seed in range(2) for s, v in (("linear-probe", 0.8),
                                                                                            ("full-finetune", 0.7))]
    zero_shot = small(_result("zero-shot", 0, val=0.6, held=None, looks=1, solved=True))
    results.append(dataclasses.replace(zero_shot, spec={**zero_shot.spec, "n": 0, "n_requested": 0}))
    source = cells(results)[("linear-probe", 16)].val_source
    assert source == (f"validation (each run's best check: 4 of 5 runs had 8 validation rows, fewer than the {MIN_ROWS} "
                      "that holding half of them out takes)"), source
    text = choice_text(summarize(results))
    assert text.startswith("Choices (recommendation, head start, crossover) are made on validation scores, each run's "
                           "best check: optimistic"), text
    assert "4 of 5 runs had 8 validation rows" in text and "stored before" not in text, text
    # an older store's runs beside them are counted apart
    older = [dataclasses.replace(_result("lora", seed, val=0.75, held=None), train_seconds=1.0, steps=5) for seed in range(2)]
    assert cells(results + older)[("lora", 16)].val_source.endswith(
        "4 of 7 runs had 8 validation rows, fewer than the 20 that holding half of them out takes; 2 of 7 runs were "
        "stored before held-out scores were kept)")
