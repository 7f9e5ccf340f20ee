"""MMD: maximum mean discrepancy between the encoder's features on the source and the target domain, with a family
of Gaussian kernels (the multi-kernel MMD of Long et al., ICML 2015, "Learning transferable features with deep
adaptation networks"), bandwidths spread around the batch's median pairwise distance:

    Ω = λ · Σ_k MMD²_k(f(x_s), f(x_t))     (the biased estimate over a source and a target batch: ≥ 0)

The target's inputs are unlabelled (``mmd[data=NAME]``); each step adds one source and one target batch through the
encoder (``objectives.align``).
"""

from __future__ import annotations

import torch

from headstart.objectives.align import AlignOptions, DistanceTerm
from headstart.objectives.terms import register

BANDWIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)  # multiples of the median squared distance: the kernel family


def mmd_distance(source: torch.Tensor, target: torch.Tensor, *, unbiased: bool = False) -> torch.Tensor:
    """Σ over the kernel family of MMD² between two (B, d) feature batches.

    The biased estimate (the default: what the term minimises) is ≥ 0 and 0 only when the batches coincide; the
    unbiased one (``unbiased``: the diagonal k(x, x) left out) is about 0 for one distribution but can be driven
    below 0 by spreading each batch apart, so it measures and is not minimised."""
    both = torch.cat([source, target])
    squared = (both[:, None, :] - both[None, :, :]).pow(2).sum(-1)  # exact: 0 on the diagonal (cdist's matmul path is not)
    off = ~torch.eye(len(both), dtype=torch.bool, device=both.device)
    positive = squared.detach()[off & (squared.detach() > 0)]
    scale = positive.median() if len(positive) else squared.new_tensor(1.0)
    kernel = sum(torch.exp(-squared / (scale * b)) for b in BANDWIDTHS)
    m, n = len(source), len(target)

    def within(block: torch.Tensor, size: int) -> torch.Tensor:
        if not unbiased:
            return block.mean()
        return (block.sum() - block.diagonal().sum()) / max(size * (size - 1), 1)

    return within(kernel[:m, :m], m) + within(kernel[m:, m:], n) - 2 * kernel[:m, m:].mean()


class MMDOptions(AlignOptions):
    term = "mmd"


class MMD(DistanceTerm):
    name = "mmd"
    description = "MMD: λ·Σ_k MMD²_k of the task's and a target domain's features, Gaussian kernels around the median distance (mmd[data=NAME])"
    Options = MMDOptions
    distance = staticmethod(mmd_distance)


register(MMD())
