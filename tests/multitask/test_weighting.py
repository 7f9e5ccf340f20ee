"""Each loss weighting does what its paper says, and would fail here if it did nothing: equal training lowers every
task's loss, uncertainty's log-variances move and weigh the noisier task less, gradnorm moves its weights until the
weighted gradient norms at the last shared layer are nearly equal."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.multitask.weighting import (GradNorm, WeightingOptions, build_weighting, gradnorm_grad, parse_weightings,
                                           renormalised, uncertainty_loss)
from mt_fixtures import job_for, write_tasks


def test_uncertainty_loss_is_kendalls_form_and_is_lowest_at_the_log_of_the_loss():
    losses = torch.tensor([0.8, 0.3])
    regression = torch.tensor([True, False])
    s = torch.tensor([0.2, -0.5])
    expected = 0.5 * math.exp(-0.2) * 0.8 + 0.1 + math.exp(0.5) * 0.3 - 0.25
    assert float(uncertainty_loss(losses, s, regression)) == pytest.approx(expected)
    best = torch.tensor([math.log(0.8), math.log(2 * 0.3)], requires_grad=True)  # regression log L, classification log 2L
    uncertainty_loss(losses, best, regression).backward()
    assert best.grad.abs().max() < 1e-6


def test_gradnorm_pushes_the_weight_of_the_larger_gradient_down_and_keeps_the_weights_summing_to_the_task_count():
    grad = gradnorm_grad(torch.tensor([1.0, 10.0]), torch.ones(2), torch.ones(2), alpha=0.0)
    assert grad.tolist() == [-1.0, 10.0], "descending it raises the small-gradient task's weight and lowers the other's"
    slow = gradnorm_grad(torch.tensor([1.0, 1.0]), torch.tensor([1.5, 0.5]), torch.ones(2), alpha=1.5)
    assert slow[0] < 0 < slow[1], "equal norms: the task training slower (higher inverse rate) is pushed up"
    assert renormalised(torch.tensor([3.0, -1.0, 1.0])).sum().item() == pytest.approx(3.0)
    assert renormalised(torch.tensor([3.0, -1.0, 1.0])).min() > 0


def test_gradnorm_weights_move_until_the_weighted_gradient_norms_are_nearly_equal():
    """Two tasks on one shared linear layer, the second's loss 10x the first's (so its gradient at the shared layer
    is 10x larger): with α = 0 GradNorm's target is equal norms; without its update they would stay 10x apart."""
    torch.manual_seed(0)
    shared, heads = nn.Linear(4, 8), nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])
    weighting = GradNorm(("regression", "regression"), WeightingOptions(alpha=0.0))
    x = torch.randn(64, 4)
    targets = [x.sum(1, keepdim=True), x[:, :1] * 3]
    optimiser = torch.optim.AdamW([*shared.parameters(), *heads.parameters(), weighting.weights], lr=0.025, weight_decay=0.0)
    ratios = []
    for _ in range(150):
        h = torch.tanh(shared(x))
        losses = torch.stack([nn.functional.mse_loss(heads[0](h), targets[0]), 10 * nn.functional.mse_loss(heads[1](h), targets[1])])
        weighting.combine(losses, lambda: list(shared.parameters())).backward()
        optimiser.step()
        optimiser.zero_grad()
        ratios.append(max(weighting.norms) / min(weighting.norms))
    assert ratios[0] > 5, ratios[0]
    assert sum(ratios[-20:]) / 20 < 1.2, ratios[-20:]  # 1.02 measured; without the update they stay ~2.5 apart
    assert sum(weighting.effective()) == pytest.approx(2.0)
    assert weighting.effective()[0] > 1.5 > 0.5 > weighting.effective()[1]


def test_equal_weighting_trains_one_trunk_that_lowers_every_tasks_loss(tmp_path):
    from headstart.multitask.run import Plan, prepare, train

    job = job_for(write_tasks(tmp_path / "tasks.csv"), steps=60)
    p = prepare(job, Plan((0, 1, 2), "equal", 0))

    def losses() -> list[float]:
        p.model.eval()
        with torch.no_grad():
            rows = p.data.train_rows
            batch = {k: v for k, v in p.model.backbone.collate([p.setup.encoded[r] for r in rows]).items()}
            return p.loss.per_task(p.model(batch), p.data.targets[torch.as_tensor(rows)]).tolist()

    before = losses()
    trunk = {n: q.detach().clone() for n, q in p.model.backbone.named_parameters()}
    report = train(p)
    after = losses()
    assert report.status == "done" and report.best_step > 0
    assert all(a < 0.8 * b for a, b in zip(after, before)), (before, after)
    assert any(not torch.equal(trunk[n], q) for n, q in p.model.backbone.named_parameters()), "the shared trunk trained"
    assert p.loss.weighting.effective() == [1.0, 1.0, 1.0]


def test_uncertainty_log_variances_move_and_weigh_the_noisier_task_less(tmp_path):
    from headstart.multitask.run import Plan, prepare, train

    job = job_for(write_tasks(tmp_path / "tasks.csv"), ("score", "noisy"), steps=150)
    p = prepare(job, Plan((0, 1), "uncertainty", 0))
    assert train(p).status == "done"
    state = p.loss.weighting.state()
    clean, noisy = state["log_vars"]
    assert abs(clean) > 0.3 and abs(noisy) > 0.1, state
    assert noisy > clean + 0.3, ("the noisier regression keeps a larger variance", state)
    assert state["weights"][1] < state["weights"][0]


def test_gradnorm_in_a_run_moves_its_weights_and_keeps_their_sum(tmp_path):
    from headstart.multitask.run import Plan, prepare, train

    job = job_for(write_tasks(tmp_path / "tasks.csv"), steps=60)
    p = prepare(job, Plan((0, 1, 2), "gradnorm", 0))
    assert train(p).status == "done"
    weights = p.loss.weighting.effective()
    assert sum(weights) == pytest.approx(3.0)
    assert max(abs(w - 1.0) for w in weights) > 0.2, weights
    assert all(g > 0 for g in p.loss.weighting.norms)


def test_weightings_are_named_and_bad_names_or_options_are_refused():
    assert parse_weightings("equal, gradnorm") == ("equal", "gradnorm")
    with pytest.raises(ConfigError, match="unknown weighting 'gradnrom'; did you mean 'gradnorm'"):
        parse_weightings("equal,gradnrom")
    with pytest.raises(ConfigError, match="--weighting lists a weighting twice"):
        parse_weightings("equal,equal")
    with pytest.raises(ConfigError, match="--alpha must be a number in"):
        WeightingOptions(alpha=-1)
    with pytest.raises(ConfigError, match="--weight-lr must be > 0"):
        WeightingOptions(lr=0)
    assert build_weighting("uncertainty", ("classification",), WeightingOptions()).effective() == [1.0]


def test_a_lora_trunk_is_shared_too_gradnorm_reads_its_last_adapters(tmp_path):
    import dataclasses

    import conftest
    from headstart.multitask.run import Plan, prepare, train

    job = dataclasses.replace(job_for(write_tasks(tmp_path / "tasks.csv"), ("label", "score"), steps=20), strategy="lora",
                              strategy_options={"rank": 4}, pretrained=conftest.tiny_bert(0))
    p = prepare(job, Plan((0, 1), "gradnorm", 0))
    shared = p.loss.shared()
    assert shared and all("lora" in n for n, q in p.model.backbone.named_parameters() if any(q is s for s in shared))
    assert train(p).status == "done"
    assert all(g > 0 for g in p.loss.weighting.norms) and p.loss.weighting.effective() != [1.0, 1.0]
