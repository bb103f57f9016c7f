"""CPU precision chosen by measurement, cached once per machine.

Instruction flags do not say which precision is fastest: on one Xeon listing
avx512_bf16, bfloat16 matrix products were slower than float32. So on first load
the stages' own matrix shapes (a Linear n_embd -> 4*n_embd at one row, as in a
decode step, and at ~600 rows, as in a prompt) are timed in each candidate
precision for about a second, and float32 (the exact path) is kept unless another
precision is at least ``threshold`` times faster on both. The timings are cached
in a JSON file per CPU model, instruction flags, torch version, model size and
thread count; the rule itself (:func:`choose`) is a pure function of the timings.

"auto" never picks the int8 mode (``--dtype int8``, quantize.py), however fast: its tokens differ
from the reference's, and its quality on Suno's trained weights cannot be measured where only
random weights exist (bench/bench_quality.py bounds its drift on random ones). It is a choice the
user makes; its many-row products reuse these timings (:func:`int8_prompt_dtype`). The same
measurement times the int8 mode's own Linear (quantize.Int8Linear, as that mode runs it) and caches
it beside the others, so the UI can say what the fast mode would gain per step on this CPU
(:func:`int8_speedup`) without measuring again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import torch

from . import quantize

log = logging.getLogger(__name__)

CACHE_FILE = "precision.json"
CACHE_VERSION = 2  # 2: entries also hold the int8 mode's timings (version 1 entries are measured again)
THRESHOLD = 1.2  # another precision must be at least this much faster than float32 on every shape
CANDIDATES = ("bfloat16", "float16")
INT8 = "int8"  # the fast CPU mode: timed beside the candidates, shown to the user, never chosen by the rule
SHAPES = ("one_row", "prompt")  # decode step (1 row), prompt (PROMPT_ROWS rows)
PROMPT_ROWS = 600
WIDTHS = {"large": 1024, "small": 768}
BUDGET_S = 1.0
ONE_ROW_PASSES = 5  # one-row passes per round (one prompt call per round)
STREAM_BYTES = 32 * 1024**2  # one-row timings cycle through this much float32 weight (beyond L2), as a decode step reads its layers
_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SHAPE_LABELS = {"one_row": "one row", "prompt": f"{PROMPT_ROWS} rows"}

Timings = dict[str, dict[str, float]]  # precision -> shape -> milliseconds per Linear call ("int8" included)


@dataclass(frozen=True)
class Verdict:
    """The precision chosen for the CPU, why, and the timings behind it."""

    dtype: str  # "float32", "bfloat16" or "float16"
    reason: str
    timings_ms: Timings = field(default_factory=dict)
    cached: bool = False  # read from the cache file rather than measured in this process
    key: str = ""  # the cache key: CPU model, flags digest, torch version, size, threads

    @property
    def torch_dtype(self) -> torch.dtype:
        return _TORCH_DTYPES[self.dtype]

    def as_dict(self) -> dict:
        """Plain data for engine.info() and the UI."""
        d = asdict(self)
        d["timings_ms"] = {p: dict(t) for p, t in self.timings_ms.items()}
        return d


# ---------------------------------------------------------------- the rule


def valid_ms(value) -> bool:
    """Whether ``value`` is a usable timing in milliseconds: a finite positive number (bools, NaN, 0 are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def choose(timings: Mapping[str, Mapping[str, float]], threshold: float = THRESHOLD) -> Verdict:
    """float32 unless another precision is >= ``threshold`` x faster than float32 on every shape float32 was timed at.

    ``timings`` maps precision -> shape -> milliseconds. Among precisions that pass, the one
    with the largest worst-shape speed-up wins. Missing or invalid timings never pick a
    precision other than float32.
    """
    clean: Timings = {p: {s: float(v) for s, v in t.items() if valid_ms(v)} for p, t in timings.items()
                      if isinstance(t, Mapping)}  # int8's timings ride along (cached, shown), never chosen:
    base = clean.get("float32", {})
    if not base:
        return Verdict("float32", "float32: it was not timed, and float32 is the exact path.", clean)
    speedups: dict[str, dict[str, float]] = {}
    for p, t in clean.items():
        if p == "float32" or p not in _TORCH_DTYPES:  # int8 is not a torch dtype: skipped however fast
            continue
        speedups[p] = {s: base[s] / t[s] for s in base if s in t}
    passing = {p: min(r.values()) for p, r in speedups.items() if set(r) == set(base) and min(r.values()) >= threshold}

    def describe(p: str) -> str:
        r = speedups[p]
        parts = [f"{r[s]:.2f}x at {SHAPE_LABELS.get(s, s)}" for s in base if s in r]
        missing = [SHAPE_LABELS.get(s, s) for s in base if s not in r]
        return f"{p} " + ", ".join(parts + [f"not timed at {m}" for m in missing])

    if passing:
        best = max(passing, key=passing.get)
        return Verdict(best, f"{best}: at least {threshold:g}x as fast as float32 on both shapes on this CPU "
                             f"({describe(best)}); float32 stays the exact path on request.", clean)
    others = "; ".join(describe(p) for p in speedups) or "no other precision timed"
    return Verdict("float32", f"float32: no other precision is {threshold:g}x as fast on both shapes on this CPU "
                              f"({others}).", clean)


def int8_prompt_dtype(timings: Mapping[str, Mapping[str, float]], threshold: float = THRESHOLD) -> str:
    """The int8 mode's dtype for many-row products: "bfloat16" where it was timed >= ``threshold`` x faster
    than float32 at prompt rows on this CPU (e.g. AMX), else "float32"."""
    f32, bf16 = (timings.get(p, {}).get("prompt") for p in ("float32", "bfloat16"))
    return "bfloat16" if valid_ms(f32) and valid_ms(bf16) and f32 / bf16 >= threshold else "float32"


def int8_speedup(timings: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """How many times faster the int8 mode's Linear was than float32's, per shape timed ({} when not timed).

    ``one_row`` is what int8 gains per decode step (a step is its Linears at one row), ``prompt`` per prompt.
    """
    base, fast = timings.get("float32"), timings.get(INT8)
    if not isinstance(base, Mapping) or not isinstance(fast, Mapping):
        return {}
    return {s: base[s] / fast[s] for s in SHAPES if valid_ms(base.get(s)) and valid_ms(fast.get(s))}


# ---------------------------------------------------------------- the machine


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name ("model name" in /proc/cpuinfo, else what the platform says)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _flags_digest(cpuinfo: Path) -> str:
    """A short digest of the instruction flags: cloud CPUs often share a generic model name."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return hashlib.sha256(" ".join(sorted(value.split())).encode()).hexdigest()[:12]
    except OSError:
        pass
    return "noflags"


def torch_version() -> str:
    return torch.__version__


def cache_key(size: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """What a cached verdict is valid for: CPU model and flags, torch version, model size, threads."""
    return (f"{cpu_model(cpuinfo)} [flags {_flags_digest(cpuinfo)}] | torch {torch_version()} | {size} | "
            f"{torch.get_num_threads()} threads")


# ---------------------------------------------------------------- the measurement


def measure(size: str = "large", candidates: Iterable[str] = CANDIDATES, budget_s: float = BUDGET_S,
            int8: bool = True) -> Timings:
    """Milliseconds per Linear(n_embd, 4*n_embd) call at one row and at PROMPT_ROWS rows, best of the rounds.

    One-row calls cycle through several copies of the weight (beyond the per-core caches, as a
    decode step reads one layer after another). Precisions alternate within each round, so a
    shared CPU's drift slows all alike; the best of the rounds is kept (load only adds time).
    A candidate already slower than float32 on a shape is not timed again. Rounds stop when
    ``budget_s`` (setup included) is spent; at least one round is always made.

    With ``int8`` (and where torch has the kernel) the int8 mode's own Linear (quantize.Int8Linear:
    the int8 kernel at one row, its dequantized product at prompt rows in :func:`int8_prompt_dtype`)
    is timed too, under "int8", in every round: it is shown, never chosen (:func:`choose` skips it).
    """
    if size not in WIDTHS:
        raise ValueError(f"Unknown model size {size!r}: use large or small.")
    start = time.perf_counter()
    c = WIDTHS[size]
    copies = max(1, math.ceil(STREAM_BYTES / (4 * c * 4 * c)))
    gen = torch.Generator().manual_seed(0)
    w32 = torch.randn(4 * c, c, generator=gen) * 0.02
    master = [w32] + [w32.clone() for _ in range(copies - 1)]
    bias = torch.zeros(4 * c)
    x1, xp = torch.randn(1, c, generator=gen), torch.randn(PROMPT_ROWS, c, generator=gen)
    names = ["float32"] + [p for p in dict.fromkeys(candidates) if p != "float32" and p in _TORCH_DTYPES]
    linear = torch.nn.functional.linear
    setups, best = {}, {}
    q8 = _int8_setup(w32, bias, x1, xp) if int8 else None  # timed last in a round: its prompt dtype follows the floats'
    with torch.inference_mode():
        for p in names:
            dt = _TORCH_DTYPES[p]
            try:
                ws, b = [w.to(dt) for w in master], bias.to(dt)
                a1, ap = x1.to(dt), xp.to(dt)
                linear(ap, ws[0], b)  # warm-up: the first calls pick kernels and pack weights
                for w in ws:
                    linear(a1, w, b)
            except (RuntimeError, NotImplementedError) as e:  # a precision this build cannot run on the CPU
                log.info("precision %s cannot run on this CPU: %s", p, e)
                continue
            setups[p] = (ws, b, a1, ap)
            best[p] = {"one_row": math.inf, "prompt": math.inf}
        active = list(setups) + ([INT8] if q8 is not None and "float32" in setups else [])
        while active:
            for p in active:
                if p == INT8:
                    _time_int8(q8, x1, xp, best)
                    continue
                ws, b, a1, ap = setups[p]
                for _ in range(ONE_ROW_PASSES):  # cheap: several per round, so a burst of load is outvoted
                    t0 = time.perf_counter()
                    for w in ws:
                        linear(a1, w, b)
                    best[p]["one_row"] = min(best[p]["one_row"], (time.perf_counter() - t0) * 1e3 / len(ws))
                t0 = time.perf_counter()
                linear(ap, ws[0], b)
                best[p]["prompt"] = min(best[p]["prompt"], (time.perf_counter() - t0) * 1e3)
            if "float32" not in best or time.perf_counter() - start >= budget_s:
                break
            f32 = best["float32"]
            active = ["float32"] + [p for p in active
                                    if p not in ("float32", INT8) and all(best[p][s] <= f32[s] for s in SHAPES)]
            if active == ["float32"] and q8 is None:
                break
            if q8 is not None:
                active.append(INT8)  # shown to the user, so timed every round whatever it costs
    return {p: {s: round(v, 4) for s, v in t.items()} for p, t in best.items()}


def _int8_setup(w32: torch.Tensor, bias: torch.Tensor, x1: torch.Tensor, xp: torch.Tensor):
    """The int8 mode's Linear (quantize.Int8Linear) in enough copies to stream STREAM_BYTES of int8 weights at one
    row, as float32's stream theirs: a real decode step reads its layers from memory in either mode (fewer copies
    would fit a big L3 and flatter int8 beyond what a step gains); None where this torch has no int8 kernel."""
    if not quantize.int8_available():
        return None
    import copy  # noqa: PLC0415

    lin = torch.nn.Linear(w32.shape[1], w32.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w32)
        lin.bias.copy_(bias)
    first = quantize.Int8Linear(lin)
    copies = max(1, math.ceil(STREAM_BYTES / w32.numel()))  # one byte per int8 weight
    mods = [first] + [copy.deepcopy(first) for _ in range(copies - 1)]
    try:
        mods[0](xp)  # warm-up, as for the others
        for m in mods:
            m(x1)
    except (RuntimeError, NotImplementedError) as e:
        log.info("the int8 mode cannot run on this CPU: %s", e)
        return None
    return mods


def _time_int8(mods: list, x1: torch.Tensor, xp: torch.Tensor, best: dict) -> None:
    """One round of the int8 mode's Linear, as that mode runs it (prompt rows in the dtype the timings so far pick)."""
    t = best.setdefault(INT8, {"one_row": math.inf, "prompt": math.inf})
    for _ in range(ONE_ROW_PASSES):
        t0 = time.perf_counter()
        for m in mods:
            m(x1)
        t["one_row"] = min(t["one_row"], (time.perf_counter() - t0) * 1e3 / len(mods))
    mods[0].prompt_dtype = _TORCH_DTYPES[int8_prompt_dtype(best)]
    t0 = time.perf_counter()
    mods[0](xp)
    t["prompt"] = min(t["prompt"], (time.perf_counter() - t0) * 1e3)


# ---------------------------------------------------------------- the cache


def default_cache_dir() -> Path:
    """Bark Studio's cache folder when none is given."""
    return Path.home() / ".cache" / "bark-studio"


def _read_entries(path: Path) -> dict:
    """The cache file's entries; {} when it is missing or not what this module writes."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("Ignoring the unreadable precision cache %s (%s); measuring again.", path, e)
        return {}
    if isinstance(data, dict) and isinstance(data.get("version"), int) and data["version"] < CACHE_VERSION:
        log.info("The precision cache %s was written by an older version; measuring again.", path)
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        log.warning("Ignoring the precision cache %s: not in the expected format; measuring again.", path)
        return {}
    return data["entries"]


def _valid_timings(t) -> bool:
    return (isinstance(t, dict) and isinstance(t.get("float32"), dict)
            and all(isinstance(v, dict) and all(valid_ms(ms) for ms in v.values()) and set(v) == set(SHAPES)
                    for v in t.values()))


def cached_choice(cache_dir: Optional[Path], size: str = "large", threshold: float = THRESHOLD) -> Optional[Verdict]:
    """The cached verdict for this machine, or None (never measures: for a UI's recommendation)."""
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    key = cache_key(size)
    entry = _read_entries(folder / CACHE_FILE).get(key)
    if not isinstance(entry, dict) or not _valid_timings(entry.get("timings_ms")):
        return None
    v = choose(entry["timings_ms"], threshold)
    return Verdict(v.dtype, v.reason, v.timings_ms, cached=True, key=key)


def _write_entry(path: Path, key: str, entry: dict) -> None:
    """Add one entry to the cache file (atomic replace); an unwritable folder is logged, never raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _read_entries(path)
        entries[key] = entry
        fd, tmp = tempfile.mkstemp(prefix=".precision-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": CACHE_VERSION, "entries": entries}, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        log.warning("Could not save the precision choice in %s (%s); it will be measured again next load.", path, e)


def conservative(first: Timings, second: Timings) -> Timings:
    """Two measurements as one: float32's better time and every other precision's worse one, per shape."""
    out: Timings = {}
    for p in (p for p in first if p in second):  # in the first measurement's order (float32 first), not a set's
        pick = min if p == "float32" else max
        out[p] = {s: pick(first[p][s], second[p][s]) for s in first[p] if s in second[p]}
    return out


def cpu_choice(cache_dir: Optional[Path] = None, size: str = "large", *, threshold: float = THRESHOLD,
               candidates: Iterable[str] = CANDIDATES, budget_s: float = BUDGET_S,
               measure_fn: Optional[Callable[..., Timings]] = None) -> Verdict:
    """This CPU's precision for "auto": from the cache, else measured (about a second) and cached.

    A precision other than float32 must win two measurements in a row; their conservative
    combination (see :func:`conservative`) is what is cached and shown.
    """
    if size not in WIDTHS:
        raise ValueError(f"Unknown model size {size!r}: use large or small.")
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    hit = cached_choice(folder, size, threshold)
    if hit is not None:
        log.debug("CPU precision from the cache: %s", hit.reason)
        return hit
    key = cache_key(size)
    t0 = time.perf_counter()
    timings = (measure_fn or measure)(size=size, candidates=candidates, budget_s=budget_s)
    v = choose(timings, threshold)
    if v.dtype != "float32":  # a burst of load can flatter a candidate once: it must win a second measurement too
        again = (measure_fn or measure)(size=size, candidates=candidates, budget_s=budget_s)
        timings = conservative(timings, again)
        v = choose(timings, threshold)
    seconds = time.perf_counter() - t0
    log.info("CPU precision measured in %.1f s for %s: %s", seconds, key, v.reason)
    entry = dict(timings_ms=v.timings_ms, cpu=cpu_model(), torch=torch_version(), size=size,
                 threads=torch.get_num_threads(), measure_seconds=round(seconds, 3),
                 measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _write_entry(folder / CACHE_FILE, key, entry)
    return Verdict(v.dtype, v.reason, v.timings_ms, cached=False, key=key)
