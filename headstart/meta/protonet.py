"""Prototypical networks (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning").

Each class's prototype is the mean embedding of its support examples, c_k = (1/|S_k|) Σ_{x ∈ S_k} f_θ(x); a query is
scored by its negative squared Euclidean distance to each prototype, logit_k(x) = −‖f_θ(x) − c_k‖², and meta-training
minimises the cross-entropy of the query labels under softmax of those logits, episode after episode (Adam).
Adaptation at test time is the same computation: no gradient step, nearest prototype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from headstart.meta.base import MetaArm, Task, register


def prototypes(features: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Class means: (S, D) support features with labels (S,) in 0 … ways-1 -> (ways, D)."""
    one_hot = F.one_hot(labels, ways).to(features.dtype)  # (S, ways)
    return (one_hot.T @ features) / one_hot.sum(0).clamp_min(1).unsqueeze(1)


def proto_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """−squared Euclidean distances: (Q, D) queries, (ways, D) prototypes -> (Q, ways)."""
    return -(query.unsqueeze(1) - protos.unsqueeze(0)).pow(2).sum(-1)  # exact, and no sqrt to differentiate at 0


def episode_logits(net: nn.Module, task: Task) -> torch.Tensor:
    """The queries' logits against the support set's prototypes, one forward pass over both."""
    n = task.support_x.shape[0]
    features = net(torch.cat([task.support_x, task.query_x]))
    return proto_logits(features[n:], prototypes(features[:n], task.support_y, task.ways))


def step(net: nn.Module, head: dict | None, tasks: list[Task], optimizer: torch.optim.Optimizer, cfg, progress: float,
         generator: torch.Generator) -> float:
    loss = torch.stack([F.cross_entropy(episode_logits(net, t), t.query_y) for t in tasks]).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def predict(net: nn.Module, head: dict | None, task: Task, cfg) -> torch.Tensor:
    with torch.no_grad():
        return episode_logits(net, task)


register(MetaArm(name="protonet", description="ProtoNets (Snell et al. 2017): nearest class-mean embedding, −squared Euclidean logits",
                 step=step, predict=predict, learns_head=False))
