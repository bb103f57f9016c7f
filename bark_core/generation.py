"""Bark's three stages, batch-first: text -> semantic -> coarse -> fine codes.

Each function mirrors Suno's ``generate_text_semantic`` / ``generate_coarse`` /
``generate_fine`` step for step (so one take on CPU float32 draws the same random
numbers and gives the same tokens), keeps a static KV cache, samples on the device,
and reports progress / honours cancellation through ``StepHooks``.

A stage runs a batch of *rows* (``SemanticRow``, ``CoarseRow``, ``FineRow``): every row
has its own prompt, voice, sampling settings and ``torch.Generator``, and belongs to a
*job* (one request; its takes are its rows) with its own hooks. Rows of equal shape run
as one batched group; with ``row_exact`` every row is its own group of one, so its math
is the batch-1 math of a solo run and its tokens do not depend on the rows beside it
(on CPU, matrix products of several rows differ in the last bits from one row's).
A row stops drawing random numbers when it is done, as it would alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import constants as C
from .decoding import Decoder, DecoderFactory, eager_decoders
from .model import GPT, FineGPT
from .sampling import Sampling, sample_rows
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


class JobHooks:
    """The hooks of every job whose rows share a batch (row.job indexes ``hooks``).

    With ``isolate`` a job whose hook raises (a stop, or a failing callback) leaves the
    batch: its error is kept in ``failed`` and its rows stop; the others go on. Without
    it the error propagates (a single request).
    """

    def __init__(self, hooks: Sequence[StepHooks], isolate: bool = False):
        self.hooks = list(hooks)
        self.isolate = isolate
        self.failed: dict[int, BaseException] = {}

    @classmethod
    def of(cls, hooks: Union["JobHooks", StepHooks]) -> "JobHooks":
        return hooks if isinstance(hooks, JobHooks) else cls([hooks])

    def alive(self, job: int) -> bool:
        return job not in self.failed

    def step(self, job: int, stage: str, step: int, total: int) -> bool:
        """Report to job ``job``; False when it has left the batch (now or before)."""
        if job in self.failed:
            return False
        try:
            self.hooks[job].step(stage, step, total)
        except Exception as e:
            if not self.isolate:
                raise
            self.fail(job, e)
            return False
        return True

    def fail(self, job: int, error: BaseException) -> None:
        self.failed.setdefault(job, error)

    def steps(self, jobs: Iterable[int], stage: str, step: int, totals: dict[int, int]) -> None:
        for job in sorted(set(jobs)):
            self.step(job, stage, step, totals[job])


def _groups(keys: Sequence, row_exact: bool) -> list[list[int]]:
    """Row indices grouped by equal key (first-seen order); one row per group with ``row_exact``."""
    if row_exact:
        return [[b] for b in range(len(keys))]
    return [[b for b, k in enumerate(keys) if k == key] for key in dict.fromkeys(keys)]


def _totals(jobs: Sequence[int], per_row: Sequence[int]) -> dict[int, int]:
    totals: dict[int, int] = {}
    for job, n in zip(jobs, per_row):
        totals[job] = max(totals.get(job, 0), n)
    return totals


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


@dataclass(frozen=True)
class SemanticRow:
    """One row of the semantic stage: its text ids, voice history, sampling and random stream."""

    text_ids: Sequence[int]
    history: Optional[np.ndarray]
    sampling: Sampling
    generator: torch.Generator
    min_eos_p: Optional[float] = 0.2
    early_stop: bool = True
    max_seconds: Optional[float] = None
    job: int = 0


class _Group:
    """Rows that run as one batch inside a stage: their positions in the stage's row list and their state."""

    def __init__(self, rows: list[int], device: torch.device):
        self.rows = rows
        self.device = device
        self.pos = {b: i for i, b in enumerate(rows)}
        self.decoder: Optional[Decoder] = None
        self.logits: Optional[torch.Tensor] = None

    def take(self, active: Sequence[bool]) -> tuple[list[int], Optional[torch.Tensor]]:
        """The active rows of this group, and their positions as an index (None when all are active)."""
        act = [b for b in self.rows if active[b]]
        if len(act) == len(self.rows):
            return act, None
        return act, torch.tensor([self.pos[b] for b in act], dtype=torch.long, device=self.device)


def _pick(t: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
    return t if index is None else t.index_select(0, index)


@torch.inference_mode()
def generate_semantic(
    model: GPT,
    rows: Sequence[SemanticRow],
    hooks: Union[StepHooks, JobHooks] = NO_HOOKS,
    eos_check_every: int = 1,
    decoders: DecoderFactory = eager_decoders,
    row_exact: bool = False,
) -> list[Optional[np.ndarray]]:
    """Semantic tokens of each row, (T_b,) int64 each (None for a row whose job left the batch).

    Every row stops at its own EOS (checked on the host every ``eos_check_every`` steps; a
    row finishing between checks draws until the check, so use 1 where exactness matters).
    """
    hooks = JobHooks.of(hooks)
    device = model.lm_head.weight.device
    B = len(rows)
    if B == 0:
        return []
    budgets = [semantic_step_budget(r.max_seconds) for r in rows]
    contexts = [semantic_context(r.text_ids, r.history) for r in rows]
    jobs = [r.job for r in rows]
    totals = _totals(jobs, budgets)
    groups = [_Group(g, device) for g in _groups([r.early_stop for r in rows], row_exact)]
    shared: dict[tuple, tuple[Decoder, torch.Tensor]] = {}  # prompt -> a one-row decoder prefilled with it, its logits
    for slot, g in enumerate(groups):
        first = rows[g.rows[0]]
        budget = max(budgets[b] for b in g.rows)
        g.vocab = (0, C.SEMANTIC_VOCAB_SIZE + (1 if first.early_stop else 0))  # + the EOS logit
        g.decoder = decoders(model, len(g.rows), C.MAX_TEXT_TOKENS + 1 + budget - 1, slot)
        ctx = [contexts[b] for b in g.rows]
        same = all(np.array_equal(c, ctx[0]) for c in ctx[1:])
        key = (ctx[0].tobytes(), g.vocab)
        if len(g.rows) == 1 and key in shared:  # the exact path prefills each distinct prompt once
            g.decoder.adopt(shared[key][0])
            g.logits = shared[key][1]
        else:
            x = torch.from_numpy(ctx[0][None] if same else np.stack(ctx)).to(device)
            g.logits = g.decoder.prefill(x, merge_context=True, rows=g.vocab)  # one prompt: shared by its rows
            if len(g.rows) == 1:
                shared.setdefault(key, (g.decoder, g.logits))
        g.out = torch.zeros((len(g.rows), budget), dtype=torch.long, device=device)
        g.lengths = torch.tensor([budgets[b] for b in g.rows], dtype=torch.long, device=device)
        g.done = torch.zeros(len(g.rows), dtype=torch.bool, device=device)
        g.feed = torch.zeros(len(g.rows), dtype=torch.long, device=device)
        eos = {rows[b].min_eos_p for b in g.rows}
        if len(eos) == 1:
            g.min_eos_p = eos.pop()  # a number (or None), as the reference compares
        else:
            g.min_eos_p = torch.tensor([float("inf") if rows[b].min_eos_p is None else rows[b].min_eos_p
                                        for b in g.rows], dtype=torch.float32, device=device)
    del shared
    active = [True] * B
    for n in range(max(budgets)):
        live = [jobs[b] for b in range(B) if active[b]]
        if not live:
            break
        hooks.steps(live, "semantic", n, totals)
        for b in range(B):
            active[b] = active[b] and hooks.alive(jobs[b])
        check = (n + 1) % eos_check_every == 0
        for g in groups:
            act, index = g.take(active)
            if not act:
                continue
            ids, probs = sample_rows(_pick(g.logits, index), [rows[b].sampling for b in act],
                                     [rows[b].generator for b in act], row_by_row=row_exact)
            if g.vocab[1] > C.SEMANTIC_VOCAB_SIZE:  # early stop
                stop = ids == C.SEMANTIC_EOS_TOKEN
                thr = g.min_eos_p if index is None or not torch.is_tensor(g.min_eos_p) else g.min_eos_p[index]
                if thr is not None and probs is not None:  # (greedy rows have no probabilities)
                    stop |= probs[:, -1] >= thr
                if index is None:
                    g.lengths = torch.where(stop & ~g.done, n, g.lengths)
                    g.done |= stop
                else:
                    g.lengths[index] = torch.where(stop & ~g.done[index], n, g.lengths[index])
                    g.done[index] |= stop
            if index is None:
                g.out[:, n] = ids
                g.feed = ids
            else:
                g.out[index, n] = ids
                g.feed[index] = ids
            for b in act:
                if n + 1 == budgets[b]:
                    active[b] = False
            if check and g.vocab[1] > C.SEMANTIC_VOCAB_SIZE:
                for b, done in zip(g.rows, g.done.tolist()):
                    active[b] = active[b] and not done
            if any(active[b] for b in g.rows):
                g.logits = g.decoder.step(g.feed, g.vocab)
    for job in sorted(set(jobs)):
        hooks.step(job, "semantic", totals[job], totals[job])
    result: list[Optional[np.ndarray]] = [None] * B
    for g in groups:
        out, lengths = g.out.cpu().numpy(), g.lengths.cpu().numpy()
        for i, b in enumerate(g.rows):
            if hooks.alive(jobs[b]):
                result[b] = out[i, : lengths[i]].copy()
    return result


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


@dataclass(frozen=True)
class CoarseRow:
    """One row of the coarse stage: its semantic tokens, voice, sampling and random stream."""

    semantic: np.ndarray
    voice_semantic: Optional[np.ndarray]
    voice_coarse: Optional[np.ndarray]
    sampling: Sampling
    generator: torch.Generator
    max_coarse_history: int = 630
    sliding_window_len: int = 60
    job: int = 0


@torch.inference_mode()
def generate_coarse(
    model: GPT,
    rows: Sequence[CoarseRow],
    hooks: Union[StepHooks, JobHooks] = NO_HOOKS,
    decoders: DecoderFactory = eager_decoders,
    row_exact: bool = False,
) -> list[Optional[np.ndarray]]:
    """Coarse codes (2, N_b) of each row (None where its job left), generated in sliding windows.

    Rows with equal coarse-history length and window settings run as one group.
    """
    hooks = JobHooks.of(hooks)
    device = model.lm_head.weight.device
    ratio = C.SEMANTIC_TO_COARSE_RATIO
    B = len(rows)
    hists = [coarse_history(r.voice_semantic, r.voice_coarse, r.max_coarse_history) for r in rows]
    steps = [coarse_steps(len(r.semantic)) for r in rows]
    jobs = [r.job for r in rows]
    totals = _totals(jobs, steps)
    keys = [(len(h[1]), r.max_coarse_history, r.sliding_window_len) for h, r in zip(hists, rows)]
    groups = []
    for slot, members in enumerate(_groups(keys, row_exact)):
        members = [b for b in members if steps[b] > 0]
        if not members:
            continue
        g = _Group(members, device)
        g.n_hist, g.mch, g.swl = keys[members[0]]
        g.max_semantic_history = int(np.floor(g.mch / ratio))
        n_steps = max(steps[b] for b in members)
        width = max(len(hists[b][0]) + len(rows[b].semantic) for b in members)
        sem = np.full((len(members), width), C.COARSE_SEMANTIC_PAD_TOKEN, dtype=np.int64)  # right-padded like the reference
        coarse = np.zeros((len(members), g.n_hist + n_steps), dtype=np.int64)
        for i, b in enumerate(members):
            s = np.hstack([hists[b][0], rows[b].semantic])
            sem[i, : len(s)] = s
            coarse[i, : g.n_hist] = hists[b][1]
        g.sem = torch.from_numpy(sem).to(device)
        g.coarse = torch.from_numpy(coarse).to(device)
        g.infer = torch.full((len(members), 1), C.COARSE_INFER_TOKEN, dtype=torch.long, device=device)
        g.decoder = decoders(model, len(members), C.MAX_SEMANTIC_HISTORY + 1 + g.mch + g.swl - 1, slot)
        groups.append(g)
    active = [steps[b] > 0 for b in range(B)]
    for n_step in range(max(steps, default=0)):
        for b in range(B):
            active[b] = active[b] and n_step < steps[b]
        live = [jobs[b] for b in range(B) if active[b]]
        if not live:
            break
        hooks.steps(live, "coarse", n_step, totals)
        for b in range(B):
            active[b] = active[b] and hooks.alive(jobs[b])
        start = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
        vocab = (start, start + C.CODEBOOK_SIZE)  # the codebook this step predicts
        for g in groups:
            if not any(active[b] for b in g.rows):
                continue
            end = g.n_hist + n_step
            if n_step % g.swl == 0:  # a new window: re-read the semantic and coarse context
                x_sem = []
                for i, b in enumerate(g.rows):
                    semantic_idx = len(hists[b][0]) + int(round(n_step / ratio))
                    x_sem.append(g.sem[i, max(0, semantic_idx - g.max_semantic_history) :][: C.MAX_SEMANTIC_HISTORY])
                width = max(len(s) for s in x_sem)
                x_sem = torch.stack([F.pad(s, (0, width - len(s)), value=C.COARSE_SEMANTIC_PAD_TOKEN) for s in x_sem])
                x_sem = F.pad(x_sem, (0, C.MAX_SEMANTIC_HISTORY - x_sem.shape[1]), value=C.COARSE_SEMANTIC_PAD_TOKEN)
                x = torch.cat([x_sem, g.infer, g.coarse[:, max(0, end - g.mch) : end]], dim=1)
                g.logits = g.decoder.prefill(x, rows=vocab)
            else:
                g.logits = g.decoder.step(g.coarse[:, end - 1], vocab)
            act, index = g.take(active)
            ids, _ = sample_rows(_pick(g.logits, index), [rows[b].sampling for b in act],
                                 [rows[b].generator for b in act], row_by_row=row_exact)
            if index is None:
                g.coarse[:, end] = ids + start
            else:
                g.coarse[index, end] = ids + start
    for job in sorted(set(jobs)):
        hooks.step(job, "coarse", totals[job], totals[job])
    result: list[Optional[np.ndarray]] = [None] * B
    for b in range(B):
        if steps[b] == 0 and hooks.alive(jobs[b]):
            result[b] = np.zeros((C.N_COARSE_CODEBOOKS, 0), dtype=np.int64)
    for g in groups:
        flat = g.coarse[:, g.n_hist :].cpu().numpy()
        for i, b in enumerate(g.rows):
            if not hooks.alive(jobs[b]):
                continue
            codes = flat[i, : steps[b]].reshape(-1, C.N_COARSE_CODEBOOKS).T - C.SEMANTIC_VOCAB_SIZE
            for n in range(1, C.N_COARSE_CODEBOOKS):
                codes[n, :] -= n * C.CODEBOOK_SIZE
            result[b] = codes
    return result


@dataclass(frozen=True)
class FineRow:
    """One row of the fine stage: its coarse codes, voice, sampling and random stream."""

    coarse: np.ndarray
    voice_fine: Optional[np.ndarray]
    sampling: Sampling
    generator: torch.Generator
    job: int = 0


@torch.inference_mode()
def generate_fine(
    model: FineGPT,
    rows: Sequence[FineRow],
    hooks: Union[StepHooks, JobHooks] = NO_HOOKS,
    row_exact: bool = False,
) -> list[Optional[np.ndarray]]:
    """All 8 codebooks (8, N_b) of each row (None where its job left), window by window (1024 frames, step 512).

    Rows with equal voice-history length run as one group, padded to the group's longest
    (with ``row_exact`` each row alone, with exactly its own window geometry).
    """
    hooks = JobHooks.of(hooks)
    device = model.lm_heads[0].weight.device
    W, S = C.FINE_WINDOW, C.FINE_STEP
    B = len(rows)
    jobs = [r.job for r in rows]
    n_history = [0 if r.voice_fine is None else r.voice_fine[:, -C.FINE_MAX_HISTORY :].shape[1] for r in rows]
    lengths = [r.coarse.shape[1] for r in rows]
    keys = [(h, r.coarse.shape[0]) for h, r in zip(n_history, rows)]
    groups = []
    for members in _groups(keys, row_exact):
        members = [b for b in members if lengths[b] > 0]
        if not members:
            continue
        g = _Group(members, device)
        g.n_history, g.n_given = keys[members[0]]
        n = max(lengths[b] for b in members)
        arr = np.full((len(members), C.N_FINE_CODEBOOKS, g.n_history + n), C.CODEBOOK_SIZE, dtype=np.int64)  # padding id
        for i, b in enumerate(members):
            if g.n_history:
                arr[i, :, : g.n_history] = rows[b].voice_fine[:, -C.FINE_MAX_HISTORY :]
            arr[i, : g.n_given, g.n_history : g.n_history + lengths[b]] = rows[b].coarse
        n_remove_from_end = max(0, W - arr.shape[2])
        if n_remove_from_end:
            arr = np.pad(arr, ((0, 0), (0, 0), (0, n_remove_from_end)), constant_values=C.CODEBOOK_SIZE)
        g.n_loops = max(0, int(np.ceil((n - (W - g.n_history)) / S))) + 1
        g.books = C.N_FINE_CODEBOOKS - g.n_given
        g.passes = g.n_loops * g.books
        g.codes = torch.from_numpy(arr).transpose(1, 2).contiguous().to(device)  # (B_g, T, 8)
        groups.append(g)
    totals: dict[int, int] = {}
    for g in groups:
        for b in g.rows:
            totals[jobs[b]] = max(totals.get(jobs[b], 0), g.passes)
    active = [True] * B
    for p in range(max((g.passes for g in groups), default=0)):
        running = [g for g in groups if p < g.passes]
        hooks.steps([jobs[b] for g in running for b in g.rows if active[b]], "fine", p, totals)
        for b in range(B):
            active[b] = active[b] and hooks.alive(jobs[b])
        for g in running:
            act, index = g.take(active)
            if not act:
                continue
            loop, k = divmod(p, g.books)
            book = g.n_given + k
            if k == 0:
                g.start = min(loop * S, g.codes.shape[1] - W)
                g.fill = min(g.n_history + loop * S, g.codes.shape[1] - S)
                g.rel = g.fill - g.start
                g.window = g.codes[:, g.start : g.start + W, :].clone()  # (B_g, W, 8)
            logits = model(book, g.window)[:, g.rel :, : C.CODEBOOK_SIZE]  # (B_g, W - rel, 1024)
            ids, _ = sample_rows(_pick(logits, index), [rows[b].sampling for b in act],
                                 [rows[b].generator for b in act], row_by_row=row_exact)
            if index is None:
                g.window[:, g.rel :, book] = ids
            else:
                g.window[index, g.rel :, book] = ids
            if k == g.books - 1:
                g.codes[:, g.fill : g.fill + (W - g.rel), g.n_given :] = g.window[:, g.rel :, g.n_given :]
    for job in sorted(set(jobs)):
        hooks.step(job, "fine", totals.get(job, 0), totals.get(job, 0))
    result: list[Optional[np.ndarray]] = [None] * B
    for b in range(B):
        if lengths[b] == 0 and hooks.alive(jobs[b]):
            result[b] = np.zeros((C.N_FINE_CODEBOOKS, 0), dtype=np.int64)
    for g in groups:
        out = g.codes.transpose(1, 2).cpu().numpy()[:, :, g.n_history :]
        for i, b in enumerate(g.rows):
            if hooks.alive(jobs[b]):
                result[b] = out[i, :, : lengths[b]].copy()
    return result
