"""llrd: layer-wise learning-rate decay (Howard & Ruder 2018; Clark et al. 2020, ELECTRA).

Block i of L (0 = embeddings) trains at ``lr * decay ** (L - 1 - i)``: the top block at ``lr``, each
block below at ``decay`` times the one above, so general low-level features move least.
"""

from __future__ import annotations

from dataclasses import dataclass

from headstart.errors import ConfigError
from headstart.strategies.base import CNN_FINETUNE_GRID, CNN_FINETUNE_LR, Budget, ParamGroup, Phase, Strategy, head_group, other_backbone_params
from headstart.strategies.registry import register


@dataclass(frozen=True)
class LLRDOptions:
    decay: float = 0.7  # per-block lr multiplier going down; 1.0 is plain full fine-tuning

    def __post_init__(self) -> None:
        if not isinstance(self.decay, (int, float)) or not 0 < self.decay <= 1:
            raise ConfigError(f"decay must be in (0, 1], got {self.decay!r}; try decay=0.7")


def layer_decay_lrs(num_blocks: int, lr: float, decay: float) -> list[float]:
    """Learning rate of each block, input side first: ``lr * decay ** (num_blocks - 1 - i)``."""
    return [lr * decay ** (num_blocks - 1 - i) for i in range(num_blocks)]


class LLRD(Strategy):
    name = "llrd"
    description = "full fine-tune with layer-wise lr decay: block i gets lr * decay^(depth from top), --decay 0.7"
    Options = LLRDOptions
    defaults = {"lr": 1e-4, "head_lr": 1e-3}  # the top block's: 76.6% validation against 75.3% at 3e-5 and 75.8% at 2e-4
    # (docs/BENCHMARKS.md, "The defaults and what chose them")
    lr_grid = (5e-5, 1e-4, 2e-4)  # --tune lr candidates, centred on the default
    image_defaults = {"lr": CNN_FINETUNE_LR}  # a CNN (docs/DESIGN.md, "Images")
    image_lr_grid = CNN_FINETUNE_GRID

    def plan(self, model, options: LLRDOptions, cfg, budget: Budget) -> list[Phase]:
        blocks = model.backbone.blocks()
        lrs = layer_decay_lrs(len(blocks), cfg.lr, options.decay)
        groups = [ParamGroup(f"block {i}", list(b.parameters()), lr) for i, (b, lr) in enumerate(zip(blocks, lrs))]
        rest = other_backbone_params(model, blocks)
        if rest:
            groups.append(ParamGroup("backbone other", rest, cfg.lr))
        return [Phase("finetune", groups + [head_group(model, cfg)], budget.steps)]


register(LLRD())
