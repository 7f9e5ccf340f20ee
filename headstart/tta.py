"""Test-time adaptation: before a trained run is scored on another domain (``--eval-data``), adapt a copy of it to that
domain's unlabelled inputs (``--tta``); the run itself is left as trained.

- ``bn-adapt`` (AdaBN: Li et al., 2016; Schneider et al., NeurIPS 2020): every BatchNorm layer's running statistics are
  re-estimated on the target inputs (a cumulative average over them); no weight changes. Needs BatchNorm (the CNNs);
  a text encoder's LayerNorm keeps no statistics, so it is refused there with the reason.
  AdaBN takes the running statistics to be the source data's. A run that kept the backbone's pre-trained ones
  (``--bn frozen``, what ``auto`` picks for a pre-trained CNN) normalised its source with them instead, so replacing
  them with the target's moves every feature away from what the head saw. There each layer's statistics are mapped
  instead (``given_source``): chosen so the target's normalised inputs have, per channel, the mean and spread the
  source pool's had under the frozen statistics — what AdaBN does when the running statistics are the source's.
- ``tent`` (Wang et al., ICLR 2021, "Tent: fully test-time adaptation by entropy minimization"): the affine parameters
  of every normalisation layer (BatchNorm and LayerNorm) are trained to lower the entropy of the model's predictions on
  the target inputs, one Adam step a batch, online over the batches; BatchNorm normalises with each batch's own
  statistics, as in the paper (on a ``--bn frozen`` run, each batch's statistics mapped as bn-adapt maps them).
  Classification only (entropy of class predictions).
- ``tent-episodic``: the paper's episodic variant: every scored batch (64 test inputs) is adapted alone — a fresh copy
  of the trained model, one tent step on that batch's inputs, then the batch predicted by the adapted copy, which is
  then dropped — so no batch's adaptation carries over to the next. (The authors' code returns the outputs of the
  forward pass that computed the loss, before the step; here the batch is predicted after it.) It reads the scored inputs (never their labels);
  the other two read the pool.

bn-adapt and tent adapt on the dataset's pool (never its test split, which is what is scored); tent then scores with
each test batch's own BatchNorm statistics, and tent-episodic adapts on each test batch: so both score every test input,
those whose label maps to nothing too (``ood.evaluate_elsewhere``), and which inputs a batch holds never depends on a
label. No method reads a label. The mapping of a ``--bn frozen`` run reads the inputs of the run's own pool (up to ``ROWS``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from headstart.errors import ConfigError, unknown

METHODS = ("bn-adapt", "tent", "tent-episodic")
TENT_LR = 1e-3  # Adam on the affine parameters, the paper's setting for its batch sizes
ROWS = 512  # target inputs an adaptation reads
BATCH = 64


def frozen_statistics(model: nn.Module) -> bool:
    """Whether ``model`` normalised its training data with the backbone's pre-trained BatchNorm statistics (``--bn
    frozen``), so that bn-adapt and tent map the target's statistics through the source's (``given_source``)."""
    return getattr(getattr(model, "backbone", None), "bn", None) == "frozen"


def caveat(method: str | None, model: nn.Module) -> str | None:
    """What a user should know before reading ``method``'s score on ``model``, or None: on a ``--bn frozen`` run the
    BatchNorm statistics were mapped through the source pool's, not replaced."""
    if method in METHODS and frozen_statistics(model):
        return ("this run kept the backbone's pre-trained BatchNorm statistics (--bn frozen), so the target's were "
                f"mapped onto what the source's looked like under them (up to {ROWS} of the run's pool inputs read), not "
                "put in their place as after --bn train")
    return None


def check_methods(values: Any) -> tuple[str, ...]:
    """``--tta`` values as a tuple of known methods, each once."""
    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"--tta must be a list of methods, got {values!r}; e.g. --tta bn-adapt --tta tent")
    values = tuple(dict.fromkeys(v.strip() for v in values))
    strange = [v for v in values if v not in METHODS]
    if strange:  # "unknown test-time adaptation 'tnt'; did you mean 'tent'? (available: ...)"
        raise unknown("test-time adaptation", strange[0], METHODS)
    return values


def refuses(method: str, model: nn.Module, task: str, strategy: Any = None) -> str | None:
    """Why ``method`` cannot adapt ``model`` for ``task`` (trained by ``strategy``, when given), or None."""
    if method not in METHODS:
        return str(unknown("test-time adaptation", method, METHODS))
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


def check_applies(method: str, backbone: nn.Module, task: str, strategy: Any = None, *, given: tuple[str, ...] = ()) -> None:
    """Refuse before training a method that cannot adapt a run of ``strategy`` on ``backbone`` for ``task``; the fix
    names a method that applies (not one of ``given``, the run's other ``--tta``), if any.

    Raises:
        ConfigError: why ``method`` cannot apply, and what to drop or use instead.
    """
    why = refuses(method, backbone, task, strategy)
    if why:
        instead = [m for m in METHODS if m not in (method, *given) and refuses(m, backbone, task, strategy) is None]
        raise ConfigError(f"--tta {method} cannot adapt this run: {why}; drop --tta {method}"
                          + (f", or use --tta {instead[0]}, which applies" if instead else ""))


def adapted(model: nn.Module, method: str, batches: list[dict[str, torch.Tensor]], *, task: str,
            source: list[dict[str, torch.Tensor]] | None = None, progress: Callable[[int], None] | None = None) -> nn.Module:
    """A copy of ``model`` adapted to the target ``batches`` by ``method`` (the model itself is not changed).

    Args:
        source: batches of the run's own pool inputs; required where ``frozen_statistics(model)``, whose BatchNorm
            statistics are mapped through them (``given_source``).
        progress: told the target batches adapted on so far, 0 before the first.

    Raises:
        ConfigError: ``method`` cannot apply to this model or task (``refuses``).
    """
    why = refuses(method, model, task)
    if why:
        raise ConfigError(f"--tta {method} cannot adapt this run: {why}")
    copied = copy.deepcopy(model)
    copied.eval()
    moments = _source_moments(copied, source)
    if method == "bn-adapt":
        return _bn_adapt(copied, _counted(batches, progress), moments)
    return _tent(copied, _counted(batches, progress), moments)


def _counted(batches: list[dict[str, torch.Tensor]], progress: Callable[[int], None] | None) -> Iterator[dict[str, torch.Tensor]]:
    """``batches`` one by one, ``progress`` told how many were used: 0 before the first, then after each."""
    if progress:
        progress(0)
    for done, batch in enumerate(batches, 1):
        yield batch
        if progress:
            progress(done)


def episodic_outputs(model: nn.Module, batches: list[dict[str, torch.Tensor]], *, task: str,
                     source: list[dict[str, torch.Tensor]] | None = None,
                     progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """(N, outputs) of the ``batches`` in order, each predicted by its own copy of ``model`` after one tent step on that
    batch's inputs (``tent-episodic``); ``model`` is not changed. ``source`` as for ``adapted``; ``progress``: told
    the batches adapted on and predicted so far, 0 before the first.

    Raises:
        ConfigError: tent cannot apply to this model or task.
    """
    why = refuses("tent-episodic", model, task)
    if why:
        raise ConfigError(f"--tta tent-episodic cannot adapt this run: {why}")
    moments = _source_moments(copy.deepcopy(model).eval(), source)
    outputs = []
    for batch in _counted(batches, progress):
        copied = _tent(copy.deepcopy(model).eval(), [batch], moments)
        with torch.no_grad():
            outputs.append(copied(batch).float().cpu())
    return torch.cat(outputs)


Moments = dict[str, tuple[torch.Tensor, torch.Tensor]]  # a BatchNorm's name -> its input's per-channel mean, variance


def _source_moments(model: nn.Module, source: list[dict[str, torch.Tensor]] | None) -> Moments | None:
    """Where ``frozen_statistics(model)``: each BatchNorm's input moments over the ``source`` batches, the model in eval
    mode (as it trained: the frozen statistics normalise); else None, and AdaBN and tent run as published."""
    if not frozen_statistics(model):
        return None
    if not source:
        raise ConfigError("this run kept the backbone's pre-trained BatchNorm statistics (--bn frozen): test-time "
                          "adaptation maps the target's through the source's and needs the run's own pool inputs")
    totals: dict[str, list] = {}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            _accumulate(totals, name, *_batch_moments(args[0]))
        return hook

    handles = [m.register_forward_pre_hook(record(name)) for name, m in _named_batchnorms(model)]
    try:
        with torch.no_grad():
            for batch in source:
                model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return {name: _moments_of(total) for name, total in totals.items()}


def _batch_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-channel mean and (biased) variance of a BatchNorm input (N, C, ...), in fp32, and the count per channel."""
    x = x.detach().float()
    dims = [0, *range(2, x.dim())]
    var, mean = torch.var_mean(x, dim=dims, correction=0)
    return mean, var, x.numel() // x.shape[1]


def given_source(frozen: tuple[torch.Tensor, torch.Tensor], source: tuple[torch.Tensor, torch.Tensor],
                 target: tuple[torch.Tensor, torch.Tensor], eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Running (mean, variance) for a BatchNorm under which inputs with the ``target`` moments come out with the
    per-channel mean and spread that inputs with the ``source`` moments have under its ``frozen`` statistics (spreads
    taken with the layer's ``eps``, as it divides by them). Where ``frozen`` is the source's own moments (``--bn
    train``), this is the target's moments: AdaBN."""
    (mean_r, var_r), (mean_s, var_s), (mean_t, var_t) = frozen, source, target
    scale = torch.sqrt(var_r.float() + eps)
    new_scale = scale * torch.sqrt((var_t + eps) / (var_s + eps))
    mean = mean_t - new_scale * (mean_s - mean_r.float()) / scale
    return mean, (new_scale * new_scale - eps).clamp_min(0)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _named_batchnorms(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    """The BatchNorm layers that keep running statistics (the ones a mapping sets), by name."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]


def _accumulate(totals: dict[str, list], name: str, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
    """Fold a batch's per-channel moments into ``totals[name]`` = [count, mean, sum of squared deviations] (Chan et
    al.'s pairwise update: no loss of precision where the mean is large against the spread)."""
    if name not in totals:
        totals[name] = [count, mean, var * count]
        return
    n, m, m2 = totals[name]
    delta = mean - m
    total = n + count
    totals[name] = [total, m + delta * count / total, m2 + var * count + delta * delta * n * count / total]


def _moments_of(total: list) -> tuple[torch.Tensor, torch.Tensor]:
    n, mean, m2 = total
    return mean, m2 / n


def _map_each_batch(model: nn.Module, moments: Moments, totals: dict[str, list] | None = None) -> tuple[dict, list]:
    """Hooks that set every BatchNorm's statistics, before each forward, to its batch's moments mapped by
    ``given_source`` from the statistics it holds now (the model in eval mode normalises with them); ``totals``
    gathers the batches' moments. Returns (each layer's statistics before, the hooks' handles)."""
    frozen = {name: (bn.running_mean.clone(), bn.running_var.clone()) for name, bn in _named_batchnorms(model)}

    def mapper(name: str) -> Callable:
        def hook(bn: nn.Module, args: tuple) -> None:
            if name not in moments:  # a layer the source inputs never reached keeps its statistics
                return
            mean, var, count = _batch_moments(args[0])
            if totals is not None:
                _accumulate(totals, name, mean, var, count)
            mapped_mean, mapped_var = given_source(frozen[name], moments[name], (mean, var), bn.eps)
            bn.running_mean.copy_(mapped_mean)
            bn.running_var.copy_(mapped_var)
        return hook

    return frozen, [bn.register_forward_pre_hook(mapper(name)) for name, bn in _named_batchnorms(model)]


@torch.no_grad()
def _bn_adapt(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], moments: Moments | None = None) -> nn.Module:
    if moments is not None:  # a --bn frozen run: the target's moments mapped through the source's
        totals: dict[str, list] = {}
        frozen, handles = _map_each_batch(model, moments, totals)
        try:
            for batch in batches:
                model(batch)
        finally:
            for handle in handles:
                handle.remove()
        for name, bn in _named_batchnorms(model):
            if name not in totals:  # never reached by the source or the target inputs: left as it was
                continue
            mean, var = given_source(frozen[name], moments[name], _moments_of(totals[name]), bn.eps)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
        return model
    for bn in _batchnorms(model):
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over every target batch
        bn.train()
    for batch in batches:
        model(batch)
    model.eval()
    return model


def _tent(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], moments: Moments | None = None) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    affine = []
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
            affine += [p for p in (m.weight, m.bias) if p is not None]
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and moments is None:  # normalise with the batch's own statistics
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    if moments is not None:  # a --bn frozen run: each batch's statistics mapped through the source's, here and when scored
        _map_each_batch(model, moments)
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
