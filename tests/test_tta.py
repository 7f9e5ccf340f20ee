"""Tests of headstart/tta.py: BN-adapt moves BatchNorm statistics to the target's, tent lowers the target entropy, both
on a copy, and each is refused where it cannot apply."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError
from headstart.tta import adapted, caveat, check_methods, entropy_of, episodic_outputs, given_source, refuses


class Net(nn.Module):
    """x -> Linear -> BatchNorm -> ReLU -> LayerNorm -> Linear: both kinds of normalisation, a batch as {"x": ...}."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.LayerNorm(8))
        self.head = nn.Linear(8, 3)

    def forward(self, batch):
        return self.head(self.body(batch["x"]))


def trained_on_source() -> Net:
    net = Net()
    net.train()
    with torch.no_grad():
        for _ in range(50):
            net({"x": torch.randn(64, 4)})  # running statistics of the source: mean ~0, var ~1 before the BN
    return net.eval()


def test_bn_adapt_re_estimates_the_statistics_on_the_target_and_leaves_the_run_as_it_was():
    net = trained_on_source()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    target = [{"x": 3 + 2 * torch.randn(64, 4)} for _ in range(8)]
    copy = adapted(net, "bn-adapt", target, task="classification")
    bn = copy.body[1]
    with torch.no_grad():
        pre = torch.cat([copy.body[0](b["x"]) for b in target])
    assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-4), "the target's own mean"
    assert torch.allclose(bn.running_var, pre.var(0), rtol=0.05), "the target's own variance"
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items()), "the run itself is untouched"
    assert all(torch.equal(p, q) for (n, p), (_, q) in zip(copy.named_parameters(), net.named_parameters())), "no weight changes"


def test_tent_lowers_the_entropy_of_the_predictions_on_the_target_by_moving_only_the_norm_affines():
    net = trained_on_source()
    target = [{"x": 3 + 2 * torch.randn(64, 4)} for _ in range(100)]  # 100 Adam steps at tent's rate
    copy = adapted(net, "tent", target, task="classification")
    assert entropy_of(copy, target) < entropy_of(net, target) - 0.05, (entropy_of(copy, target), entropy_of(net, target))
    changed = {n for (n, p), (_, q) in zip(copy.named_parameters(), net.named_parameters()) if not torch.equal(p, q)}
    assert changed and changed <= {"body.1.weight", "body.1.bias", "body.3.weight", "body.3.bias"}, changed


def test_episodic_tent_adapts_each_batch_alone_and_leaves_the_run_as_it_was():
    """Each batch's prediction comes from its own adapted copy: the same whatever the batches around it; BatchNorm
    normalises with the batch's statistics, so a shifted batch is predicted unlike the run predicts it."""
    from headstart.tta import episodic_outputs

    net = trained_on_source()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batches = [{"x": 3 + 2 * torch.randn(64, 4)} for _ in range(3)]
    together = episodic_outputs(net, batches, task="classification")
    alone = episodic_outputs(net, batches[2:], task="classification")
    assert torch.allclose(together[128:], alone, atol=1e-6), "no batch's adaptation carries over to the next"
    with torch.no_grad():
        plain = torch.cat([net(b) for b in batches])
    assert not torch.allclose(together, plain, atol=1e-3)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items()), "the run itself is untouched"
    with pytest.raises(ConfigError, match="--tta tent-episodic cannot adapt this run: it lowers the entropy of class predictions"):
        episodic_outputs(net, batches, task="regression")


def test_each_method_is_refused_where_it_cannot_apply():
    text_like = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8))
    assert "no BatchNorm layer" in refuses("bn-adapt", text_like, "classification")
    assert refuses("tent", text_like, "classification") is None
    assert "a regression run has none" in refuses("tent", text_like, "regression")
    with pytest.raises(ConfigError, match="^--tta bn-adapt cannot adapt this run: the model has no BatchNorm"):
        adapted(text_like, "bn-adapt", [], task="classification")
    with pytest.raises(ConfigError, match=r"unknown test-time adaptation 'tnet'; did you mean 'tent'\? \(available: bn-adapt, tent, tent-episodic\)"):
        check_methods(["tnet"])


def test_a_run_is_scored_out_of_domain_as_trained_and_after_tent(toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch):
    """train --eval-data D --tta tent: two out-of-domain scores; bn-adapt on the tiny text model is refused before
    training; evaluate gives the same tent score from the saved run."""
    import headstart
    import headstart.tta
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    text = f"{other_csv}[neutral=-]"
    methods, real_adapted = [], headstart.tta.adapted  # the scores below compare fit with evaluate: both must adapt
    monkeypatch.setattr(headstart.tta, "adapted", lambda model, method, *a, **k: methods.append(method) or real_adapted(model, method, *a, **k))
    real_episodic = headstart.tta.episodic_outputs
    monkeypatch.setattr(headstart.tta, "episodic_outputs", lambda *a, **k: methods.append("tent-episodic") or real_episodic(*a, **k))
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "ft", config=cfg,
                        eval_data=[text], tta=["tent", "tent-episodic"])
    assert [o["tta"] for o in run.ood] == [None, "tent", "tent-episodic"]
    assert methods == ["tent", "tent-episodic"], "each tta score is of an adapted copy; the plain one adapts nothing"
    assert run.ood[2]["test_rows"] == run.ood[0]["test_rows"]
    episodic = headstart.evaluate(tmp_path / "ft", eval_data=text, tta="tent-episodic")
    assert episodic["accuracy"] == pytest.approx(run.ood[2]["metrics"]["accuracy"])
    again = headstart.evaluate(tmp_path / "ft", eval_data=text, tta="tent")
    assert again["accuracy"] == pytest.approx(run.ood[1]["metrics"]["accuracy"])
    both = headstart.evaluate(tmp_path / "ft", eval_data=text, tta=["tent", "tent-episodic"])  # as --tta twice
    assert methods[2:] == ["tent-episodic", "tent", "tent", "tent-episodic"]
    assert [b["tta"] for b in both] == ["tent", "tent-episodic"]
    assert [b["accuracy"] for b in both] == pytest.approx([o["metrics"]["accuracy"] for o in run.ood[1:]])
    with pytest.raises(ConfigError, match="^tta bn-adapt cannot adapt this run: the model has no BatchNorm"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg, eval_data=[text], tta=["bn-adapt"])
    with pytest.raises(ConfigError, match="add eval_data=DATA"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg, tta=["tent"])


def test_tent_scores_every_test_input_in_a_random_order_and_puts_each_result_back_in_its_place(toy_csv, other_csv, tiny_registry,
                                                                                              tmp_path, monkeypatch):
    """A split lists its rows by class, and tent normalises BatchNorm inputs with each scored batch's statistics: in
    that order every batch would be one class. The tent methods score a seeded shuffle; each row's result comes back
    in the split's order (paired with source-only's by position). Which inputs they see must not depend on test labels:
    the rows whose label maps to nothing ("neutral=-") are scored beside the others and only left out of the metrics.
    Scoring is stubbed so that a row's prediction is its index's parity: a result out of place shows."""
    import numpy as np

    import headstart
    import headstart.evaluation
    import headstart.ood
    import headstart.tta
    from headstart.data.splits import split_dataset
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    text = f"{other_csv}[neutral=-]"
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg)
    model, encoder, data = run._loaded.model, run._loaded.model.backbone, headstart.data.load_dataset(str(toy_csv))
    given: list[np.ndarray] = []

    def scored(model, encoded, rows, targets, **kwargs):  # each row "predicted" as its index's parity
        given.append(np.asarray(rows).copy())
        return {"accuracy": 0.0}, {"predicted": [int(r) % 2 for r in rows], "target": [int(t) for t in targets]}

    def parity(model, batches, **kwargs):  # "batches" are the rows themselves (below): class = the row's parity
        rows = np.concatenate(batches)
        given.append(rows.copy())
        return torch.nn.functional.one_hot(torch.as_tensor(rows % 2), 2).float()

    monkeypatch.setattr(headstart.evaluation, "scored_rows", scored)
    monkeypatch.setattr(headstart.evaluation, "model_outputs", lambda model, encoded, rows, **kwargs: parity(model, [rows]))
    monkeypatch.setattr(headstart.ood, "_batches", lambda model, encoded, rows: [np.asarray(rows)])
    monkeypatch.setattr(headstart.tta, "episodic_outputs", parity)
    monkeypatch.setattr(headstart.tta, "adapted", lambda model, *args, **kwargs: model)
    split = SplitConfig()
    other = headstart.data.load_dataset(str(other_csv))
    every = split_dataset(other, split, by_label=False).test
    neutral = np.asarray(other.label_names)[other.targets[every]] == "neutral"
    assert 0 < neutral.sum() < len(every)

    def elsewhere(tta):
        return headstart.ood.evaluate_elsewhere(model, encoder, text, run_data=data, split_config=split, batch_size=8,
                                                tta=tta, seed=0)

    plain = elsewhere(None)
    scored_test = given[-1]
    assert scored_test.tolist() == every[~neutral].tolist() and plain["test_rows"] == len(scored_test)
    for method in ("tent", "tent-episodic"):
        found = elsewhere(method)
        assert sorted(given[-1]) == sorted(every), f"{method} sees every test input, unmapped labels too"
        assert not np.array_equal(given[-1], every), f"{method} scores them in a shuffled order"
        assert found["rows"] == plain["rows"], f"{method}: each mapped row's result back in its place"
        assert found["test_rows"] == plain["test_rows"]


def test_an_unknown_method_or_a_strategy_with_nothing_to_adapt_is_refused_before_anything_runs():
    from headstart.strategies import get_strategy
    from headstart.tta import check_applies

    text_like = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8))
    with pytest.raises(ConfigError, match="unknown test-time adaptation 'bn_adapt'"):
        adapted(text_like, "bn_adapt", [], task="classification")
    with pytest.raises(ConfigError, match="embed-knn's head has no gradient for tent to follow"):
        check_applies("tent", text_like, "classification", get_strategy("embed-knn"))
    with pytest.raises(ConfigError, match="tfidf-logreg is not a network adapted from the backbone"):
        check_applies("tent", text_like, "classification", get_strategy("tfidf-logreg"))
    check_applies("tent", text_like, "classification", get_strategy("linear-probe"))  # the frozen encoder's LayerNorm


def test_bn_methods_on_a_run_that_kept_the_pre_trained_statistics_say_what_they_did():
    """AdaBN and tent assume source statistics; a run trained with --bn frozen normalised its source with ImageNet's, so
    there the target's are mapped through the source's, and the score's note says so."""
    model = nn.Module()
    model.backbone = nn.Module()
    model.backbone.bn = "frozen"
    for method in ("bn-adapt", "tent", "tent-episodic"):
        assert "--bn frozen" in caveat(method, model) and "mapped" in caveat(method, model)
    assert caveat(None, model) is None
    model.backbone.bn = "train"
    assert caveat("bn-adapt", model) is None


def test_the_mapping_is_adabn_where_the_running_statistics_are_the_sources():
    torch.manual_seed(0)
    for low in (1.0, 1e-4):  # tiny variances too, where eps is not negligible
        source = (torch.randn(8), low * (torch.rand(8) + 0.5))
        target = (torch.randn(8) + 2, low * (torch.rand(8) * 3 + 0.1))
        mean, var = given_source(source, source, target, eps=1e-5)
        assert torch.allclose(mean, target[0], atol=1e-5) and torch.allclose(var, target[1], rtol=1e-4), low


def test_moments_gathered_over_batches_keep_their_precision_under_a_large_mean():
    from headstart.tta import _accumulate, _batch_moments, _moments_of

    torch.manual_seed(0)
    batches = [1e4 + 0.01 * torch.randn(64, 3, 5, 5) for _ in range(6)]
    totals: dict = {}
    for b in batches:
        _accumulate(totals, "bn", *_batch_moments(b))
    mean, var = _moments_of(totals["bn"])
    every = torch.cat(batches).double()
    want_var, want_mean = torch.var_mean(every, dim=[0, 2, 3], correction=0)
    assert torch.allclose(mean.double(), want_mean, rtol=1e-6) and torch.allclose(var.double(), want_var, rtol=0.02), (var, want_var)


class FrozenNet(nn.Module):
    """Net whose BatchNorm keeps statistics that are not its source data's (mean 0, var 1 where the source's inputs to
    it have mean ~2, var ~4), as a --bn frozen run keeps ImageNet's."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.BatchNorm1d(8))
        self.backbone.bn = "frozen"
        self.head = nn.Linear(8, 3)
        self.eval()

    def forward(self, batch):
        return self.head(self.backbone(batch["x"]))


def normalised(model: FrozenNet, batches) -> torch.Tensor:
    """The first BatchNorm's outputs over ``batches`` (eval mode: its running statistics normalise)."""
    with torch.no_grad():
        return torch.cat([model.backbone[1](model.backbone[0](b["x"])) for b in batches])


def test_on_a_frozen_statistics_run_bn_adapt_gives_the_target_the_normalised_moments_the_source_had():
    model = FrozenNet()
    source = [{"x": 0.5 + torch.randn(64, 4)} for _ in range(8)]
    target = [{"x": -2 + 3 * torch.randn(64, 4)} for _ in range(8)]
    want = normalised(model, source)  # what the head saw while training, per channel
    before = normalised(model, target)
    assert (before.mean(0) - want.mean(0)).abs().max() > 0.5, "the shift is there to begin with"
    with pytest.raises(ConfigError, match="needs the run's own pool inputs"):
        adapted(model, "bn-adapt", target, task="classification")
    copy = adapted(model, "bn-adapt", target, task="classification", source=source)
    got = normalised(copy, target)
    assert torch.allclose(got.mean(0), want.mean(0), atol=1e-3) and torch.allclose(got.std(0), want.std(0), rtol=1e-2)
    deeper = lambda m, bs: torch.cat([m.backbone(b["x"]) for b in bs])  # noqa: E731: the second layer's, given the first's
    with torch.no_grad():
        assert torch.allclose(deeper(copy, target).mean(0), deeper(model, source).mean(0), atol=0.05)
    plain = adapted(FrozenNet(), "bn-adapt", target, task="classification", source=source)
    assert all(not m._forward_pre_hooks for m in plain.modules()), "bn-adapt leaves no hook behind"
    assert torch.equal(model.backbone[1].running_mean, torch.zeros(8)), "the run itself is untouched"
    with pytest.raises(ConfigError, match="needs the run's own pool inputs"):
        episodic_outputs(model, target[:1], task="classification")


def test_on_a_frozen_statistics_run_tent_normalises_each_batch_through_the_sources_moments():
    model = FrozenNet()
    source = [{"x": 0.5 + torch.randn(64, 4)} for _ in range(8)]
    target = [{"x": -2 + 3 * torch.randn(64, 4)} for _ in range(100)]
    copy = adapted(model, "tent", target, task="classification", source=source)
    mapped_only = adapted(model, "bn-adapt", target, task="classification", source=source)
    assert entropy_of(copy, target) < entropy_of(mapped_only, target) - 0.005, "its steps lowered the entropy, on top of the mapping"
    with torch.no_grad():  # scoring a batch maps that batch's statistics: the normalised mean is the source's
        scored = copy.backbone[1](copy.backbone[0](target[0]["x"]))
    want = normalised(model, source).mean(0)
    weight, bias = copy.backbone[1].weight, copy.backbone[1].bias
    assert torch.allclose((scored.mean(0) - bias) / weight, (want - model.backbone[1].bias) / model.backbone[1].weight, atol=1e-3)
    outputs = episodic_outputs(model, target[:2], task="classification", source=source)
    assert outputs.shape == (128, 3) and torch.isfinite(outputs).all()
    fresh = FrozenNet()
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), fresh.state_dict().values())), "the run is untouched"
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_evaluate_full_gives_python_what_the_cli_s_json_shows(toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch,
                                                              capsys):
    """evaluate(run, eval_data=D, tta="tent") returns the adapted score alone (documented, kept); the CLI's
    evaluate --eval-data D --tta tent --json shows the in-domain metrics and both out-of-domain scores. full=True is
    that whole answer, from the same function the CLI calls."""
    import json

    import headstart
    from headstart.specs import TrainConfig
    from test_cli import cli

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    text = f"{other_csv}[neutral=-]"
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "ft", config=cfg)
    whole = headstart.evaluate(tmp_path / "ft", eval_data=text, tta="tent", full=True)
    code, printed, err = cli(["evaluate", str(tmp_path / "ft"), "--eval-data", text, "--tta", "tent", "--json"], monkeypatch, capsys)
    shown, given = json.loads(printed), json.loads(json.dumps(whole))
    # the leakage advice is in each caller's words (--dedupe / dedupe=True); every number is the same
    said = {"cli": shown["leakage"].pop("text", ""), "python": given["leakage"].pop("text", "")}
    assert code == 0 and shown == given, err
    assert "--dedupe" in said["cli"] and "dedupe=True" in said["python"], said
    assert whole["split"] == "test" and [o.get("tta") for o in whole["ood"]] == [None, "tent"]
    assert whole["ood"][1]["accuracy"] == pytest.approx(headstart.evaluate(run, eval_data=text, tta="tent")["accuracy"])
    assert {k: v for k, v in whole.items() if k != "ood"} == headstart.evaluate(run)
    assert headstart.evaluate(run, full=True) == headstart.evaluate(run)  # no eval_data: the split's metrics alone
    with pytest.raises(ConfigError, match="add eval_data=DATA"):
        headstart.evaluate(run, tta="tent", full=True)


def test_evaluate_with_several_methods_reads_the_runs_data_and_searches_its_rows_once(toy_csv, tiny_registry, tmp_path,
                                                                                      monkeypatch, capsys):
    """evaluate RUN --eval-data D --tta tent --tta tent-episodic read the run's data again for its own split and for
    each of D's three scores (4 reads), and searched D's test rows for the run's training and validation rows once a
    score (6 searches, each the same answer). Now the run's data is read once and D's rows are searched once a part;
    the scores and the warning of those rows are as they were."""
    import json

    import headstart.data.duplicates as duplicates
    import headstart.data.leakage as leakage
    import headstart.data.seen as seen
    import headstart.loaded as loaded
    from conftest import run_cli, run_with_repeated_rows

    run, held, _, _ = run_with_repeated_rows(toy_csv, tmp_path)
    args = ["evaluate", str(run), "--eval-data", str(held), "--tta", "tent", "--tta", "tent-episodic", "--json"]
    monkeypatch.setattr(loaded, "_RUN_DATA", {})
    monkeypatch.setattr(seen, "_SEEN", {})
    reads, searches = [], []
    real_load, real_match = loaded.load_dataset, duplicates.match_texts
    monkeypatch.setattr(loaded, "load_dataset", lambda name, **k: reads.append(name) or real_load(name, **k))
    for module in (duplicates, leakage, seen):
        monkeypatch.setattr(module, "match_texts", lambda train, test, threshold: searches.append(len(test)) or
                            real_match(train, test, threshold))
    code, out, err = run_cli(args, monkeypatch, capsys)
    scores = json.loads(out)["ood"]
    assert code == 0 and [s.get("tta") for s in scores] == [None, "tent", "tent-episodic"], err
    assert reads == [str(toy_csv)] and searches == [scores[0]["n"]] * 2
    assert all(s["leakage"] == scores[0]["leakage"] for s in scores) and scores[0]["leakage"]["training"] > 0
    header, first, *rest = toy_csv.read_text().splitlines()
    toy_csv.write_text("\n".join([header, "edited " + first, *rest]) + "\n")  # the run's data changed: read again, refused
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code != 0 and "changed since this run was trained" in err and reads == [str(toy_csv)] * 2, err
@pytest.mark.parametrize("typed,meant", [("tnt", "tent"), ("bn_adapt", "bn-adapt"), ("tent-episdic", "tent-episodic")])
def test_a_mistyped_method_gets_a_did_you_mean_as_every_other_typo_does(typed, meant, tmp_path, monkeypatch, capsys):
    from conftest import assert_user_error, run_cli

    assert_user_error(run_cli(["train", "--tta", typed, "--out", str(tmp_path / "o")], monkeypatch, capsys),
                      f"unknown test-time adaptation {typed!r}; did you mean {meant!r}? (available: bn-adapt, tent, tent-episodic)")
    assert f"did you mean {meant!r}?" in refuses(typed, nn.Linear(2, 2), "classification")
    assert not (tmp_path / "o").exists()


def test_a_sweeps_refusal_names_the_arms_that_cannot_adapt_and_what_to_drop():
    """compare --strategies scratch,linear-probe,full-finetune --tta bn-adapt said "cannot adapt this run: scratch is
    not a network adapted from the backbone" and no fix; on a backbone without BatchNorm, nothing to change either."""
    from types import SimpleNamespace

    from conftest import tiny_backbone, tiny_cnn

    from headstart.run_checks import check_out_of_domain

    data = SimpleNamespace(task="classification")
    sweep = SimpleNamespace(eval_data=(), tta=("bn-adapt",), strategies=("scratch", "linear-probe", "full-finetune"))
    with pytest.raises(ConfigError, match=r"^--tta bn-adapt cannot adapt the scratch runs: scratch is not a network adapted "
                                          r"from the backbone.*; drop scratch from the sweep \(e\.g\. --strategies "
                                          r"linear-probe,full-finetune\), or drop --tta bn-adapt$"):
        check_out_of_domain(sweep, data, tiny_cnn(0))
    check_out_of_domain(SimpleNamespace(eval_data=(), tta=("bn-adapt",), strategies=("linear-probe", "full-finetune")),
                        data, tiny_cnn(0))
    with pytest.raises(ConfigError, match=r"^--tta bn-adapt cannot adapt these runs: the model has no BatchNorm layer.*; "
                                          r"drop --tta bn-adapt$"):
        check_out_of_domain(SimpleNamespace(eval_data=(), tta=("bn-adapt",), strategies=("linear-probe", "full-finetune")),
                            data, tiny_backbone(0))


def test_a_sweep_given_as_arms_is_told_the_arms_to_keep_not_strategies_that_lose_their_options():
    """compare --arms scratch,linear-probe[...],full-finetune+ewc --tta bn-adapt said "e.g. --strategies
    linear-probe,full-finetune": a flag the user had not used, and arms without the options and terms they were given."""
    from types import SimpleNamespace

    from conftest import tiny_cnn

    from headstart.python_checks import _rename
    from headstart.run_checks import check_out_of_domain

    arms = ("scratch", "linear-probe[head_lr=0.01]", "full-finetune+ewc", "scratch[epochs=2]")
    sweep = SimpleNamespace(eval_data=(), tta=("bn-adapt",), arms=arms, strategies=("scratch", "linear-probe", "full-finetune"))
    with pytest.raises(ConfigError, match=r"; drop scratch from the sweep \(e\.g\. --arms "
                                          r"linear-probe\[head_lr=0\.01\],full-finetune\+ewc\), or drop --tta bn-adapt$") as raised:
        check_out_of_domain(sweep, SimpleNamespace(task="classification"), tiny_cnn(0))
    _rename(raised.value, {"arms", "tta"})  # what headstart.compare(arms=...) says
    assert "(e.g. arms='linear-probe[head_lr=0.01],full-finetune+ewc')" in str(raised.value), str(raised.value)


def test_trains_refusal_of_a_method_says_what_to_drop_and_names_one_that_applies(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                                   monkeypatch, capsys):
    """train --backbone mnist-cnn --tta tent said "the model has no normalisation layer with affine parameters to
    adapt" and no fix, where adapt's refusal says what to drop; a method that applies (not one given) is named too."""
    from conftest import assert_user_error, run_cli

    from headstart.tta import check_applies

    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())  # mnist-cnn's kind: no normalisation layer, nothing applies
    with pytest.raises(ConfigError, match=r"^--tta tent cannot adapt this run: the model has no normalisation layer with "
                                          r"affine parameters to adapt; drop --tta tent$"):
        check_applies("tent", plain, "classification")
    out = tmp_path / "o"
    args = ["train", "--data", str(toy_csv), "--backbone", "tiny", "--eval-data", f"{other_csv}[neutral=-]", "--n", "16",
            "--out", str(out), "--tta", "bn-adapt"]
    assert_user_error(run_cli(args, monkeypatch, capsys),  # the tiny text encoder: LayerNorm, no BatchNorm
                      "--tta bn-adapt cannot adapt this run: the model has no BatchNorm layer",
                      "; drop --tta bn-adapt, or use --tta tent, which applies")
    code, _, err = run_cli([*args, "--tta", "tent"], monkeypatch, capsys)
    assert code == 2 and "drop --tta bn-adapt, or use --tta tent-episodic, which applies" in err, "not tent: it is given"
    assert not out.exists()
