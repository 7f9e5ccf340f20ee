"""The arms an earlier ``meta-train`` saved in ``OUT/<arm>/``: what each records of its settings, which of them a re-run
with the same settings keeps (loaded, never trained again: a run trained with ``--backbone OUT/<arm>`` reads those
weights), and the setting that makes a saved arm another experiment's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.errors import StoreError

MANIFEST = "headstart-image.json"  # backbones.image_folder's, read here without importing torch
HEAD = "meta-head.safetensors"  # MAML / FOMAML / Reptile's head initialisation, beside the network
UNCOMPARED = ("command", "arm", "threads", "meta_lr", "tune", "backbone_weights")  # threads: speed; the rest below


def trained_by(cfg: Any, arm: str, meta_lr: float) -> dict[str, Any]:
    """What ``OUT/<arm>/headstart-image.json`` records of how the arm was made: the command, the arm, every setting
    but the arm list, ``tune``, the Adam rate it trained at (``meta_lr``: with ``--tune meta-lr``, the one kept) and
    the fingerprint of a ``--backbone`` folder's weights (``backbone_weights``)."""
    settings = {k: v for k, v in cfg.to_json().items() if k not in ("arms", "tune")}
    return {"command": "meta-train", "arm": arm, **settings, "tune": list(cfg.tune), "meta_lr": meta_lr,
            "backbone_weights": backbone_weights(cfg.backbone)}


def backbone_weights(backbone: str) -> str | None:
    """The fingerprint of the weights in a ``--backbone`` folder (``backbones.base.weights_fingerprint`` of its
    .safetensors files, as its run keys and cached features take it); None for a built-in name."""
    path = Path(backbone).expanduser()
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    from headstart.backbones.base import weights_fingerprint

    return weights_fingerprint(files)


def other_weights(record: dict[str, Any], backbone: str) -> bool:
    """Whether a saved arm's ``record`` was meta-trained from other weights than the ``backbone`` folder holds now
    (the folder saved again since); a record without them (an earlier version's, a built-in backbone's) is not."""
    return record.get("backbone_weights") is not None and record["backbone_weights"] != backbone_weights(backbone)


def saved_arms(out: Path) -> dict[str, dict[str, Any]]:
    """Each arm folder in ``out`` that meta-train saved whole (its manifest's ``trained_by`` names the command, and the
    head an arm learns is there), by name: what it records (``trained_by``)."""
    found = {}
    for folder in sorted(p for p in Path(out).iterdir() if p.is_dir()) if Path(out).is_dir() else ():
        try:
            record = json.loads((folder / MANIFEST).read_text()).get("trained_by")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(record, dict) and record.get("command") == "meta-train" and not _head_missing(folder, record):
            found[folder.name] = record
    return found


def _head_missing(folder: Path, record: dict[str, Any]) -> bool:
    """An arm that learns a head initialisation, stopped after its network was saved and before its head was: not a
    saved arm (trained again, where loading it would fail)."""
    from headstart.meta.base import ARMS, get_arm

    return record.get("arm") in ARMS and get_arm(record["arm"]).learns_head and not (folder / HEAD).exists()


def differs(record: dict[str, Any], cfg: Any, arm: str) -> tuple[str, Any, Any] | None:
    """The first setting in which a saved arm's ``record`` (``trained_by``) is not what ``cfg`` would train it with:
    (setting, recorded, asked), as meta.json's config is compared; a setting the record lacks (an earlier version's) is
    not a difference. With ``--tune meta-lr`` the rate it kept is not compared, the tuning is."""
    from headstart.meta.base import get_arm

    now = json.loads(json.dumps(trained_by(cfg, arm, cfg.meta_lr)))
    for key, value in now.items():
        if key not in UNCOMPARED and key in record and record[key] != value:
            return key, record[key], value
    if "tune" in record and record["tune"] != now["tune"]:
        return "tune", record["tune"], now["tune"]
    tuned = "meta-lr" in cfg.tune and get_arm(arm).uses_optimizer
    if not tuned and "meta_lr" in record and record["meta_lr"] != cfg.meta_lr:
        return "meta_lr", record["meta_lr"], cfg.meta_lr
    return None


def load_arm(folder: Path, plain: Any, arm: str, cfg: Any) -> tuple[Any, dict[str, Any]]:
    """The arm saved in ``folder`` as ``train_arm`` returns a trained one: (backbone, head): the plain backbone with the
    saved network weights, and the saved head initialisation (zeros for an arm that learns none).

    Raises:
        StoreError: the weights cannot be read or do not fit the backbone; the fix is to delete the folder.
    """
    import copy

    import torch
    from safetensors.torch import load_file

    from headstart.backbones.image_folder import WEIGHTS
    from headstart.meta.base import get_arm, zero_head

    backbone = copy.deepcopy(plain)
    net = backbone.network().eval()
    try:
        net.load_state_dict(load_file(str(folder / WEIGHTS)))
        head = (load_file(str(folder / HEAD)) if get_arm(arm).learns_head
                else zero_head(cfg.ways, backbone.dim))
    except Exception as e:  # safetensors raises its own error types on truncated / foreign files
        raise StoreError(f"cannot read the {arm} arm saved in {str(folder)!r} ({type(e).__name__}); delete that folder "
                         "to meta-train the arm again") from None
    for p in net.parameters():  # as train_arm leaves a trained arm: MAML's test-time steps follow its gradients
        p.requires_grad_(True)
    return backbone, {k: torch.as_tensor(v) for k, v in head.items()}
