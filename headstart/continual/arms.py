"""The arms a continual study runs: each a method with its options on a strategy (``ContinualArm``).

``parse_continual_arm`` reads an arm as written (``ewc[weight=100]``, ``lora[rank=4]+ewc``, ``replay[size=500]``);
``grid_arms`` expands an arm over its method's weight grid, and ``weight_tuning`` reads whether ``tune`` asks for that.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from headstart.arm_text import arm_parts
from headstart.continual.chain import ContinualArm
from headstart.continual.methods import METHODS, get_method, method_options
from headstart.errors import ConfigError, closest


def parse_continual_arm(text: str, strategy: str) -> ContinualArm:
    """``ewc[weight=100]`` (on ``strategy``), ``lora[rank=4]+ewc``, ``lora`` (naive on lora), ``replay[size=500]``.

    Raises:
        ConfigError: an unknown method or strategy, an option it does not take, or two methods in one arm.
    """
    from headstart.arm_text import parse_arm
    from headstart.strategies import STRATEGIES

    first, options, train, rest = parse_arm(text.strip())
    if first in METHODS:
        if rest:
            raise ConfigError(f"arm {text!r} names two methods; one method an arm, on a strategy: e.g. lora+ewc")
        method, given, chosen, strategy_options = first, options, None, {}
    elif first in STRATEGIES:
        if len(rest) > 1:
            raise ConfigError(f"arm {text!r} names {len(rest)} methods; one method an arm, e.g. lora+ewc")
        method, given = next(iter(rest.items())) if rest else ("naive", {})
        chosen, strategy_options = first, options
    else:
        raise ConfigError(f"unknown continual method or strategy {first!r} in arm {text!r}{closest(first, [*METHODS, *STRATEGIES])} "
                          f"(methods: {', '.join(METHODS)}; or STRATEGY+METHOD, e.g. lora+ewc)")
    m = get_method(method)
    if chosen is not None and m.strategy is not None and chosen != m.strategy:
        raise ConfigError(f"{method} trains {m.strategy}; drop {chosen!r} from arm {text!r}")
    opts = method_options(m, dict(given))
    strategy_name = chosen or m.strategy or strategy
    if getattr(STRATEGIES.get(strategy_name), "solved", False):
        raise ConfigError(f"{strategy_name} is fitted by a closed-form solver and has no model to carry from task to task; "
                          "use a trained strategy, e.g. --strategy full-finetune")
    label = text.strip() if chosen or m.strategy else f"{text.strip()}"
    return ContinualArm(label=label, method=method, options=dataclasses.asdict(opts), strategy=strategy_name,
                        strategy_options=dict(strategy_options), train=dict(train))


def grid_arms(arm: ContinualArm) -> list[ContinualArm]:
    """``arm`` at each weight of its method's grid (``arm`` alone when the method has none or the arm sets a weight)."""
    method = get_method(arm.method)
    if not method.grid or "weight" in arm_parts(arm.label)[-1]:
        return [arm]
    return [dataclasses.replace(arm, label=f"{arm.label} (weight {w:g})", options={**arm.options, "weight": float(w)},
                                family=arm.label) for w in method.grid]


def weight_tuning(tune: Any) -> bool:
    """Whether ``continual`` tunes its methods' weights: True or False, None as compare's "no tuning".

    Raises:
        ConfigError: any other value; compare's ``"lr"`` named as what it is not here.
    """
    if type(tune).__module__ == "numpy" and hasattr(tune, "item"):
        tune = tune.item()
    if tune is None or isinstance(tune, bool):
        return bool(tune)
    what = ("continual tunes each method's weight (ewc, online-ewc, si, mas, lwf), not the learning rate: pass "
            "tune=True for the weights, and a learning rate as lr=..., e.g. lr=1e-4") if tune == "lr" else "pass tune=True"
    raise ConfigError(f"tune must be True, False or None (no tuning), got {tune!r:.40}; {what}")
