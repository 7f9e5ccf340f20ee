"""Strategies: what trains and how fast. One file each, one registry (``headstart strategies``)."""

from headstart.strategies import (  # noqa: F401 - importing registers each strategy, in listing order
    scratch,
    linear_probe,
    full_finetune,
    partial_freeze,
    llrd,
    gradual_unfreeze,
    lp_ft,
    bitfit,
    lora,
    ia3,
    houlsby,
    prompts,
    qlora,
    embed_logreg,
    embed_knn,
    tfidf_logreg,
    zero_shot,
    setfit,
    zero_shot_prompt,
    icl,
)
from headstart.strategies.base import Budget, ParamGroup, Phase, Strategy
from headstart.callable_module import make_callable
from headstart.strategies.registry import STRATEGIES, get_strategy, list_strategies, register

__all__ = ["Budget", "ParamGroup", "Phase", "STRATEGIES", "Strategy", "get_strategy", "list_strategies", "register"]

make_callable(__name__, list_strategies)  # headstart.strategies() mirrors headstart strategies
