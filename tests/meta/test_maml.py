"""MAML / FOMAML: the inner loop lowers the support loss; second order differs from first order; meta-steps learn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from headstart.meta.base import Task, head_logits, inner_loop, zero_head
from headstart.meta.maml import adapted_query_logits
from meta_fixtures import band_images, flat_cnn


def band_task(backbone, data, *, shots: int = 2, queries: int = 4) -> Task:
    x = backbone.collate(backbone.encode(data.inputs))["pixel_values"]
    y = torch.as_tensor(data.targets)
    support = torch.cat([torch.nonzero(y == c)[:shots, 0] for c in range(5)])
    query = torch.cat([torch.nonzero(y == c)[shots : shots + queries, 0] for c in range(5)])
    return Task(x[support], y[support], x[query], y[query], 5)


def test_inner_loop_is_plain_sgd():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    out = inner_loop({"w": w}, lambda p, t: (p["w"] ** 2).sum(), steps=2, lr=0.25, create_graph=False)
    assert torch.allclose(out["w"], w.detach() * (1 - 2 * 0.25) ** 2)  # w ← w − α·2w, twice
    assert torch.equal(w.detach(), torch.tensor([1.0, -2.0]))  # the input is not modified


@pytest.mark.parametrize("inner, lr", [("head", 1.0), ("all", 0.3)])
def test_inner_steps_lower_the_support_loss(inner, lr):
    backbone, bands = flat_cnn(0), band_images()
    net, task = backbone.network(), band_task(backbone, bands)
    head = {k: v.requires_grad_(True) for k, v in zero_head(5, backbone.dim).items()}
    before = float(F.cross_entropy(head_logits(net(task.support_x), head), task.support_y).detach())
    _, phi = adapted_query_logits(net, head, task, inner=inner, steps=5, lr=lr, create_graph=False)
    weights = phi if inner == "head" else {"weight": phi["head.weight"], "bias": phi["head.bias"]}
    features = net(task.support_x) if inner == "head" else torch.func.functional_call(
        net, {k[4:]: v for k, v in phi.items() if k.startswith("net.")}, (task.support_x,))
    assert float(F.cross_entropy(head_logits(features, weights), task.support_y).detach()) < before - 0.1


def test_second_order_gradient_differs_from_first_order():
    backbone, bands = flat_cnn(0), band_images()
    net, task = backbone.network(), band_task(backbone, bands)
    grads = {}
    for second in (True, False):
        head = {k: v.requires_grad_(True) for k, v in zero_head(5, backbone.dim).items()}
        net.zero_grad()
        logits, _ = adapted_query_logits(net, head, task, inner="all", steps=2, lr=0.05, create_graph=second)
        F.cross_entropy(logits, task.query_y).backward()
        grads[second] = net[0].weight.grad.clone()
    assert grads[True].abs().sum() > 0 and grads[False].abs().sum() > 0
    assert not torch.allclose(grads[True], grads[False], atol=1e-6)  # the Hessian terms MAML keeps


@pytest.mark.parametrize("arm", ["maml", "fomaml"])
def test_meta_steps_lower_the_query_loss_after_adaptation(arm):
    from types import SimpleNamespace

    from headstart.meta.base import get_arm

    backbone, bands = flat_cnn(0), band_images()
    net, task = backbone.network(), band_task(backbone, bands)
    cfg = SimpleNamespace(inner="head", inner_steps=3, inner_lr=0.05)
    head = {k: torch.nn.Parameter(v) for k, v in zero_head(5, backbone.dim).items()}

    def query_loss() -> float:
        logits, _ = adapted_query_logits(net, head, task, inner="head", steps=3, lr=0.05, create_graph=False)
        return float(F.cross_entropy(logits, task.query_y).detach())

    before = query_loss()
    optimizer = torch.optim.Adam([*net.parameters(), *head.values()], lr=1e-2)
    for _ in range(5):
        get_arm(arm).step(net, head, [task], optimizer, cfg, 0.0, torch.Generator())
    assert query_loss() < before


@pytest.mark.parametrize("inner", ["head", "all"])
def test_the_maml_arm_steps_along_the_second_order_gradient_and_fomaml_along_the_first(inner):
    """One meta step by plain SGD at rate 1 moves θ by −∇θ L_Q(φ_k): for maml the gradient through the inner steps
    (create_graph=True, the Hessian terms kept), for fomaml the query gradient at φ_k; the two differ here."""
    import copy
    from types import SimpleNamespace

    from headstart.meta.base import get_arm

    backbone, bands = flat_cnn(0), band_images()
    net, task = backbone.network(), band_task(backbone, bands)
    cfg = SimpleNamespace(inner=inner, inner_steps=2, inner_lr=0.5 if inner == "head" else 0.05)
    start_head = {k: v + 0.1 * torch.randn(v.shape, generator=torch.Generator().manual_seed(1))
                  for k, v in zero_head(5, backbone.dim).items()}  # off zero: a zero head makes the head's Hessian terms small

    def by_hand(second_order: bool) -> list[torch.Tensor]:
        copy_net = copy.deepcopy(net)
        head = {k: v.clone().requires_grad_(True) for k, v in start_head.items()}
        logits, _ = adapted_query_logits(copy_net, head, task, inner=inner, steps=cfg.inner_steps, lr=cfg.inner_lr,
                                         create_graph=second_order)
        return list(torch.autograd.grad(F.cross_entropy(logits, task.query_y), [*copy_net.parameters(), *head.values()]))

    def arm_step(arm: str) -> list[torch.Tensor]:
        copy_net = copy.deepcopy(net)
        head = {k: torch.nn.Parameter(v.clone()) for k, v in start_head.items()}
        params = [*copy_net.parameters(), *head.values()]
        before = [p.detach().clone() for p in params]
        get_arm(arm).step(copy_net, head, [task], torch.optim.SGD(params, lr=1.0), cfg, 0.0, torch.Generator())
        return [b - p.detach() for b, p in zip(before, params)]

    second, first = by_hand(True), by_hand(False)
    for arm, want, other in (("maml", second, first), ("fomaml", first, second)):
        got = arm_step(arm)
        assert all(torch.allclose(g, w, rtol=1e-4, atol=1e-6) for g, w in zip(got, want)), arm
        gap = sum(float((g - o).norm()) for g, o in zip(got, other)) / sum(float(o.norm()) for o in other)
        assert gap > 0.01, (arm, gap)
