"""The engine: models, tokenizer, codec and placement, loaded once; Bark's staged API.

    engine = Engine.load(EngineSettings(models="suno/bark"))
    semantic = engine.text_to_semantic("Hello [laughs]", voice=engine.load_voice("v2/en_speaker_6"))
    coarse = engine.semantic_to_coarse(semantic, voice=...)
    fine = engine.coarse_to_fine(coarse, voice=...)
    audio = engine.decode(fine)
    # or all at once, with takes, long text, progress and cancellation:
    gen = engine.generate(GenerationRequest(text=..., takes=4), on_progress=..., should_stop=...)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from . import checkpoints, generation, longform, placement as placement_mod, sources, voices
from .codec import Codec, load_codec
from .checkpoints import STAGES
from .constants import MAX_TEXT_TOKENS, SAMPLE_RATE
from .decoding import GraphDecoders, eager_decoders
from .generation import StepHooks
from .model import size_name
from .sampling import Sampling
from .tokenizer import TextTokenizer
from .settings import MAX_SEED
from .types import (
    Generation,
    GenerationRequest,
    GPUOutOfMemory,
    ProgressCallback,
    StopCallback,
    Take,
    Voice,
)

log = logging.getLogger(__name__)

class EngineBusy(ValueError):
    """Another generation is running on this engine; jobs never run side by side."""


SegmentCallback = Callable[[int, int, list], None]
LoadProgress = Callable[[str, float], None]


@dataclass(frozen=True)
class EngineSettings:
    """Where the weights come from and how they run."""

    models: Optional[str] = None  # local folder or Hub repo id; None = suno/bark(-small)
    small: bool = False  # every stage small
    small_stages: tuple[str, ...] = ()  # or only these stages small, e.g. ("fine",)
    tokenizer: Optional[str] = None  # folder or Hub id; default: the models folder, else bert-base-multilingual-cased
    codec: Optional[str] = None  # folder or Hub id; default: the models folder, else facebook/encodec_24khz
    device: str = "auto"
    dtype: str = "auto"
    placement: str = "auto"  # resident | offload | cpu | auto
    offline: bool = False
    cache_dir: Optional[str] = None  # Hub cache and the fast-loading converted copies
    convert_cache: bool = True  # convert .pt / pytorch_model.bin sources once into the native format
    max_voice_bytes: int = voices.DEFAULT_MAX_VOICE_BYTES
    cuda_graphs: bool = True  # replay each decode step as a CUDA graph (resident placement on CUDA)


def stage_sizes(settings: EngineSettings) -> dict[str, str]:
    """"large" or "small" for each stage."""
    unknown = set(settings.small_stages) - set(STAGES)
    if unknown:
        raise ValueError(f"Unknown stage {sorted(unknown)[0]!r}; stages are {', '.join(STAGES)}.")
    return {s: "small" if settings.small or s in settings.small_stages else "large" for s in STAGES}


def converted_dir(settings: EngineSettings) -> Path:
    """Where fast-loading native copies of slow sources are kept."""
    base = Path(settings.cache_dir) if settings.cache_dir else Path.home() / ".cache" / "bark-studio"
    return base / "converted"


class Engine:
    """Bark, loaded and placed. Build it with :meth:`Engine.load`."""

    def __init__(self, models: dict, tokenizer: TextTokenizer, codec: Optional[Codec], placement,
                 settings: EngineSettings, folder: Path):
        self.models = models
        self.tokenizer = tokenizer
        self._codec = codec  # None: loaded when first needed
        self._busy = threading.Lock()  # one generation at a time, whoever calls
        self.placement = placement
        self.settings = settings
        self.folder = folder
        graphs = placement.device.type == "cuda" and placement.placement != "cpu" and settings.cuda_graphs
        self.decoders = GraphDecoders() if graphs else eager_decoders

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, settings: EngineSettings = EngineSettings(), on_progress: Optional[LoadProgress] = None,
             load_codec: bool = True) -> "Engine":
        """Resolve, (download,) read and place the weights. Raises sources.WeightsNotFound with advice.

        ``load_codec=False`` leaves EnCodec until audio is first decoded (tokens-only work never needs it).
        """
        report = on_progress or (lambda message, fraction: None)
        place = placement_mod.resolve(settings.device, settings.dtype, settings.placement,  # CPU "auto": measured once, cached
                                      cache_dir=Path(settings.cache_dir) if settings.cache_dir else None,
                                      size="small" if settings.small else "large")
        sizes = stage_sizes(settings)
        report("Locating the weights", 0.0)
        folders = {}  # small? -> folder
        for size in sorted(set(sizes.values())):  # "large" first: its folder provides the tokenizer and codec
            small = size == "small"
            folder = sources.resolve_models(settings.models, small=small, offline=settings.offline, cache_dir=settings.cache_dir)
            if settings.convert_cache:
                report("Preparing the fast-loading copy", 0.2)
                folder = checkpoints.cached_native(folder, converted_dir(settings), small=small)
            folders[small] = folder
        models = {}
        for i, stage in enumerate(STAGES):
            report(f"Loading the {stage} model", 0.3 + 0.2 * i)
            small = sizes[stage] == "small"
            models[stage] = checkpoints.load_stage(folders[small], stage, device=place.home, dtype=place.dtype, small=small)
            placement_mod.pin_for_offload(models[stage], place)
        folder = next(iter(folders.values()))  # tokenizer, codec and presets are the same in both sizes
        report("Loading the tokenizer and codec", 0.9)
        tokenizer = TextTokenizer.from_spec(settings.tokenizer, models_folder=folder, offline=settings.offline, cache_dir=settings.cache_dir)
        engine = cls(models, tokenizer, None, place, settings, Path(folder))
        if load_codec:
            engine.codec  # noqa: B018 - load it now, so a missing codec is said at load time
        report("Ready", 1.0)
        return engine

    @property
    def codec(self) -> Codec:
        """EnCodec, loaded on first use (or set, e.g. by a benchmark that shares one)."""
        if self._codec is None:
            device = self.placement.home if self.placement.device.type != "mps" else torch.device("cpu")
            s = self.settings
            self._codec = load_codec(self.folder, s.codec, offline=s.offline, cache_dir=s.cache_dir, device=device)
        return self._codec

    @codec.setter
    def codec(self, codec: Codec) -> None:
        self._codec = codec

    # ------------------------------------------------------------------ text and voices

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def split_text(self, text: str) -> tuple[list[str], list[str]]:
        """Segments that each fit one generation, and warnings about anything cut."""
        result = longform.split_text(text, self.count_tokens, max_tokens=MAX_TEXT_TOKENS)
        return result.segments, result.warnings

    def estimate_seconds(self, text: str) -> float:
        return longform.estimate_seconds(text)

    def load_voice(self, spec: Union[str, Path, Voice, None]) -> Optional[Voice]:
        """A preset name ("v2/en_speaker_6"), a path to an .npz, a Voice, or None (random speaker)."""
        if spec is None or isinstance(spec, Voice):
            return spec
        if isinstance(spec, str) and not spec.strip():
            return None
        return voices.load_voice(spec, models_folder=self.folder, max_bytes=self.settings.max_voice_bytes)

    def presets(self) -> list:
        return voices.preset_catalog()

    def info(self) -> dict:
        """What is loaded and where, for the UI's models panel."""
        sizes = {stage: size_name(m.config) for stage, m in self.models.items()}
        kinds = set(sizes.values())
        size = kinds.pop() if len(kinds) == 1 else "mixed"
        dtype = placement_mod.dtype_name(self.placement.dtype)
        params = {stage: sum(p.numel() for p in set(m.parameters())) for stage, m in self.models.items()}
        known = all(s in ("large", "small") for s in sizes.values())
        estimate = placement_mod.estimate_gpu_memory(sizes, dtype, self.placement.placement) if known else None
        on_cpu = self.placement.device.type == "cpu"
        return dict(
            device=str(self.placement.device), dtype=dtype, placement=self.placement.placement, size=size,
            sizes=sizes, params=params, folder=str(self.folder), exact=self.placement.exact,
            gpu_memory_estimate_bytes=estimate,
            precision_warning=(placement_mod.cpu_precision_warning(self.placement.dtype)
                               if on_cpu and self.placement.choice is None else None),  # measured choices need none
            precision_choice=self.placement.choice.as_dict() if self.placement.choice is not None else None,
        )

    # ------------------------------------------------------------------ the staged API

    def _generator(self, seed: Optional[int]) -> torch.Generator:
        seed = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
        device = self.placement.device if self.placement.device.type == "cuda" else torch.device("cpu")
        return torch.Generator(device).manual_seed(seed)

    @contextlib.contextmanager
    def _stage(self, stage: str):
        """The stage's model on the compute device for the duration of the stage."""
        with placement_mod.on_device(self.models[stage], self.placement) as model:
            try:
                yield model
            finally:
                if self.placement.placement == "offload" and isinstance(self.decoders, GraphDecoders):
                    self.decoders.clear()  # its graphs point at this visit's weight copies

    def text_to_semantic(
        self, text: str, voice: Optional[Voice] = None, *, temp: float = 0.7, top_k: Optional[int] = None,
        top_p: Optional[float] = None, min_eos_p: float = 0.2, early_stop: bool = True,
        max_seconds: Optional[float] = None, takes: int = 1, seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None, hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """Semantic tokens of each take, (T,) each. Text over 256 tokens is refused (use generate for long text)."""
        ids = self.tokenize(longform.normalize_text(text))
        if not ids:
            raise ValueError("The text has nothing the tokenizer can read.")
        if len(ids) > MAX_TEXT_TOKENS:
            raise ValueError(f"The text is {len(ids)} tokens; one generation takes {MAX_TEXT_TOKENS}. Use generate() for long text.")
        return self._semantic(
            ids, voice, takes, Sampling(temp, top_k, top_p), generator or self._generator(seed),
            min_eos_p=min_eos_p, early_stop=early_stop, max_seconds=max_seconds, hooks=hooks,
        )

    def _semantic(self, ids, voice, takes, sampling, generator, **options) -> list[np.ndarray]:
        with self._stage("semantic") as model:
            return generation.generate_semantic(
                model, ids, None if voice is None else voice.semantic, takes, sampling, generator,
                eos_check_every=1 if self.placement.device.type == "cpu" else 8, decoders=self.decoders, **options,
            )

    def semantic_to_coarse(
        self, semantic: Union[np.ndarray, Sequence[np.ndarray]], voice: Optional[Voice] = None, *, temp: float = 0.7,
        top_k: Optional[int] = None, top_p: Optional[float] = None, max_coarse_history: int = 630,
        sliding_window_len: int = 60, seed: Optional[int] = None, generator: Optional[torch.Generator] = None,
        hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """Coarse codes (2, N) of each take."""
        semantics = [semantic] if isinstance(semantic, np.ndarray) else list(semantic)
        return self._coarse(semantics, voice, Sampling(temp, top_k, top_p), generator or self._generator(seed),
                            max_coarse_history=max_coarse_history, sliding_window_len=sliding_window_len, hooks=hooks)

    def _coarse(self, semantics, voice, sampling, generator, **options) -> list[np.ndarray]:
        with self._stage("coarse") as model:
            return generation.generate_coarse(
                model, semantics, None if voice is None else voice.semantic, None if voice is None else voice.coarse,
                sampling, generator, decoders=self.decoders, **options,
            )

    def coarse_to_fine(
        self, coarse: Union[np.ndarray, Sequence[np.ndarray]], voice: Optional[Voice] = None, *, temp: float = 0.5,
        seed: Optional[int] = None, generator: Optional[torch.Generator] = None, hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """All eight codebooks (8, N) of each take."""
        coarses = [coarse] if isinstance(coarse, np.ndarray) else list(coarse)
        return self._fine(coarses, voice, Sampling(temp), generator or self._generator(seed), hooks=hooks)

    def _fine(self, coarses, voice, sampling, generator, **options) -> list[np.ndarray]:
        with self._stage("fine") as model:
            return generation.generate_fine(model, coarses, None if voice is None else voice.fine, sampling, generator,
                                            **options)

    @torch.inference_mode()
    def decode(self, fine: np.ndarray) -> np.ndarray:
        """EnCodec: fine codes (8, N) -> audio (N * 320,) float32 at 24 kHz."""
        if fine.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        codes = torch.from_numpy(np.ascontiguousarray(fine, dtype=np.int64))[None]
        device = self.placement.device if self.placement.device.type == "cuda" else self.codec.device
        home = self.codec.device
        self.codec.to(device)
        try:
            return self.codec.decode(codes)[0].cpu().numpy().astype(np.float32)
        finally:
            self.codec.to(home)

    # ------------------------------------------------------------------ all at once

    def generate(
        self, request: GenerationRequest, on_progress: Optional[ProgressCallback] = None,
        should_stop: Optional[StopCallback] = None, on_segment: Optional[SegmentCallback] = None,
    ) -> Generation:
        """Text (any length) -> audio and tokens of every take. See GenerationRequest for the knobs.

        Raises ValueError (bad request), GenerationCancelled (should_stop), GPUOutOfMemory.
        """
        request.validate()
        if not self._busy.acquire(blocking=False):
            raise EngineBusy("The engine is busy with another generation; wait for it to finish and try again.")
        try:
            return self._generate(request, on_progress, should_stop, on_segment)
        except torch.cuda.OutOfMemoryError as e:
            # The traceback's frames hold the failed job's activations and caches: drop them and
            # collect (~0.1-0.3 s, so only here, not after every job); `finally` then empties the cache.
            e.__traceback__ = None
            if isinstance(self.decoders, GraphDecoders):
                self.decoders.clear()
            gc.collect()
            raise GPUOutOfMemory(
                "The GPU ran out of memory. Try fewer takes, the small models (--small), "
                "stage-by-stage placement (--offload) or bfloat16/float16 precision."
            ) from e
        finally:
            self._busy.release()
            if self.placement.device.type == "cuda":
                torch.cuda.empty_cache()

    def plan_segments(self, text: str, long_form: bool = True) -> tuple[list[str], list[str]]:
        """The segments one request will generate, and warnings (what was split or cut)."""
        if long_form:
            segments, warnings = self.split_text(text)
        else:
            normalized = longform.normalize_text(text)
            ids = self.tokenize(normalized)
            segments, warnings = [normalized], []
            if len(ids) > MAX_TEXT_TOKENS:
                cut = round((len(ids) - MAX_TEXT_TOKENS) / len(ids) * 100, 1)
                warnings.append(f"Text is {len(ids)} tokens; the last {cut}% was cut (turn on long-form to keep it).")
        segments = [s for s in segments if s.strip()]
        if not segments or not any(self.tokenize(s) for s in segments):
            raise ValueError("The text has nothing the tokenizer can read.")
        return segments, warnings

    def _generate(self, request, on_progress, should_stop, on_segment) -> Generation:
        started = time.perf_counter()
        seed = secrets.randbelow(MAX_SEED + 1) if request.seed is None else request.seed
        generator = self._generator(seed)
        segments, warnings = self.plan_segments(request.text, request.long_form)
        n_takes = request.takes
        take_voices: list[Optional[Voice]] = [request.voice] * n_takes
        audio_parts: list[list[np.ndarray]] = [[] for _ in range(n_takes)]
        last_tokens: list[Optional[Voice]] = [None] * n_takes
        timings: dict[str, float] = defaultdict(float)
        for index, segment in enumerate(segments):
            hooks = StepHooks(on_progress, should_stop, index + 1, len(segments))
            ids = self.tokenize(segment)[:MAX_TEXT_TOKENS]
            if all(v is take_voices[0] for v in take_voices):
                groups = [(list(range(n_takes)), take_voices[0])]
            else:  # each take continues its own speaker: one take at a time
                groups = [([b], take_voices[b]) for b in range(n_takes)]
            for members, voice in groups:
                tokens = self._tokens(ids, voice, len(members), request, generator, hooks, timings)
                for b, tok in zip(members, tokens):
                    last_tokens[b] = tok
                    if tok.semantic.size == 0:
                        warnings.append(f"Take {b + 1} stopped at once in segment {index + 1}; try another seed.")
            if request.decode:
                hooks.step("decode", 0, n_takes)
                t = time.perf_counter()
                for b in range(n_takes):
                    audio_parts[b].append(self.decode(last_tokens[b].fine))
                    hooks.step("decode", b + 1, n_takes)
                timings["decode"] += time.perf_counter() - t
            if request.voice is None and len(segments) > 1:  # keep each take's speaker for the next segment
                take_voices = [tok if tok.semantic.size else v for tok, v in zip(last_tokens, take_voices)]
            if on_segment is not None and request.decode:
                on_segment(index, len(segments), [longform.join_audio(p, request.segment_pause_s) for p in audio_parts])
        takes = [
            Take(audio=longform.join_audio(parts, request.segment_pause_s) if request.decode else None, voice=tok)
            for parts, tok in zip(audio_parts, last_tokens)
        ]
        timings["total"] = time.perf_counter() - started
        return Generation(takes=takes, seed=seed, timings=dict(timings), warnings=warnings, sample_rate=SAMPLE_RATE)

    def _tokens(self, ids, voice, n, request, generator, hooks, timings) -> list[Voice]:
        """Run the three token stages for ``n`` takes; returns each take's tokens as a Voice."""
        t = time.perf_counter()
        semantic = self._semantic(
            ids, voice, n, request.sampling("semantic"), generator,
            min_eos_p=request.min_eos_p, early_stop=request.early_stop, max_seconds=request.max_seconds, hooks=hooks,
        )
        timings["semantic"] += time.perf_counter() - t
        t = time.perf_counter()
        coarse = self._coarse(semantic, voice, request.sampling("coarse"), generator, hooks=hooks,
                              max_coarse_history=request.max_coarse_history,
                              sliding_window_len=request.sliding_window_len)
        timings["coarse"] += time.perf_counter() - t
        t = time.perf_counter()
        fine = self._fine(coarse, voice, request.sampling("fine"), generator, hooks=hooks)
        timings["fine"] += time.perf_counter() - t
        return [Voice(semantic=s, coarse=c, fine=f) for s, c, f in zip(semantic, coarse, fine)]


def free_accelerator_memory() -> None:
    """Collect garbage and return cached GPU memory (after an engine is replaced)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
