"""The fast CPU mode ("int8"): weight-only int8 for every transformer Linear and output head.

Not exact: tokens differ from the reference's. Each Linear keeps per-output-channel
symmetric int8 weights (a quarter of float32's bytes) and one scale per output row.
A decode step reads every weight once for one row (memory-bound), so it runs on
``torch._weight_int8pack_mm`` (torch's own CPU kernel: int8 weights, bfloat16
activations; the kernel gpt-fast uses); a call with more than ``SMALL_ROWS`` rows (a
prompt, the fine stage: compute-bound) dequantizes the weight for that call and runs a
plain matrix product in ``prompt_dtype`` (bfloat16 where the CPU's own measurement says
it is clearly faster than float32 on prompt-sized products, as with AMX; else float32), except
where each activation row is quantized to int8 too and the product runs on ``torch._int_mm``
(int8 x int8 -> int32, VNNI): every many-row call of the causal models (semantic, coarse; a coarse
window's 887-id prefill 1.9-2.2x faster on an AVX-512 VNNI EPYC), and every one of the fine model's
but its MLP output projections, whose input (GELU's output, lopsided and heavy-tailed) loses the
most to int8: fine agreement 93.9 % this way, 92.5 % with those too, 94.5 % with none (a fine pass
683 / 670 / 802 ms).
Everything else (embeddings, LayerNorms, the residual stream) stays in the model's float32,
except the KV cache, kept in bfloat16 (what a decode step's attention reads), and, where the
prompt dtype is bfloat16, a many-row call's attention (2x faster there: a fine pass's 1024 x 1024
attention took a third of its time in float32).

Random test weights cannot prove quality on Suno's trained ones: bench/bench_quality.py
prints teacher-forced agreement and KL against float32 at Bark's shapes.
"""

from __future__ import annotations

import ctypes
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import MLP

# What the int8 mode costs in agreement, the one place it is written: teacher-forced top-1 agreement of int8 with
# float32, lowest and highest of the three stages, on random weights at Bark's shapes (bench/bench_quality.py;
# bench/results/cpu-epyc-int8-quality.json: fine 93.9 %, coarse 94.1 %, semantic 95.0 %). Not measured on Suno's weights.
AGREEMENT_ON_RANDOM_WEIGHTS = (0.939, 0.950)
SMALL_ROWS = 16  # up to this many rows per call: the int8 kernel (memory-bound); more: dequantize + matmul
QMAX = 127


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight (N, K), float32 scale (N,)): symmetric, one scale per output channel."""
    w = weight.detach().float()
    scale = (w.abs().amax(dim=1) / QMAX).clamp(min=1e-12)
    q = torch.round(w / scale[:, None]).clamp(-QMAX, QMAX).to(torch.int8).contiguous()
    return q, scale


def _int8_product(x: torch.Tensor, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(M, K) float x (N, K) int8 -> (M, N) float32: per-row symmetric activation quantization, int8 x int8 ->
    int32 on ``torch._int_mm`` (VNNI), rescaled by the row's scale x the weight's output-channel scale."""
    xf = x.float()
    a = xf.abs().amax(dim=1, keepdim=True).div_(QMAX).clamp_(min=1e-12)
    xq = torch.round(xf / a).clamp_(-QMAX, QMAX).to(torch.int8)
    return torch._int_mm(xq, w.t()).float().mul_(a).mul_(scale)


def int8_available() -> bool:
    """True where this torch build has the CPU int8 weight-only kernel."""
    try:
        q = torch.ones((8, 32), dtype=torch.int8)
        torch._weight_int8pack_mm(torch.ones((1, 32), dtype=torch.bfloat16), q, torch.ones(8, dtype=torch.bfloat16))
        return True
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class Int8Linear(nn.Module):
    """A bias-optional Linear whose ``weight`` is int8 (a frozen parameter) with a per-row ``scale``."""

    def __init__(self, linear: nn.Linear, prompt_dtype: torch.dtype = torch.float32, int_mm: bool = False):
        super().__init__()
        q, scale = quantize_weight(linear.weight)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = nn.Parameter(q, requires_grad=False)  # named like nn.Linear's: .weight.device works
        self.register_buffer("scale", scale)  # float32, for the dequantized path
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16))  # the int8 kernel's scales
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)
        self.prompt_dtype = prompt_dtype
        self.int_mm = int_mm  # many-row calls on int8 x int8 (quantize_model says which)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, int8 weight-only, "
                f"prompt_dtype={str(self.prompt_dtype).replace('torch.', '')}")

    def forward(self, x: torch.Tensor, rows: Optional[tuple[int, int]] = None) -> torch.Tensor:
        """``x`` (..., K) -> (..., N); ``rows`` (a, b) computes only output rows a..b-1. Up to ``SMALL_ROWS`` rows
        (a decode step) the int8 kernel's own bfloat16 comes out, which the next one-row call reads as it is, so a
        step converts nothing between its products; more rows (a prompt) give float32, the residual stream's."""
        w, s, s16, bias = self.weight, self.scale, self.scale_bf16, self.bias
        if rows is not None:
            a, b = rows
            w, s, s16 = w[a:b], s[a:b], s16[a:b]
            bias = None if bias is None else bias[a:b]
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        if x2.shape[0] <= SMALL_ROWS:
            y = torch._weight_int8pack_mm(x2.to(torch.bfloat16).contiguous(), w, s16)
        elif self.int_mm:
            y = _int8_product(x2, w, s)
        else:
            dt = self.prompt_dtype
            y = F.linear(x2.to(dt), w.to(dt) * s.to(dt)[:, None]).float()
        if bias is not None:
            y = y + bias.to(y.dtype)
        return y.view(*lead, y.shape[-1])


def quantize_model(model: nn.Module, prompt_dtype: torch.dtype = torch.float32,
                   cache_dtype: Optional[torch.dtype] = torch.bfloat16) -> nn.Module:
    """Replace, in place, every Linear of ``model`` (blocks and output heads) by an Int8Linear.

    Embeddings keep their float weights (the fine model's output heads were tied to its
    embeddings: the embeddings keep the float copy). The model must be on the CPU in float32.
    A causal model's KV cache is kept in ``cache_dtype`` (bfloat16 halves what a decode step's
    attention reads, which at ~900 ids of context is nearly as much as the int8 weights), and its
    prompts run their last layer for the last position only (``GPT.last_row_only``).
    """
    if not int8_available():
        raise ValueError("This torch build has no CPU int8 kernel (torch._weight_int8pack_mm); use float32.")
    causal = hasattr(model, "new_cache")
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.Linear):
                if child.weight.device.type != "cpu":
                    raise ValueError("int8 weights are a CPU mode; the model is not on the CPU.")
                int_mm = causal or not (isinstance(mod, MLP) and name == "c_proj")
                setattr(mod, name, Int8Linear(child, prompt_dtype, int_mm=int_mm))
        if prompt_dtype == torch.bfloat16 and hasattr(mod, "attn_dtype"):
            mod.attn_dtype = torch.bfloat16
    model.quantized = "int8"
    if causal:
        model.last_row_only = True
        if cache_dtype is not None:
            model.cache_dtype = cache_dtype
    _own_float_tensors(model)
    _return_freed_memory()
    return model


def _own_float_tensors(model: nn.Module) -> None:
    """Copy the float tensors left (embeddings, LayerNorms) out of the checkpoint's memory map: while one of
    them points into it, the whole file stays mapped, and every page quantizing read counts as the process's
    memory (1.1 GiB of 2.7 GiB for the small models). A tied tensor is one Parameter: copied once."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.dtype.is_floating_point:
                t.data = t.data.clone()


def _return_freed_memory() -> None:
    """Hand the quantization's freed temporaries back to the OS (glibc keeps freed heap pages otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


def is_quantized(model: nn.Module) -> bool:
    return getattr(model, "quantized", None) == "int8"
