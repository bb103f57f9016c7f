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
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import constants as C
from .decoding import Decoder, DecoderFactory, eager_decoders
from .model import GPT, FineGPT
from .sampling import Sampling, sample_rows
from .types import GenerationCancelled, Progress, ProgressCallback, StopCallback

log = logging.getLogger(__name__)


CoarseWindowCallback = Callable[[list[np.ndarray], bool], None]


@dataclass
class StepHooks:
    """Progress reporting and cancellation, called once per step of every stage."""

    on_progress: Optional[ProgressCallback] = None
    should_stop: Optional[StopCallback] = None
    segment: int = 1
    segments: int = 1
    # After a coarse window: the codes (2, n) each of the job's rows has made so far (in row
    # order), and whether the stage is done with all of them. Reads the codes; draws nothing.
    on_coarse_window: Optional[CoarseWindowCallback] = None

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

    def listens_to_windows(self, job: int) -> bool:
        return job not in self.failed and self.hooks[job].on_coarse_window is not None

    def coarse_window(self, job: int, codes: list[np.ndarray], done: bool) -> None:
        """Hand job ``job`` its rows' coarse codes so far; a raising callback is handled like a raising step."""
        try:
            self.hooks[job].on_coarse_window(codes, done)
        except Exception as e:
            if not self.isolate:
                raise
            self.fail(job, e)

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


@dataclass(slots=True)
class _Group:
    """Rows that run as one batch inside a stage: their indices in the stage's row list.

    Groups are slotted dataclasses: every field is declared, none can be attached later.
    """

    rows: list[int]
    device: torch.device

    def take(self, active: Sequence[bool]) -> tuple[list[int], Optional[torch.Tensor]]:
        """The active rows of this group, and their positions as an index (None when all are active)."""
        pos = [i for i, b in enumerate(self.rows) if active[b]]
        act = [self.rows[i] for i in pos]
        if len(act) == len(self.rows):
            return act, None
        return act, torch.tensor(pos, dtype=torch.long, device=self.device)


def _busy_groups(keys: Sequence, sizes: Sequence[int], row_exact: bool) -> list[tuple[int, list[int]]]:
    """(slot, rows) of each group (``_groups``) less its rows with nothing to make; empty groups leave their slot unused."""
    busy = []
    for slot, members in enumerate(_groups(keys, row_exact)):
        members = [b for b in members if sizes[b] > 0]
        if members:
            busy.append((slot, members))
    return busy


def _pick(t: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
    """The rows of ``t`` at ``index`` (all of ``t`` when None)."""
    return t if index is None else t.index_select(0, index)


def _write(t: torch.Tensor, index: Optional[torch.Tensor], value, *cols) -> None:
    """``t[rows, *cols] = value`` where rows are all rows (``index`` None) or the rows at ``index``."""
    t[(slice(None) if index is None else index, *cols)] = value


def _sample(logits: torch.Tensor, index: Optional[torch.Tensor], rows: Sequence, act: list[int],
            row_exact: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Ids (and probabilities) of the active rows ``act`` (``logits``' rows at ``index``), each with its own sampling and stream."""
    return sample_rows(_pick(logits, index), [rows[b].sampling for b in act],
                       [rows[b].generator for b in act], row_by_row=row_exact)


def _run_stage(hooks: JobHooks, jobs: Sequence[int], steps: Sequence[int], stage: str,
               step: Callable[[int, list[bool]], None]) -> None:
    """The stage loop: ``step(n, active)`` for n = 0, 1, ... while a row is active, reporting to the jobs first.

    Row b is active while n < ``steps[b]`` and its job is in the batch (``step`` may retire it
    earlier); each job hears every step it has an active row in, then the stage's end.
    """
    totals = _totals(jobs, steps)
    active = [True] * len(jobs)
    for n in range(max(steps, default=0)):
        for b in range(len(jobs)):
            active[b] = active[b] and n < steps[b]
        live = [jobs[b] for b in range(len(jobs)) if active[b]]
        if not live:
            break
        hooks.steps(live, stage, n, totals)
        for b in range(len(jobs)):
            active[b] = active[b] and hooks.alive(jobs[b])
        step(n, active)
    for job in sorted(set(jobs)):
        hooks.step(job, stage, totals.get(job, 0), totals.get(job, 0))


def _empty_results(hooks: JobHooks, jobs: Sequence[int], sizes: Sequence[int], books: int) -> list[Optional[np.ndarray]]:
    """None per row, but (books, 0) codes for a row with nothing to make whose job is still in the batch."""
    return [np.zeros((books, 0), dtype=np.int64) if sizes[b] == 0 and hooks.alive(job) else None
            for b, job in enumerate(jobs)]


@dataclass(slots=True)
class _SemanticGroup(_Group):
    """Semantic rows sampled as one batch: their decoder, last logits and tokens so far."""

    vocab: tuple[int, int]  # the logits sampled: 10_000 semantic ids (+ the EOS logit with early stop)
    min_eos_p: Union[None, float, torch.Tensor]  # one threshold (as the reference compares), or (B_g,)
    decoder: Decoder
    logits: torch.Tensor  # (B_g, V) after the last token
    out: torch.Tensor  # (B_g, budget) tokens drawn
    lengths: torch.Tensor  # (B_g,) the budget, or the step the row stopped at
    done: torch.Tensor  # (B_g,) bool: stopped
    feed: torch.Tensor  # (B_g,) the tokens the next step appends

    @property
    def early_stop(self) -> bool:
        return self.vocab[1] > C.SEMANTIC_VOCAB_SIZE


def _min_eos_p(rows: Sequence[SemanticRow], device: torch.device) -> Union[None, float, torch.Tensor]:
    """One threshold when the rows agree (a number or None), else one per row (inf = none)."""
    eos = {r.min_eos_p for r in rows}
    if len(eos) == 1:
        return eos.pop()
    return torch.tensor([float("inf") if r.min_eos_p is None else r.min_eos_p for r in rows],
                        dtype=torch.float32, device=device)


def _semantic_prefill(decoder: Decoder, ctx: list[np.ndarray], vocab: tuple[int, int],
                      shared: dict, device: torch.device) -> torch.Tensor:
    """Prefill ``decoder`` with its rows' 513-id contexts; logits (B_g, V).

    Rows with one prompt read it once; a lone row whose prompt a lone row already read
    copies that row's cache (``shared``: prompt -> that decoder, its logits).
    """
    key = (ctx[0].tobytes(), vocab)
    if len(ctx) == 1 and key in shared:
        decoder.adopt(shared[key][0])
        return shared[key][1]
    same = all(np.array_equal(c, ctx[0]) for c in ctx[1:])
    x = torch.from_numpy(ctx[0][None] if same else np.stack(ctx)).to(device)  # (1 or B_g, 513)
    logits = decoder.prefill(x, merge_context=True, rows=vocab)
    if len(ctx) == 1:
        shared.setdefault(key, (decoder, logits))
    return logits


def _semantic_groups(model: GPT, rows: Sequence[SemanticRow], budgets: list[int],
                     decoders: DecoderFactory, row_exact: bool) -> list[_SemanticGroup]:
    """Rows grouped by early stop, each group's decoder prefilled with its contexts."""
    device = model.lm_head.weight.device
    contexts = [semantic_context(r.text_ids, r.history) for r in rows]
    shared: dict[tuple, tuple[Decoder, torch.Tensor]] = {}
    groups = []
    for slot, members in enumerate(_groups([r.early_stop for r in rows], row_exact)):
        B_g, budget = len(members), max(budgets[b] for b in members)
        vocab = (0, C.SEMANTIC_VOCAB_SIZE + (1 if rows[members[0]].early_stop else 0))  # + the EOS logit
        decoder = decoders(model, B_g, C.MAX_TEXT_TOKENS + 1 + budget - 1, slot)
        logits = _semantic_prefill(decoder, [contexts[b] for b in members], vocab, shared, device)
        groups.append(_SemanticGroup(
            members, device, vocab, _min_eos_p([rows[b] for b in members], device), decoder, logits,
            out=torch.zeros((B_g, budget), dtype=torch.long, device=device),
            lengths=torch.tensor([budgets[b] for b in members], dtype=torch.long, device=device),
            done=torch.zeros(B_g, dtype=torch.bool, device=device),
            feed=torch.zeros(B_g, dtype=torch.long, device=device)))
    return groups


def _semantic_stops(g: _SemanticGroup, index: Optional[torch.Tensor], ids: torch.Tensor,
                    probs: Optional[torch.Tensor], n: int) -> None:
    """Mark the rows that stop at step ``n``: EOS drawn, or its probability >= min_eos_p."""
    stop = ids == C.SEMANTIC_EOS_TOKEN  # (B_act,)
    thr = _pick(g.min_eos_p, index) if torch.is_tensor(g.min_eos_p) else g.min_eos_p
    if thr is not None and probs is not None:  # (greedy rows have no probabilities)
        stop |= probs[:, -1] >= thr
    done = _pick(g.done, index)
    _write(g.lengths, index, torch.where(stop & ~done, n, _pick(g.lengths, index)))
    _write(g.done, index, done | stop)


def _semantic_step(g: _SemanticGroup, rows: Sequence[SemanticRow], active: list[bool], n: int,
                   budgets: list[int], check: bool, row_exact: bool) -> None:
    """Step ``n`` of one group: sample its active rows, note stops, append, decode the next logits."""
    act, index = g.take(active)
    if not act:
        return
    ids, probs = _sample(g.logits, index, rows, act, row_exact)  # (B_act,), (B_act, V)
    if g.early_stop:
        _semantic_stops(g, index, ids, probs, n)
    _write(g.out, index, ids, n)
    _write(g.feed, index, ids)
    for b in act:
        if n + 1 == budgets[b]:
            active[b] = False
    if check and g.early_stop:  # the host learns of stops only here
        for b, done in zip(g.rows, g.done.tolist()):
            active[b] = active[b] and not done
    if any(active[b] for b in g.rows):
        g.logits = g.decoder.step(g.feed, g.vocab)  # (B_g, V)


def _semantic_results(groups: list[_SemanticGroup], hooks: JobHooks, jobs: Sequence[int]) -> list[Optional[np.ndarray]]:
    result: list[Optional[np.ndarray]] = [None] * len(jobs)
    for g in groups:
        out, lengths = g.out.cpu().numpy(), g.lengths.cpu().numpy()
        for i, b in enumerate(g.rows):
            if hooks.alive(jobs[b]):
                result[b] = out[i, : lengths[i]].copy()
    return result


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
    if not rows:
        return []
    budgets = [semantic_step_budget(r.max_seconds) for r in rows]
    groups = _semantic_groups(model, rows, budgets, decoders, row_exact)

    def step(n: int, active: list[bool]) -> None:
        for g in groups:
            _semantic_step(g, rows, active, n, budgets, (n + 1) % eos_check_every == 0, row_exact)

    jobs = [r.job for r in rows]
    _run_stage(hooks, jobs, budgets, "semantic", step)
    return _semantic_results(groups, hooks, jobs)


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


@dataclass(slots=True)
class _CoarseGroup(_Group):
    """Coarse rows with one history length and window geometry, sampled as one batch."""

    sem_offsets: list[int]  # per row: its voice's semantic history length (where its own tokens start in ``sem``)
    n_hist: int  # coarse history ids before the first generated one
    max_coarse_history: int
    window: int  # steps per sliding window
    sem: torch.Tensor  # (B_g, S) voice + own semantic ids, right-padded
    coarse: torch.Tensor  # (B_g, n_hist + steps) coarse ids: history, then what is generated
    infer: torch.Tensor  # (B_g, 1) the infer token
    decoder: Decoder

    @property
    def max_semantic_history(self) -> int:
        return int(np.floor(self.max_coarse_history / C.SEMANTIC_TO_COARSE_RATIO))


def _coarse_group(model: GPT, rows: list[CoarseRow], members: list[int], hists: list[tuple[np.ndarray, np.ndarray]],
                  n_steps: int, slot: int, decoders: DecoderFactory) -> _CoarseGroup:
    """One group's histories, semantic ids and decoder (``rows``, ``hists``: its members' own)."""
    device = model.lm_head.weight.device
    n_hist, mch, swl = len(hists[0][1]), rows[0].max_coarse_history, rows[0].sliding_window_len
    width = max(len(h[0]) + len(r.semantic) for h, r in zip(hists, rows))
    sem = np.full((len(rows), width), C.COARSE_SEMANTIC_PAD_TOKEN, dtype=np.int64)  # right-padded like the reference
    coarse = np.zeros((len(rows), n_hist + n_steps), dtype=np.int64)
    for i, (h, r) in enumerate(zip(hists, rows)):
        s = np.hstack([h[0], r.semantic])
        sem[i, : len(s)] = s
        coarse[i, :n_hist] = h[1]
    decoder = decoders(model, len(rows), C.MAX_SEMANTIC_HISTORY + 1 + mch + swl - 1, slot)
    return _CoarseGroup(members, device, [len(h[0]) for h in hists], n_hist, mch, swl,
                        sem=torch.from_numpy(sem).to(device), coarse=torch.from_numpy(coarse).to(device),
                        infer=torch.full((len(rows), 1), C.COARSE_INFER_TOKEN, dtype=torch.long, device=device),
                        decoder=decoder)


def _coarse_context(g: _CoarseGroup, n_step: int) -> torch.Tensor:
    """A window's context (B_g, 256 + 1 + H): <=256 semantic ids (padded), the infer token, H <= 630 coarse ids."""
    x_sem = []
    for i, offset in enumerate(g.sem_offsets):
        semantic_idx = offset + int(round(n_step / C.SEMANTIC_TO_COARSE_RATIO))
        x_sem.append(g.sem[i, max(0, semantic_idx - g.max_semantic_history) :][: C.MAX_SEMANTIC_HISTORY])
    width = max(len(s) for s in x_sem)
    x_sem = torch.stack([F.pad(s, (0, width - len(s)), value=C.COARSE_SEMANTIC_PAD_TOKEN) for s in x_sem])
    x_sem = F.pad(x_sem, (0, C.MAX_SEMANTIC_HISTORY - x_sem.shape[1]), value=C.COARSE_SEMANTIC_PAD_TOKEN)  # (B_g, 256)
    end = g.n_hist + n_step
    return torch.cat([x_sem, g.infer, g.coarse[:, max(0, end - g.max_coarse_history) : end]], dim=1)


def _coarse_step(g: _CoarseGroup, rows: Sequence[CoarseRow], active: list[bool], n_step: int, row_exact: bool) -> None:
    """Step ``n_step`` of one group: its logits (a new window re-reads the context), then sample and append."""
    if not any(active[b] for b in g.rows):
        return
    start = C.SEMANTIC_VOCAB_SIZE + (n_step % C.N_COARSE_CODEBOOKS) * C.CODEBOOK_SIZE
    vocab = (start, start + C.CODEBOOK_SIZE)  # the codebook this step predicts
    end = g.n_hist + n_step
    if n_step % g.window == 0:
        logits = g.decoder.prefill(_coarse_context(g, n_step), rows=vocab)  # (B_g, 1024)
    else:
        logits = g.decoder.step(g.coarse[:, end - 1], vocab)  # (B_g, 1024)
    act, index = g.take(active)
    ids, _ = _sample(logits, index, rows, act, row_exact)  # (B_act,)
    _write(g.coarse, index, ids + start, end)


def _coarse_windows(groups: list[_CoarseGroup], rows: Sequence[CoarseRow], steps: Sequence[int], hooks: JobHooks,
                    n_step: int) -> None:
    """After step ``n_step``: each listening job with a row that just ended a window (or its last
    step) hears the whole frames each of its rows has made so far."""
    made = n_step + 1
    ended = {rows[b].job for g in groups for b in g.rows
             if made <= steps[b] and (made % g.window == 0 or made == steps[b])}
    for job in sorted(j for j in ended if hooks.listens_to_windows(j)):
        mine = [b for b, r in enumerate(rows) if r.job == job]
        codes = {b: np.zeros((C.N_COARSE_CODEBOOKS, 0), dtype=np.int64) for b in mine}
        for g in groups:
            members = [(i, b) for i, b in enumerate(g.rows) if rows[b].job == job]
            if members:
                flat = g.coarse[:, g.n_hist : g.n_hist + made].cpu().numpy()  # (B_g, made)
                for i, b in members:
                    n = min(made, steps[b]) // C.N_COARSE_CODEBOOKS * C.N_COARSE_CODEBOOKS  # whole frames
                    codes[b] = _unflatten_coarse(flat[i, :n])
        hooks.coarse_window(job, [codes[b] for b in mine], all(made >= steps[b] for b in mine))


def _unflatten_coarse(flat: np.ndarray) -> np.ndarray:
    """Interleaved coarse-model ids (2N,) -> (2, N) codes; the inverse of ``flatten_coarse``."""
    codes = flat.reshape(-1, C.N_COARSE_CODEBOOKS).T - C.SEMANTIC_VOCAB_SIZE
    for n in range(1, C.N_COARSE_CODEBOOKS):
        codes[n, :] -= n * C.CODEBOOK_SIZE
    return codes


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
    hists = [coarse_history(r.voice_semantic, r.voice_coarse, r.max_coarse_history) for r in rows]
    steps = [coarse_steps(len(r.semantic)) for r in rows]
    keys = [(len(h[1]), r.max_coarse_history, r.sliding_window_len) for h, r in zip(hists, rows)]
    groups = [_coarse_group(model, [rows[b] for b in members], members, [hists[b] for b in members],
                            max(steps[b] for b in members), slot, decoders)
              for slot, members in _busy_groups(keys, steps, row_exact)]

    def step(n_step: int, active: list[bool]) -> None:
        for g in groups:
            _coarse_step(g, rows, active, n_step, row_exact)
        _coarse_windows(groups, rows, steps, hooks, n_step)

    jobs = [r.job for r in rows]
    _run_stage(hooks, jobs, steps, "coarse", step)
    result = _empty_results(hooks, jobs, steps, C.N_COARSE_CODEBOOKS)
    for g in groups:
        flat = g.coarse[:, g.n_hist :].cpu().numpy()
        for i, b in enumerate(g.rows):
            if hooks.alive(jobs[b]):
                result[b] = _unflatten_coarse(flat[i, : steps[b]])
    return result


@dataclass(frozen=True)
class FineRow:
    """One row of the fine stage: its coarse codes, voice, sampling and random stream."""

    coarse: np.ndarray
    voice_fine: Optional[np.ndarray]
    sampling: Sampling
    generator: torch.Generator
    job: int = 0


@dataclass(slots=True)
class _FineGroup(_Group):
    """Fine rows with one voice-history length, filled window by window as one batch."""

    n_history: int  # voice frames before each row's own
    n_given: int  # codebooks given (the coarse ones)
    n_loops: int  # windows
    codes: torch.Tensor  # (B_g, T, 8) every frame, padded to at least one window
    start: int = 0  # the current window's first frame
    fill: int = 0  # the first frame it fills
    window: Optional[torch.Tensor] = None  # (B_g, W, 8) its codes

    @property
    def books(self) -> int:
        return C.N_FINE_CODEBOOKS - self.n_given

    @property
    def passes(self) -> int:
        return self.n_loops * self.books

    @property
    def rel(self) -> int:
        return self.fill - self.start


def _fine_group(rows: list[FineRow], members: list[int], n_history: int, n_given: int, device: torch.device) -> _FineGroup:
    """One group's codes: each row's voice history then its coarse codes, the rest padding (1024)."""
    W, S = C.FINE_WINDOW, C.FINE_STEP
    n = max(r.coarse.shape[1] for r in rows)
    arr = np.full((len(rows), C.N_FINE_CODEBOOKS, n_history + n), C.CODEBOOK_SIZE, dtype=np.int64)  # padding id
    for i, r in enumerate(rows):
        if n_history:
            arr[i, :, :n_history] = r.voice_fine[:, -C.FINE_MAX_HISTORY :]
        arr[i, :n_given, n_history : n_history + r.coarse.shape[1]] = r.coarse
    n_remove_from_end = max(0, W - arr.shape[2])
    if n_remove_from_end:
        arr = np.pad(arr, ((0, 0), (0, 0), (0, n_remove_from_end)), constant_values=C.CODEBOOK_SIZE)
    n_loops = max(0, int(np.ceil((n - (W - n_history)) / S))) + 1
    codes = torch.from_numpy(arr).transpose(1, 2).contiguous().to(device)  # (B_g, T, 8)
    return _FineGroup(members, device, n_history, n_given, n_loops, codes)


def _fine_open(g: _FineGroup, loop: int) -> None:
    """Start window ``loop``: it reads W frames from ``start`` and fills those from ``fill`` on."""
    W, S = C.FINE_WINDOW, C.FINE_STEP
    g.start = min(loop * S, g.codes.shape[1] - W)
    g.fill = min(g.n_history + loop * S, g.codes.shape[1] - S)
    g.window = g.codes[:, g.start : g.start + W, :].clone()  # (B_g, W, 8)


def _fine_pass(model: FineGPT, g: _FineGroup, rows: Sequence[FineRow], active: list[bool], p: int,
               row_exact: bool) -> None:
    """Pass ``p`` of one group: predict one codebook over its window (a new window every ``books`` passes)."""
    act, index = g.take(active)
    if not act:
        return
    loop, k = divmod(p, g.books)
    book = g.n_given + k
    if k == 0:
        _fine_open(g, loop)
    logits = model(book, g.window)[:, g.rel :, : C.CODEBOOK_SIZE]  # (B_g, W - rel, 1024)
    ids, _ = _sample(logits, index, rows, act, row_exact)  # (B_act, W - rel)
    _write(g.window, index, ids, slice(g.rel, None), book)
    if k == g.books - 1:  # the window is complete: keep what it filled
        g.codes[:, g.fill : g.fill + (C.FINE_WINDOW - g.rel), g.n_given :] = g.window[:, g.rel :, g.n_given :]


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
    lengths = [r.coarse.shape[1] for r in rows]
    keys = [(0 if r.voice_fine is None else r.voice_fine[:, -C.FINE_MAX_HISTORY :].shape[1], r.coarse.shape[0])
            for r in rows]  # (voice frames, codebooks given)
    groups = [_fine_group([rows[b] for b in members], members, *keys[members[0]], device)
              for _, members in _busy_groups(keys, lengths, row_exact)]
    passes = [0] * len(rows)
    for g in groups:
        for b in g.rows:
            passes[b] = g.passes

    def step(p: int, active: list[bool]) -> None:
        for g in groups:
            if p < g.passes:
                _fine_pass(model, g, rows, active, p, row_exact)

    jobs = [r.job for r in rows]
    _run_stage(hooks, jobs, passes, "fine", step)
    result = _empty_results(hooks, jobs, lengths, C.N_FINE_CODEBOOKS)
    for g in groups:
        out = g.codes.transpose(1, 2).cpu().numpy()[:, :, g.n_history :]
        for i, b in enumerate(g.rows):
            if hooks.alive(jobs[b]):
                result[b] = out[i, :, : lengths[b]].copy()
    return result
