"""gradual-unfreeze: ULMFiT's gradual unfreezing (Howard & Ruder 2018).

Phase 1 trains the head and the top block; each next phase unfreezes one more block below; the last
phase trains everything. A phase lasts an epoch, or longer when few examples make epochs only a step or
two (the run's step budget is spread over the L + 1 phases).
"""

from __future__ import annotations

from headstart.strategies.base import CNN_FINETUNE_GRID, CNN_FINETUNE_LR, Budget, ParamGroup, Phase, Strategy, blocks_group, head_group, other_backbone_params
from headstart.strategies.registry import register


class GradualUnfreeze(Strategy):
    name = "gradual-unfreeze"
    description = "ULMFiT: head + top block first, one more block unfrozen per epoch, then all"
    defaults = {"lr": 1e-4, "head_lr": 1e-3}  # 78.4% validation against 76.1% at 2e-5 (docs/BENCHMARKS.md, "The defaults and what chose them")
    lr_grid = (5e-5, 1e-4, 2e-4)  # --tune lr candidates, centred on the default
    image_defaults = {"lr": CNN_FINETUNE_LR}  # a CNN (docs/DESIGN.md, "Images")
    image_lr_grid = CNN_FINETUNE_GRID

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        blocks = model.backbone.blocks()
        # An epoch per phase, but never more than a full phase's budget (which --max-steps caps).
        per_phase = min(max(budget.steps_per_epoch, budget.steps // (len(blocks) + 1)), budget.steps)
        phases = []
        for k in range(1, len(blocks) + 1):
            top = blocks[len(blocks) - k :]
            groups = [blocks_group(f"top {k} blocks", top, cfg.lr), head_group(model, cfg)]
            if k == len(blocks):
                groups.insert(1, ParamGroup("backbone other", other_backbone_params(model, blocks), cfg.lr))
                steps = max(per_phase, budget.steps - per_phase * (len(blocks) - 1))
                phases.append(Phase("unfreeze-all", [g for g in groups if g.params], steps))
            else:
                phases.append(Phase(f"unfreeze-{k}", groups, per_phase, early_stopping=False))
        return phases


register(GradualUnfreeze())
