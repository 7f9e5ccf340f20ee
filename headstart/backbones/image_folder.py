"""An image backbone saved as a folder: its network's weights (``model.safetensors``) and ``headstart-image.json``
naming the built-in architecture it is an instance of (``mnist-cnn``, ``efficientnet-lite0``) and its input size.

``load_backbone(FOLDER)`` reads it back for every command (``train --backbone FOLDER`` …): the architecture is built
from its registry entry, then the saved weights replace its own (strict: every tensor, no more). Nothing is pickled.
Identity (``describe()``): the folder's path as the name, and a hash of the weights in the source, so that run keys
and cached features change when the folder is overwritten with other weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.errors import BackboneError

MANIFEST = "headstart-image.json"
WEIGHTS = "model.safetensors"
FORMAT = 1


def is_image_folder(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def save_image_backbone(backbone: Any, out: Path, *, architecture: str, trained_by: dict[str, Any],
                        files: dict[str, bytes] | None = None) -> Path:
    """Write ``out/model.safetensors`` (the network's state dict) and ``out/headstart-image.json`` as one folder: built
    whole beside ``out`` and swapped in (``atomic.write_directory``), so a kill part-way leaves no folder that looks
    like a backbone without its weights, and an earlier backbone in ``out`` as it was.

    Args:
        backbone: an ``ImageBackbone`` whose network is an instance of the registered ``architecture``.
        trained_by: plain data saved in the manifest (how the weights were made).
        files: more files saved with them, by name (a meta-train arm's head initialisation).

    Raises:
        StoreError: ``out`` holds files other than a saved backbone's (nothing is written), or cannot be written.
    """
    from safetensors.torch import save

    from headstart.atomic import write_directory, write_json
    from headstart.outdir import ignored

    state = {k: v.detach().cpu().contiguous() for k, v in backbone.network().state_dict().items()}
    manifest = {"format": FORMAT, "architecture": architecture, "image_size": backbone.image_size, "dim": backbone.dim,
                "trained_by": trained_by}
    own = {WEIGHTS, MANIFEST, *(files or {})}

    def fill(tmp: Path) -> None:  # the staging folder write_directory swaps in whole
        (tmp / WEIGHTS).write_bytes(save(state, metadata={"format": "pt"}))
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
        write_json(tmp / MANIFEST, manifest)

    return write_directory(Path(out), fill, what="saved image backbone",
                           is_replaceable=lambda d: all(p.name in own or ignored(p.name) for p in d.iterdir()))


def load_image_backbone(path: Path, *, registry: dict[str, Any], image_size: int | None = None):
    """The ``ImageBackbone`` saved in ``path``.

    Args:
        registry: the built-in backbones by name (``registry.REGISTRY``): the manifest's architecture is one of them.
        image_size: input side; None: the size it was saved at.

    Raises:
        BackboneError: an unreadable manifest, an unknown architecture, or weights that do not fit it.
    """
    from safetensors.torch import load_file

    from headstart.backbones.base import weights_fingerprint

    try:
        manifest = json.loads((path / MANIFEST).read_text())
        architecture = manifest["architecture"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BackboneError(f"cannot read {str(path / MANIFEST)!r} ({type(e).__name__}); save the backbone again") from None
    saved_size = manifest.get("image_size")
    if not isinstance(architecture, str):
        raise BackboneError(f"{str(path / MANIFEST)!r} must hold the architecture's name as a string (such as "
                            f"'mnist-cnn'), got {json.dumps(architecture)[:80]}; save the backbone again")
    if saved_size is not None and (isinstance(saved_size, bool) or not isinstance(saved_size, int) or saved_size < 1):
        raise BackboneError(f"{str(path / MANIFEST)!r} must hold image_size as a positive integer (the side it was "
                            f"saved at), got {json.dumps(saved_size)[:80]}; save the backbone again")
    entry = registry.get(architecture)
    if entry is None or entry.modality != "image":
        images = ", ".join(n for n, e in registry.items() if e.modality == "image")
        raise BackboneError(f"{str(path)!r} names architecture {architecture!r}, not a built-in image backbone ({images})")
    if not (path / WEIGHTS).is_file():
        raise BackboneError(f"{str(path / WEIGHTS)!r} is missing; the folder was not saved completely, save it again")
    backbone = entry.build(entry.locate(), image_size=image_size or saved_size, bn="train")
    try:
        backbone.network().load_state_dict(load_file(str(path / WEIGHTS)))
    except (RuntimeError, OSError) as e:
        raise BackboneError(f"the weights in {str(path)!r} do not fit {architecture}: {str(e).splitlines()[0][:200]}") from None
    backbone.name = str(path)
    backbone.source = f"{path.resolve()}#{weights_fingerprint([path / WEIGHTS])}"
    return backbone.eval()
