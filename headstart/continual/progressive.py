"""Progressive networks (Rusu et al. 2016) for the CNN backbones: a new column per task, lateral connections from the
earlier columns, which are frozen — so no task's model changes once it is learnt (BWT 0 by construction).

Column k is a fresh copy of the pre-trained backbone. At each of its blocks (``backbone.blocks()``: stem, stages,
head), the block's output gets Σ_j U_kj(h_j), h_j the same block's output in earlier column j on the same input and
U_kj a lateral adapter (a 1×1 convolution for feature maps, a linear map for vectors) initialised at zero, so column k
starts as the pre-trained network and learns how much of the earlier columns to use. The earlier columns are held
outside the module tree (not in ``parameters()``: no strategy can train them; their weights are saved with their own
task's model).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


def _lateral(shape: torch.Size) -> nn.Module:
    """A zero-initialised map from an earlier column's block output of ``shape`` (without the batch) to the same shape."""
    layer = nn.Conv2d(shape[0], shape[0], 1) if len(shape) == 3 else nn.Linear(shape[-1], shape[-1])
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


@contextmanager
def _hooks(blocks: list[nn.Module], hook: Any) -> Iterator[None]:
    """``hook(i, output)`` on each block's output (a block of several modules: its last), replacing it when not None."""
    targets = [b[-1] if isinstance(b, nn.ModuleList) else b for b in blocks]
    handles = [b.register_forward_hook(lambda module, args, output, i=i: hook(i, output)) for i, b in enumerate(targets)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class ProgressiveBackbone(nn.Module):
    """Column ``column`` (trainable) with laterals from ``earlier`` columns (frozen, not registered)."""

    def __init__(self, column: nn.Module, earlier: list[nn.Module]) -> None:
        super().__init__()
        self.column = column
        self._earlier = list(earlier)  # a plain list: not submodules, never trained, never in this model's state dict
        for c in self._earlier:
            for p in c.parameters():
                p.requires_grad_(False)
        self.modality = getattr(column, "modality", "image")
        self.dim = column.dim
        self.name = getattr(column, "name", "progressive")
        shapes = self._block_shapes()
        self.laterals = nn.ModuleList(nn.ModuleList(_lateral(shape) for shape in shapes) for _ in self._earlier)

    def _block_shapes(self) -> list[torch.Size]:
        dummy = torch.zeros(self.column.channels, self.column.image_size, self.column.image_size, dtype=torch.uint8)
        batch = self.column.collate([dummy])
        shapes: list[torch.Size] = []
        was = self.column.training
        self.column.eval()
        with torch.no_grad(), _hooks(self.column.blocks(), lambda i, out: shapes.append(out.shape[1:])):
            self.column(batch)
        self.column.train(was)
        return shapes

    def blocks(self) -> list[nn.Module]:
        return self.column.blocks()

    def encode(self, inputs: list[Any]) -> list[torch.Tensor]:
        return self.column.encode(inputs)

    def collate(self, encoded: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.column.collate(encoded)

    def augment(self, batch: dict[str, torch.Tensor], kind: str, rng: Any) -> dict[str, torch.Tensor]:
        return self.column.augment(batch, kind, rng)

    def configure(self, cfg: Any) -> None:
        self.column.configure(cfg)

    def describe(self) -> dict[str, Any]:
        return {**self.column.describe(), "progressive": len(self._earlier)}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        seen: list[list[torch.Tensor]] = []
        for c in self._earlier:
            outputs: list[torch.Tensor] = []
            c.eval()
            with torch.no_grad(), _hooks(c.blocks(), lambda i, out, outputs=outputs: outputs.append(out)):
                c(batch)
            seen.append(outputs)

        def add(i: int, out: torch.Tensor) -> torch.Tensor:
            return out + sum(self.laterals[j][i](seen[j][i]) for j in range(len(seen)))

        with _hooks(self.column.blocks(), add):
            return self.column(batch)
