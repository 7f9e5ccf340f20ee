"""Why ``headstart export`` writes a run in no format, read from its spec.json and adapter_config.json before it loads:
export raises it, and the run's model card asks it (``saved.write_model_card``) to offer only an export that works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.errors import ConfigError


def refusal(directory: Path, meta: dict[str, Any]) -> str | None:
    """Why export writes run ``directory`` (``meta``: its spec.json) in no format, in one line, or None: what its spec
    and adapter_config.json tell before the run loads. The run's model card asks it too, to offer only an export that
    works (``saved.write_model_card``).
    """
    from headstart.adapter_info import MERGEABLE, inspect
    from headstart.data.columns import run_pair
    from headstart.strategies import get_strategy

    strategy = get_strategy(meta["resolved"]["strategy"])
    if "image_size" in (meta["resolved"].get("backbone_config") or {}):  # an image backbone's identity
        return str(image_run(directory))
    if strategy.quantized and meta["backbone_saved"] != "merged":  # merged with --dequantize: an fp32 encoder
        return (f"{str(directory)!r} has a 4-bit base; merge it first (headstart adapters merge --dequantize) and "
                "export the merged run")
    if strategy.unexportable_why:
        return f"cannot export {str(directory)!r} ({strategy.name}): {strategy.unexportable_why}"
    if strategy.solved and getattr(strategy, "gradient_free_head", False):  # embed-knn: its head is the remembered rows
        return str(no_linear_head(directory, strategy.name))
    if meta["backbone_saved"] == "adapter":
        info = inspect(directory)
        if info.method not in MERGEABLE:
            return (f"cannot export {str(directory)!r}: {info.method} is not a weight update that folds into the "
                    "encoder; serve it with headstart predict")
    if run_pair(meta.get("data_source")) is not None:  # before its data is read: no note about data it will not use
        return (f"{str(directory)!r} reads text pairs (--text-column a,b), and export writes single-text models "
                "only: serve it with headstart predict (a table with both columns, or a line FIRST<TAB>SECOND on "
                "stdin)")
    return None


def image_run(directory: Path) -> ConfigError:
    return ConfigError(f"{str(directory)!r} is a run on an image backbone; export writes text encoders only (every "
                       "--format); serve it with headstart predict")


def no_linear_head(directory: Path, strategy: str) -> ConfigError:
    return ConfigError(f"{str(directory)!r} ({strategy}) has no linear head to export")
