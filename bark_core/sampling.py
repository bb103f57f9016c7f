"""The one sampler shared by every stage; it stays on the model's device.

It reproduces Suno's sampling exactly: top-p on the raw logits, then top-k, then a
softmax at the temperature, then ``torch.multinomial``. A multinomial draw of one
sample is ``argmax(probs / Exp(1))`` over the same random stream, which is what is
computed here (batched over rows, without a host round trip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class Sampling:
    """Sampling knobs of one stage; temperature None = greedy (argmax)."""

    temperature: Optional[float]
    top_k: Optional[int] = None
    top_p: Optional[float] = None


def filter_logits(logits: torch.Tensor, top_k: Optional[int], top_p: Optional[float]) -> torch.Tensor:
    """Mask (to -inf) what top-p and then top-k exclude; ``logits`` (..., V) float32, modified in place."""
    if top_p is not None:
        sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)
        cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > top_p
        remove[..., 1:] = remove[..., :-1].clone()  # keep the token that crosses top_p
        remove[..., 0] = False
        logits.masked_fill_(torch.zeros_like(remove).scatter_(-1, sorted_idx, remove), float("-inf"))
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits.masked_fill_(logits < kth, float("-inf"))
    return logits


def sample(
    logits: torch.Tensor, sampling: Sampling, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one id per row of ``logits`` (..., V). Returns (ids (...), probs (..., V); None when greedy)."""
    if sampling.temperature is None:
        return torch.argmax(logits, dim=-1), None
    logits = filter_logits(logits.float().clone(), sampling.top_k, sampling.top_p)
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    noise = torch.empty_like(probs).exponential_(generator=generator)
    return torch.argmax(probs / noise, dim=-1), probs
