"""headstep's AdamW and clipping equal torch.optim.AdamW(fused=True) and clip_grad_norm_, bit for bit."""

from __future__ import annotations

import torch
from torch import nn

from headstart.engine import make_optimizer
from headstart.headstep import HeadAdamW, clip_grad_norm


def _groups(head: nn.Linear) -> list[dict]:
    return [{"params": [head.weight], "lr": 3e-3, "weight_decay": 0.01, "name": "head"},
            {"params": [head.bias], "lr": 3e-3, "weight_decay": 0.0, "name": "head"}]


def test_same_updates_as_torch_adamw_with_clipping_and_a_changing_lr():
    torch.manual_seed(0)
    ours, theirs = nn.Linear(384, 3), nn.Linear(384, 3)
    theirs.load_state_dict(ours.state_dict())
    opt_ours, opt_theirs = HeadAdamW(_groups(ours)), make_optimizer(_groups(theirs))
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
    assert not torch.equal(ours.weight, nn.Linear(384, 3).weight)  # it did train


def test_clipping_leaves_small_gradients_alone_and_skips_missing_ones():
    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))
    a.grad = torch.tensor([0.1, 0.2, 0.2])
    clip_grad_norm([a, b], 1.0)
    assert torch.equal(a.grad, torch.tensor([0.1, 0.2, 0.2]))
    clip_grad_norm([a, b], 0.15)
    assert torch.allclose(a.grad.norm(), torch.tensor(0.15), atol=1e-5)
