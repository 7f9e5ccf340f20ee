"""The plain backbone's baselines: the probe separates separable features; the prototype head is nearest-prototype."""

from __future__ import annotations

import torch

from headstart.meta.baselines import linear_probe_logits, prototype_head
from headstart.meta.base import head_logits
from headstart.meta.protonet import proto_logits, prototypes


def test_prototype_head_ranks_like_nearest_prototype():
    torch.manual_seed(0)
    support, labels, query = torch.randn(10, 6), torch.arange(10) % 5, torch.randn(20, 6)
    head = prototype_head(support, labels, 5)
    expected = proto_logits(query, prototypes(support, labels, 5))
    shift = (head_logits(query, head) - expected)  # differs by ‖x‖², the same for every class
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-4)


def test_linear_probe_fits_separable_features():
    torch.manual_seed(0)
    centres = torch.eye(4) * 5
    support_y, query_y = torch.arange(4).repeat(3), torch.arange(4).repeat(5)
    support = centres[support_y] + 0.1 * torch.randn(12, 4)
    query = centres[query_y] + 0.1 * torch.randn(20, 4)
    scores = linear_probe_logits(support, support_y, query, c=1.0)
    assert (scores.argmax(1) == query_y.numpy()).all()
