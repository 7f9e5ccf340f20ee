"""headstep's AdamW and clipping equal torch.optim.AdamW(fused=True) and clip_grad_norm_, bit for bit; its closed-form
linear-head gradients equal autograd's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.engine import make_optimizer
from headstart.headstep import HeadAdamW, clip_grad_norm, closed_form_applies, linear_head_backward
from headstart.objectives import TaskLoss


def _groups(head: nn.Linear) -> list[dict]:
    return [{"params": [head.weight], "lr": 3e-3, "weight_decay": 0.01, "name": "head"},
            {"params": [head.bias], "lr": 3e-3, "weight_decay": 0.0, "name": "head"}]


def test_same_updates_as_torch_adamw_with_clipping_and_a_changing_lr():
    torch.manual_seed(0)
    ours, theirs = nn.Linear(384, 3), nn.Linear(384, 3)
    theirs.load_state_dict(ours.state_dict())
    opt_ours, opt_theirs = HeadAdamW(_groups(ours)), make_optimizer(_groups(theirs))
    start = ours.weight.detach().clone()
    assert HeadAdamW.available(list(ours.parameters()))
    x, y = torch.randn(200, 384) * 3, torch.randint(0, 3, (200,))
    for step in range(60):
        rows = torch.randint(0, 200, (16,))
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            for g in opt.param_groups:
                g["lr"] = 3e-3 * (1 - step / 60)  # the engine's schedule writes param_groups' lr every step
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
        clip_grad_norm(list(ours.parameters()), 0.05)  # small: clipping is active on most steps
        torch.nn.utils.clip_grad_norm_(list(theirs.parameters()), 0.05)
        assert torch.equal(ours.weight.grad, theirs.weight.grad)
        opt_ours.step(), opt_theirs.step()
        opt_ours.zero_grad(), opt_theirs.zero_grad(set_to_none=True)
        assert ours.weight.grad is None
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert not torch.equal(ours.weight, start)  # it did train


def test_clipping_leaves_small_gradients_alone_and_skips_missing_ones():
    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))
    a.grad = torch.tensor([0.1, 0.2, 0.2])
    clip_grad_norm([a, b], 1.0)
    assert torch.equal(a.grad, torch.tensor([0.1, 0.2, 0.2]))
    clip_grad_norm([a, b], 0.15)
    assert torch.allclose(a.grad.norm(), torch.tensor(0.15), atol=1e-5)


def _targets(task: str, rows: int) -> tuple[TaskLoss, torch.Tensor, int]:
    g = torch.Generator().manual_seed(1)
    if task == "classification":
        return TaskLoss("classification"), torch.randint(0, 4, (rows,), generator=g), 4
    if task == "weighted":
        return TaskLoss("classification", torch.tensor([0.5, 2.0, 1.0, 0.0])), torch.randint(0, 4, (rows,), generator=g), 4
    if task == "multilabel":
        return TaskLoss("multilabel"), torch.randint(0, 2, (rows, 3), generator=g).float(), 3
    return TaskLoss("regression"), torch.randn(rows, generator=g), 1


@pytest.mark.parametrize("task", ["classification", "weighted", "multilabel", "regression"])
def test_closed_form_gradients_equal_autograd_and_accumulate(task):
    loss_fn, targets, outputs = _targets(task, 24)
    torch.manual_seed(0)
    ours, theirs = nn.Linear(384, outputs), nn.Linear(384, outputs)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(24, 384) * 2
    values = []
    for part, share in ((slice(0, 16), 16 / 24), (slice(16, 24), 8 / 24)):  # two micro-batches of one step
        values.append(linear_head_backward(ours, x[part], targets[part], loss_fn, share))
        loss = loss_fn(theirs(x[part]), targets[part])
        (loss * share).backward()
        assert values[-1] == pytest.approx(loss.item(), rel=1e-6)
    assert torch.allclose(ours.weight.grad, theirs.weight.grad, atol=1e-6)
    assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=1e-6)
    assert ours.weight.grad.abs().sum() > 0


def test_the_closed_form_applies_only_to_a_whole_fp32_linear_head_under_a_task_loss():
    head = nn.Linear(8, 2)
    params, loss = list(head.parameters()), TaskLoss("classification")
    assert closed_form_applies(head, params, loss, None)
    assert closed_form_applies(head, params[::-1], loss, None)
    assert not closed_form_applies(head, params[:1], loss, None)  # the bias frozen
    assert not closed_form_applies(head, params, loss, autocast=lambda: None)
    assert not closed_form_applies(head, params, lambda outputs, targets: outputs.sum(), None)  # another objective
    assert not closed_form_applies(nn.Linear(8, 2, bias=False), [nn.Linear(8, 2, bias=False).weight], loss, None)
    assert not closed_form_applies(nn.Sequential(nn.Linear(8, 2)), params, loss, None)
    assert not closed_form_applies(nn.Linear(8, 2).to(torch.bfloat16), params, loss, None)
