"""The plain pre-trained backbone on the same episodes: what meta-learning has to beat.

- Linear probe (Tian et al. 2020, "Rethinking Few-Shot Image Classification: a Good Embedding Is All You Need?"):
  multinomial logistic regression on the frozen, L2-normalised features of the support set.
- Fine-tuning: every weight trained by SGD on the support set from a zero head, the rule MAML and Reptile adapt with
  at test time (``reptile.adapt``), so the only difference is the starting point they meta-learned. (A head set at
  the prototypes, w_k = 2c_k, b_k = −‖c_k‖², as Dhillon et al. 2020 initialise it, learns nothing at 1 shot — each
  support example is its own prototype, the loss is already ~0 — and its logits of hundreds diverge at lr 0.01:
  on 60 opencv-digits episodes, 86.2 / 96.2% at 1 / 5 shots (lr 1e-3) vs 93.4 / 98.6% from zero at lr 0.01.)
- Prototypes: nearest class mean on the frozen features (ProtoNets' classifier without its meta-training).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from headstart.meta.base import Task, zero_head
from headstart.meta.protonet import proto_logits, prototypes
from headstart.meta.reptile import adapt, adapted_logits


def linear_probe_logits(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, *, c: float) -> np.ndarray:
    """(S, D) support features, (S,) labels, (Q, D) queries -> (Q, ways) decision values of logistic regression."""
    from sklearn.linear_model import LogisticRegression

    def unit(x: torch.Tensor) -> np.ndarray:
        x = x.double().numpy()
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    model = LogisticRegression(C=c, max_iter=1000).fit(unit(support), support_y.numpy())
    return model.decision_function(unit(query))


def prototype_head(support: torch.Tensor, support_y: torch.Tensor, ways: int) -> dict[str, torch.Tensor]:
    """The linear head equal to nearest-prototype classification: weight (ways, D) = 2c_k, bias (ways,) = −‖c_k‖²."""
    protos = prototypes(support, support_y, ways)
    return {"weight": 2 * protos, "bias": -protos.pow(2).sum(1)}


def evaluate_plain(net: nn.Module, task: Task, *, finetune_steps: int, finetune_lr: float, probe_c: float) -> dict[str, np.ndarray]:
    """The three baselines' (Q, ways) query scores on one episode."""
    n = task.support_x.shape[0]
    with torch.no_grad():
        features = net(torch.cat([task.support_x, task.query_x]))
    support, query = features[:n], features[n:]
    phi = adapt(net, zero_head(task.ways, support.shape[1]), task.support_x, task.support_y, steps=finetune_steps, lr=finetune_lr, batch=n)
    return {"linear-probe": linear_probe_logits(support, task.support_y, query, c=probe_c),
            "fine-tune": adapted_logits(net, phi, task.query_x).numpy(),
            "prototypes": proto_logits(query, prototypes(support, task.support_y, task.ways)).numpy()}
