"""rank-backbones: the transferability scores (headstart/transferability.py) against closed forms and hand-computed
cases, the measured-vs-predicted reading of a compare store (headstart/analysis/backbone_ranking.py), and the command
and API (headstart/rank.py, headstart/cli/rank.py) on tiny backbones; one slow test on rotten-tomatoes with MiniLM."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import run_cli
from scipy.stats import multivariate_normal

from headstart.analysis.backbone_ranking import agreement, measured, ranked_beside_measured, tau_text
from headstart.errors import ConfigError
from headstart.results import RunResult
from headstart.transferability import h_score, knn_loo, logme, logme_evidence


def separable(n: int = 120, d: int = 8, classes: int = 3, seed: int = 0, gap: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(size=(classes, d)) * gap
    return centres[y] + rng.normal(size=(n, d)), y


# ---- LogME ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,d", [(40, 6), (12, 30)])  # N > D, and N < D (where log|A| needs the D − N eigenvalues α)
def test_logme_evidence_is_the_gaussian_marginal_likelihood_at_its_alpha_beta(n: int, d: int) -> None:
    f, y = separable(n, d)
    target = (y == 1).astype(float)
    e = logme_evidence(f, target)
    closed = multivariate_normal(np.zeros(n), np.eye(n) / e.beta + f @ f.T / e.alpha).logpdf(target)
    assert e.evidence * n == pytest.approx(closed, rel=1e-9, abs=1e-9)


def test_logme_evidence_is_maximised_over_alpha_and_beta() -> None:
    f, y = separable(60, 5)
    target = (y == 0).astype(float)
    e = logme_evidence(f, target)

    def at(alpha: float, beta: float) -> float:
        return multivariate_normal(np.zeros(len(target)), np.eye(len(target)) / beta + f @ f.T / alpha).logpdf(target)

    best = at(e.alpha, e.beta)
    for da, db in [(1.5, 1), (1 / 1.5, 1), (1, 1.5), (1, 1 / 1.5)]:
        assert at(e.alpha * da, e.beta * db) < best


def test_logme_by_hand_one_feature_one_example() -> None:
    # N = D = 1, f = 1, y = 1: σ = 1 and x = 1, so γ = 1/(1+t), ‖m‖² = 1/(1+t)², ‖fm − y‖² = (t/(1+t))² at t = α/β;
    # the fixed point iterated here by hand, then the evidence of a one-dimensional Gaussian.
    alpha, beta = 1.0, 1.0
    for _ in range(11):
        t = alpha / beta
        gamma, m2, res2 = 1 / (1 + t), 1 / (1 + t) ** 2, (t / (1 + t)) ** 2
        alpha, beta = gamma / (m2 + 1e-5), (1 - gamma) / (res2 + 1e-5)
        if abs(alpha / beta - t) / t <= 1e-3:
            break
    # p(y) = N(1; 0, 1/β + 1/α)
    variance = 1 / beta + 1 / alpha
    expected = -0.5 * math.log(2 * math.pi * variance) - 0.5 / variance
    assert logme_evidence(np.array([[1.0]]), np.array([1.0])).evidence == pytest.approx(expected, rel=1e-12)


def test_logme_higher_on_separable_features_than_on_shuffled_labels() -> None:
    f, y = separable()
    shuffled = np.random.default_rng(1).permutation(y)
    assert logme(f, y) > logme(f, shuffled) + 0.1


def test_logme_is_the_mean_over_classes() -> None:
    f, y = separable(classes=3)
    per_class = [logme_evidence(f, (y == c).astype(float)).evidence for c in range(3)]
    assert logme(f, y) == pytest.approx(np.mean(per_class))


# ---- H-score ----------------------------------------------------------------------------------------------------


def test_h_score_by_hand_one_feature() -> None:
    # f = 0, 1, 2, 3 with labels 0, 0, 1, 1: var f = 1.25, the class means ±1 around 1.5, so var E[f|y] = 1 and H = 0.8
    # (one feature: Ledoit-Wolf has nothing to shrink).
    f, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    assert h_score(f, y) == pytest.approx(0.8)
    assert h_score(f, y, shrinkage=0.0) == pytest.approx(0.8)


def test_h_score_without_shrinkage_is_bao_et_al() -> None:
    f, y = separable(200, 6)
    g = np.stack([f[y == c].mean(0) for c in y])
    textbook = np.trace(np.linalg.pinv(np.cov(f, rowvar=False, bias=True)) @ np.cov(g, rowvar=False, bias=True))
    assert h_score(f, y, shrinkage=0.0) == pytest.approx(textbook, rel=1e-9)


def test_h_score_shrinkage_is_ledoit_wolf_and_keeps_n_below_dim_finite() -> None:
    from sklearn.covariance import ledoit_wolf

    f, y = separable(20, 50)
    cov, lam = ledoit_wolf(f)
    centred = f - f.mean(0)
    means = np.stack([centred[y == c].mean(0) for c in np.unique(y)])
    weights = np.bincount(y) / len(y)
    expected = (1 - lam) * sum(w * m @ np.linalg.solve(cov, m) for w, m in zip(weights, means))
    assert 0 < lam < 1
    assert h_score(f, y) == pytest.approx(expected, rel=1e-9)


def test_h_score_higher_on_separable_features_than_on_shuffled_labels() -> None:
    f, y = separable()
    assert h_score(f, y) > h_score(f, np.random.default_rng(1).permutation(y)) + 0.5


# ---- kNN leave-one-out ------------------------------------------------------------------------------------------


def test_knn_loo_exact_on_a_tiny_set() -> None:
    # Unit directions at these angles (degrees), scaled (norms do not matter); 48 is class 1 but nearer 20 than 90.
    angles = np.radians([0, 10, 20, 48, 90, 100])
    f = np.stack([np.cos(angles), np.sin(angles)], 1) * np.array([[1], [2], [3], [1], [5], [1]])
    y = np.array([0, 0, 0, 1, 1, 1])
    # k = 1: 0 <- 10 ✓, 10 <- 0 or 20 ✓ (both class 0), 20 <- 10 ✓, 48 <- 20 ✗, 90 <- 100 ✓, 100 <- 90 ✓.
    assert knn_loo(f, y, k=1) == pytest.approx(5 / 6)
    # k = 3: 0 <- {10, 20, 48} 2:1 ✓; 10 <- {0, 20, 48} ✓; 20 <- {10, 0, 48} ✓; 48 <- {20, 10, 90} 2:1 ✗;
    # 90 <- {100, 48, 20} 2:1 ✓; 100 <- {90, 48, 20} 2:1 ✓.
    assert knn_loo(f, y, k=3) == pytest.approx(5 / 6)
    # k = 5: every row's voters are all the others, 3:2 for the other class.
    assert knn_loo(f, y, k=5) == 0.0


def test_knn_loo_higher_on_separable_features_than_on_shuffled_labels() -> None:
    f, y = separable()
    assert knn_loo(f, y) > 0.9 > knn_loo(f, np.random.default_rng(1).permutation(y)) + 0.3


# ---- measured vs predicted --------------------------------------------------------------------------------------


def stored(backbone: str, accuracy: float, *, n: int | str = 64, seed: int = 0, strategy: str = "linear-probe",
           data_hash: str = "h") -> RunResult:
    spec = {"strategy": strategy, "n": 64 if n == "all" else n, "n_requested": n, "seed": seed, "backbone": backbone,
            "backbone_config": {}, "data": {"name": "toy", "hash": data_hash}, "options": {}, "train": {}}
    return RunResult(key=f"{backbone}-{strategy}-{n}-{seed}", spec=spec, status="done", metrics={"accuracy": accuracy})


def means(table: dict) -> dict:
    """``measured``'s backbones without their intervals (``test_the_measured_score_carries_its_test_interval``)."""
    return {b: {k: v[k] for k in ("mean", "seeds", "values")} for b, v in table["backbones"].items()}


def test_the_measured_score_carries_its_test_interval_and_the_report_names_the_split() -> None:
    """The report's "measured accuracy (%)" column had no interval and did not say it was the test split's."""
    from headstart.analysis.cell_stats import curves
    from headstart.report.markdown import ranking_markdown

    runs = [stored("a", 0.9, n="all"), stored("a", 0.8, n="all", seed=1), stored("b", 0.7, n="all")]
    table = measured(runs, data_hash="h")
    (row,) = curves(runs[:2])
    assert (table["backbones"]["a"]["ci_low"], table["backbones"]["a"]["ci_high"]) == (row["ci_low"], row["ci_high"])
    lines = ranking_markdown(ranked_beside_measured(ranking_file(a=(3.0, 1.0, 0.9), b=(2.0, 3.0, 0.8)), runs))
    assert "| backbone | LogME | H-score | kNN-LOO | measured test accuracy (%) | 95% CI |" in lines
    assert lines[-2].startswith("| a |") and lines[-2].endswith(f"| 85.0 | {100 * row['ci_low']:.1f} – {100 * row['ci_high']:.1f} |")
    assert lines[-1].startswith("| b |") and "| 70.0 | no interval: one seed and no test predictions are stored to resample |" in lines[-1]
    from types import SimpleNamespace

    from headstart.cli.rank import table as printed

    result = SimpleNamespace(data="toy", n=64, seed=0, n_requested=64, measured=table, agreement={},
                             scores=[SimpleNamespace(backbone=b, name=b, image_size=None, logme=0.0, h_score=0.0, knn_loo=0.0,
                                                     seconds=0.0) for b in ("a", "b")],
                             measured_mean=lambda s: table["backbones"][s.name]["mean"])
    out = printed(result)
    assert out[1].split()[-3:] == ["95%", "CI", "rank"] and out[2].split()[-3:] == ["0.8500", f"{row['ci_low']:.3f}–{row['ci_high']:.3f}", "1"]
    assert out[3].split()[-3:] == ["0.7000", "-", "2"] and "test accuracy at n=all, mean over seeds with its 95% interval" in out[4]


def test_measured_means_over_seeds_at_the_largest_size_by_default() -> None:
    runs = [stored("a", 0.6, n=16), stored("a", 0.8, n="all"), stored("a", 0.9, n="all", seed=1),
            stored("b", 0.7, n="all"), stored("b", 0.5, n=16), stored("c", 0.99, n="all", data_hash="other"),
            stored("b", 0.1, n="all", strategy="full-finetune")]
    table = measured(runs, data_hash="h")
    assert (table["arm"], table["size"]) == ("linear-probe", "all")
    assert means(table) == {"a": {"mean": pytest.approx(0.85), "seeds": 2, "values": [0.8, 0.9]},
                            "b": {"mean": 0.7, "seeds": 1, "values": [0.7]}}
    assert measured(runs, data_hash="h", size=16)["backbones"]["b"]["mean"] == 0.5
    assert means(measured(runs, data_hash="h", arm="full-finetune")) == {"b": {"mean": 0.1, "seeds": 1, "values": [0.1]}}
    with pytest.raises(ConfigError, match="its sizes: 16, all"):
        measured(runs, data_hash="h", size=32)
    with pytest.raises(ConfigError, match="its arms: full-finetune, linear-probe"):
        measured(runs, data_hash="h", arm="lora")
    with pytest.raises(ConfigError, match="give the --data its compare used"):
        measured(runs, data_hash="nothing")


def improving(backbone: str, seed: int) -> RunResult:
    """A linear-probe run its compare's report flags as still improving (its --max-steps cap cut it)."""
    r = stored(backbone, 0.6 + seed / 100, seed=seed)
    history = [{"step": s, "phase": "probe", "val_score": v} for s, v in ((5, 0.5), (10, 0.55), (15, 0.62))]
    return dataclasses.replace(r, val_metrics={"accuracy": 0.62}, record={
        "history": history, "budget": {"planned_steps": 15, "steps": 15, "max_steps": 15, "capped": True,
                                       "metric": "accuracy"}, "reference": {"val": {"accuracy": 0.5}}})


def test_measured_runs_their_compare_flags_are_named_beside_the_taus() -> None:
    """--measured set tau against a compare whose report flagged its linear-probe runs as still improving at the size
    read (a --max-steps cap), and said nothing of it: the measured means carry the flags their compare gave them."""
    from types import SimpleNamespace

    from headstart.cli.rank import table

    runs = [improving("a", 0), improving("a", 1), stored("b", 0.7), stored("b", 0.72, seed=1)]
    found = measured(runs, data_hash="h")
    assert found["flagged"] == {"a": ["improving"]}
    assert "flagged" not in measured([stored("b", 0.7)], data_hash="h")
    result = SimpleNamespace(data="toy", n=64, seed=0, n_requested=64, scores=[], measured=found, agreement={},
                             measured_mean=lambda s: None)
    result.scores = [SimpleNamespace(backbone=b, image_size=None, logme=0.0, h_score=0.0, knn_loo=0.0, seconds=0.0)
                     for b in ("a", "b")]
    assert table(result)[-1] == ("note: a's measured runs are flagged in their compare (improving: see its report's budget "
                                 "flags), so its mean may understate it, and the taus with it")


def test_agreement_is_kendalls_tau_over_shared_backbones() -> None:
    same = agreement({"a": 3.0, "b": 2.0, "c": 1.0, "x": 9.0}, {"a": 0.9, "b": 0.8, "c": 0.7})
    assert same["tau"] == pytest.approx(1.0) and same["backbones"] == 3
    assert agreement({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.9, "b": 0.8, "c": 0.7})["tau"] == pytest.approx(-1.0)
    assert agreement({"a": 1.0}, {"a": 0.9})["tau"] is None
    assert tau_text(agreement({"a": 1.0}, {"a": 0.9})) == "n/a: fewer than 2 backbones measured"
    assert tau_text(agreement({"a": 1.0, "b": 1.0}, {"a": 0.9, "b": 0.8})) == "n/a: a constant ranking"
    assert tau_text(same) == "+1.00 (p = 0.33, 3 backbones)"


def test_the_tau_interval_resamples_each_backbones_seeds() -> None:
    predicted = {"a": 3.0, "b": 2.0, "c": 1.0}
    apart = {"a": [0.90, 0.91, 0.89], "b": [0.80, 0.81, 0.79], "c": [0.70, 0.71, 0.69]}  # seeds never overlap
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    clear = agreement(predicted, {b: mean(v) for b, v in apart.items()}, apart)
    # every resample ranks them the same: no spread seen, not a tau of 1 for certain ("+1.00 to +1.00" was shown)
    assert clear["tau"] == pytest.approx(1.0) and clear["interval"] is None
    assert tau_text(clear) == "+1.00 (no interval: every resample of the seeds gave the same tau; p = 0.33, 3 backbones)"
    overlapping = {"a": [0.90, 0.70, 0.80], "b": [0.85, 0.75, 0.78], "c": [0.60, 0.95, 0.70]}
    loose = agreement(predicted, {b: mean(v) for b, v in overlapping.items()}, overlapping)
    low, high = loose["interval"]
    assert low <= -1 / 3 and high == pytest.approx(1.0)  # the seeds let the measured order flip either way
    assert "95% CI over resampled seeds" in tau_text(loose) and f"{low:+.2f} to +1.00" in tau_text(loose)
    assert agreement(predicted, {b: v[0] for b, v in apart.items()}, {b: v[:1] for b, v in apart.items()})["interval"] is None
    one_short = {**apart, "c": apart["c"][:1]}  # one backbone's mean cannot be resampled: no interval, not a narrow one
    assert agreement(predicted, {b: mean(v) for b, v in one_short.items()}, one_short)["interval"] is None
    assert agreement(predicted, {b: mean(v) for b, v in apart.items()})["interval"] is None  # no seeds given
    assert tau_text(agreement(predicted, {b: mean(v) for b, v in apart.items()})) == "+1.00 (p = 0.33, 3 backbones)"


def test_the_resampled_tau_is_scipys_tau_b_with_ties() -> None:
    from scipy.stats import kendalltau

    from headstart.analysis.backbone_ranking import _seed_interval

    predicted, scores = [3.0, 3.0, 1.0, 2.0], [[0.9, 0.9], [0.7, 0.7], [0.7, 0.7], [0.8, 0.8]]  # ties on both sides
    expected = float(kendalltau(predicted, [v[0] for v in scores]).statistic)
    assert _seed_interval(predicted, scores) == [pytest.approx(expected), pytest.approx(expected)]


def test_a_measured_score_that_is_not_finite_is_left_out() -> None:
    """A NaN accuracy would make the mean NaN, and the report's JSON (allow_nan=False) refuse it."""
    table = measured([stored("a", 0.8), stored("a", float("nan"), seed=1), stored("b", float("nan"))], data_hash="h")
    assert means(table) == {"a": {"mean": 0.8, "seeds": 1, "values": [0.8]}}


def ranking_file(**scores: tuple[float, float, float]) -> dict:
    return {"data": "toy", "data_hash": "h", "n": 64, "n_requested": 64, "seed": 0,
            "backbones": [{"name": b, "logme": v[0], "h_score": v[1], "knn_loo": v[2]} for b, v in scores.items()]}


def test_report_section_sets_the_ranking_beside_what_the_store_measures_now() -> None:
    runs = [stored("a", 0.9, n="all"), stored("a", 0.8, n="all", seed=1), stored("b", 0.7, n="all"), stored("c", 0.6, n="all")]
    section = ranked_beside_measured(ranking_file(a=(3.0, 1.0, 0.9), b=(2.0, 3.0, 0.8), c=(1.0, 2.0, 0.7)), runs)
    assert [r["measured"] for r in section["rows"]] == [pytest.approx(0.85), 0.7, 0.6]
    assert section["agreement"]["logme"]["tau"] == pytest.approx(1.0) and section["agreement"]["knn_loo"]["tau"] == pytest.approx(1.0)
    assert section["agreement"]["h_score"]["tau"] == pytest.approx(-1 / 3)
    assert "linear-probe test accuracy at n = all" in section["text"] and "mean over 1/2 seed(s)" in section["text"]
    assert "64 pool rows of toy (the rows train --n 64 --seed 0 draws)" in section["text"]
    every = ranked_beside_measured({**ranking_file(a=(1.0, 1.0, 1.0)), "n_requested": "all"}, runs)
    assert "64 pool rows of toy (the rows train --n all --seed 0 draws)" in every["text"]
    assert "LogME +1.00 (p = 0.33, 3 backbones)" in section["text"]  # b and c have one seed: no interval
    assert "H-score -0.33" in section["text"]
    unsorted = ranked_beside_measured(ranking_file(c=(1.0, 2.0, 0.7), a=(3.0, 1.0, 0.9)), runs)
    assert [r["name"] for r in unsorted["rows"]] == ["a", "c"]  # best first by LogME, whatever the file's order
    # measured now, not when ranked: a later run of c moves the measured side
    later = ranked_beside_measured(ranking_file(a=(3.0, 1.0, 0.9), c=(1.0, 2.0, 0.7)), runs + [stored("c", 1.0, n="all", seed=1)])
    assert later["rows"][1]["measured"] == pytest.approx(0.8)
    nothing = ranked_beside_measured({**ranking_file(a=(1.0, 1.0, 1.0)), "data_hash": "other"}, runs)
    assert nothing["measured"] is None and "Nothing to set it beside" in nothing["text"]
    assert ranked_beside_measured({"backbones": "garbage"}, runs) is None
    assert ranked_beside_measured(ranking_file(a=(float("nan"), 1.0, 1.0)), runs) is None


def test_the_reports_ranking_section_names_flagged_measured_runs_as_the_command_does() -> None:
    """rank-backbones --measured printed its note on a backbone whose measured runs were still improving; the report's
    ranking section, set beside the same runs, did not."""
    from headstart.report.markdown import ranking_markdown

    runs = [improving("a", 0), improving("a", 1), stored("b", 0.7), stored("b", 0.72, seed=1)]
    section = ranked_beside_measured(ranking_file(a=(3.0, 1.0, 0.9), b=(2.0, 3.0, 0.8)), runs)
    note = ("a's measured runs are flagged in their compare (improving: see this report's budget flags), so its mean may "
            "understate it, and the taus with it")
    assert section["text"].endswith(f" Note: {note}.")
    assert any(note in line for line in ranking_markdown(section))  # report.html shows the same text
    settled = ranked_beside_measured(ranking_file(a=(3.0, 1.0, 0.9), b=(2.0, 3.0, 0.8)), [stored("a", 0.8), stored("b", 0.7)])
    assert "flagged" not in settled["text"]


# ---- the command and the API on tiny backbones --------------------------------------------------------------------


def test_cli_prints_a_ranking_and_writes_rank_json(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny,tiny-bert", "--n", "60",
                              "--out", str(tmp_path / "rank")], monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "60 pool rows" in lines[0] and "--n 60 --seed 0" in lines[0]
    assert lines[1].split() == ["backbone", "LogME", "H-score", "kNN-LOO", "seconds"]
    assert {lines[2].split()[0], lines[3].split()[0]} == {"tiny", "tiny-bert"}
    written = json.loads((tmp_path / "rank" / "rank.json").read_text())
    logmes = [b["logme"] for b in written["backbones"]]
    assert logmes == sorted(logmes, reverse=True) and written["n"] == 60
    # minutes for an image network on 2,000 images passed in silence: progress says which backbone is being scored
    assert err.splitlines()[0].startswith("rank-backbones: 0/2 scoring tiny elapsed"), err
    assert run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny", "--n", "60", "-q"], monkeypatch, capsys)[2] == ""


def test_cli_reads_a_files_own_split_and_groups_as_the_api_does(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    import pandas as pd

    import headstart

    frame = pd.read_csv(toy_csv)
    frame["split"] = ["train"] * 120 + ["validation"] * 40 + ["test"] * 40
    frame["movie"] = [i // 4 for i in range(len(frame))]
    path = tmp_path / "own-split.csv"
    frame.to_csv(path, index=False)
    code, out, err = run_cli(["rank-backbones", "--data", str(path), "--backbones", "tiny", "--split-column", "split",
                              "--json"], monkeypatch, capsys)
    assert code == 0, err
    ranked = json.loads(out)
    assert ranked["n"] == 120, "the pool is the file's own 120 train rows"
    assert ranked["backbones"][0]["logme"] == pytest.approx(
        headstart.rank_backbones(str(path), "tiny", split_column="split").scores[0].logme, rel=1e-12)
    assert ranked["backbones"][0]["logme"] == pytest.approx(  # a column named split is the split unless turned off
        headstart.rank_backbones(str(path), "tiny").scores[0].logme, rel=1e-12)
    code, out, err = run_cli(["rank-backbones", "--data", str(path), "--backbones", "tiny", "--group-column", "movie",
                              "--split-column", "none", "--json"], monkeypatch, capsys)
    assert code == 0, err
    grouped = json.loads(out)["backbones"][0]["logme"]
    assert grouped == pytest.approx(headstart.rank_backbones(str(path), "tiny", group_column="movie",
                                                             split_column="none").scores[0].logme, rel=1e-12)
    assert grouped != pytest.approx(headstart.rank_backbones(str(path), "tiny", split_column="none").scores[0].logme,
                                    rel=1e-6), "whole movies on one side of the split draw other pool rows"


def test_features_are_the_rows_and_features_linear_probe_trains_on(tiny_registry, toy_csv) -> None:
    import headstart
    from headstart.features import feature_cache
    from headstart.recipe import setup
    from headstart.specs import RunSpec

    result = headstart.rank_backbones(str(toy_csv), ["tiny"], n=50, seed=3)
    s = setup(RunSpec(data=str(toy_csv), backbone="tiny", strategy="linear-probe", n=50, seed=3))
    features = feature_cache(s)(s.train_rows).double().numpy()
    labels = s.data.targets[s.train_rows]
    assert result.scores[0].logme == pytest.approx(logme(features, labels), rel=1e-12)
    assert result.scores[0].knn_loo == pytest.approx(knn_loo(features, labels))
    assert result.n == 50 and result.n_requested == 50


def test_default_n_is_the_pool_up_to_the_cap(tiny_registry, toy_csv, monkeypatch) -> None:
    import headstart
    import headstart.rank

    everything = headstart.rank_backbones(str(toy_csv), "tiny")
    assert everything.n_requested == "all" and everything.n > 100
    monkeypatch.setattr(headstart.rank, "MAX_ROWS", 40)
    assert headstart.rank_backbones(str(toy_csv), "tiny").n == 40


def test_unknown_backbone_exits_2_with_one_line(tiny_registry, toy_csv, monkeypatch, capsys) -> None:
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny,no-such-model"], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "'no-such-model'" in err and "available:" in err


def test_a_folder_that_fails_to_load_names_it(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", f"tiny,{broken}"], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(broken) in err and "Traceback" not in err


def test_regression_data_is_refused(tiny_registry, tmp_path, monkeypatch, capsys) -> None:
    import pandas as pd

    path = tmp_path / "reg.csv"
    pd.DataFrame({"text": [f"good bad {i}" for i in range(60)], "score": np.linspace(0, 1, 60)}).to_csv(path, index=False)
    code, _, err = run_cli(["rank-backbones", "--data", str(path), "--backbones", "tiny", "--label-column", "score"],
                           monkeypatch, capsys)
    assert code == 2 and "class labels" in err


def test_measured_store_prints_taus(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    import headstart

    store = tmp_path / "cmp"
    headstart.compare(str(toy_csv), backbones=["tiny", "tiny-bert"], strategies="linear-probe", sizes="16,all", seeds=1,
                      out=store, tune=None, config=headstart.TrainConfig(max_steps=20, min_steps=20))
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny,tiny-bert", "--n", "60",
                              "--measured", str(store), "--json"], monkeypatch, capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["measured"]["arm"] == "linear-probe" and payload["measured"]["size"] == "all"
    assert set(payload["agreement"]) == {"logme", "h_score", "knn_loo"}
    assert all(b["measured"] is not None for b in payload["backbones"])
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny,tiny-bert", "--n", "60",
                              "--measured", str(store), "--size", "16"], monkeypatch, capsys)
    assert code == 0, err
    assert "linear-probe test accuracy at n=16" in out and "Kendall's tau" in out
    assert any(line.startswith("  LogME") for line in out.splitlines())  # the taus (a flagged backbone's note follows)
    assert "report:" not in out  # no --out: the store's report is left as it was


def test_rank_into_a_compare_store_puts_the_ranking_in_its_report(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    import headstart

    store = tmp_path / "cmp"
    headstart.compare(str(toy_csv), backbones=["tiny", "tiny-bert"], strategies="linear-probe", sizes="all", seeds=1,
                      out=store, tune=None, config=headstart.TrainConfig(max_steps=20, min_steps=20))
    assert "Backbones ranked before training" not in (store / "report.md").read_text()
    code, _, err = run_cli(["report", str(store), "--margin", "5"], monkeypatch, capsys)  # the user's own margin ...
    assert code == 0, err
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny,tiny-bert", "--n", "60",
                              "--measured", str(store), "--out", str(store)], monkeypatch, capsys)
    assert code == 0, err
    assert f"report: {store / 'report.md'}" in out
    report = (store / "report.md").read_text()
    section = report.split("## Backbones ranked before training", 1)[1]
    assert "60 pool rows of" in section and "train --n 60 --seed 0" in section and "Kendall's tau" in section and "2 backbones)" in section
    rows = [line for line in section.splitlines() if line.startswith("| tiny")]
    assert len(rows) == 2 and all(not row.rstrip(" |").endswith("–") for row in rows)  # each with its measured score
    rendered = json.loads((store / "results.json").read_text())
    assert rendered["backbone_ranking"]["agreement"]["logme"]["backbones"] == 2
    assert rendered["margin_points"] == 5 and rendered["metric"] == "accuracy"  # ... survives the ranking's re-render
    assert '"ranking": {' in (store / "report.html").read_text()


def test_a_report_that_cannot_be_rendered_keeps_the_ranking(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    import importlib

    from headstart.errors import StoreError

    store = tmp_path / "cmp"
    store.mkdir()
    (store / "runs.sqlite").write_bytes(b"")

    def refuse(directory, **_):
        raise StoreError(f"{directory} is not a headstart store")

    monkeypatch.setattr(importlib.import_module("headstart.report.render"), "render", refuse)  # the module, not the
    # function headstart.report re-exports under the same name
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny", "--n", "60", "--out", str(store)],
                             monkeypatch, capsys)
    assert code == 0, err
    assert "tiny" in out and (store / "rank.json").exists()
    assert "rank.json is written but the store's report was not re-rendered" in err and "is not a headstart store" in err


def band_images(folder, *, per_class: int = 24) -> None:
    """An image folder of two classes (a bright band left or right on noise), 12x12 grey PNGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("left", "right")):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 80, size=(12, 12)).astype(np.uint8)
            image[:, 6 * c : 6 * c + 6] = rng.integers(170, 256, size=(12, 6))
            Image.fromarray(image).save(folder / name / f"{i}.png")


def test_image_size_is_read_as_compares_and_recorded(tiny_registry, tmp_path, monkeypatch, capsys) -> None:
    """rank-backbones had no --image-size: an image backbone was scored at its own input side while the compare it
    predicts (and, with --measured, is checked against) read another."""
    import headstart
    from headstart.features import feature_cache
    from headstart.recipe import setup
    from headstart.specs import RunSpec, TrainConfig

    folder = tmp_path / "bands"
    band_images(folder)
    code, out, err = run_cli(["rank-backbones", "--data", str(folder), "--backbones", "tiny-cnn", "--n", "30",
                              "--image-size", "24", "--out", str(tmp_path / "rank"), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert "images read at 24x24 px" in out.splitlines()[0]
    written = json.loads((tmp_path / "rank" / "rank.json").read_text())
    assert written["image_size"] == 24 and written["backbones"][0]["image_size"] == 24
    # the features a linear probe at --image-size 24 trains on, not those at the network's own 16 (cached apart)
    s = setup(RunSpec(data=str(folder), backbone="tiny-cnn", strategy="linear-probe", n=30, train=TrainConfig(image_size=24)))
    features = feature_cache(s)(s.train_rows).double().numpy()
    assert written["backbones"][0]["logme"] == pytest.approx(logme(features, s.data.targets[s.train_rows]), rel=1e-12)
    own = headstart.rank_backbones(str(folder), "tiny-cnn", n=30).scores[0]
    assert own.image_size == 16 and own.logme != pytest.approx(written["backbones"][0]["logme"], rel=1e-6)
    # checked as compare checks it, named the Python way from Python
    code, _, err = run_cli(["rank-backbones", "--data", str(folder), "--backbones", "tiny-cnn", "--image-size", "4"],
                           monkeypatch, capsys)
    assert code == 2 and "error: --image-size must be an integer >= 8, got 4; try --image-size 224" in err
    with pytest.raises(ConfigError, match=r"^image_size must be at most 2048 .* got 4096; try image_size=224$"):
        headstart.rank_backbones(str(folder), "tiny-cnn", image_size=4096)
    code, _, err = run_cli(["rank-backbones", "--data", str(folder), "--backbones", "tiny-cnn,mnist-cnn", "--image-size", "24"],
                           monkeypatch, capsys)  # as compare --backbones names it: the size applies to both
    assert code == 2 and err.strip().endswith("drop --image-size, or, as --image-size 24 applies to every backbone ranked, "
                                              "rank mnist-cnn apart, without it, to read tiny-cnn at 24"), err


def test_image_size_is_refused_for_text_backbones_as_compares_is(tiny_registry, toy_csv, monkeypatch, capsys) -> None:
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "all-minilm-l6-v2", "--image-size", "64"],
                             monkeypatch, capsys)
    assert code == 2 and err.strip() == ("error: --image-size applies to image backbones (efficientnet-lite0, mnist-cnn), "
                                         "not to 'all-minilm-l6-v2'; drop it")


def test_measured_reads_each_backbone_at_the_side_its_runs_read(tiny_registry, tmp_path, monkeypatch, capsys) -> None:
    """A compare at --image-size 24, ranked with --measured and no --image-size: read at 24, as the runs the taus use."""
    import headstart

    folder, store = tmp_path / "bands", tmp_path / "cmp"
    band_images(folder)
    headstart.compare(str(folder), backbones=["tiny-cnn"], strategies="linear-probe", sizes="all", seeds=1, out=store,
                      tune=None, config=headstart.TrainConfig(image_size=24, max_steps=5, min_steps=5))
    code, out, err = run_cli(["rank-backbones", "--data", str(folder), "--backbones", "tiny-cnn", "--n", "30",
                              "--measured", str(store), "--out", str(store), "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert ("note: this ranking reads tiny-cnn at 24x24 px, as its measured runs did (not 16x16); --image-size 16 to read "
            "it at 16 all the same") in out.splitlines()
    written = json.loads((store / "rank.json").read_text())
    assert written["backbones"][0]["image_size"] == 24 and written["measured"]["image_sizes"] == {"tiny-cnn": [24]}
    assert "frozen features (images read at 24x24 px)" in (store / "report.md").read_text()
    code, out, err = run_cli(["rank-backbones", "--data", str(folder), "--backbones", "tiny-cnn", "--n", "30",
                              "--measured", str(store), "--image-size", "20", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["backbones"][0]["image_size"] == 20  # as asked, and said to differ from the runs
    assert ("note: this ranking reads tiny-cnn at 20x20 px (--image-size) but its measured runs read 24x24 px, so the "
            "scores and the accuracies set beside them see other pixels; --image-size 24 to read it as they did") in err


# ---- real data ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rotten_tomatoes_with_minilm(monkeypatch, capsys) -> None:
    code, out, err = run_cli(["rank-backbones", "--data", "rotten-tomatoes", "--backbones", "all-minilm-l6-v2", "--n", "300",
                              "--json"], monkeypatch, capsys)
    assert code == 0, err
    row = json.loads(out)["backbones"][0]
    assert row["dim"] == 384 and row["knn_loo"] > 0.6 and row["h_score"] > 0.1 and math.isfinite(row["logme"])


@pytest.mark.slow
def test_opencv_digits_with_efficientnet_at_a_small_image_size(builtin_dataset, monkeypatch, capsys) -> None:
    """A real image network on a real built-in set: ranked at --image-size 64 from the features a probe at 64 trains on,
    and by default at compare's own default for 20-pixel images (160), not the network's 224."""
    from headstart.features import feature_cache
    from headstart.recipe import setup
    from headstart.specs import RunSpec, TrainConfig

    builtin_dataset("opencv-digits")  # skipped where the Debian package is not installed
    code, out, err = run_cli(["rank-backbones", "--data", "opencv-digits", "--backbones", "efficientnet-lite0", "--n", "40",
                              "--image-size", "64", "--json", "-q"], monkeypatch, capsys)
    assert code == 0, err
    ranked = json.loads(out)
    row = ranked["backbones"][0]
    assert ranked["image_size"] == 64 and row["image_size"] == 64 and row["dim"] == 1280 and math.isfinite(row["logme"])
    s = setup(RunSpec(data="opencv-digits", backbone="efficientnet-lite0", strategy="linear-probe", n=40,
                      train=TrainConfig(image_size=64)))
    assert row["knn_loo"] == pytest.approx(knn_loo(feature_cache(s)(s.train_rows).double().numpy(), s.data.targets[s.train_rows]))
    code, out, err = run_cli(["rank-backbones", "--data", "opencv-digits", "--backbones", "efficientnet-lite0", "--n", "40",
                              "--json", "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["backbones"][0]["image_size"] == 160 and "note: this ranking reads 160x160 inputs" in err


def test_out_takes_a_new_folder_a_store_or_an_earlier_ranking_and_refuses_a_users_files(tmp_path):
    import json

    from headstart.errors import ConfigError
    from headstart.rank import check_out

    check_out(tmp_path / "new")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "rank.json").write_text(json.dumps({"data_hash": "h", "backbones": []}))
    check_out(tmp_path / "earlier")  # rank.json as rank_backbones writes it: replaced by the new ranking
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "rank.json").write_text(json.dumps({"mine": True}))
    with pytest.raises(ConfigError, match="holds rank.json, not a compare store or an earlier ranking"):
        check_out(tmp_path / "mine")
    assert json.loads((tmp_path / "mine" / "rank.json").read_text()) == {"mine": True}


def test_measured_from_a_continual_store_is_named_as_the_wrong_kind(tmp_path) -> None:
    """``--measured`` on a continual --out said "no finished run on this data (its runs are on fashion-mnist[...])":
    the store is of another kind, and the message now says so."""
    from headstart.errors import ConfigError
    from headstart.rank import _measured
    from headstart.results import RunResult
    from headstart.store import Store

    with Store(tmp_path / "cont") as store:
        store.put(RunResult("k", {"continual": {"arm": "naive"}, "data": {"name": "d", "hash": "h"}}, "done"))
    with pytest.raises(ConfigError, match=r"holds a continual store, not a compare store; give the --out of a compare"):
        _measured(tmp_path / "cont", data_hash="h", arm=None, size=None)


def test_numeric_labels_are_read_as_classes_with_task(tiny_registry, toy_csv, tmp_path) -> None:
    """A file of numeric labels read as a regression target: the refusal named `--task classification`, which
    rank-backbones did not have; it has it now, and it works."""
    import pandas as pd

    from headstart.errors import ConfigError
    from headstart.rank import rank_backbones

    frame = pd.read_csv(toy_csv)
    frame["label"] = frame["label"].astype("category").cat.codes.astype(float) + 0.5
    numbers = tmp_path / "numbers.csv"
    frame.to_csv(numbers, index=False)
    with pytest.raises(ConfigError, match=r"is a regression dataset \(pass task='classification' if its numbers are classes\)"):
        rank_backbones(str(numbers), "tiny")
    assert rank_backbones(str(numbers), "tiny", task="classification", n=64).scores


@pytest.mark.usefixtures("default_sigterm")
def test_sigterm_while_ranking_says_so_and_exits_130(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys) -> None:
    """SIGTERM ended rank-backbones at once, silent, exit 143; it stops as Ctrl-C does, and says which."""
    import os
    import signal

    import headstart.features

    def terminated(*args, **kwargs):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("nothing read SIGTERM")

    monkeypatch.setattr(headstart.features, "feature_cache", terminated)
    code, _, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", "tiny", "--n", "60", "-q"],
                           monkeypatch, capsys)
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted by SIGTERM", err
    with pytest.raises(KeyboardInterrupt):
        headstart.rank_backbones(str(toy_csv), "tiny", n=60)


def test_a_missing_folder_among_backbones_names_the_list_it_is_in(tiny_registry, toy_csv, tmp_path, monkeypatch,
                                                                   capsys) -> None:
    """It said "--backbone '...': no such folder" on both surfaces: rank-backbones takes --backbones, Python backbones=."""
    import headstart
    from headstart.errors import BackboneError

    missing = str(tmp_path / "no" / "encoder")
    with pytest.raises(BackboneError) as python:
        headstart.rank_backbones(str(toy_csv), f"tiny,{missing}")
    assert str(python.value).startswith(f"backbones names {missing!r}: no such folder") and "--" not in str(python.value)
    code, out, err = run_cli(["rank-backbones", "--data", str(toy_csv), "--backbones", f"tiny,{missing}"], monkeypatch, capsys)
    assert code == 2 and out == "" and err.startswith(f"error: --backbones names {missing!r}: no such folder")
