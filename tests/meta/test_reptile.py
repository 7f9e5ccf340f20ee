"""Reptile: θ moves toward the adapted weights by exactly its step size."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from headstart.meta.base import Task, joined, network_params, zero_head
from headstart.meta.reptile import adapt, reptile_update, step
from meta_fixtures import band_images, flat_cnn


def test_update_moves_by_the_step_size():
    theta = {"w": torch.tensor([0.0, 1.0])}
    adapted = [{"w": torch.tensor([2.0, 1.0])}, {"w": torch.tensor([4.0, 3.0])}]
    new = reptile_update(theta, adapted, 0.25)
    assert torch.allclose(new["w"], torch.tensor([0.75, 1.25]))  # θ + ε (mean φ − θ) = [0,1] + .25 [3, 1]


def test_a_meta_step_moves_weights_toward_the_adapted_ones():
    backbone, bands = flat_cnn(0), band_images()
    net = backbone.network()
    x = backbone.collate(backbone.encode(bands.inputs[:40]))["pixel_values"]
    y = torch.as_tensor(bands.targets[:40]) % 5
    task = Task(x[:10], y[:10], x[10:20], y[10:20], 5)
    head = {k: torch.nn.Parameter(v) for k, v in zero_head(5, backbone.dim).items()}
    theta = {k: v.detach().clone() for k, v in joined(network_params(net), head).items()}
    cfg = SimpleNamespace(inner_steps=3, inner_lr=0.05, reptile_step=0.5)
    phi = adapt(net, head, torch.cat([task.support_x, task.query_x]), torch.cat([task.support_y, task.query_y]), steps=3,
                lr=0.05, batch=10, generator=torch.Generator().manual_seed(1))
    step(net, head, [task], None, cfg, 0.5, torch.Generator().manual_seed(1))  # ε annealed: 0.5 · (1 − 0.5)
    after = joined(network_params(net), head)
    for k in theta:
        assert torch.allclose(after[k], theta[k] + 0.25 * (phi[k] - theta[k]), atol=1e-6)
    assert any(not torch.allclose(after[k], theta[k]) for k in theta)
