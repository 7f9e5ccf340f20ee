"""What every meta-learning arm shares: an episode's tensors, the linear head, the inner loop, and the arm registry.

An arm answers two narrow questions: how one meta-step changes the network (``step``) and how it classifies an
episode's queries from its support set (``predict``). ``train.py`` owns the loop; each arm is one file that registers
itself with one ``register`` call (``protonet``, ``maml`` + ``fomaml``, ``reptile``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from headstart.errors import ConfigError, comma_entries, unknown
from headstart.arguments import check_once

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Task:
    """One episode as tensors: support (S, C, H, W) pixels with labels (S,), query (Q, C, H, W) with (Q,); ``ways`` classes."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    ways: int


@dataclass(frozen=True)
class MetaArm:
    """A meta-learning method.

    Attributes:
        step: ``step(net, head, tasks, optimizer, cfg, progress, generator)`` runs one meta-step in place and returns
            its loss; ``progress`` is the fraction of meta-training done (Reptile anneals its step size with it),
            ``generator`` the seeded source of any randomness inside the step.
        predict: ``predict(net, head, task, cfg)`` -> (Q, ways) query logits after the arm's own adaptation.
        learns_head: the arm meta-learns a head initialisation (ways, dim) beside the network.
        uses_optimizer: ``step`` takes an Adam optimizer over the network (and head); Reptile moves weights itself.
    """

    name: str
    description: str
    step: Callable[..., float]
    predict: Callable[..., torch.Tensor]
    learns_head: bool
    uses_optimizer: bool = True


ARMS: dict[str, MetaArm] = {}


def register(arm: MetaArm) -> None:
    if arm.name in ARMS:
        raise ValueError(f"meta-learning arm {arm.name!r} is already registered")
    ARMS[arm.name] = arm


def get_arm(name: str) -> MetaArm:
    if name not in ARMS:
        raise unknown("meta-learning arm", name, ARMS)
    return ARMS[name]


def parse_arms(text: str) -> list[str]:
    """``"protonet,maml"`` -> names, each known, none twice.

    Raises:
        ConfigError: an unknown or repeated name, or none.
    """
    names = comma_entries(text, name="--arms", noun="arm")
    if not names:
        raise ConfigError(f"--arms is empty; try --arms {','.join(ARMS)}")
    for name in names:
        get_arm(name)
    check_once("--arms", names, "arm")
    return names


def head_logits(features: torch.Tensor, head: Params) -> torch.Tensor:
    """(N, D) features, head {"weight": (ways, D), "bias": (ways,)} -> (N, ways) logits."""
    return F.linear(features, head["weight"], head["bias"])


def zero_head(ways: int, dim: int) -> Params:
    """A head of zeros: its first inner step sets each class's weight toward that class's mean support feature."""
    return {"weight": torch.zeros(ways, dim), "bias": torch.zeros(ways)}


def inner_loop(params: Params, loss_fn: Callable[[Params, int], torch.Tensor], *, steps: int, lr: float,
               create_graph: bool) -> Params:
    """Plain SGD on ``params``: φ_{t+1} = φ_t − α ∇_φ L(φ_t, t), ``steps`` times; the inputs are not modified.

    Args:
        params: name -> tensor, each requiring grad (or a function of tensors that do).
        loss_fn: ``loss_fn(params, t)`` -> scalar loss at inner step ``t``.
        lr: α.
        create_graph: keep the graph of each gradient, so that the result is differentiable through the steps
            (MAML's second order); False gives first-order updates (FOMAML, Reptile, fine-tuning).

    Returns:
        The adapted parameters φ_steps.
    """
    names = list(params)
    for t in range(steps):
        grads = torch.autograd.grad(loss_fn(params, t), [params[n] for n in names], create_graph=create_graph)
        params = {n: params[n] - lr * g for n, g in zip(names, grads)}
    return params


def network_params(net: nn.Module) -> Params:
    return dict(net.named_parameters())


def joined(net_params: Params, head: Params) -> Params:
    """One flat dict for the inner loop: "net.<name>" and "head.<name>" keys."""
    return {**{f"net.{k}": v for k, v in net_params.items()}, **{f"head.{k}": v for k, v in head.items()}}


def part(params: Params, prefix: str) -> Params:
    """The "net." or "head." entries of a ``joined`` dict, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def forward(net: nn.Module, params: Params | None, pixels: torch.Tensor) -> torch.Tensor:
    """The network's (N, D) features, with ``params`` in place of its own where given (``torch.func.functional_call``)."""
    return net(pixels) if params is None else functional_call(net, params, (pixels,))
