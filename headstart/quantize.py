"""4-bit NF4 base weights (bitsandbytes) for QLoRA, on CPU or GPU, and the way back for merging.

``quantize_linears`` swaps every ``nn.Linear`` of a module for a ``bitsandbytes`` ``Linear4bit`` holding
NF4 weights (double-quantised block scales); the matmul runs in ``compute_dtype``. NF4 rounding is
deterministic, so quantising the same pre-trained weights again rebuilds the base a QLoRA run trained on.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from headstart.errors import ConfigError


@dataclass(frozen=True)
class WeightBytes:
    """Storage of a module's base weights: as held now vs the same parameters in fp32."""

    stored: int
    fp32: int
    quantized_params: int  # parameters held in 4 bits

    @property
    def ratio(self) -> float:
        return self.stored / max(self.fp32, 1)


def _bnb():
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise ConfigError("qlora needs bitsandbytes, headstart's [qlora] extra: pip install 'headstart[qlora]'; or use --strategy lora") from None
    return bnb


def _children(module: nn.Module, kind: type) -> list[tuple[nn.Module, str, nn.Module]]:
    return [(parent, name, child) for parent in module.modules() for name, child in parent.named_children() if isinstance(child, kind)]


def quantize_linears(module: nn.Module, *, compute_dtype: torch.dtype = torch.float32) -> int:
    """Replace every ``nn.Linear`` inside ``module`` with an NF4 ``Linear4bit`` (frozen); returns how many."""
    bnb = _bnb()
    swapped = 0
    for parent, name, linear in _children(module, nn.Linear):
        if isinstance(linear, bnb.nn.Linear4bit):  # loaded in 4 bits (load_quantized): the run's precision still applies
            linear.compute_dtype = compute_dtype
            continue
        device = linear.weight.device
        bias = linear.bias.detach().clone() if linear.bias is not None else None
        setattr(parent, name, _nf4(linear, linear.weight.detach().to("cpu", torch.float32), bias, compute_dtype).to(device))
        swapped += 1
    return swapped


def _nf4(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None, compute_dtype: torch.dtype) -> nn.Module:
    """A frozen NF4 ``Linear4bit`` shaped as ``linear``, holding the fp32 ``weight`` until moved to a device (which
    quantises it, blocks of 64 with double quantisation); ``quantize_linears`` and ``load_quantized`` build every one
    here, so the two give the same layers."""
    bnb = _bnb()
    q = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=bias is not None, compute_dtype=compute_dtype,
                          quant_type="nf4", compress_statistics=True, device="meta")
    q.weight = bnb.nn.Params4bit(weight.contiguous(), requires_grad=False, quant_type="nf4", compress_statistics=True)
    if bias is not None:
        q.bias = nn.Parameter(bias, requires_grad=False)
    # bitsandbytes repacks the weight in place for its AVX512-BF16 CPU kernel on the first no-grad eval forward; it
    # fails for layers narrower than a quantisation block (seen on AMD Zen 4) and would change the weight between
    # validation and training: keep the one format that trains, evaluates and saves alike.
    q.support_avx512bf16_for_cpu = False
    return q


def dequantize_linears(module: nn.Module) -> int:
    """Replace every ``Linear4bit`` inside ``module`` with an fp32 ``nn.Linear`` of its dequantised weights."""
    bnb = _bnb()
    swapped = 0
    for parent, name, q in _children(module, bnb.nn.Linear4bit):
        weight = bnb.functional.dequantize_4bit(q.weight.data, q.weight.quant_state).to(torch.float32)
        linear = nn.Linear(q.in_features, q.out_features, bias=q.bias is not None, device=weight.device)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if q.bias is not None:
                linear.bias.copy_(q.bias.to(torch.float32))
        setattr(parent, name, linear)
        swapped += 1
    return swapped


def weight_bytes(module: nn.Module, *, linear_only: bool = False) -> WeightBytes:
    """Bytes of the module's parameters as stored (4-bit + block scales where quantised) vs the same in fp32.

    Args:
        linear_only: count only the weights of the base's linear layers (what QLoRA quantises; embeddings,
            LayerNorms and the LoRA matrices on top stay in full precision).
    """
    bnb = _bnb()
    stored = fp32 = quantized = 0
    for module_name, m in module.named_modules():
        if linear_only and (not isinstance(m, (nn.Linear, bnb.nn.Linear4bit)) or ".lora_" in f".{module_name}"):
            continue
        for name, p in m.named_parameters(recurse=False):
            if linear_only and name != "weight":
                continue
            if isinstance(p, bnb.nn.Params4bit) and p.quant_state is not None:
                n = int(torch.Size(p.quant_state.shape).numel())
                state = p.quant_state
                scales = state.absmax.numel() * state.absmax.element_size()
                if state.state2 is not None:  # double quantisation: 8-bit block scales + their own fp32 scales
                    scales += state.state2.absmax.numel() * state.state2.absmax.element_size()
                stored += p.numel() * p.element_size() + scales
                fp32 += 4 * n
                quantized += n
            else:
                stored += p.numel() * p.element_size()
                fp32 += 4 * p.numel()
    return WeightBytes(stored=stored, fp32=fp32, quantized_params=quantized)


def quantization(module: nn.Module) -> dict[str, object]:
    """What a 4-bit base is, as a saved run's metrics.json keeps it (``quantization``) and its card says: the type
    (``nf4``), whether the block scales are double-quantised, the matmul's compute dtype, how many linear layers and
    parameters are 4-bit, and their weights' bytes as stored vs in fp32 (``weight_bytes``, linear layers only)."""
    bnb = _bnb()
    layers = [m for m in module.modules() if isinstance(m, bnb.nn.Linear4bit)]
    states = [m.weight.quant_state for m in layers if getattr(m.weight, "quant_state", None) is not None]
    counted = weight_bytes(module, linear_only=True)
    return {"type": sorted({str(s.quant_type) for s in states})[0] if states else "nf4",
            "double_quantization": bool(states) and all(s.state2 is not None for s in states),
            "compute_dtype": str(layers[0].compute_dtype).removeprefix("torch.") if layers else None,
            "layers": len(layers), "params": counted.quantized_params,
            "stored_bytes": counted.stored, "fp32_bytes": counted.fp32}


@contextmanager
def _parameters_on_meta():
    """Build modules whose parameters live on the meta device (no memory, no initialisation cost); buffers stay real
    (rotary frequencies and position ids are computed in ``__init__``). What accelerate's ``init_empty_weights`` does."""
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None:
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def load_quantized(directory: Path, *, compute_dtype: torch.dtype = torch.float32, causal_lm: bool = False) -> nn.Module:
    """A transformers ``AutoModel`` (``AutoModelForCausalLM`` with ``causal_lm``) from ``directory`` with every
    ``nn.Linear`` loaded straight into NF4 — but a causal LM's output projection, which stays full precision (tied to
    the input embeddings where the model ties them).

    The model is built with its parameters on the meta device, then filled tensor by tensor from the folder's
    safetensors: a linear layer's fp32 weight is read, quantised and dropped before the next is read, so the fp32
    base is never held whole (peak ≈ the 4-bit base + the full-precision embeddings and norms + one layer). The result
    equals loading in fp32 and then ``quantize_linears`` (NF4 rounding is deterministic).

    Raises:
        ConfigError: bitsandbytes is missing.
        BackboneError: a parameter the architecture needs is not in the folder's weights.
    """
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    from headstart.errors import BackboneError

    _bnb()  # bitsandbytes missing: the ConfigError before any model is built
    config = AutoConfig.from_pretrained(directory, trust_remote_code=False)  # never run or ask about a folder's code
    with _parameters_on_meta():
        model = (AutoModelForCausalLM if causal_lm else AutoModel).from_config(config)
    head = model.get_output_embeddings() if causal_lm else None
    tied = head is not None and bool(getattr(config, "tie_word_embeddings", False))
    files = sorted(Path(directory).glob("*.safetensors"))
    where = {}
    for file in files:
        with safe_open(str(file), "pt") as f:
            where.update({key: file for key in f.keys()})
    prefixes = ("", f"{model.base_model_prefix}.")

    def read(name: str) -> torch.Tensor:
        key = next((p + name for p in prefixes if p + name in where), None)
        if key is None:
            raise BackboneError(f"{str(directory)!r} has no weight {name!r}; give the model's complete folder")
        with safe_open(str(where[key]), "pt") as f:
            return f.get_tensor(key).to(torch.float32)

    linears = {id(m) for _, _, m in _children(model, nn.Linear)} - {id(head)}
    for module_name, module in list(model.named_modules()):
        prefix = f"{module_name}." if module_name else ""
        if module is head and tied:
            continue  # its weight is the input embeddings' (tie_weights below)
        if id(module) in linears:
            parent_name, _, child = module_name.rpartition(".")
            parent = model.get_submodule(parent_name)
            bias = read(prefix + "bias") if module.bias is not None else None
            setattr(parent, child, _nf4(module, read(prefix + "weight"), bias, compute_dtype).to("cpu"))  # quantised; fp32 dropped
            _give_back_freed_memory()
            continue
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_meta:
                module._parameters[name] = nn.Parameter(read(prefix + name), requires_grad=param.requires_grad)
        for name, buffer in list(module._buffers.items()):
            key = prefix + name
            if buffer is not None and name not in module._non_persistent_buffers_set and any(p + key in where for p in prefixes):
                module._buffers[name] = read(key).to(buffer.dtype)
    if tied:
        head.weight = model.get_input_embeddings().weight
    return model.eval()


MMAP_THRESHOLD = 128 * 1024  # glibc's initial threshold, which it otherwise raises up to 32 MB as big blocks are freed


def lean_allocator() -> None:
    """Keep glibc from holding freed memory for this process: blocks over ``MMAP_THRESHOLD`` are mapped and unmapped
    per allocation (``mallopt(M_MMAP_THRESHOLD)``, which also stops glibc raising the threshold). A training step
    frees activations of many sizes; glibc otherwise keeps them in its heap and the process's peak grows far past what
    is live (SmolLM2 qlora, 3 steps and a validation pass: peak 1723 MB without, 1170 MB with; measured with
    ``MALLOC_MMAP_THRESHOLD_=131072``). Called by the 4-bit strategies, whose point is memory; it lasts for the process.
    Each big allocation then costs page faults (a few percent of a CPU step). A no-op without glibc's ``mallopt``."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD


def _give_back_freed_memory() -> None:
    """Return the freed fp32 layer to the OS (glibc's ``malloc_trim``): glibc otherwise keeps freed blocks of these
    sizes in its heap, and the process's peak memory grows layer by layer as if the fp32 base were held (measured on
    SmolLM2: 867 MB peak without, 509 MB with). A no-op where the C library has no ``malloc_trim``."""
    import ctypes
    import ctypes.util

    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM = None
