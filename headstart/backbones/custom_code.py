"""Folders whose model is code of their own: headstart never runs a folder's code, and never asks whether to.

transformers asks on stdin ("Do you wish to run the custom code? [y/N]", pointing at a Hub address even for a local
folder) when a config's ``auto_map`` names code and ``trust_remote_code`` is left unset; every backbone load passes
``trust_remote_code=False`` so it refuses instead, and ``refuse_custom_code`` says so in one line first.
"""

from __future__ import annotations

import json
from pathlib import Path

from headstart.errors import BackboneError


def refuse_custom_code(directory: Path, *, named: str) -> None:
    """Raises BackboneError where ``directory``'s config.json maps its model to code in the folder (``auto_map``) and
    names no architecture transformers has; a headstart export (``headstart export --format hf``) is named as one,
    with the folder to pass instead. ``named`` is how the message names the folder (e.g. ``--backbone 'exp/hf'``).

    A config.json that cannot be read is left to transformers to refuse.
    """
    from transformers import CONFIG_MAPPING

    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return
    if not isinstance(config, dict) or not config.get("auto_map") or config.get("model_type") in CONFIG_MAPPING:
        return  # no code, or transformers' own class for it (the auto_map unused)
    if config.get("model_type") == "headstart":
        raise BackboneError(f"{named} is a headstart export (--format hf): its model is modeling_headstart.py, code in the "
                            "folder that headstart does not run; to train on that run's encoder, export the run with "
                            "--format sentence-transformers and pass its 0_Transformer folder as --backbone")
    raise BackboneError(f"{named} maps its model to code in the folder (config.json auto_map, model_type "
                        f"{config.get('model_type')!r}), which headstart does not run; give a folder of a model "
                        "transformers has (BERT, RoBERTa, Llama, ...)")
