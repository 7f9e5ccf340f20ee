"""Test-time adaptation: before a trained run is scored on another domain (``--eval-data``), adapt a copy of it to that
domain's unlabelled inputs (``--tta``); the run itself is left as trained.

- ``bn-adapt`` (AdaBN: Li et al., 2016; Schneider et al., NeurIPS 2020): every BatchNorm layer's running statistics are
  re-estimated on the target inputs (a cumulative average over them); no weight changes. Needs BatchNorm (the CNNs);
  a text encoder's LayerNorm keeps no statistics, so it is refused there with the reason.
- ``tent`` (Wang et al., ICLR 2021, "Tent: fully test-time adaptation by entropy minimization"): the affine parameters
  of every normalisation layer (BatchNorm and LayerNorm) are trained to lower the entropy of the model's predictions on
  the target inputs, one Adam step a batch, online over the batches; BatchNorm normalises with each batch's own
  statistics, as in the paper. Classification only (entropy of class predictions).
- ``tent-episodic``: the paper's episodic variant: every scored batch (64 test inputs) is adapted alone — a fresh copy
  of the trained model, one tent step on that batch's inputs, then the batch predicted by the adapted copy, which is
  then dropped — so no batch's adaptation carries over to the next. It reads the scored inputs (never their labels);
  the other two read the pool.

For bn-adapt and tent the target inputs are the dataset's pool (never its test split, which is what is scored); their
labels are never read.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from headstart.errors import ConfigError

METHODS = ("bn-adapt", "tent", "tent-episodic")
TENT_LR = 1e-3  # Adam on the affine parameters, the paper's setting for its batch sizes
ROWS = 512  # target inputs an adaptation reads
BATCH = 64


def caveat(method: str | None, model: nn.Module) -> str | None:
    """What a user should know before reading ``method``'s score on ``model``, or None: AdaBN and tent take the BatchNorm
    statistics to be the source data's, but a run that kept the backbone's pre-trained ones (``--bn frozen``, what
    ``auto`` picks for a pre-trained CNN) normalised its source with ImageNet's, so target statistics move its features
    away from anything its head saw (measured: opencv-digits from mnist-5k, 69.6% source-only, 11.7% after bn-adapt)."""
    if method in METHODS and getattr(getattr(model, "backbone", None), "bn", None) == "frozen":
        return (f"{method} assumes BatchNorm statistics estimated on the source data, but this run kept the backbone's "
                "pre-trained ones (--bn frozen, what auto picks for a pre-trained network), so its score can fall to chance; "
                "train with --bn train to test it")
    return None


def check_methods(values: Any) -> tuple[str, ...]:
    """``--tta`` values as a tuple of known methods, each once."""
    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"tta must be a list of methods, got {values!r}; e.g. --tta bn-adapt --tta tent")
    values = tuple(dict.fromkeys(v.strip() for v in values))
    unknown = [v for v in values if v not in METHODS]
    if unknown:
        raise ConfigError(f"unknown test-time adaptation {unknown[0]!r}; use one of {', '.join(METHODS)}")
    return values


def refuses(method: str, model: nn.Module, task: str, strategy: Any = None) -> str | None:
    """Why ``method`` cannot adapt ``model`` for ``task`` (trained by ``strategy``, when given), or None."""
    if method not in METHODS:
        return f"unknown test-time adaptation {method!r}; use one of {', '.join(METHODS)}"
    if strategy is not None and not strategy.uses_pretrained and strategy.leaves_backbone:
        return f"{strategy.name} is not a network adapted from the backbone, so there is nothing to adapt"
    if method.startswith("tent") and strategy is not None and getattr(strategy, "gradient_free_head", False):
        return f"{strategy.name}'s head has no gradient for tent to follow (its predictions are votes of stored examples)"
    norms = [m for m in model.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm))]
    if method == "bn-adapt" and not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in norms):
        layer_norm = any(isinstance(m, nn.LayerNorm) for m in norms)
        return ("the model has no BatchNorm layer, so there are no statistics to re-estimate"
                + (" (tent adapts its LayerNorm)" if layer_norm else ""))
    if method.startswith("tent"):
        if task != "classification":
            return f"it lowers the entropy of class predictions, and a {task} run has none"
        if not any(p is not None for m in norms for p in (m.weight, m.bias)):
            return "the model has no normalisation layer with affine parameters to adapt"
    return None


def check_applies(method: str, backbone: nn.Module, task: str, strategy: Any = None) -> None:
    """Refuse before training a method that cannot adapt a run of ``strategy`` on ``backbone`` for ``task``."""
    why = refuses(method, backbone, task, strategy)
    if why:
        raise ConfigError(f"--tta {method} cannot adapt this run: {why}")


def adapted(model: nn.Module, method: str, batches: list[dict[str, torch.Tensor]], *, task: str) -> nn.Module:
    """A copy of ``model`` adapted to the target ``batches`` by ``method`` (the model itself is not changed).

    Raises:
        ConfigError: ``method`` cannot apply to this model or task (``refuses``).
    """
    why = refuses(method, model, task)
    if why:
        raise ConfigError(f"--tta {method} cannot adapt this run: {why}")
    copied = copy.deepcopy(model)
    copied.eval()
    if method == "bn-adapt":
        return _bn_adapt(copied, batches)
    return _tent(copied, batches)


def episodic_outputs(model: nn.Module, batches: list[dict[str, torch.Tensor]], *, task: str) -> torch.Tensor:
    """(N, outputs) of the ``batches`` in order, each predicted by its own copy of ``model`` after one tent step on that
    batch's inputs (``tent-episodic``); ``model`` is not changed.

    Raises:
        ConfigError: tent cannot apply to this model or task.
    """
    why = refuses("tent-episodic", model, task)
    if why:
        raise ConfigError(f"--tta tent-episodic cannot adapt this run: {why}")
    outputs = []
    for batch in batches:
        copied = _tent(copy.deepcopy(model).eval(), [batch])
        with torch.no_grad():
            outputs.append(copied(batch).float().cpu())
    return torch.cat(outputs)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def _bn_adapt(model: nn.Module, batches: list[dict[str, torch.Tensor]]) -> nn.Module:
    for bn in _batchnorms(model):
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over every target batch
        bn.train()
    for batch in batches:
        model(batch)
    model.eval()
    return model


def _tent(model: nn.Module, batches: list[dict[str, torch.Tensor]]) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    affine = []
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
            affine += [p for p in (m.weight, m.bias) if p is not None]
        if isinstance(m, nn.modules.batchnorm._BatchNorm):  # normalise with the target batch's own statistics
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    for p in affine:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(affine, lr=TENT_LR)
    with torch.enable_grad():
        for batch in batches:
            probabilities = torch.softmax(model(batch).float(), dim=-1)
            entropy = -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(-1).mean()
            optimizer.zero_grad(set_to_none=True)
            entropy.backward()
            optimizer.step()
    for p in affine:
        p.requires_grad_(False)
    return model


def entropy_of(model: nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    """Mean entropy of the model's class predictions over ``batches`` (what tent lowers)."""
    with torch.no_grad():
        values = []
        for batch in batches:
            p = torch.softmax(model(batch).float(), dim=-1)
            values.append(-(p * torch.log(p.clamp_min(1e-12))).sum(-1))
    return float(torch.cat(values).mean())
