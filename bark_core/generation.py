"""Bark's three stages, batch-first: text -> semantic -> coarse -> fine codes.

Each function mirrors Suno's ``generate_text_semantic`` / ``generate_coarse`` /
``generate_fine`` step for step (so one take on CPU float32 draws the same random
numbers and gives the same tokens), but runs N takes as one batch, keeps a static KV
cache, samples on the device, and reports progress / honours cancellation through
``StepHooks``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import constants as C
from .decoding import DecoderFactory, eager_decoders
from .model import GPT, FineGPT
from .sampling import Sampling, sample
from .types import GenerationCancelled, Progress, ProgressCallback, StopCallback

log = logging.getLogger(__name__)


@dataclass
class StepHooks:
    """Progress reporting and cancellation, called once per step of every stage."""

    on_progress: Optional[ProgressCallback] = None
    should_stop: Optional[StopCallback] = None
    segment: int = 1
    segments: int = 1

    def step(self, stage: str, step: int, total: int) -> None:
        """Report progress, then honour a stop (also one requested while the report ran) before any more work."""
        if self.on_progress is not None:
            self.on_progress(Progress(stage, step, total, self.segment, self.segments))
        if self.should_stop is not None and self.should_stop():
            raise GenerationCancelled(f"Cancelled during the {stage} stage.")


NO_HOOKS = StepHooks()


def semantic_step_budget(max_seconds: Optional[float]) -> int:
    """How many semantic tokens the reference emits before its duration limit stops it."""
    if max_seconds is None:
        return C.MAX_SEMANTIC_STEPS
    elapsed = 0.0
    for n in range(C.MAX_SEMANTIC_STEPS):
        elapsed += 1 / C.SEMANTIC_RATE_HZ  # accumulated exactly like the reference
        if elapsed > max_seconds:
            return n + 1
    return C.MAX_SEMANTIC_STEPS


def semantic_context(text_ids: Sequence[int], history: Optional[np.ndarray]) -> np.ndarray:
    """The semantic model's 513-id context: 256 text ids, 256 history ids, the infer token."""
    if len(text_ids) > C.MAX_TEXT_TOKENS:
        raise ValueError(f"Text is {len(text_ids)} tokens; one generation takes at most {C.MAX_TEXT_TOKENS}.")
    text = np.asarray(text_ids, dtype=np.int64) + C.TEXT_ENCODING_OFFSET
    text = np.pad(text, (0, C.MAX_TEXT_TOKENS - len(text)), constant_values=C.TEXT_PAD_TOKEN)
    if history is None:
        hist = np.full(C.MAX_SEMANTIC_HISTORY, C.SEMANTIC_PAD_TOKEN, dtype=np.int64)
    else:
        hist = history.astype(np.int64)[-C.MAX_SEMANTIC_HISTORY :]
        hist = np.pad(hist, (0, C.MAX_SEMANTIC_HISTORY - len(hist)), constant_values=C.SEMANTIC_PAD_TOKEN)
    return np.hstack([text, hist, [C.SEMANTIC_INFER_TOKEN]]).astype(np.int64)


@torch.inference_mode()
def generate_semantic(
    model: GPT,
    text_ids: Sequence[int],
    history: Optional[np.ndarray],
    takes: int,
    sampling: Sampling,
    generator: torch.Generator,
    min_eos_p: Optional[float] = 0.2,
    early_stop: bool = True,
    max_seconds: Optional[float] = None,
    hooks: StepHooks = NO_HOOKS,
    eos_check_every: int = 1,
    decoders: DecoderFactory = eager_decoders,
) -> list[np.ndarray]:
    """Semantic tokens of each take, (T_b,) int64 each; every take stops at its own EOS."""
    device = model.lm_head.weight.device
    budget = semantic_step_budget(max_seconds)
    x = torch.from_numpy(semantic_context(text_ids, history))[None].to(device)
    decoder = decoders(model, takes, x.shape[1] - C.MAX_SEMANTIC_HISTORY + budget - 1)
    rows = (0, C.SEMANTIC_VOCAB_SIZE + (1 if early_stop else 0))  # + the EOS logit
    logits = decoder.prefill(x, merge_context=True, rows=rows)  # one prompt shared by every take
    out = torch.zeros((takes, budget), dtype=torch.long, device=device)
    lengths = torch.full((takes,), budget, dtype=torch.long, device=device)
    done = torch.zeros(takes, dtype=torch.bool, device=device)
    for n in range(budget):
        hooks.step("semantic", n, budget)
        ids, probs = sample(logits, sampling, generator)
        if early_stop:
            stop = ids == C.SEMANTIC_EOS_TOKEN
            if min_eos_p is not None:
                stop |= probs[:, -1] >= min_eos_p
            lengths = torch.where(stop & ~done, n, lengths)
            done |= stop
            if (n + 1) % eos_check_every == 0 and bool(done.all()):
                break
        out[:, n] = ids
        if n + 1 == budget:
            break
        logits = decoder.step(ids, rows)
    hooks.step("semantic", budget, budget)
    out, lengths = out.cpu().numpy(), lengths.cpu().numpy()
    return [out[b, : lengths[b]].copy() for b in range(takes)]


def flatten_coarse(codes: np.ndarray) -> np.ndarray:
    """(2, N) codes -> interleaved coarse-model ids (2N,), codebook n offset by 10_000 + n*1024."""
    arr = codes.astype(np.int64).copy()
    for n in range(1, arr.shape[0]):
        arr[n, :] += C.CODEBOOK_SIZE * n
    return arr.ravel("F") + C.SEMANTIC_VOCAB_SIZE


def coarse_history(voice_semantic, voice_coarse, max_coarse_history: int) -> tuple[np.ndarray, np.ndarray]:
    """The voice's semantic and coarse histories, trimmed and aligned as the reference does."""
    if voice_semantic is None:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    max_semantic_history = int(np.floor(max_coarse_history / ratio))
    flat = flatten_coarse(voice_coarse)
    n_sem = int(np.min([max_semantic_history, len(voice_semantic) - len(voice_semantic) % 2, int(np.floor(len(flat) / ratio))]))
    n_coarse = int(round(n_sem * ratio))
    sem = voice_semantic[-n_sem:].astype(np.int64) if n_sem > 0 else np.array([], dtype=np.int64)
    coarse = flat[-n_coarse:] if n_coarse > 0 else np.array([], dtype=np.int64)
    return sem, coarse[:-2]  # the reference drops two ids "for time alignment"


def coarse_steps(n_semantic: int) -> int:
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    return int(round(np.floor(n_semantic * ratio / C.N_COARSE_CODEBOOKS) * C.N_COARSE_CODEBOOKS))


@torch.inference_mode()
def generate_coarse(
    model: GPT,
    semantics: Sequence[np.ndarray],
    voice_semantic: Optional[np.ndarray],
    voice_coarse: Optional[np.ndarray],
    sampling: Sampling,
    generator: torch.Generator,
    max_coarse_history: int = 630,
    sliding_window_len: int = 60,
    hooks: StepHooks = NO_HOOKS,
    decoders: DecoderFactory = eager_decoders,
) -> list[np.ndarray]:
    """Coarse codes (2, N_b) of each take, generated in sliding windows."""
    device = model.lm_head.weight.device
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    max_semantic_history = int(np.floor(max_coarse_history / ratio))
    sem_hist, coarse_hist = coarse_history(voice_semantic, voice_coarse, max_coarse_history)
    steps = [coarse_steps(len(s)) for s in semantics]
    n_steps = max(steps)
    if n_steps == 0:
        return [np.zeros((C.N_COARSE_CODEBOOKS, 0), dtype=np.int64) for _ in semantics]
    B = len(semantics)
    width = len(sem_hist) + max(len(s) for s in semantics)
    sem = np.full((B, width), C.COARSE_SEMANTIC_PAD_TOKEN, dtype=np.int64)  # right-padded like the reference
    for b, s in enumerate(semantics):
        sem[b, : len(sem_hist) + len(s)] = np.hstack([sem_hist, s])
    sem_t = torch.from_numpy(sem).to(device)
    n_hist = len(coarse_hist)
    coarse = torch.empty((B, n_hist + n_steps), dtype=torch.long, device=device)
    coarse[:, :n_hist] = torch.from_numpy(coarse_hist).to(device)
    infer = torch.full((B, 1), C.COARSE_INFER_TOKEN, dtype=torch.long, device=device)
    decoder = decoders(model, B, C.MAX_SEMANTIC_HISTORY + 1 + max_coarse_history + sliding_window_len - 1)
    n_step = 0
    while n_step < n_steps:
        semantic_idx = len(sem_hist) + int(round(n_step / ratio))
        x_sem = sem_t[:, max(0, semantic_idx - max_semantic_history) :][:, : C.MAX_SEMANTIC_HISTORY]
        x_sem = F.pad(x_sem, (0, C.MAX_SEMANTIC_HISTORY - x_sem.shape[1]), value=C.COARSE_SEMANTIC_PAD_TOKEN)
        end = n_hist + n_step
        x = torch.cat([x_sem, infer, coarse[:, max(0, end - max_coarse_history) : end]], dim=1)
        for i in range(min(sliding_window_len, n_steps - n_step)):
            hooks.step("coarse", n_step, n_steps)
            start = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
            rows = (start, start + C.CODEBOOK_SIZE)  # the codebook this step predicts
            if i == 0:
                logits = decoder.prefill(x, rows=rows)
            else:
                logits = decoder.step(coarse[:, n_hist + n_step - 1], rows)
            ids, _ = sample(logits, sampling, generator)
            coarse[:, n_hist + n_step] = ids + start
            n_step += 1
    hooks.step("coarse", n_steps, n_steps)
    flat = coarse[:, n_hist:].cpu().numpy()
    out = []
    for b in range(B):
        codes = flat[b, : steps[b]].reshape(-1, C.N_COARSE_CODEBOOKS).T - C.SEMANTIC_VOCAB_SIZE
        for n in range(1, C.N_COARSE_CODEBOOKS):
            codes[n, :] -= n * C.CODEBOOK_SIZE
        out.append(codes)
    return out


@torch.inference_mode()
def generate_fine(
    model: FineGPT,
    coarses: Sequence[np.ndarray],
    voice_fine: Optional[np.ndarray],
    sampling: Sampling,
    generator: torch.Generator,
    hooks: StepHooks = NO_HOOKS,
) -> list[np.ndarray]:
    """All 8 codebooks (8, N_b) of each take, filled window by window (1024 frames, step 512)."""
    device = model.lm_heads[0].weight.device
    W, S = C.FINE_WINDOW, C.FINE_STEP
    n_given = coarses[0].shape[0]
    lengths = [c.shape[1] for c in coarses]
    n = max(lengths)
    if n == 0:
        return [np.zeros((C.N_FINE_CODEBOOKS, 0), dtype=np.int64) for _ in coarses]
    B = len(coarses)
    arr = np.full((B, C.N_FINE_CODEBOOKS, n), C.CODEBOOK_SIZE, dtype=np.int64)  # padding id
    for b, c in enumerate(coarses):
        arr[b, :n_given, : c.shape[1]] = c
    if voice_fine is not None:
        hist = voice_fine[:, -C.FINE_MAX_HISTORY :].astype(np.int64)
        arr = np.concatenate([np.broadcast_to(hist, (B,) + hist.shape), arr], axis=2)
    n_history = 0 if voice_fine is None else hist.shape[1]
    n_remove_from_end = max(0, W - arr.shape[2])
    if n_remove_from_end:
        arr = np.pad(arr, ((0, 0), (0, 0), (0, n_remove_from_end)), constant_values=C.CODEBOOK_SIZE)
    n_loops = max(0, int(np.ceil((n - (W - n_history)) / S))) + 1
    codes = torch.from_numpy(arr).transpose(1, 2).contiguous().to(device)  # (B, T, 8)
    total = n_loops * (C.N_FINE_CODEBOOKS - n_given)
    for loop in range(n_loops):
        start = min(loop * S, codes.shape[1] - W)
        fill = min(n_history + loop * S, codes.shape[1] - S)
        rel = fill - start
        window = codes[:, start : start + W, :].clone()  # (B, W, 8)
        for book in range(n_given, C.N_FINE_CODEBOOKS):
            hooks.step("fine", loop * (C.N_FINE_CODEBOOKS - n_given) + book - n_given, total)
            logits = model(book, window)[:, rel:, : C.CODEBOOK_SIZE]  # (B, W - rel, 1024)
            window[:, rel:, book], _ = sample(logits, sampling, generator)
        codes[:, fill : fill + (W - rel), n_given:] = window[:, rel:, n_given:]
    hooks.step("fine", total, total)
    out = codes.transpose(1, 2).cpu().numpy()[:, :, n_history:]
    return [out[b, :, : lengths[b]].copy() for b in range(B)]
