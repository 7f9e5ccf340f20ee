"""ProtoNets: prototypes are the class means, logits the negative squared distances, and a meta-step learns."""

from __future__ import annotations

import torch

from headstart.meta.base import Task
from headstart.meta.protonet import episode_logits, proto_logits, prototypes
from meta_fixtures import band_images, flat_cnn


def test_prototypes_are_class_means():
    features = torch.tensor([[0.0, 0.0], [2.0, 2.0], [10.0, 0.0], [1.0, 1.0], [12.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 0, 1])
    protos = prototypes(features, labels, 2)
    assert torch.allclose(protos, torch.tensor([[1.0, 1.0], [11.0, 1.0]]))


def test_logits_are_negative_squared_distances():
    torch.manual_seed(0)
    query, protos = torch.randn(7, 5), torch.randn(3, 5)
    expected = torch.stack([torch.stack([-((q - c) ** 2).sum() for c in protos]) for q in query])
    assert torch.allclose(proto_logits(query, protos), expected, atol=1e-5)


def test_a_meta_step_lowers_the_episode_loss():
    import torch.nn.functional as F

    from headstart.meta import protonet

    backbone, bands = flat_cnn(0), band_images()
    net = backbone.network()
    x = backbone.collate(backbone.encode(bands.inputs))["pixel_values"]
    y = torch.as_tensor(bands.targets)
    support = torch.cat([torch.nonzero(y == c)[:2, 0] for c in range(5)])
    query = torch.cat([torch.nonzero(y == c)[2:8, 0] for c in range(5)])
    task = Task(x[support], y[support], x[query], y[query], 5)
    before = float(F.cross_entropy(episode_logits(net, task), task.query_y).detach())
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(5):
        protonet.step(net, None, [task], optimizer, None, 0.0, torch.Generator())
    assert float(F.cross_entropy(episode_logits(net, task), task.query_y).detach()) < before
