"""Autoregressive decoding over a static KV cache: prefill, then one token per step.

``Decoder`` runs eagerly (and is what the CPU, exact path uses). ``GraphDecoder`` captures
the one-token step once as a CUDA graph and replays it, which removes the per-layer
launch and Python overhead that dominates small-batch decoding on a GPU. ``ThreadedDecoders``
(the int8 mode on a CPU) run each step on the intra-op thread count that was timed fastest.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, Sequence, TypeVar

import torch

from .model import GPT

log = logging.getLogger(__name__)

Rows = Optional[tuple[int, int]]
T = TypeVar("T")


class Decoder:
    """Prefill + decode steps of one causal GPT for a batch of ``batch`` rows."""

    def __init__(self, model: GPT, batch: int, max_len: int):
        self.model = model
        self.batch = batch
        self.max_len = max_len
        self.cache = None

    def prefill(self, x: torch.Tensor, merge_context: bool = False, rows: Rows = None) -> torch.Tensor:
        """Logits (batch, V) after the context ``x`` (1 or ``batch`` rows; one row is shared by all).

        ``rows`` (a, b) limits the logits to vocabulary ids a..b-1 (what the stage samples from).
        """
        if self.cache is None or self.cache.k.shape[1] != x.shape[0]:
            self.cache = self.model.new_cache(x.shape[0], self.max_len)
        self.cache.length = 0
        logits = self.model(x, self.cache, merge_context=merge_context, rows=rows)
        if x.shape[0] != self.batch:  # one prompt for every take: prefill once, copy the cache
            self.cache.repeat_batch(self.batch)
            logits = logits.expand(self.batch, -1)
        return logits

    def step(self, ids: torch.Tensor, rows: Rows = None) -> torch.Tensor:
        """Logits (batch, V) after appending ``ids`` (batch,); ``rows`` as in prefill."""
        return self.model(ids[:, None], self.cache, rows=rows)

    def adopt(self, other: "Decoder") -> None:
        """Continue from ``other``'s prefilled context (one row): copy its filled cache into this decoder's.

        What a row with the same prompt as another would have computed itself, without the prefill.
        """
        n = other.cache.length
        if self.cache is None or self.cache.k.shape[1] != self.batch or self.cache.max_len < n:
            self.cache = self.model.new_cache(self.batch, max(self.max_len, n))
        self.cache.k[:, :, :, :n] = other.cache.k[:, :1, :, :n]
        self.cache.v[:, :, :, :n] = other.cache.v[:, :1, :, :n]
        self.cache.length = n


class StaticDecoder(Decoder):
    """A Decoder with fixed shapes: one cache allocated once, the position kept on the device.

    Each step attends over the whole cache under a mask, so every step has the same
    shapes and buffers; that is what lets GraphDecoder capture it.
    """

    def __init__(self, model: GPT, batch: int, max_len: int):
        super().__init__(model, batch, max_len)
        device = model.lm_head.weight.device
        self.cache = model.new_cache(batch, max_len)
        self.idx = torch.zeros((batch, 1), dtype=torch.long, device=device)
        self.pos = torch.zeros((1,), dtype=torch.long, device=device)

    def prefill(self, x: torch.Tensor, merge_context: bool = False, rows: Rows = None) -> torch.Tensor:
        self.cache.length = 0
        if x.shape[0] != self.batch:
            x = x.expand(self.batch, -1)
        return self.model(x, self.cache, merge_context=merge_context, rows=rows)

    def _run(self) -> torch.Tensor:
        return self.model.step(self.idx, self.pos, self.cache)

    def step(self, ids: torch.Tensor, rows: Rows = None) -> torch.Tensor:
        self.idx.copy_(ids[:, None])
        self.pos.fill_(self.cache.length)
        logits = self._run()  # every row: the captured step has fixed shapes
        self.cache.length += 1
        return logits if rows is None else logits[:, rows[0] : rows[1]]


class GraphDecoder(StaticDecoder):
    """A StaticDecoder whose step is captured once as a CUDA graph and replayed.

    The cache and graph live as long as this object, so one GraphDecoder serves every
    window of a coarse pass and later generations with the same batch size. The model's
    weights must stay where they are (resident placement).
    """

    def __init__(self, model: GPT, batch: int, max_len: int):
        super().__init__(model, batch, max_len)
        device = self.idx.device
        self.pos.fill_(max_len - 1)  # warm-up writes a slot that is always rewritten before it is read
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                super()._run()
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = super()._run()

    def _run(self) -> torch.Tensor:
        self.graph.replay()
        return self.logits


DecoderFactory = Callable[..., Decoder]  # (model, batch, max_len, slot=0) -> Decoder


def eager_decoders(model: GPT, batch: int, max_len: int, slot: int = 0) -> Decoder:
    """A fresh eager Decoder (``slot``: which of a stage's row groups asks; every group gets its own)."""
    return Decoder(model, batch, max_len)


class GraphDecoders:
    """Builds a GraphDecoder on first use per model and keeps it for later generations.

    One per model and slot (a stage that runs rows of different shapes in groups asks for one
    slot per group, all alive at once): a new batch size replaces the old decoder of that slot,
    so at most one cache per model and slot is held.
    """

    def __init__(self, decoder_class=GraphDecoder):
        self.decoder_class = decoder_class
        self._decoders: dict[tuple[int, int], Decoder] = {}

    def __call__(self, model: GPT, batch: int, max_len: int, slot: int = 0) -> Decoder:
        key = (id(model), slot)
        decoder = self._decoders.get(key)
        if decoder is None or decoder.batch != batch or decoder.model is not model:
            self._decoders.pop(key, None)
            try:
                decoder = self.decoder_class(model, batch, model.config.block_size)
            except torch.cuda.OutOfMemoryError:
                raise
            except RuntimeError as e:  # capture unsupported here: decode eagerly instead
                log.warning("CUDA graph capture failed (%s); decoding without graphs", e)
                decoder = Decoder(model, batch, max_len)
                return decoder
            self._decoders[key] = decoder
        return decoder

    def clear(self) -> None:
        """Free every cache and graph (after an out-of-memory error, or a reload)."""
        self._decoders.clear()


class ThreadPicker:
    """The intra-op thread count of decode steps, picked by timing steps (the int8 mode on a CPU).

    torch's int8 kernel splits even one row over every intra-op thread, so while another process keeps
    a core busy each call waits for it (4096 x 1024 at one row on a 2-core AMD EPYC: 11 ms on two
    threads, 0.25 ms on one); on a quiet machine two threads are faster. A probe runs one step on each
    candidate count, timed, and the faster count runs the steps until the next probe: ``every`` steps
    later, twice as long each time the same count wins again (up to ``max_every``: a probe of the slower
    count costs that step), and at once after a step that took over ``SLOW`` times its probe (another
    process took a core).
    """

    SLOW = 2.0

    def __init__(self, counts: Sequence[int], every: int = 32, max_every: int = 256):
        self.counts = sorted(set(counts))
        self.every = max(every, len(self.counts) + 1)
        self.max_every = max(max_every, self.every)
        self.chosen = self.counts[-1]
        self._interval = self.every  # steps from one probe to the next
        self._times: dict[int, float] = {}
        self._probing = 0  # index of the count the next probe step runs on
        self._left = 0  # steps on the chosen count before the next probe

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the chosen thread count, or on the next one to probe."""
        probe = self._left <= 0
        threads = self.counts[self._probing] if probe else self.chosen
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        try:
            out = fn()
        finally:
            torch.set_num_threads(before)
        took = time.perf_counter() - t0
        if probe:
            self._times[threads] = took
            self._probing += 1
            if self._probing == len(self.counts):
                fastest = min(self._times, key=self._times.get)
                self._interval = min(2 * self._interval, self.max_every) if fastest == self.chosen else self.every
                self.chosen, self._probing = fastest, 0
                self._left = self._interval - len(self.counts)
        else:
            self._left -= 1
            if took > self.SLOW * self._times[self.chosen]:
                self._interval, self._left = self.every, 0
        return out


class ThreadedDecoder(Decoder):
    """An eager Decoder whose steps run through a shared ThreadPicker (prefills keep every thread)."""

    def __init__(self, model: GPT, batch: int, max_len: int, picker: ThreadPicker):
        super().__init__(model, batch, max_len)
        self.picker = picker

    def step(self, ids: torch.Tensor, rows: Rows = None) -> torch.Tensor:
        return self.picker.run(lambda: super(ThreadedDecoder, self).step(ids, rows))


class ThreadedDecoders:
    """Builds ThreadedDecoders that share one ThreadPicker over 1 and ``threads`` intra-op threads."""

    def __init__(self, threads: int, every: int = 32):
        self.picker = ThreadPicker((1, threads), every)

    def __call__(self, model: GPT, batch: int, max_len: int, slot: int = 0) -> Decoder:
        return ThreadedDecoder(model, batch, max_len, self.picker)
