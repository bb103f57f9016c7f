"""Bark Studio vs Suno's bark 0.1.5: speed and memory on the same weights, in one run.

    python bench/bench.py --size small --device cpu --dtype float32 --repeat 2 --json build/bench-small.json
    python bench/bench.py --quick                                   # 100 semantic tokens, best of 1
    python bench/bench.py --size large --device cuda --dtype bfloat16 --weights random --json out.json

Weights are random, at Bark's published shapes (small: 12 layers x 768, large: 24 x 1024).
``--weights disk`` (default on CPU) writes them once in Suno's .pt format under
``--weights-dir`` (default ./build/bench-weights); the reference loads those .pt files
with its own loader, we convert them once to our native format (timed) and cold-load
that. ``--weights random`` builds the same seeded random weights in memory in each
process (no files; the fast path for large shapes on a GPU): load times are not measured.

Every generation is fixed-length: no early stop, and a duration limit chosen so that the
semantic stage emits exactly ``--semantic-tokens`` tokens, then coarse, fine and decode,
with one synthetic voice (history prompt) so the coarse context is realistic (~600-900 ids).
Each implementation runs in its own subprocess so peak memory does not mix. With ``--repeat R``
the workers alternate, one run each per round (reference, ours, reference, ours, ...), so a
machine whose speed drifts over minutes (a shared or virtual CPU) slows both alike; each stage
reports its best of the R rounds.

The reference's codec needs the ``encodec`` package, absent here: its end-to-end time
excludes decode. Ours decodes with a random full-size EnCodec (24 kHz, transformers);
its decode time is reported separately, and our real-time factor is given with and
without decode.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchutil import LONG_TEXT, best_of  # noqa: E402  (this folder is on sys.path when a bench script runs)

TEXT = "Hello there [laughs] I like pizza, and music ♪ la la ♪. This is a benchmark of the whole model."
SEED = 1234
STAGES = ("semantic", "coarse", "fine", "decode")


# =========================================================================== helpers shared by the workers


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


class Timer:
    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        _sync(self.device)
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        _sync(self.device)
        self.s = time.perf_counter() - self.t


def max_seconds_for(n_tokens: int) -> float:
    """A ``max_gen_duration_s`` after which the reference (and we) emit exactly n semantic tokens."""
    from bark_core.generation import semantic_step_budget

    s = (n_tokens - 0.5) / 49.9
    if semantic_step_budget(s) != n_tokens:
        raise SystemExit(f"cannot pick a duration limit for {n_tokens} semantic tokens")
    return s


def peak_rss() -> int:
    """Peak resident set size of this process, bytes (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        return -1


def tokens_digest(semantic, coarse, fine) -> str:
    h = hashlib.sha256()
    for a in (semantic, coarse, fine):
        h.update(str(a.shape).encode())
        h.update(a.astype("int64").tobytes())
    return h.hexdigest()[:16]


def counts(n_semantic: int) -> dict:
    from bark_core.generation import coarse_steps

    n_coarse = coarse_steps(n_semantic)
    frames = n_coarse // 2
    return dict(semantic=n_semantic, coarse=n_coarse, fine=frames, decode=frames, audio_s=frames / 75.0)


def write_voice(path: Path) -> Path:
    """A synthetic voice (history prompt): 300 semantic ids and 450 frames of codes, fixed seed."""
    import numpy as np

    if path.is_file():
        return path
    rng = np.random.default_rng(7)
    fine = rng.integers(0, 1024, size=(8, 450), dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, semantic_prompt=rng.integers(0, 10_000, size=(300,), dtype=np.int64),
             coarse_prompt=fine[:2].copy(), fine_prompt=fine)
    os.replace(tmp, path)
    return path


def random_states(size: str, device: str, seed: int = SEED) -> dict:
    """Seeded random weights of the three stages, built on ``device`` (same values in every process)."""
    import torch

    from bark_core.checkpoints import tied_pairs
    from bark_core.model import build_model
    from bark_core.testweights import stage_config

    out = {}
    for i, stage in enumerate(("semantic", "coarse", "fine")):
        cfg = stage_config(stage, size)
        gen = torch.Generator(device).manual_seed(seed + i)
        with torch.device("meta"):
            model = build_model(stage, cfg)
        state = {}
        for k, v in model.state_dict().items():
            if stage == "fine" and k.startswith("transformer.wtes.") and k != "transformer.wtes.0.weight":
                continue
            t = torch.randn(v.shape, generator=gen, device=device)
            if ".ln_" in k:
                t = t.mul_(0.1).add_(1.0 if k.endswith("weight") else 0.0)
            else:
                t = t.mul_(0.05)
            state[k] = t
        if stage == "fine":
            for head, wte in tied_pairs(cfg):
                state[wte] = state[head]
        out[stage] = (cfg, state)
    return out


def full_codec(device: str):
    """A random EnCodec with the real 24 kHz model's shape (decode cost is representative)."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    from bark_core.codec import Codec

    torch.manual_seed(0)
    return Codec(EncodecModel(EncodecConfig()).eval()).to(device)


def gpu_peak(device: str) -> int:
    import torch

    return int(torch.cuda.max_memory_allocated()) if device == "cuda" else -1


def gpu_allocated(device: str) -> int:
    """Bytes held by live CUDA tensors now (after loading: the resident weights and codec)."""
    import torch

    return int(torch.cuda.memory_allocated()) if device == "cuda" else -1


def reset_gpu_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


# =========================================================================== worker: ours


def worker_ours(cfg: dict) -> dict:
    import torch

    from bark_core import conversion
    from bark_core.engine import Engine, EngineSettings
    from bark_core.generation import NO_HOOKS
    from bark_core.voices import load_voice_npz

    device, size = cfg["device"], cfg["size"]
    res: dict = {"impl": "ours", "dtype": cfg["dtype"], "placement": cfg["placement"]}
    t0 = time.perf_counter()
    import transformers  # noqa: F401  (imported before timing the load: the reference's worker imports it too)
    from transformers import BertTokenizer, EncodecModel  # noqa: F401
    if device == "cuda":
        torch.zeros(1, device=device)  # CUDA context outside the load timing
    # ---------------------------------------------------------------- load
    if cfg["weights"] == "disk":
        if cfg.get("measure_convert"):
            dst = Path(cfg["weights_dir"]) / f".convert-timing-{os.getpid()}"
            shutil.rmtree(dst, ignore_errors=True)
            with Timer("cpu") as t:
                conversion.convert(cfg["original_dir"], dst)
            res["convert_s"] = t.s
            shutil.rmtree(dst, ignore_errors=True)
        with Timer(device) as t:
            engine = Engine.load(EngineSettings(models=cfg["native_dir"], device=device, dtype=cfg["dtype"],
                                                placement=cfg["placement"], offline=True, convert_cache=False))
        res["load_s"] = t.s
    else:
        from bark_core import placement as placement_mod
        from bark_core.checkpoints import StageWeights, build_stage
        from bark_core.tokenizer import TextTokenizer

        place = placement_mod.resolve(device, cfg["dtype"], cfg["placement"])
        # a comprehension, so no loop variable keeps the last stage's float32 weights alive
        models = {
            stage: placement_mod.prepare_stage(build_stage(StageWeights(stage, c, state, "random"), place.home,
                                                           place.dtype), place)
            for stage, (c, state) in random_states(size, device).items()
        }
        if device == "cuda":
            torch.cuda.empty_cache()
        folder = Path(cfg["companions_dir"])
        tok = TextTokenizer.from_spec(None, models_folder=folder, offline=True)
        engine = Engine(models, tok, None, place, EngineSettings(models=str(folder), offline=True), folder)
    engine.codec = full_codec(engine.placement.home if device == "cuda" else "cpu")
    res["resolved_dtype"] = engine.placement.precision
    if engine.placement.quantize:
        res["prompt_dtype"] = str(engine.placement.prompt_dtype).replace("torch.", "")
    res["rss_after_load"] = current_rss()
    res["gpu_after_load"] = gpu_allocated(device)
    voice = load_voice_npz(cfg["voice"])
    ms = cfg["max_seconds"]

    def one(n_takes: int, max_seconds: float) -> tuple[dict, list]:
        g = engine.make_generator(SEED)
        times = {}
        with Timer(device) as t:
            sem = engine.text_to_semantic(TEXT, voice, early_stop=False, max_seconds=max_seconds, takes=n_takes,
                                          generator=g, hooks=NO_HOOKS)
        times["semantic"] = t.s
        with Timer(device) as t:
            coarse = engine.semantic_to_coarse(sem, voice, generator=g)
        times["coarse"] = t.s
        with Timer(device) as t:
            fine = engine.coarse_to_fine(coarse, voice, generator=g)
        times["fine"] = t.s
        with Timer(device) as t:
            audio = [engine.decode(f) for f in fine]
        times["decode"] = t.s
        return times, [sem, coarse, fine, audio]

    if cfg.get("warmup"):
        one(1, max_seconds_for(16))
    reset_gpu_peak(device)
    runs = []
    out = None
    for _ in range(cfg["repeat"]):
        times, out = one(1, ms)
        runs.append(times)
    sem, coarse, fine, audio = out
    res["gpu_peak_1take"] = gpu_peak(device)
    res["runs"] = runs
    res["n_semantic"] = int(len(sem[0]))
    res["digest"] = tokens_digest(sem[0], coarse[0], fine[0])
    res["audio_s"] = len(audio[0]) / 24_000
    if cfg["takes_batch"] > 1:
        k = cfg["takes_batch"]
        reset_gpu_peak(device)
        batch_runs = []
        for _ in range(cfg["repeat"]):
            times, out = one(k, ms)
            batch_runs.append(times)
        res["batch_runs"] = batch_runs
        res["batch_takes"] = k
        res["gpu_peak_batch"] = gpu_peak(device)
        res["batch_digest_take0"] = tokens_digest(out[0][0], out[1][0], out[2][0])
    res["peak_rss"] = peak_rss()  # load and generations only: the step floor's 1 GiB bandwidth buffer comes after
    if cfg.get("step_floor") and device == "cpu":
        res["step_floor"] = step_vs_floor(engine.models["coarse"])
    if cfg.get("long_text"):
        res["long_text"] = time_to_first_audio(engine, voice, cfg["long_max_seconds"])
    res["wall_s"] = time.perf_counter() - t0
    return res


def step_vs_floor(model, steps: int = 10) -> dict:
    """The coarse decode step at 887 ids of context (the engine's eager path, one codebook's 1024 rows
    of the head), best of ``steps``, beside its floor: the bytes of weights it reads over this
    machine's memory bandwidth (a 1 GiB read, best of 5)."""
    import torch

    from bark_core.quantize import Int8Linear

    ctx, rows = 256 + 1 + 630, (10_000, 11_024)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(10_000, 12_048, (1, ctx), generator=gen)
    with torch.inference_mode():
        cache = model.new_cache(1, ctx + 8)
        model(idx, cache)
        tok = torch.tensor([[11_000]])

        def step():
            cache.length = ctx
            return model(tok, cache, rows=rows)

        best_s = best_of(step, steps)
        buf = torch.ones(256 * 1024**2)
        bw_s = best_of(buf.sum, 5)
        del buf
    tensors = []
    for m in model.transformer.h.modules():  # what a step reads: int8 Linears read their bfloat16 scales
        if isinstance(m, Int8Linear):
            tensors += [m.weight, m.scale_bf16] + ([m.bias] if m.bias is not None else [])
        elif not list(m.children()):
            tensors += list(m.parameters(recurse=False))
    head = model.lm_head
    tensors += ([head.weight[rows[0]:rows[1]], head.scale_bf16[rows[0]:rows[1]]] if isinstance(head, Int8Linear)
                else [head.weight[rows[0]:rows[1]]])
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    bw = 256 * 1024**2 * 4 / bw_s
    return dict(step_ms=best_s * 1e3, floor_ms=nbytes / bw * 1e3, weight_mib=nbytes / 2**20, bandwidth_gbs=bw / 1e9)


def time_to_first_audio(engine, voice, max_seconds: float) -> dict:
    """A three-segment text through engine.generate: seconds until on_segment hands over the first
    segment's audio, against the whole request."""
    from bark_core.types import GenerationRequest

    segments, _ = engine.split_text(LONG_TEXT)
    marks: list[float] = []
    t0 = time.perf_counter()
    engine.generate(GenerationRequest(text=LONG_TEXT, voice=voice, seed=SEED, early_stop=False, max_seconds=max_seconds,
                                      long_form=True),
                    on_segment=lambda k, n, audio: marks.append(time.perf_counter() - t0))
    total = time.perf_counter() - t0
    return dict(segments=len(segments), first_audio_s=marks[0] if marks else None, total_s=total,
                segment_marks_s=marks)


# =========================================================================== worker: reference


def import_reference():
    """Suno's ``bark.generation`` imported offline, with stand-ins for what it imports but we never call."""
    import importlib.machinery

    if "encodec" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.EncodecModel = type("EncodecModel", (), {})
        sys.modules["encodec"] = stub
    try:
        import scipy.special  # noqa: F401
    except ImportError:  # only used for top-p, which the benchmark leaves off
        import numpy as np

        scipy = types.ModuleType("scipy")
        special = types.ModuleType("scipy.special")
        special.softmax = lambda x: np.exp(x - np.max(x)) / np.exp(x - np.max(x)).sum()
        scipy.special = special
        scipy.__spec__ = importlib.machinery.ModuleSpec("scipy", None)
        special.__spec__ = importlib.machinery.ModuleSpec("scipy.special", None)
        sys.modules["scipy"], sys.modules["scipy.special"] = scipy, special
    import bark.generation

    return bark.generation


def worker_reference(cfg: dict) -> dict:
    import torch
    from transformers import BertTokenizer

    from bark_core.checkpoints import ORIGINAL_FILES, pickle_allowlist

    device, size = cfg["device"], cfg["size"]
    res: dict = {"impl": "reference", "dtype": "float32" + (" (autocast bf16)" if device == "cuda" else "")}
    t0 = time.perf_counter()
    gen = import_reference()
    if device == "cuda":
        torch.zeros(1, device=device)
    tok_folder = cfg["companions_dir"] if cfg["weights"] == "random" else cfg["original_dir"]
    tokenizer = BertTokenizer.from_pretrained(tok_folder)
    gen.BertTokenizer.from_pretrained = classmethod(lambda cls, *a, **k: tokenizer)
    if cfg["weights"] == "disk":
        variant = "small" if size in ("small", "tiny") else "large"
        files = ORIGINAL_FILES[variant]
        with Timer(device) as t, torch.serialization.safe_globals(pickle_allowlist()):
            for kind, stage in (("text", "semantic"), ("coarse", "coarse"), ("fine", "fine")):
                gen.models[kind] = gen._load_model(str(Path(cfg["original_dir"]) / files[stage]), device, model_type=kind)
        res["load_s"] = t.s
    else:
        from bark.model import GPT, GPTConfig
        from bark.model_fine import FineGPT, FineGPTConfig

        for stage, (c, state) in random_states(size, device).items():
            args = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size, bias=c.bias,
                        dropout=0.0, input_vocab_size=c.input_vocab_size, output_vocab_size=c.output_vocab_size)
            with torch.device(device):  # random init on the device: fast for the large shape
                if stage == "fine":
                    model = FineGPT(FineGPTConfig(**args, n_codes_total=c.n_codes_total, n_codes_given=c.n_codes_given))
                else:
                    model = GPT(GPTConfig(**args))
            model.load_state_dict(state, strict=False)
            model.eval().to(device)
            del state
            kind = {"semantic": "text"}.get(stage, stage)
            gen.models[kind] = {"model": model, "tokenizer": tokenizer} if kind == "text" else model
        if device == "cuda":
            torch.cuda.empty_cache()
    res["rss_after_load"] = current_rss()
    res["gpu_after_load"] = gpu_allocated(device)
    if device == "cuda" and not hasattr(gen.autocast, "func"):  # bark falls back to a no-op autocast
        res["dtype"] = "float32 (no autocast: torch.cuda.amp.autocast missing)"
    voice = cfg["voice"]

    def one(max_seconds: float) -> tuple[dict, list]:
        torch.manual_seed(SEED)
        times = {}
        with Timer(device) as t:
            sem = gen.generate_text_semantic(TEXT, history_prompt=voice, temp=0.7, silent=True, use_kv_caching=True,
                                             allow_early_stop=False, max_gen_duration_s=max_seconds)
        times["semantic"] = t.s
        with Timer(device) as t:
            coarse = gen.generate_coarse(sem, history_prompt=voice, temp=0.7, silent=True, use_kv_caching=True)
        times["coarse"] = t.s
        with Timer(device) as t:
            fine = gen.generate_fine(coarse, history_prompt=voice, temp=0.5)
        times["fine"] = t.s
        return times, [sem, coarse, fine]

    if cfg.get("warmup"):
        one(max_seconds_for(16))
    reset_gpu_peak(device)
    runs = []
    for _ in range(cfg["repeat"]):
        times, out = one(cfg["max_seconds"])
        runs.append(times)
    sem, coarse, fine = out
    res["gpu_peak_1take"] = gpu_peak(device)
    res["runs"] = runs
    res["n_semantic"] = int(len(sem))
    res["digest"] = tokens_digest(sem, coarse, fine)
    res["peak_rss"] = peak_rss()
    res["wall_s"] = time.perf_counter() - t0
    return res


# =========================================================================== the parent: prepare, run, report


def prepare_disk_weights(size: str, weights_dir: Path) -> tuple[Path, Path, float | None]:
    """Suno-format .pt folder and its native conversion, cached; (original, native, seconds to write .pt or None)."""
    from bark_core import checkpoints, conversion
    from bark_core.testweights import write_test_weights

    original = weights_dir / f"{size}-original"
    native = weights_dir / f"{size}-native"
    written = None
    if not (original / ".complete").is_file():
        shutil.rmtree(original, ignore_errors=True)
        print(f"writing random {size} weights in Suno's .pt format to {original} (once) ...", flush=True)
        t = time.perf_counter()
        write_test_weights(original, size=size, fmt="original", seed=0)
        written = time.perf_counter() - t
        (original / ".complete").write_text("ok")
        shutil.rmtree(native, ignore_errors=True)
    if not (native / checkpoints.NATIVE_META).is_file():
        print(f"converting to the native format in {native} (once) ...", flush=True)
        conversion.convert(original, native)
    return original, native, written


def prepare_companions(weights_dir: Path) -> Path:
    """Tokenizer and speaker files for --weights random (a tiny native folder; its models are not used)."""
    from bark_core.testweights import write_test_weights

    folder = weights_dir / "companions"
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        write_test_weights(folder, size="tiny", fmt="native", seed=0)
        (folder / ".complete").write_text("ok")
    return folder


def run_worker(kind: str, cfg: dict, timeout: float) -> dict:
    """One implementation in a fresh process; its result dict, or {"error": ...}."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path, out_path = Path(tmp) / "cfg.json", Path(tmp) / "out.json"
        cfg_path.write_text(json.dumps(cfg))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(cfg_path), str(out_path)]
        try:
            proc = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"impl": kind, "error": f"timed out after {timeout:.0f} s"}
        if out_path.is_file():
            return json.loads(out_path.read_text())
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-15:]
        return {"impl": kind, "error": f"exit {proc.returncode}: " + "\n".join(tail)}


def merge_rounds(rounds: list[dict]) -> dict:
    """One implementation's R single-run rounds (separate processes) as one result: all runs, the
    fastest load, the highest memory peaks; an error if a round failed or made other tokens."""
    failed = [r for r in rounds if "error" in r]
    if failed:
        return failed[0]
    first = rounds[0]
    if len({r["digest"] for r in rounds}) > 1:
        return {"impl": first["impl"], "error": "the rounds made different tokens from the same seed"}
    out = dict(first, rounds=len(rounds))
    for key, merge in (("runs", _concat), ("batch_runs", _concat), ("wall_s", sum), ("load_s", min),
                       ("step_floor", lambda fs: min(fs, key=lambda f: f["step_ms"])),
                       ("long_text", lambda ls: min(ls, key=lambda x: x["total_s"])),
                       ("peak_rss", max), ("rss_after_load", max), ("gpu_after_load", max),
                       ("gpu_peak_1take", max), ("gpu_peak_batch", max)):
        if key in first:
            out[key] = merge([r[key] for r in rounds if key in r])
    return out


def _concat(lists) -> list:
    return [item for items in lists for item in items]


def best(runs: list[dict]) -> dict:
    """Best of R, stage by stage (each stage's minimum) and of the totals."""
    out = {s: min(r[s] for r in runs) for s in runs[0]}
    out["total_no_decode"] = min(_stages_s(r) for r in runs)
    if "decode" in runs[0]:
        out["total"] = min(sum(r.values()) for r in runs)
    return out


def summarize(res: dict, n: dict) -> dict:
    if "error" in res:
        return res
    b = best(res["runs"])
    audio_s = n["audio_s"]
    s = dict(res, best=b)
    s["rate"] = {st: n[st] / b[st] for st in STAGES if st in b}
    s["rtf_no_decode"] = b["total_no_decode"] / audio_s
    s["median"] = {st: statistics.median(r[st] for r in res["runs"]) for st in res["runs"][0]}
    s["median"]["total_no_decode"] = statistics.median(_stages_s(r) for r in res["runs"])
    if "total" in b:
        s["rtf"] = b["total"] / audio_s
    if "batch_runs" in res:
        bb = best(res["batch_runs"])
        s["batch_best"] = bb
        s["batch_throughput_ratio"] = res["batch_takes"] * b["total"] / bb["total"]
    return s


def _stages_s(run: dict) -> float:
    return sum(run[s] for s in ("semantic", "coarse", "fine"))


def fmt_bytes(b) -> str:
    return "-" if b is None or b < 0 else f"{b / 2**30:.2f} GiB"


def report(results: dict, n: dict, args) -> str:
    lines = []
    w = lines.append
    ref = results.get("reference")
    w("")
    w(f"Bark benchmark: {args.size} shape, {args.device}, {n['semantic']} semantic tokens -> {n['coarse']} coarse tokens "
      f"-> {n['fine']} frames = {n['audio_s']:.2f} s of audio; best of {args.repeat}")
    w(f"machine: {results['machine']['cpu']}, torch {results['machine']['torch']}"
      + (f", GPU {results['machine']['gpu']}" if results['machine'].get('gpu') else ""))
    if ref is not None and "error" in ref:
        w(f"reference: FAILED: {ref['error']}")
        ref = None
    for key, ours in results["ours"].items():
        w("")
        if "error" in ours:
            w(f"ours [{key}]: FAILED: {ours['error']}")
            continue
        w(f"ours [{ours['resolved_dtype']}, {ours['placement']}] vs reference [{ref['dtype'] if ref else 'skipped'}]")
        w(f"  {'stage':<10}{'unit':<9}{'ours s':>9}{'ours /s':>10}{'ref s':>9}{'ref /s':>10}{'speedup':>9}")
        units = {"semantic": "tokens", "coarse": "tokens", "fine": "frames", "decode": "frames"}
        for st in STAGES:
            o = ours["best"].get(st)
            r = ref["best"].get(st) if ref else None
            w(f"  {st:<10}{units[st]:<9}{o:>9.2f}{ours['rate'][st]:>10.1f}"
              + (f"{r:>9.2f}{ref['rate'][st]:>10.1f}{r / o:>8.2f}x" if r is not None else f"{'-':>9}{'-':>10}{'-':>9}"))
        o, r = ours["best"]["total_no_decode"], (ref["best"]["total_no_decode"] if ref else None)
        w(f"  {'sem+coarse+fine':<19}{o:>9.2f}{'':>10}" + (f"{r:>9.2f}{'':>10}{r / o:>8.2f}x" if r else ""))
        if ref and len(ours["runs"]) > 1 and len(ref["runs"]) == len(ours["runs"]):
            w("  each alternating round, sem+coarse+fine, reference / ours: " + ", ".join(
                f"{_stages_s(b) / _stages_s(a):.2f}x ({_stages_s(b):.1f} / {_stages_s(a):.1f} s)"
                for a, b in zip(ours["runs"], ref["runs"])))
        if ref and len(ours["runs"]) > 1:
            mo, mr = ours["median"]["total_no_decode"], ref["median"]["total_no_decode"]
            w(f"  median of {len(ours['runs'])} rounds, sem+coarse+fine: ours {mo:.2f} s, reference {mr:.2f} s: "
              f"{mr / mo:.2f}x (per stage, ours / reference: " + ", ".join(
                  f"{st} {ours['median'][st]:.2f} / {ref['median'][st]:.2f} s" for st in ("semantic", "coarse", "fine"))
              + ")")
        w("  real-time factor (compute s / audio s; lower is better):")
        w(f"    ours end to end incl. decode {ours['rtf']:.2f}; without decode {ours['rtf_no_decode']:.2f}"
          + (f"; reference without decode {ref['rtf_no_decode']:.2f} (its codec cannot run here: no encodec package)"
             if ref else ""))
        if ours.get("step_floor"):
            f = ours["step_floor"]
            w(f"  coarse decode step (887 ids of context, one codebook's head rows): {f['step_ms']:.1f} ms; floor "
              f"{f['floor_ms']:.1f} ms = its {f['weight_mib']:.0f} MiB of weights read once at {f['bandwidth_gbs']:.1f} GB/s"
              f" (step / floor {f['step_ms'] / f['floor_ms']:.2f})")
        if ours.get("long_text") and ours["long_text"].get("first_audio_s") is not None:
            lt = ours["long_text"]
            w(f"  long text ({lt['segments']} segments, {args.semantic_tokens // 2} semantic tokens each): first audio "
              f"after {lt['first_audio_s']:.1f} s of {lt['total_s']:.1f} s for the whole "
              f"({lt['first_audio_s'] / lt['total_s']:.0%})")
        if ours.get("prompt_dtype"):
            w(f"  int8 mode: prompts and the fine stage as int8 products (torch._int_mm), but the fine MLP's output "
              f"projections in {ours['prompt_dtype']} (measured on this CPU)")
        if ref and ours.get("load_s") is not None and ref.get("load_s") is not None:
            w(f"  model load: ours native cold load {ours['load_s']:.2f} s (3 models + tokenizer + codec) vs reference "
              f".pt load {ref['load_s']:.2f} s ({ref['load_s'] / ours['load_s']:.2f}x)"
              + (f"; our one-time .pt -> native conversion {ours['convert_s']:.2f} s" if ours.get("convert_s") else ""))
        elif ours.get("load_s") is not None:
            w(f"  model load: ours native cold load {ours['load_s']:.2f} s")
        if args.device == "cuda":
            w(f"  peak GPU memory (1 take): ours {fmt_bytes(ours['gpu_peak_1take'])}"
              + (f", reference {fmt_bytes(ref['gpu_peak_1take'])}" if ref else ""))
            w(f"  GPU memory held after loading (weights, codec): ours {fmt_bytes(ours.get('gpu_after_load'))}"
              + (f", reference {fmt_bytes(ref.get('gpu_after_load'))}" if ref else ""))
        w(f"  peak RSS of the process: ours {fmt_bytes(ours['peak_rss'])}"
          + (f", reference {fmt_bytes(ref['peak_rss'])}" if ref else "") + " (weights + activations + Python/torch)")
        if ref:
            same = ours["digest"] == ref["digest"]
            w(f"  tokens identical to the reference: {'yes' if same else 'no'}"
              + ("" if same or ours["resolved_dtype"] != "float32" or args.device != "cpu" else "  <-- UNEXPECTED on CPU float32"))
        if "batch_throughput_ratio" in ours:
            bb = ours["batch_best"]
            w(f"  {ours['batch_takes']} takes in one batch: {bb['total']:.2f} s (sem {bb['semantic']:.2f}, coarse "
              f"{bb['coarse']:.2f}, fine {bb['fine']:.2f}, decode {bb['decode']:.2f}) vs one take {ours['best']['total']:.2f} s"
              f" -> throughput x{ours['batch_throughput_ratio']:.2f}"
              + (f"; peak GPU {fmt_bytes(ours['gpu_peak_batch'])}" if args.device == "cuda" else ""))
    w("")
    return "\n".join(lines)


def machine_info() -> dict:
    import torch

    from bark_core.precision import cpu_model

    info = {"cpu": f"{cpu_model()} ({os.cpu_count()} cpus)", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="small", choices=["tiny", "small", "large"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default=None,
                   help="ours, comma-separated (e.g. float32,auto); default: float32,auto on CPU, bfloat16 on CUDA")
    p.add_argument("--placement", default=None, choices=["resident", "offload", "cpu"],
                   help="ours; default cpu on CPU, resident on CUDA")
    p.add_argument("--semantic-tokens", type=int, default=None, help="default 200 (100 with --quick)")
    p.add_argument("--takes-batch", type=int, default=4, help="also time K takes in one batch (ours); 1 = skip")
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--repeat", type=int, default=1, help="best of R")
    p.add_argument("--quick", action="store_true", help="100 semantic tokens, 2 takes, best of 1")
    p.add_argument("--weights", choices=["disk", "random"], default=None,
                   help="disk: Suno .pt files (+ load times); random: in-memory (default on CUDA)")
    p.add_argument("--weights-dir", default=str(ROOT / "build" / "bench-weights"))
    p.add_argument("--no-convert-timing", action="store_true", help="skip timing the one-time .pt -> native conversion")
    p.add_argument("--timeout", type=float, default=3600, help="per worker process, seconds")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--no-step-floor", action="store_true",
                   help="skip timing the coarse decode step beside its weight-read floor (CPU)")
    p.add_argument("--long-text", action="store_true",
                   help="ours: also a three-segment text through engine.generate: time to first audio vs the whole")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        kind, cfg_path, out_path = args.worker
        cfg = json.loads(Path(cfg_path).read_text())
        res = (worker_ours if kind == "ours" else worker_reference)(cfg)
        Path(out_path).write_text(json.dumps(res))
        return 0

    if args.quick:
        args.takes_batch, args.repeat = 2, 1
    if args.semantic_tokens is None:
        args.semantic_tokens = 100 if args.quick else 200
    cuda = args.device == "cuda"
    dtypes = (args.dtype or ("bfloat16" if cuda else "float32,auto")).split(",")
    placement = args.placement or ("resident" if cuda else "cpu")
    weights = args.weights or ("random" if cuda else "disk")
    weights_dir = Path(args.weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    n = counts(args.semantic_tokens)
    base = dict(size=args.size, device=args.device, repeat=args.repeat, weights=weights, weights_dir=str(weights_dir),
                max_seconds=max_seconds_for(args.semantic_tokens), warmup=cuda,
                voice=str(write_voice(weights_dir / "voice.npz")))
    results: dict = {"machine": machine_info(), "args": vars(args), "counts": n, "ours": {}}
    if weights == "disk":
        original, native, written = prepare_disk_weights(args.size, weights_dir)
        base.update(original_dir=str(original), native_dir=str(native))
        results["write_pt_s"] = written
    else:
        base["companions_dir"] = str(prepare_companions(weights_dir))

    import torch

    from bark_core.placement import QUANTIZED, resolve_dtype

    ours_dtypes: list[str] = []  # resolved, each once; the first also times the K-take batch and the conversion
    for dt in dtypes:
        resolved = dt if dt in QUANTIZED else str(resolve_dtype(dt, torch.device(args.device))).replace("torch.", "")
        if resolved in ours_dtypes:
            print(f"(dtype {dt} = {resolved}, already measured)")
            continue
        ours_dtypes.append(resolved)
    first_ours = ours_dtypes[0]
    workers: list[tuple[str, str, dict]] = []  # (label, kind, cfg of one run)
    if not args.skip_reference:
        workers.append(("reference", "reference", dict(base, repeat=1)))
    for label in ours_dtypes:
        workers.append((label, "ours", dict(base, repeat=1, dtype=label, placement=placement,
                                            takes_batch=args.takes_batch if label == first_ours else 1,
                                            step_floor=not args.no_step_floor and not cuda,
                                            long_text=args.long_text,
                                            long_max_seconds=max_seconds_for(args.semantic_tokens // 2))))
    rounds: dict[str, list[dict]] = {label: [] for label, _, _ in workers}
    for r in range(args.repeat):
        for label, kind, cfg in workers:
            if rounds[label] and "error" in rounds[label][-1]:
                continue
            measure_convert = label == first_ours and r == 0 and weights == "disk" and not args.no_convert_timing
            print(f"round {r + 1}/{args.repeat}: {'the reference' if kind == 'reference' else 'ours, ' + label} ...",
                  flush=True)
            once = dict(measure_convert=measure_convert)
            if r > 0:  # the step timing and the long text: first round only (they are not best-of figures)
                once.update(long_text=False, step_floor=False)
            res = run_worker(kind, dict(cfg, **once), args.timeout)
            if "error" in res:
                print(f"{label} failed:", res["error"], flush=True)
            rounds[label].append(res)
    for label, kind, _ in workers:
        merged = summarize(merge_rounds(rounds[label]), n)
        if kind == "reference":
            results["reference"] = merged
        else:
            results["ours"][label] = merged
    text = report(results, n, args)
    print(text)
    results["report"] = text
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")
    failed = [r for r in [results.get("reference", {})] + list(results["ours"].values()) if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
