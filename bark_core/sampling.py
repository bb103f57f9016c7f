"""The one sampler shared by every stage; it stays on the model's device.

It reproduces Suno's sampling exactly: top-p on the raw logits, then top-k, then a
softmax at the temperature, then ``torch.multinomial``. A multinomial draw of one
sample is ``argmax(probs / Exp(1))`` over the same random stream, which is what is
computed here (batched over rows, without a host round trip).

Rows may carry their own settings and their own ``torch.Generator``: each row then
draws its noise from its own stream, exactly what it would draw alone, so a row's
randomness never depends on the rows batched with it (``sample_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

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


def sample_rows(
    logits: torch.Tensor, samplings: Sequence[Sampling], generators: Sequence[torch.Generator],
    row_by_row: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Draw ids for each row b of ``logits`` (B, ..., V) with ``samplings[b]`` from ``generators[b]``.

    Row b's noise comes from its own generator with the shape of one row, so a row draws
    exactly what ``sample(logits[b:b+1], ...)`` draws alone. Rows with equal settings are
    filtered together (every op is per row) unless ``row_by_row``, which runs the single-row
    sampler on each row (the exact path). One generator shared by rows of equal settings
    draws one noise tensor for all of them, as ``sample`` does. Returns (ids (B, ...),
    probs (B, ..., V) or None when every row is greedy; greedy rows' probs are a plain softmax).
    """
    B = logits.shape[0]
    if len(samplings) != B or len(generators) != B:
        raise ValueError(f"{B} rows need {B} samplings and {B} generators.")
    if B == 0:
        return torch.zeros(logits.shape[:-1], dtype=torch.long, device=logits.device), None
    first_s, first_g = samplings[0], generators[0]
    if all(s == first_s for s in samplings) and all(g is first_g for g in generators):
        return sample(logits, first_s, first_g)  # one stream for the batch (and any single row)
    if row_by_row:
        parts = [sample(logits[b : b + 1], samplings[b], generators[b]) for b in range(B)]
        ids = torch.cat([p[0] for p in parts])
        if all(p[1] is None for p in parts):
            return ids, None
        probs = torch.cat([p[1] if p[1] is not None else torch.softmax(logits[b : b + 1].float(), dim=-1)
                           for b, p in enumerate(parts)])
        return ids, probs
    ids = torch.empty(logits.shape[:-1], dtype=torch.long, device=logits.device)
    probs = torch.empty(logits.shape, dtype=torch.float32, device=logits.device)
    any_random = False
    for sampling in dict.fromkeys(samplings):
        rows = [b for b in range(B) if samplings[b] == sampling]
        index = None if len(rows) == B else torch.tensor(rows, device=logits.device)
        sub = logits if index is None else logits.index_select(0, index)
        if sampling.temperature is None:
            got_ids, got_probs = torch.argmax(sub, dim=-1), torch.softmax(sub.float(), dim=-1)
        else:
            any_random = True
            filtered = filter_logits(sub.float().clone(), sampling.top_k, sampling.top_p)
            got_probs = torch.softmax(filtered / sampling.temperature, dim=-1)
            noise = torch.cat([torch.empty_like(got_probs[i : i + 1]).exponential_(generator=generators[b])
                               for i, b in enumerate(rows)])
            got_ids = torch.argmax(got_probs / noise, dim=-1)
        if index is None:
            ids, probs = got_ids, got_probs
        else:
            ids.index_copy_(0, index, got_ids)
            probs.index_copy_(0, index, got_probs)
    return ids, (probs if any_random else None)
