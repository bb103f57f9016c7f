"""Device, precision and placement policy; GPU memory estimates.

Placements:
  resident  every model lives on the device
  offload   models live on the CPU; each moves to the device only for its stage
  cpu       everything on the CPU
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch

from . import precision
from .model import GPTConfig, bark_config

log = logging.getLogger(__name__)

PLACEMENTS = ("resident", "offload", "cpu")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
QUANTIZED = ("int8",)  # CPU-only precisions: float32 models whose Linears are then quantized (quantize.py)
PRECISIONS = ("auto", *DTYPES, *QUANTIZED)  # every --dtype choice
GiB = 1024**3

CODEC_BYTES = 60 * 1024**2  # EnCodec 24 kHz, float32 (~15M parameters)
CUDA_CONTEXT_BYTES = 400 * 1024**2  # allocator slack and kernels' workspace


@dataclass(frozen=True)
class Placement:
    """Where the models run and in which precision."""

    device: torch.device
    dtype: torch.dtype
    placement: str  # one of PLACEMENTS
    choice: Optional[precision.Verdict] = field(default=None, compare=False)  # how "auto" chose the CPU precision
    quantize: Optional[str] = None  # "int8": weight-only int8 Linears (CPU); dtype is then the rest's float32
    prompt_dtype: torch.dtype = torch.float32  # int8 mode: dtype of many-row products (dequantized weights)

    @property
    def home(self) -> torch.device:
        """Where models rest between stages."""
        return torch.device("cpu") if self.placement in ("offload", "cpu") else self.device

    @property
    def exact(self) -> bool:
        """True where results are bit-identical to the reference (CPU, float32, no quantization)."""
        return self.device.type == "cpu" and self.dtype == torch.float32 and self.quantize is None

    @property
    def precision(self) -> str:
        """The precision's name as the user chose it: "float32", "bfloat16", "float16" or "int8"."""
        return self.quantize or dtype_name(self.dtype)


def cuda_total_memory() -> Optional[int]:
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory


# /proc/cpuinfo flags of the x86 instructions that compute in a 16-bit float format.
NATIVE_FLAGS = {torch.bfloat16: (" avx512_bf16", " amx_bf16"), torch.float16: (" avx512_fp16", " amx_fp16")}


@functools.lru_cache(maxsize=8)
def _cpuinfo_text(cpuinfo: Path) -> str:
    """The CPU description (read once per path: the UI and every load ask again)."""
    try:
        return cpuinfo.read_text()
    except OSError:
        return ""


def cpu_computes_natively(dtype: torch.dtype, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True for float32, and for bfloat16/float16 where the CPU has instructions for them."""
    if dtype == torch.float32:
        return True
    flags = _cpuinfo_text(cpuinfo)
    return any(flag in flags for flag in NATIVE_FLAGS.get(dtype, ()))


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    return cpu_computes_natively(torch.bfloat16, cpuinfo)


def cpu_precision_warning(dtype: torch.dtype, cpuinfo: Path = Path("/proc/cpuinfo")) -> Optional[str]:
    """A sentence when running on this CPU in ``dtype`` is slower than float32 (None when it is not)."""
    if cpu_computes_natively(dtype, cpuinfo):
        return None
    return (f"This CPU has no {dtype_name(dtype)} instructions, so Bark runs several times slower in "
            f"{dtype_name(dtype)} than in float32 here (prompts and the fine stage are emulated). "
            "Use float32 (what auto picks on this CPU); it is also the exact path.")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unknown device {name!r}: use auto, cpu, cuda or mps.")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is visible; use --device cpu.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was asked for but is not available; use --device cpu.")
    return torch.device(name)


def cpu_auto_choice(cache_dir: Optional[Path] = None, size: str = "large") -> precision.Verdict:
    """The CPU precision "auto" picks: measured once per machine (about a second), then read from the cache."""
    return precision.cpu_choice(cache_dir, size)


def resolve_dtype(name: str, device: torch.device, cache_dir: Optional[Path] = None, size: str = "large") -> torch.dtype:
    """A precision name ("auto" allowed) as a torch dtype; CPU "auto" is measured (see precision.py)."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return cpu_auto_choice(cache_dir, size).torch_dtype
    if name in QUANTIZED:  # the models load in float32; prepare_stage quantizes their Linears
        _refuse_quantized_off_cpu(name, device)
        return torch.float32
    if name not in DTYPES:
        raise ValueError(f"Unknown precision {name!r}: use auto, float32, bfloat16, float16 or int8 (CPU).")
    return DTYPES[name]


def _refuse_quantized_off_cpu(name: str, device: torch.device) -> None:
    if device.type != "cpu":
        raise ValueError(f"{name} is a CPU-only mode (int8 weights for memory-bound CPU decoding); on "
                         f"{device.type.upper()} use bfloat16 or float16, or run with --device cpu.")


def prompt_dtype_for(choice: Optional[precision.Verdict], threshold: float = precision.THRESHOLD) -> torch.dtype:
    """int8 mode's dtype for many-row products: bfloat16 where it was measured >= threshold x faster
    than float32 on prompt-sized products on this CPU (e.g. AMX), else float32."""
    return DTYPES[precision.int8_prompt_dtype(choice.timings_ms if choice is not None else {}, threshold)]


def resolve(device: str = "auto", dtype: str = "auto", placement: str = "auto", *,
            cache_dir: Optional[Path] = None, size: str = "large") -> Placement:
    """Turn user choices ("auto" allowed) into a concrete Placement.

    A CPU run with dtype "auto" measures the precisions once per machine and caches the
    verdict in ``cache_dir`` (None: ~/.cache/bark-studio), keyed by ``size`` ("large" or "small");
    the verdict rides along as ``Placement.choice``. An explicit float dtype is never measured; "int8"
    (CPU only) reads the same cached measurement to pick the dtype of its many-row products.
    """
    dev = resolve_device("cpu" if dtype in QUANTIZED and device == "auto" else device)
    choice = None
    if dtype in QUANTIZED:
        if placement not in ("auto", "cpu"):
            raise ValueError(f"{dtype} runs on the CPU only; its placement is cpu, not {placement}.")
        _refuse_quantized_off_cpu(dtype, dev)
        choice = cpu_auto_choice(cache_dir, size)  # the measured timings say which dtype prompts run in
        return Placement(torch.device("cpu"), torch.float32, "cpu", choice, quantize=dtype,
                         prompt_dtype=prompt_dtype_for(choice))
    if dtype == "auto" and dev.type == "cpu":
        choice = cpu_auto_choice(cache_dir, size)
        dt = choice.torch_dtype
    else:
        dt = resolve_dtype(dtype, dev)
    if placement == "auto":
        placement = "cpu" if dev.type == "cpu" else "resident"
        total = cuda_total_memory() if dev.type == "cuda" else None
        if total is not None and estimate_gpu_memory("large", dtype_name(dt), "resident") > total * 0.9:
            placement = "offload"
    if placement not in PLACEMENTS:
        raise ValueError(f"Unknown placement {placement!r}: use resident, offload or cpu.")
    if placement == "cpu":
        dev = torch.device("cpu")
        if dtype == "auto" and choice is None:
            choice = cpu_auto_choice(cache_dir, size)
            dt = choice.torch_dtype
    return Placement(dev, dt, placement, choice)


def dtype_name(dtype: torch.dtype) -> str:
    for name, d in DTYPES.items():
        if d == dtype:
            return name
    raise ValueError(f"Unsupported precision {dtype}; use float32, float16 or bfloat16.")


def count_params(config: GPTConfig, stage: str) -> int:
    """Parameters of one stage's model (tied fine embeddings counted once)."""
    c, L = config.n_embd, config.n_layer
    bias = config.bias if stage != "fine" else True
    per_layer = 12 * c * c + (13 * c if config.bias else 0) + (4 * c if bias else 2 * c)
    embeddings = config.block_size * c
    if stage == "fine":
        n_tied = config.n_codes_total - config.n_codes_given
        embeddings += config.input_vocab_size * c * (config.n_codes_total - n_tied)
        heads = n_tied * config.output_vocab_size * c
        return L * per_layer + embeddings + heads + 2 * c
    embeddings += config.input_vocab_size * c
    return L * per_layer + embeddings + config.output_vocab_size * c + (2 if config.bias else 1) * c


def stage_config(size: str, stage: str) -> GPTConfig:
    return bark_config(stage, size)


def working_memory(config: GPTConfig, stage: str, dtype_bytes: int, takes: int = 1) -> int:
    """Activations, KV cache and logits one stage needs at its peak."""
    c, L, T = config.n_embd, config.n_layer, config.block_size
    if stage == "fine":  # full 1024-frame pass: activations + float32 logits and sampling buffers
        return takes * (T * c * 8 * dtype_bytes + T * config.output_vocab_size * 4 * 4 + config.n_head * T * T * 4)
    kv = 2 * L * T * c * dtype_bytes * takes
    prefill = 900 * c * 8 * dtype_bytes * takes + config.n_head * 900 * 900 * 4
    return kv + prefill + takes * config.output_vocab_size * 4 * 4


def estimate_gpu_memory(size, dtype: str, placement: str, takes: int = 1) -> int:
    """Peak GPU memory (bytes) for a model size ("large"/"small", or one per stage as a dict),
    precision and placement."""
    if placement == "cpu":
        return 0
    nbytes = torch.finfo(DTYPES[dtype]).bits // 8
    weights, work = {}, {}
    for stage in ("semantic", "coarse", "fine"):
        cfg = stage_config(size if isinstance(size, str) else size[stage], stage)
        weights[stage] = count_params(cfg, stage) * nbytes
        work[stage] = working_memory(cfg, stage, nbytes, takes)
    if placement == "resident":
        peak = sum(weights.values()) + CODEC_BYTES + max(work.values())
    else:
        peak = max(max(weights[s] + work[s] for s in weights), CODEC_BYTES * 2)
    return peak + CUDA_CONTEXT_BYTES


def recommend(total_gpu_bytes: Optional[int] = None, cpu_bf16: Optional[bool] = None) -> dict:
    """Sensible defaults for the detected hardware (the UI's and CLI's "auto")."""
    if total_gpu_bytes is None:
        bf16 = cpu_has_native_bf16() if cpu_bf16 is None else cpu_bf16
        return dict(device="cpu", size="large", dtype="bfloat16" if bf16 else "float32", placement="cpu")
    budget = total_gpu_bytes * 0.85
    dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"
    for size, placement in (("large", "resident"), ("large", "offload"), ("small", "resident"), ("small", "offload")):
        if estimate_gpu_memory(size, dtype, placement) <= budget:
            return dict(device="cuda", size=size, dtype=dtype, placement=placement)
    return dict(device="cpu", size="small", dtype="float32", placement="cpu")


def prepare_stage(module: torch.nn.Module, placement: Placement) -> torch.nn.Module:
    """What a stage's model needs right after loading: int8 weights in the int8 mode (in place,
    once: a second call changes nothing), pinned memory for offload. Returns the same model."""
    if placement.quantize == "int8":
        from . import quantize  # noqa: PLC0415 - only the int8 mode needs it

        if not quantize.is_quantized(module):
            quantize.quantize_model(module, placement.prompt_dtype)
    elif placement.quantize is not None:
        raise ValueError(f"Unknown quantization {placement.quantize!r}.")
    _pin(module, placement)
    return module


def _pin(module: torch.nn.Module, placement: Placement) -> None:
    if placement.placement == "offload" and placement.device.type == "cuda":
        for p in module.parameters():
            p.data = p.data.pin_memory()


@contextlib.contextmanager
def on_device(module: torch.nn.Module, placement: Placement) -> Iterator[torch.nn.Module]:
    """Run a stage with its model on the compute device (offload: a copy for this visit only).

    The resting weights stay where they are; the device copy is dropped afterwards, so
    nothing is copied back. Tied parameters are one object and stay tied.
    """
    if placement.home == placement.device:
        yield module
        return
    params = list(module.parameters())
    resting = [p.data for p in params]
    try:
        for p in params:
            p.data = p.data.to(placement.device, non_blocking=True)
        yield module
    finally:
        for p, data in zip(params, resting):
            p.data = data
        if placement.device.type == "cuda":
            torch.cuda.empty_cache()


def available_devices() -> list[str]:
    """The devices this machine can run on, accelerators first, cpu last."""
    found = [name for name, ok in (("cuda", torch.cuda.is_available()), ("mps", torch.backends.mps.is_available())) if ok]
    return [*found, "cpu"]


def precision_warning(dtype: str, device: str = "cpu") -> Optional[str]:
    """The CPU-precision warning for a dtype name (None on a GPU or where the CPU computes it natively)."""
    return cpu_precision_warning(DTYPES[dtype]) if device in ("cpu", "auto") and dtype in DTYPES else None
