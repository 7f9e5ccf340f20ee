"""Training flags of a module's submodules, saved before an evaluation pass and put back after it."""

from __future__ import annotations

import torch


def module_modes(module: torch.nn.Module) -> list[tuple[torch.nn.Module, bool]]:
    """Every submodule with its training flag, to put back after an evaluation pass."""
    return [(m, m.training) for m in module.modules()]


def restore_modes(modes: list[tuple[torch.nn.Module, bool]]) -> None:
    """Put back each module's own flag. ``module.train(True)`` would also switch frozen blocks back to training mode
    (dropout on, BatchNorm on batch statistics and updating them) in the middle of a run."""
    for module, training in modes:
        module.training = training
