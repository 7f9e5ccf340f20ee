"""partial-freeze: freeze the bottom K blocks (embeddings count as block 0), fine-tune the rest."""

from __future__ import annotations

from dataclasses import dataclass

from headstart.strategies.base import CNN_FINETUNE_GRID, CNN_FINETUNE_LR, Budget, ParamGroup, Phase, Strategy, check_int_range, head_group, other_backbone_params
from headstart.strategies.registry import register


@dataclass(frozen=True)
class PartialFreezeOptions:
    freeze: int | None = None  # bottom blocks to freeze; None: half of them (embeddings + lower layers)


class PartialFreeze(Strategy):
    name = "partial-freeze"
    description = "bottom --freeze K blocks frozen (default: half), the rest and the head fine-tuned"
    Options = PartialFreezeOptions
    defaults = {"lr": 5e-5, "head_lr": 1e-3}  # 75.6% validation against 74.0% at 1e-5 (docs/BENCHMARKS.md, "The defaults and what chose them")
    lr_grid = (2e-5, 5e-5, 1e-4)  # --tune lr candidates, centred on the default
    image_defaults = {"lr": CNN_FINETUNE_LR}  # a CNN (docs/DESIGN.md, "Images")
    image_lr_grid = CNN_FINETUNE_GRID

    def plan(self, model, options: PartialFreezeOptions, cfg, budget: Budget) -> list[Phase]:
        blocks = model.backbone.blocks()
        k = len(blocks) // 2 if options.freeze is None else options.freeze
        check_int_range("freeze", k, 0, len(blocks), f"the backbone has {len(blocks)} blocks: embeddings + {len(blocks) - 1} layers",
                        default=len(blocks) // 2)
        trainable = [p for b in blocks[k:] for p in b.parameters()] + other_backbone_params(model, blocks)
        groups = [ParamGroup(f"blocks {k}-{len(blocks) - 1}", trainable, cfg.lr)] if trainable else []
        return [Phase("finetune", groups + [head_group(model, cfg)], budget.steps)]


register(PartialFreeze())
