"""Bark's transformers: a causal GPT (semantic, coarse) and a non-causal fine GPT.

Batch-first, with a preallocated (static) KV cache. Parameter names match Suno's
checkpoints (``transformer.wte``, ``transformer.h.0.attn.c_attn``, ...), so their state
dicts load unchanged. The arithmetic follows Suno's ``bark/model.py`` op for op, so that
CPU float32 logits are bit-identical to the reference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import constants as C

MERGED_CONTEXT = 256  # text ids and semantic history are summed position by position


@dataclass(frozen=True)
class GPTConfig:
    """Shape of one Bark transformer (Suno's ``model_args``)."""

    input_vocab_size: int
    output_vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int = 1024
    bias: bool = False
    # fine model only
    n_codes_total: int = 8
    n_codes_given: int = 1

    @classmethod
    def from_model_args(cls, args: dict) -> "GPTConfig":
        """Build from a checkpoint's ``model_args`` (tolerates Suno's ``vocab_size`` and ``dropout``)."""
        args = dict(args)
        if "vocab_size" in args and "input_vocab_size" not in args:
            args["input_vocab_size"] = args["output_vocab_size"] = args.pop("vocab_size")
        known = {f.name for f in fields(cls)}
        missing = {"input_vocab_size", "output_vocab_size", "n_layer", "n_head", "n_embd"} - set(args)
        if missing:
            raise ValueError(f"Checkpoint config lacks {sorted(missing)}.")
        cfg = cls(**{k: v for k, v in args.items() if k in known})
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd={cfg.n_embd} is not a multiple of n_head={cfg.n_head}.")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)



# Bark's model shapes, the one table (placement estimates, test weights and engine.info read it).
SHAPES = {
    "tiny": dict(n_layer=2, n_head=2, n_embd=32),  # random test models only
    "small": dict(n_layer=12, n_head=12, n_embd=768),
    "large": dict(n_layer=24, n_head=16, n_embd=1024),
}
STAGE_VOCABS = {  # (input, output) vocabulary of each stage
    "semantic": (C.TEXT_INPUT_VOCAB, C.TEXT_OUTPUT_VOCAB),
    "coarse": (C.COARSE_VOCAB, C.COARSE_VOCAB),
    "fine": (C.FINE_VOCAB, C.FINE_VOCAB),
}


def bark_config(stage: str, size: str) -> GPTConfig:
    """Bark's config of ``stage`` at ``size`` ("tiny", "small" or "large"); linears without biases."""
    if size not in SHAPES:
        raise ValueError(f"Unknown model size {size!r}; expected one of {', '.join(SHAPES)}.")
    vin, vout = STAGE_VOCABS[stage]
    return GPTConfig(input_vocab_size=vin, output_vocab_size=vout, block_size=1024, bias=False, **SHAPES[size])


def size_name(config: GPTConfig) -> str:
    """"large", "small" (or "tiny") when ``config`` has one of Bark's shapes, else "custom (N wide)"."""
    for name, shape in SHAPES.items():
        if all(getattr(config, k) == v for k, v in shape.items()):
            return name
    return f"custom ({config.n_embd} wide)"


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (as in Suno's code)."""

    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class KVCache:
    """Preallocated keys and values of every layer of one causal GPT."""

    def __init__(self, config: GPTConfig, batch: int, max_len: int, device, dtype):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch, config.n_head, max_len, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # number of positions filled

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def repeat_batch(self, n: int) -> None:
        """Expand a batch-1 cache to n identical rows (shared prompt prefill)."""
        self.k = self.k.expand(-1, n, -1, -1, -1).contiguous()
        self.v = self.v.expand(-1, n, -1, -1, -1).contiguous()


def cached_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, length: int) -> torch.Tensor:
    """New positions ``q`` (B, nh, T, hs), the last T of ``length``, against a whole bfloat16 cache layer ``k``, ``v``
    (B, nh, max_len, hs) with the positions from ``length`` on masked (the int8 mode's decode steps): two matrix
    products and a float32 softmax. The whole layer is contiguous and has the same shape at every step, so the
    products neither copy the filled slice nor meet a new shape (oneDNN builds a kernel per shape). Masked
    positions weigh exactly 0, so the result does not depend on the cache's size. Coarse window on a 2-core AMD
    EPYC, 12 layers of one query x 888-946 keys, 2 threads: 252 us per layer vs 759 us copying the slices first."""
    att = (q @ k.transpose(-2, -1)).float()  # (B, nh, T, max_len)
    T = q.shape[2]
    if T == 1:
        att[..., length:] = float("-inf")
    else:  # query i sits at position length - T + i and sees the positions up to its own
        seen = torch.arange(length - T, length, device=q.device)[:, None]
        att.masked_fill_(torch.arange(k.shape[2], device=q.device)[None, :] > seen, float("-inf"))
    att.mul_(1.0 / math.sqrt(k.shape[-1]))
    return torch.softmax(att, dim=-1).to(v.dtype) @ v  # (B, nh, T, hs)


class SelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.causal = causal
        self.attn_dtype = None  # None: the activations' dtype; the int8 mode may set bfloat16 (quantize.py)

    def forward(
        self, x, cache: KVCache | None = None, layer: int = 0, start: int = 0,
        pos: torch.Tensor | None = None, mask: torch.Tensor | None = None, last_only: bool = False,
    ):
        """Attention output (B, T, C), or only the last position's (B, 1, C) with ``last_only`` (every position's
        keys and values still go to the cache)."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if pos is not None:  # fixed-shape decode step: position on the device, the whole cache under a mask
            cache.k[layer].index_copy_(2, pos, k.to(cache.k.dtype))
            cache.v[layer].index_copy_(2, pos, v.to(cache.v.dtype))
            y = F.scaled_dot_product_attention(q.to(cache.k.dtype), cache.k[layer], cache.v[layer], attn_mask=mask)
        else:
            if cache is not None:
                cache.k[layer, :, :, start : start + T] = k
                cache.v[layer, :, :, start : start + T] = v
            if last_only:
                q = q[:, :, -1:]
            if cache is not None and start > 0 and cache.k.dtype != x.dtype:
                # decoding from a bfloat16 cache under a float32 residual stream (the int8 mode)
                y = cached_attention(q.to(cache.k.dtype), cache.k[layer], cache.v[layer], start + T)
            else:
                if cache is not None and start > 0:  # incremental decoding: attend to every filled position
                    k = cache.k[layer, :, :, : start + T]
                    v = cache.v[layer, :, :, : start + T]
                if self.attn_dtype is not None and q.dtype != self.attn_dtype:  # int8 mode: prompts, the fine stage
                    q, k, v = q.to(self.attn_dtype), k.to(self.attn_dtype), v.to(self.attn_dtype)
                # the last position alone sees every position: no mask
                y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal and start == 0 and not last_only)
        y = y.transpose(1, 2).contiguous().view(B, y.shape[2], C)  # (B, T or 1, C)
        return self.c_proj(y)  # in the attention's dtype: an int8 projection reads bfloat16 as it is


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        ln_bias = config.bias if causal else True  # the fine model always has LayerNorm biases
        self.ln_1 = LayerNorm(config.n_embd, bias=ln_bias)
        self.attn = SelfAttention(config, causal=causal)
        self.ln_2 = LayerNorm(config.n_embd, bias=ln_bias)
        self.mlp = MLP(config)

    def forward(
        self, x, cache: KVCache | None = None, layer: int = 0, start: int = 0,
        pos: torch.Tensor | None = None, mask: torch.Tensor | None = None, last_only: bool = False,
    ):
        a = self.attn(self.ln_1(x), cache, layer, start, pos, mask, last_only)
        x = (x[:, -1:] if last_only else x) + a
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """Causal GPT of the semantic and coarse stages."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.input_vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList([Block(config, causal=True) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.output_vocab_size, bias=False)
        # A prompt's last layer for its last position only (all forward returns); every position's keys and values
        # still fill the cache. Saves ~7 % of a coarse window's prefill, but a one-row product rounds differently
        # from the same row of a many-row one: only the int8 mode sets it (quantize.py), never the exact path.
        self.last_row_only = False

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """Keys and values in ``self.cache_dtype`` when set (the int8 mode: bfloat16), else the weights' dtype."""
        p = self.transformer.wpe.weight  # float even where the Linears hold int8 weights (quantize.py)
        dtype = getattr(self, "cache_dtype", None) or p.dtype
        return KVCache(self.config, batch, max_len or self.config.block_size, p.device, dtype)

    def head(self, x: torch.Tensor, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """The output head on ``x`` (B, C), all rows or only vocabulary ``rows`` [a, b)."""
        if not isinstance(self.lm_head, nn.Linear):  # int8 weights: the head slices itself, a step's comes in bfloat16
            return self.lm_head(x, rows).to(x.dtype)
        if rows is None:
            return self.lm_head(x)  # (B, V)
        return F.linear(x, self.lm_head.weight[rows[0] : rows[1]])  # (B, b - a)

    def forward(
        self, idx: torch.Tensor, cache: KVCache | None = None, merge_context: bool = False,
        rows: tuple[int, int] | None = None,
    ):
        """Logits of the last position, (B, output_vocab), or only vocabulary ``rows`` [a, b).

        ``idx`` (B, T) are the new tokens; with a cache they continue at ``cache.length``
        (T tokens from an empty cache = prefill, or one token = a decode step).
        ``merge_context`` sums the embeddings of the first 256 ids with the next 256
        (the semantic stage's text + history context). Computing only the rows a stage
        samples from gives the same values and skips most of the output projection.
        """
        wte = self.transformer.wte
        if merge_context:
            m = MERGED_CONTEXT
            tok_emb = torch.cat([wte(idx[:, :m]) + wte(idx[:, m : 2 * m]), wte(idx[:, 2 * m :])], dim=1)
        else:
            tok_emb = wte(idx)  # (B, T, C)
        T = tok_emb.shape[1]
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"Sequence of {start + T} exceeds block size {self.config.block_size}.")
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device).unsqueeze(0)
        x = tok_emb + self.transformer.wpe(pos)  # (B, T, C)
        last = len(self.transformer.h) - 1
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, start, last_only=self.last_row_only and i == last and T > 1)
        if cache is not None:
            cache.length = start + T
        return self.head(self.transformer.ln_f(x)[:, -1, :], rows)  # (B, V) or (B, b - a)

    def step(self, idx: torch.Tensor, pos: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """One decode step with static shapes (CUDA-graph friendly): ``idx`` (B, 1) at position ``pos`` (1,).

        Does not advance ``cache.length``; the caller owns the position.
        """
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, 1, C)
        # Additive mask (1, L) over the filled positions, in the cache's dtype: SDPA would otherwise
        # convert a boolean mask to this form again in every layer (extra kernels per step on a GPU).
        hidden = torch.arange(cache.max_len, device=idx.device) > pos
        mask = torch.zeros(hidden.shape, dtype=cache.k.dtype, device=idx.device)
        mask = mask.masked_fill_(hidden, float("-inf"))[None, :]
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, pos=pos, mask=mask)
        return self.lm_head(self.transformer.ln_f(x)[:, -1, :])  # (B, V)


class FineGPT(nn.Module):
    """Non-causal GPT that fills codebooks n_codes_given..7 given the ones before."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        n_heads = config.n_codes_total - config.n_codes_given
        self.transformer = nn.ModuleDict(
            dict(
                wtes=nn.ModuleList(
                    [nn.Embedding(config.input_vocab_size, config.n_embd) for _ in range(config.n_codes_total)]
                ),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList([Block(config, causal=False) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=True),
            )
        )
        self.lm_heads = nn.ModuleList(
            [nn.Linear(config.n_embd, config.output_vocab_size, bias=False) for _ in range(n_heads)]
        )
        self.tie_weights()

    def tie_weights(self) -> None:
        """Codebook i's embedding (i >= 1) is the output head that predicts it."""
        for i in range(self.config.n_codes_total - self.config.n_codes_given):
            self.transformer.wtes[i + 1].weight = self.lm_heads[i].weight

    def forward(self, pred_idx: int, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for codebook ``pred_idx`` given codes ``idx`` (B, T, n_codes_total)."""
        B, T, codes = idx.size()
        if T > self.config.block_size:
            raise ValueError(f"Sequence of {T} exceeds block size {self.config.block_size}.")
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device).unsqueeze(0)
        tok_emb = torch.cat(
            [wte(idx[:, :, i]).unsqueeze(-1) for i, wte in enumerate(self.transformer.wtes)], dim=-1
        )  # (B, T, C, n_codes)
        x = tok_emb[:, :, :, : pred_idx + 1].sum(dim=-1) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return self.lm_heads[pred_idx - self.config.n_codes_given](x).to(x.dtype)  # int8 heads: bfloat16 for a few rows


def build_model(kind: str, config: GPTConfig) -> nn.Module:
    """The module for stage ``kind`` ("semantic", "coarse" or "fine")."""
    if kind == "fine":
        return FineGPT(config)
    if kind in ("semantic", "coarse"):
        return GPT(config)
    raise ValueError(f"Unknown model kind {kind!r}.")
