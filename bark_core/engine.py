"""The engine: models, tokenizer, codec and placement, loaded once; Bark's staged API.

    engine = Engine.load(EngineSettings(models="suno/bark"))
    semantic = engine.text_to_semantic("Hello [laughs]", voice=engine.load_voice("v2/en_speaker_6"))
    coarse = engine.semantic_to_coarse(semantic, voice=...)
    fine = engine.coarse_to_fine(coarse, voice=...)
    audio = engine.decode(fine)
    # or all at once, with takes, long text, progress and cancellation:
    gen = engine.generate(GenerationRequest(text=..., takes=4), on_progress=..., should_stop=...)
    again = engine.regenerate_take(request, gen, 2)  # take 2 alone (exactly, on CPU float32)
    # several requests (several users) as one batch, each with its own callbacks:
    results = engine.generate_batch([BatchJob(request_a, on_progress=...), BatchJob(request_b)])
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from . import checkpoints, conversion, generation, longform, placement as placement_mod, precision, quantize, sources, voices
from .codec import Codec, load_codec
from .checkpoints import STAGES
from .constants import COARSE_RATE_HZ, MAX_TEXT_TOKENS, SAMPLE_RATE
from .decoding import GraphDecoders, ThreadedDecoders, eager_decoders
from .generation import StepHooks
from .model import size_name
from .sampling import Sampling
from .tokenizer import TextTokenizer
from .settings import MAX_SEED, MAX_SEGMENT_RETAKES, setting, take_seed
from .settings import validate as validate_settings
from .types import (
    BatchJob,
    Generation,
    GenerationRequest,
    GPUOutOfMemory,
    PreviewCallback,
    ProgressCallback,
    SegmentCallback,
    SegmentCheck,
    SegmentCheckCallback,
    SegmentTake,
    StopCallback,
    Take,
    Voice,
)

log = logging.getLogger(__name__)

class EngineBusy(ValueError):
    """Another generation is running on this engine; jobs never run side by side."""


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
    # Each row (take, batched job) computed as its own batch of one, so its tokens never depend on
    # its batch mates: "auto" = on the exact placement (CPU float32) only; "on"; "off" (fused batches).
    row_exact: str = "auto"


ROW_EXACT = ("auto", "on", "off")


def resolve_row_exact(setting: str, placement) -> bool:
    """Whether rows run one by one (see EngineSettings.row_exact)."""
    if setting not in ROW_EXACT:
        raise ValueError(f"Unknown row_exact setting {setting!r}; use auto, on or off.")
    return placement.exact if setting == "auto" else setting == "on"


MODEL_SIZES = ("large", "small")  # what each stage's model can be


def stage_sizes(settings: EngineSettings) -> dict[str, str]:
    """"large" or "small" (MODEL_SIZES) for each stage, read off ``small`` / ``small_stages``."""
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

    # Previews (generate's on_preview): the first once a segment's coarse codes hold this much audio,
    # then each time they hold this much more, and once more when its coarse stage ends. A later
    # preview decodes only its new frames, after re-reading preview_context_s of the frames before
    # them (EnCodec's convolutions and LSTM need a run-in), so all of a segment's previews cost about
    # one decode of it plus that run-in each time, not one decode from its start each time.
    preview_first_s: float = 1.0
    preview_every_s: float = 2.0
    preview_context_s: float = 1.0

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
        if placement.quantize == "int8" and torch.get_num_threads() > 1:  # its one-row kernel stalls on a busy core
            self.decoders = ThreadedDecoders(torch.get_num_threads())
        self.row_exact = resolve_row_exact(settings.row_exact, placement)

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
                folder = conversion.cached_native(folder, converted_dir(settings), small=small)
            folders[small] = folder
        models = {}
        for i, stage in enumerate(STAGES):
            report(f"Loading the {stage} model", 0.3 + 0.2 * i)
            small = sizes[stage] == "small"
            models[stage] = checkpoints.load_stage(folders[small], stage, device=place.home, dtype=place.dtype, small=small)
            placement_mod.prepare_stage(models[stage], place)  # int8 weights, pinned memory
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
        dtype = placement_mod.dtype_name(self.placement.dtype)  # what the tensors are (int8 mode: float32 + int8 Linears)
        params = {stage: sum(p.numel() for p in set(m.parameters())) for stage, m in self.models.items()}
        known = all(s in MODEL_SIZES for s in sizes.values())
        estimate = placement_mod.estimate_gpu_memory(sizes, dtype, self.placement.placement) if known else None
        on_cpu = self.placement.device.type == "cpu"
        return dict(
            device=str(self.placement.device), dtype=self.placement.precision, placement=self.placement.placement, size=size,
            sizes=sizes, params=params, folder=str(self.folder), exact=self.placement.exact,
            gpu_memory_estimate_bytes=estimate,
            precision_warning=(placement_mod.cpu_precision_warning(self.placement.dtype)
                               if on_cpu and self.placement.choice is None else None),  # measured choices need none
            precision_choice=self.placement.choice.as_dict() if self.placement.choice is not None else None,
            fast_cpu_mode=self._fast_cpu_mode() if on_cpu else None,
        )

    def _fast_cpu_mode(self) -> dict:
        """The int8 mode on this CPU: what its Linear gained over float32's in the cached measurement (never measured
        here; {} when it was not), whether torch can run it, and what it costs in agreement (random weights)."""
        choice = self.placement.choice
        if choice is None:  # an explicit precision is never measured: read what an earlier "auto" load cached
            choice = precision.cached_choice(Path(self.settings.cache_dir) if self.settings.cache_dir else None,
                                             "small" if self.settings.small else "large")
        return dict(available=quantize.int8_available(),
                    speedup=precision.int8_speedup(choice.timings_ms) if choice is not None else {},
                    agreement_on_random_weights=list(quantize.AGREEMENT_ON_RANDOM_WEIGHTS))

    # ------------------------------------------------------------------ the staged API

    def make_generator(self, seed: Optional[int] = None) -> torch.Generator:
        """A random stream on the device the engine samples on, seeded ``seed`` (None: a random seed).

        What the staged API's ``generator=`` takes, to run its three stages from one stream.
        """
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

    def _generators(self, seed: Optional[int], generator, takes: int) -> list[torch.Generator]:
        """One generator per take: ``generator`` (one shared, or one per take), else seeds seed, seed+1, ..."""
        if generator is not None:
            gens = [generator] * takes if isinstance(generator, torch.Generator) else list(generator)
            if len(gens) != takes:
                raise ValueError(f"{takes} take(s) need {takes} generator(s), got {len(gens)}.")
            return gens
        seed = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
        return [self.make_generator(take_seed(seed, b)) for b in range(takes)]

    def text_to_semantic(
        self, text: str, voice: Optional[Voice] = None, *, temp: float = setting("semantic_temp").default,
        top_k: Optional[int] = None, top_p: Optional[float] = None, min_eos_p: float = setting("min_eos_p").default,
        early_stop: bool = setting("early_stop").default, max_seconds: Optional[float] = None,
        takes: int = setting("takes").default, seed: Optional[int] = None,
        generator: Union[torch.Generator, Sequence[torch.Generator], None] = None,
        hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """Semantic tokens of each take, (T,) each. Text over 256 tokens is refused (use generate for long text).

        Take b draws from ``generator`` (one shared, or a list with one per take), else from seed + b.
        Defaults and ranges are the settings table's (ValueError with a sentence outside them).
        """
        validate_settings(dict(semantic_temp=temp, top_k=top_k, top_p=top_p, min_eos_p=min_eos_p,
                               early_stop=early_stop, max_seconds=max_seconds, takes=takes, seed=seed))
        ids = self.tokenize(longform.normalize_text(text))
        if not ids:
            raise ValueError("The text has nothing the tokenizer can read.")
        if len(ids) > MAX_TEXT_TOKENS:
            raise ValueError(f"The text is {len(ids)} tokens; one generation takes {MAX_TEXT_TOKENS}. Use generate() for long text.")
        sampling = Sampling(temp, top_k, top_p)
        history = None if voice is None else voice.semantic
        rows = [generation.SemanticRow(ids, history, sampling, g, min_eos_p=min_eos_p, early_stop=early_stop,
                                       max_seconds=max_seconds) for g in self._generators(seed, generator, takes)]
        return self._semantic(rows, hooks)

    def _semantic(self, rows, hooks) -> list[Optional[np.ndarray]]:
        with self._stage("semantic") as model:
            return generation.generate_semantic(
                model, rows, hooks=hooks, eos_check_every=1 if self.placement.device.type == "cpu" else 8,
                decoders=self.decoders, row_exact=self.row_exact,
            )

    def semantic_to_coarse(
        self, semantic: Union[np.ndarray, Sequence[np.ndarray]], voice: Optional[Voice] = None, *,
        temp: float = setting("coarse_temp").default, top_k: Optional[int] = None, top_p: Optional[float] = None,
        max_coarse_history: int = setting("max_coarse_history").default,
        sliding_window_len: int = setting("sliding_window_len").default, seed: Optional[int] = None,
        generator: Union[torch.Generator, Sequence[torch.Generator], None] = None,
        hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """Coarse codes (2, N) of each take (defaults and ranges: the settings table's)."""
        validate_settings(dict(coarse_temp=temp, top_k=top_k, top_p=top_p, max_coarse_history=max_coarse_history,
                               sliding_window_len=sliding_window_len, seed=seed))
        semantics = [semantic] if isinstance(semantic, np.ndarray) else list(semantic)
        sampling = Sampling(temp, top_k, top_p)
        vs, vc = (None, None) if voice is None else (voice.semantic, voice.coarse)
        rows = [generation.CoarseRow(s, vs, vc, sampling, g, max_coarse_history=max_coarse_history,
                                     sliding_window_len=sliding_window_len)
                for s, g in zip(semantics, self._generators(seed, generator, len(semantics)))]
        return self._coarse(rows, hooks)

    def _coarse(self, rows, hooks) -> list[Optional[np.ndarray]]:
        with self._stage("coarse") as model:
            return generation.generate_coarse(model, rows, hooks=hooks, decoders=self.decoders,
                                              row_exact=self.row_exact)

    def coarse_to_fine(
        self, coarse: Union[np.ndarray, Sequence[np.ndarray]], voice: Optional[Voice] = None, *,
        temp: float = setting("fine_temp").default, seed: Optional[int] = None,
        generator: Union[torch.Generator, Sequence[torch.Generator], None] = None,
        hooks: StepHooks = generation.NO_HOOKS,
    ) -> list[np.ndarray]:
        """All eight codebooks (8, N) of each take (the temperature's default and range: the settings table's)."""
        validate_settings(dict(fine_temp=temp, seed=seed))
        coarses = [coarse] if isinstance(coarse, np.ndarray) else list(coarse)
        vf = None if voice is None else voice.fine
        rows = [generation.FineRow(c, vf, Sampling(temp), g)
                for c, g in zip(coarses, self._generators(seed, generator, len(coarses)))]
        return self._fine(rows, hooks)

    def _fine(self, rows, hooks) -> list[Optional[np.ndarray]]:
        with self._stage("fine") as model:
            return generation.generate_fine(model, rows, hooks=hooks, row_exact=self.row_exact)

    def decode(self, fine: np.ndarray) -> np.ndarray:
        """EnCodec: fine codes (8, N) -> audio (N * 320,) float32 at 24 kHz."""
        return self._codec_decode(fine, partial=False)

    def decode_preview(self, codes: np.ndarray) -> np.ndarray:
        """EnCodec from the first K codebooks alone, e.g. coarse codes (2, N) -> audio (N * 320,): lower
        fidelity, same length; what plays while the fine stage has not run yet. Draws no random numbers."""
        return self._codec_decode(codes, partial=True)

    @torch.inference_mode()
    def _codec_decode(self, codes: np.ndarray, partial: bool) -> np.ndarray:
        if codes.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64))[None]
        device = self.placement.device if self.placement.device.type == "cuda" else self.codec.device
        home = self.codec.device
        self.codec.to(device)
        try:
            audio = self.codec.decode_partial(x) if partial else self.codec.decode(x)
            return audio[0].cpu().numpy().astype(np.float32)
        finally:
            self.codec.to(home)

    # ------------------------------------------------------------------ all at once

    def generate(
        self, request: GenerationRequest, on_progress: Optional[ProgressCallback] = None,
        should_stop: Optional[StopCallback] = None, on_segment: Optional[SegmentCallback] = None,
        accept_segment: Optional[SegmentCheckCallback] = None, segment_retakes: int = 0,
        on_preview: Optional[PreviewCallback] = None, owner: str = "",
    ) -> Generation:
        """Text (any length) -> audio and tokens of every take. See GenerationRequest for the knobs.

        Take b draws from its own generator seeded ``take_seed(seed, b)`` (``Take.seed``); on the
        exact placement a take's tokens do not depend on the others, so ``regenerate_take``
        makes it again alone. ``accept_segment`` (optional) sees every decoded segment of every
        take; when it returns False that take's segment is drawn again (its generator goes on),
        up to ``segment_retakes`` more times, before the next segment continues from the
        accepted (or last) draw. ``owner`` (whose request) is for a queue in front of the engine; ignored here.

        ``on_preview(segment index, segments, take audios)`` (optional; only while ``request.live_preview``
        and ``request.decode``) hears, during each segment's coarse stage, every take's audio so far:
        its finished segments joined, then the segment in the making decoded from its coarse codes
        alone (lower fidelity); see ``preview_first_s`` / ``preview_every_s`` for how often. The final
        audio then comes through ``on_segment`` and the result. Previews change no token or sample;
        a raising ``on_preview`` is handled like a raising ``on_segment``.

        Raises ValueError (bad request), GenerationCancelled (should_stop), GPUOutOfMemory.
        """
        _check_retakes(segment_retakes)
        if not self._busy.acquire(blocking=False):
            raise EngineBusy("The engine is busy with another generation; wait for it to finish and try again.")
        try:
            job = _Job(BatchJob(request, on_progress, should_stop, on_segment, accept_segment, segment_retakes,
                                on_preview=on_preview))
            self._run([job], isolate=False)
            return job.outcome
        except torch.cuda.OutOfMemoryError as e:
            raise self._out_of_memory(e) from e
        finally:
            self._busy.release()
            if self.placement.device.type == "cuda":
                torch.cuda.empty_cache()

    def regenerate_take(
        self, request: GenerationRequest, generation: Generation, index: int, **callbacks,
    ) -> Generation:
        """Take ``index`` of ``generation`` (made from ``request``) again, alone: one take with its seed.

        On the exact placement (CPU float32) its tokens and audio are that take's exactly.
        ``callbacks`` are generate()'s (on_progress, should_stop, on_segment, accept_segment, segment_retakes).
        """
        takes = generation.takes
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(takes):
            raise ValueError(f"There is no take {index!r} to regenerate; this generation has {len(takes)} "
                             f"(numbered from 0).")
        return self.generate(dataclasses.replace(request, seed=takes[index].seed, takes=1), **callbacks)

    def generate_batch(self, jobs: Sequence[BatchJob]) -> list[Union[Generation, BaseException]]:
        """Run several requests as one batch; each entry is that job's Generation or its exception.

        Every row (the takes of every job) keeps its own prompt, voice, settings and seed; rows
        of equal shape share the model's batched math, and on the exact placement each row's
        tokens equal its solo ``generate()``'s. Long texts advance segment by segment together.
        A job with bad segment retakes gets its ValueError, a stopped job GenerationCancelled, and the others run
        on undisturbed. Raises EngineBusy when another generation runs.
        """
        states = [_Job(job) for job in jobs]
        for st in states:
            try:
                if not isinstance(st.job, BatchJob):
                    raise ValueError(f"generate_batch takes BatchJob entries, got {type(st.job).__name__}.")
                _check_retakes(st.job.segment_retakes)
            except ValueError as e:
                st.outcome = e
        if not self._busy.acquire(blocking=False):
            raise EngineBusy("The engine is busy with another generation; wait for it to finish and try again.")
        try:
            for st in states:
                if st.outcome is not None:
                    _notify(st)
            self._run([st for st in states if st.outcome is None], isolate=True)
        except torch.cuda.OutOfMemoryError as e:
            error = self._out_of_memory(e)
            error.__cause__ = e
            for st in states:
                if st.outcome is None:
                    st.outcome = error
                    _notify(st)
        except Exception as e:  # an engine failure: every unfinished job gets it, none is left hanging
            log.exception("A batch of %d job(s) failed", len(states))
            for st in states:
                if st.outcome is None:
                    st.outcome = e
                    _notify(st)
        finally:
            self._busy.release()
            if self.placement.device.type == "cuda":
                torch.cuda.empty_cache()
        return [st.outcome for st in states]

    def _out_of_memory(self, e: BaseException) -> GPUOutOfMemory:
        # The traceback's frames hold the failed job's activations and caches: drop them and
        # collect (~0.1-0.3 s, so only here, not after every job); `finally` then empties the cache.
        e.__traceback__ = None
        if isinstance(self.decoders, GraphDecoders):
            self.decoders.clear()
        gc.collect()
        return GPUOutOfMemory(
            "The GPU ran out of memory. Try fewer takes, the small models (--small), "
            "stage-by-stage placement (--offload) or bfloat16/float16 precision."
        )

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

    def _run(self, jobs: list["_Job"], isolate: bool) -> None:
        """Generate every job, segment by segment in lockstep; each job ends with ``outcome`` set.

        ``isolate``: a job's failure (bad text, stop, a raising callback) is its outcome and the
        others go on; otherwise it propagates.
        """
        started = time.perf_counter()

        def fail(st: _Job, error: BaseException) -> None:
            if not isolate:
                raise error
            st.outcome = error
            _notify(st)

        for st in jobs:
            request = st.request
            st.seed = secrets.randbelow(MAX_SEED + 1) if request.seed is None else request.seed
            try:
                _check_voice(request.voice)
                st.segments, st.warnings = self.plan_segments(request.text, request.long_form)
            except ValueError as e:
                fail(st, e)
                continue
            st.takes = [_TakeState(take_seed(st.seed, b), self.make_generator(take_seed(st.seed, b)), request.voice)
                        for b in range(request.takes)]
        for k in range(max((len(st.segments) for st in jobs), default=0)):
            live = [st for st in jobs if st.outcome is None and k < len(st.segments)]
            if live:
                self._segment(live, k, isolate, fail, started)

    def _segment(self, live: list["_Job"], k: int, isolate: bool, fail, started: float) -> None:
        """Segment ``k`` of every job in ``live`` (all their takes as one batch), retakes included."""
        hooks = generation.JobHooks(
            [StepHooks(st.job.on_progress, st.job.should_stop, k + 1, len(st.segments),
                       on_coarse_window=self._previewer(st, k)) for st in live], isolate)
        for st in live:
            for take in st.takes:
                take.current = None

        def settle() -> None:  # a job that left the batch gets its outcome now, not when the segment ends
            for j, error in hooks.failed.items():
                if live[j].outcome is None:
                    fail(live[j], error)

        for st in live:
            st.ids = self.tokenize(st.segments[k])[:MAX_TEXT_TOKENS]
        rows = [(j, b) for j, st in enumerate(live) for b in range(st.request.takes)]
        tries = dict.fromkeys(rows, 0)
        got: dict[tuple[int, int], tuple[Voice, Optional[np.ndarray]]] = {}
        pending = rows
        while pending:
            tokens = self._tokens(live, pending, hooks)
            settle()
            self._decode(live, pending, tokens, hooks, got)
            settle()
            retry = []
            for j, b in pending:
                tries[(j, b)] += 1
                st = live[j]
                accept = st.job.accept_segment
                if not hooks.alive(j) or accept is None or tries[(j, b)] > st.job.segment_retakes:
                    continue
                voice, audio = got[(j, b)]
                try:
                    ok = accept(SegmentCheck(b, k, st.segments[k], voice, audio, tries[(j, b)]))
                except Exception as e:
                    if not isolate:
                        raise
                    hooks.fail(j, e)
                    continue
                if not ok:
                    retry.append((j, b))
            settle()
            pending = [row for row in retry if hooks.alive(row[0])]
        for j, st in enumerate(live):
            if not hooks.alive(j):
                continue
            try:
                self._finish_segment(st, k, [got[(j, b)] for b in range(st.request.takes)],
                                     [tries[(j, b)] for b in range(st.request.takes)])
            except Exception as e:  # a raising on_segment callback
                fail(st, e)
                continue
            if k + 1 == len(st.segments):
                st.timings["total"] = time.perf_counter() - started
                st.outcome = st.result()
                if isolate:
                    _notify(st)

    def _tokens(self, live: list["_Job"], rows: list[tuple[int, int]], hooks) -> list[Optional[Voice]]:
        """Run the three token stages for ``rows`` ((job, take) pairs) as one batch; None where a job left."""
        stamp = time.perf_counter()

        def lap(stage: str, jobs) -> None:
            nonlocal stamp
            now = time.perf_counter()
            for j in set(jobs):
                live[j].timings[stage] = live[j].timings.get(stage, 0.0) + now - stamp
            stamp = now

        def voice(j, b):
            return live[j].takes[b].voice

        rows = list(rows)
        sem_rows = []
        for j, b in rows:
            r, v = live[j].request, voice(j, b)
            sem_rows.append(generation.SemanticRow(
                live[j].ids, None if v is None else v.semantic, r.sampling("semantic"), live[j].takes[b].generator,
                min_eos_p=r.min_eos_p, early_stop=r.early_stop, max_seconds=r.max_seconds, job=j))
        semantic = self._semantic(sem_rows, hooks)
        lap("semantic", [j for j, _ in rows])
        keep = [i for i, s in enumerate(semantic) if s is not None]
        coarse_rows = []
        for i in keep:
            j, b = rows[i]
            r, v = live[j].request, voice(j, b)
            coarse_rows.append(generation.CoarseRow(
                semantic[i], None if v is None else v.semantic, None if v is None else v.coarse, r.sampling("coarse"),
                live[j].takes[b].generator, max_coarse_history=r.max_coarse_history,
                sliding_window_len=r.sliding_window_len, job=j))
        for j, st in enumerate(live):  # whose coarse rows these are, in row order (for previews)
            st.coarse_takes = [rows[i][1] for i in keep if rows[i][0] == j]
            st.preview_frames = 0
            for b in st.coarse_takes:
                st.takes[b].previewed = 0  # a new draw: its first preview decodes from its start
        coarse = dict(zip(keep, self._coarse(coarse_rows, hooks)))
        lap("coarse", [rows[i][0] for i in keep])
        keep = [i for i in keep if coarse[i] is not None]
        fine_rows = []
        for i in keep:
            j, b = rows[i]
            v = voice(j, b)
            fine_rows.append(generation.FineRow(coarse[i], None if v is None else v.fine,
                                                live[j].request.sampling("fine"), live[j].takes[b].generator, job=j))
        fine = dict(zip(keep, self._fine(fine_rows, hooks)))
        lap("fine", [rows[i][0] for i in keep])
        out: list[Optional[Voice]] = [None] * len(rows)
        for i in keep:
            if fine[i] is not None:
                out[i] = Voice(semantic=semantic[i], coarse=coarse[i], fine=fine[i])
        return out

    def _decode(self, live, rows, tokens, hooks, got) -> None:
        """Decode each row's fine codes (when its request decodes); ``got[row] = (tokens, audio or None)``."""
        by_job: dict[int, list[int]] = defaultdict(list)
        for i, (j, _) in enumerate(rows):
            if tokens[i] is not None and hooks.alive(j):
                by_job[j].append(i)
        for j, items in by_job.items():
            st = live[j]
            if not st.request.decode:
                for i in items:
                    got[rows[i]] = (tokens[i], None)
                continue
            t = time.perf_counter()
            if not hooks.step(j, "decode", 0, len(items)):
                continue
            for n, i in enumerate(items):
                got[rows[i]] = (tokens[i], self.decode(tokens[i].fine))
                st.takes[rows[i][1]].current = got[rows[i]][1]  # what later previews of this segment play
                if not hooks.step(j, "decode", n + 1, len(items)):
                    break
            st.timings["decode"] = st.timings.get("decode", 0.0) + time.perf_counter() - t

    def _previewer(self, st: "_Job", k: int) -> Optional[generation.CoarseWindowCallback]:
        """The coarse-window hook that previews segment ``k`` of ``st`` (None when it wants no previews)."""
        on_preview = getattr(st.job, "on_preview", None)
        if on_preview is None or not st.request.live_preview or not st.request.decode:
            return None
        first = round(self.preview_first_s * COARSE_RATE_HZ)  # frames
        every = max(1, round(self.preview_every_s * COARSE_RATE_HZ))
        context = round(self.preview_context_s * COARSE_RATE_HZ)

        def on_window(codes: list[np.ndarray], done: bool) -> None:
            frames = max((c.shape[1] for c in codes), default=0)
            due = first if st.preview_frames == 0 else st.preview_frames + every
            if frames <= st.preview_frames or (frames < due and not done):
                return
            st.preview_frames = frames
            t = time.perf_counter()
            for b, c in zip(st.coarse_takes, codes):
                self._extend_preview(st.takes[b], c, context)
            st.timings["preview"] = st.timings.get("preview", 0.0) + time.perf_counter() - t
            pause = st.request.segment_pause_s
            on_preview(k, len(st.segments), [longform.join_audio(take.parts + ([take.current] if take.current is not None
                                                                               else []), pause) for take in st.takes])

        return on_window

    def _extend_preview(self, take: "_TakeState", codes: np.ndarray, context: int) -> None:
        """Bring ``take.current`` (the preview of its first ``take.previewed`` frames) up to all of ``codes``."""
        done, n = take.previewed, codes.shape[1]
        if n <= done:
            return
        if done == 0 or take.current is None:
            take.current = self.decode_preview(codes)
        else:
            start = max(0, done - context)
            tail = self.decode_preview(codes[:, start:])[(done - start) * HOP :]  # the new frames' audio
            take.current = np.concatenate([take.current[: done * HOP], tail])
        take.previewed = n

    def _finish_segment(self, st: "_Job", k: int, results: list, tries: list[int]) -> None:
        """Record segment ``k`` of every take of ``st``: audio, segment data, the next segment's voice."""
        request = st.request
        pause = int(round(request.segment_pause_s * SAMPLE_RATE))
        for b, ((tok, audio), take) in enumerate(zip(results, st.takes)):
            if tok.semantic.size == 0:
                st.warnings.append(f"Take {b + 1} stopped at once in segment {k + 1}; try another seed.")
            n = len(audio) if audio is not None else tok.fine.shape[1] * HOP
            start = take.length + (pause if k else 0)
            take.length = start + n
            take.segments.append(SegmentTake(st.segments[k], tok, start, start + n, tries[b]))
            if audio is not None:
                take.parts.append(audio)
            take.last = tok
            if request.voice is None and len(st.segments) > 1 and tok.semantic.size:
                take.voice = tok  # keep each take's speaker for the next segment
        if st.job.on_segment is not None and request.decode:
            st.job.on_segment(k, len(st.segments),
                              [longform.join_audio(t.parts, request.segment_pause_s) for t in st.takes])


HOP = SAMPLE_RATE // 75  # audio samples per codec frame


def _check_retakes(segment_retakes) -> None:
    if (isinstance(segment_retakes, bool) or not isinstance(segment_retakes, int)
            or not 0 <= segment_retakes <= MAX_SEGMENT_RETAKES):
        raise ValueError(f"Segment retakes must be a whole number from 0 to {MAX_SEGMENT_RETAKES}, "
                         f"got {segment_retakes!r}.")


@dataclass
class _TakeState:
    """One take while its request runs: its seed and generator, the voice its next segment continues."""

    seed: int
    generator: torch.Generator
    voice: Optional[Voice]
    parts: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    last: Optional[Voice] = None
    length: int = 0  # samples of joined audio so far
    current: Optional[np.ndarray] = None  # the segment in the making: its latest preview, or its final audio
    previewed: int = 0  # frames of this draw of the segment that ``current`` previews


class _Job:
    """One request in flight inside the engine."""

    def __init__(self, job: BatchJob):
        self.job = job
        self.request: GenerationRequest = getattr(job, "request", None)
        self.outcome: Union[Generation, BaseException, None] = None
        self.seed = 0
        self.segments: list[str] = []
        self.warnings: list[str] = []
        self.takes: list[_TakeState] = []
        self.timings: dict[str, float] = {}
        self.ids: list[int] = []
        self.coarse_takes: list[int] = []  # the take of each of this job's rows in the coarse stage now running
        self.preview_frames = 0  # frames of the segment in the making its last preview held

    def result(self) -> Generation:
        r = self.request
        takes = [Take(audio=longform.join_audio(t.parts, r.segment_pause_s) if r.decode else None, voice=t.last,
                      seed=t.seed, segments=list(t.segments)) for t in self.takes]
        return Generation(takes=takes, seed=self.seed, timings=dict(self.timings), warnings=self.warnings,
                          sample_rate=SAMPLE_RATE)


def _check_voice(voice: Optional[Voice]) -> None:
    """A request's voice must be tokens the models can embed: a hostile one (ids out of range, wrong
    shapes) would otherwise fail inside the batched math and take every job of its batch down with it."""
    if voice is not None:
        voices.validate_voice(voice.semantic, voice.coarse, voice.fine, voice.name, check_ratio=False)


def _notify(st: _Job) -> None:
    callback = getattr(st.job, "on_done", None)
    if callback is None:
        return
    try:
        callback(st.outcome)
    except Exception:  # a caller's bug must not break the batch
        log.exception("on_done callback failed")


def free_accelerator_memory() -> None:
    """Collect garbage and return cached GPU memory (after an engine is replaced)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
