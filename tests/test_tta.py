"""Tests of headstart/tta.py: BN-adapt moves BatchNorm statistics to the target's, tent lowers the target entropy, both
on a copy, and each is refused where it cannot apply."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.tta import adapted, caveat, check_methods, entropy_of, refuses


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
    with pytest.raises(ConfigError, match="--tta bn-adapt cannot adapt this run: the model has no BatchNorm"):
        adapted(text_like, "bn-adapt", [], task="classification")
    with pytest.raises(ConfigError, match="unknown test-time adaptation 'tnet'; use one of bn-adapt, tent, tent-episodic"):
        check_methods(["tnet"])


def test_a_run_is_scored_out_of_domain_as_trained_and_after_tent(toy_csv, other_csv, tiny_registry, tmp_path):
    """train --eval-data D --tta tent: two out-of-domain scores; bn-adapt on the tiny text model is refused before
    training; evaluate gives the same tent score from the saved run."""
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=8, min_steps=8, batch_size=8, precision="fp32")
    text = f"{other_csv}[neutral=-]"
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "ft", config=cfg,
                        eval_data=[text], tta=["tent", "tent-episodic"])
    assert [o["tta"] for o in run.ood] == [None, "tent", "tent-episodic"]
    assert run.ood[2]["test_rows"] == run.ood[0]["test_rows"]
    episodic = headstart.evaluate(tmp_path / "ft", eval_data=text, tta="tent-episodic")
    assert episodic["accuracy"] == pytest.approx(run.ood[2]["metrics"]["accuracy"])
    again = headstart.evaluate(tmp_path / "ft", eval_data=text, tta="tent")
    assert again["accuracy"] == pytest.approx(run.ood[1]["metrics"]["accuracy"])
    with pytest.raises(ConfigError, match="--tta bn-adapt cannot adapt this run: the model has no BatchNorm"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg, eval_data=[text], tta=["bn-adapt"])
    with pytest.raises(ConfigError, match="add --eval-data DATA"):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=cfg, tta=["tent"])


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


def test_bn_methods_on_a_run_that_kept_the_pre_trained_statistics_say_what_that_means():
    """AdaBN and tent assume source statistics; a run trained with --bn frozen normalised its source with ImageNet's."""
    model = nn.Module()
    model.backbone = nn.Module()
    model.backbone.bn = "frozen"
    for method in ("bn-adapt", "tent", "tent-episodic"):
        assert "--bn train" in caveat(method, model) and caveat(method, model).startswith(method)
    assert caveat(None, model) is None
    model.backbone.bn = "train"
    assert caveat("bn-adapt", model) is None
