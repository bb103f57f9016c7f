"""Engine behaviour on a tiny random model: takes, seeds, long text, progress, cancel, OOM, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bark_core import generation, placement
from bark_core.cli import main as cli_main
from bark_core.engine import Engine, EngineSettings
from bark_core.model import build_model
from bark_core.types import GenerationCancelled, GenerationRequest, GPUOutOfMemory
from bark_core.voices import load_voice_npz, save_voice

SHORT = dict(max_seconds=0.6)  # ~30 semantic tokens: fast on the tiny model


@pytest.fixture(scope="module")
def engine(tiny_native, tmp_path_factory) -> Engine:
    return Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32",
                                      cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_takes_are_batched_independent_and_ready_voices(engine):
    gen = engine.generate(GenerationRequest(text="Hello [laughs] there.", takes=4, seed=11, **SHORT))
    assert len(gen.takes) == 4 and gen.seed == 11
    assert gen.audio.shape[0] == 4 and gen.audio.dtype == np.float32
    semantics = [t.voice.semantic for t in gen.takes]
    assert len({s.tobytes() for s in semantics}) == 4  # four different takes
    for take in gen.takes:
        v = take.voice
        assert v.coarse.shape[0] == 2 and v.fine.shape[0] == 8 and v.coarse.shape[1] == v.fine.shape[1]
        np.testing.assert_array_equal(v.fine[:2], v.coarse)
        assert len(take.audio) == v.fine.shape[1] * 320 and np.isfinite(take.audio).all()
    assert set(gen.timings) >= {"semantic", "coarse", "fine", "decode", "total"}


def test_same_seed_same_result_and_new_seed_differs(engine):
    req = GenerationRequest(text="Same seed, same take.", seed=5, takes=2, **SHORT)
    a, b = engine.generate(req), engine.generate(req)
    for ta, tb in zip(a.takes, b.takes):
        np.testing.assert_array_equal(ta.voice.fine, tb.voice.fine)
        np.testing.assert_array_equal(ta.audio, tb.audio)
    c = engine.generate(GenerationRequest(text="Same seed, same take.", seed=6, **SHORT))
    assert not np.array_equal(c.takes[0].voice.semantic, a.takes[0].voice.semantic)
    assert engine.generate(GenerationRequest(text="x", **SHORT)).seed is not None  # a random seed is reported


def test_generated_take_is_a_voice(engine, tmp_path):
    gen = engine.generate(GenerationRequest(text="Make me a voice.", seed=3, max_seconds=1.5))
    path = save_voice(gen.takes[0].voice, tmp_path / "mine.npz")
    voice = load_voice_npz(path)
    again = engine.generate(GenerationRequest(text="Speak in it.", voice=voice, seed=3, **SHORT))
    assert again.takes[0].audio.size > 0


def test_preset_by_name(engine):
    voice = engine.load_voice("v2/en_speaker_6")
    gen = engine.generate(GenerationRequest(text="With a preset.", voice=voice, seed=1, **SHORT))
    assert gen.takes[0].audio.size > 0
    with pytest.raises(ValueError):
        engine.load_voice("../../etc/passwd")


def test_long_text_is_split_streamed_and_joined(engine):
    text = " ".join(f"This is sentence number {i} of a long story, told slowly and with care." for i in range(12))
    segments, warnings = engine.plan_segments(text)
    assert len(segments) >= 3 and not warnings
    seen = []
    gen = engine.generate(
        GenerationRequest(text=text, seed=2, max_seconds=0.3, segment_pause_s=0.5, takes=2),
        on_segment=lambda i, n, audio: seen.append((i, n, [len(a) for a in audio])),
    )
    assert [s[0] for s in seen] == list(range(len(segments))) and all(s[1] == len(segments) for s in seen)
    assert all(seen[i][2][0] < seen[i + 1][2][0] for i in range(len(seen) - 1))  # each segment adds audio
    pause = int(0.5 * 24000)
    assert len(gen.takes[0].audio) == seen[-1][2][0] >= (len(segments) - 1) * pause


def test_overlong_text_without_long_form_warns(engine):
    text = "word " * 400
    gen = engine.generate(GenerationRequest(text=text, long_form=False, seed=1, **SHORT))
    assert any("cut" in w for w in gen.warnings)


def test_progress_reports_every_stage_in_order(engine):
    stages = []
    engine.generate(GenerationRequest(text="Progress please.", seed=1, **SHORT),
                    on_progress=lambda p: stages.append(p.stage) if not stages or stages[-1] != p.stage else None)
    assert stages == ["semantic", "coarse", "fine", "decode"]


@pytest.mark.parametrize("stage", ["semantic", "coarse", "fine"])
def test_cancel_stops_within_one_step(engine, stage):
    calls = {"after": 0, "stop": False}

    def on_progress(p):
        if p.stage == stage and p.step >= 1:
            calls["stop"] = True
        if calls["stop"]:
            calls["after"] += 1

    with pytest.raises(GenerationCancelled):
        engine.generate(GenerationRequest(text="Cancel me.", seed=1, early_stop=False, max_seconds=3),
                        on_progress=on_progress, should_stop=lambda: calls["stop"])
    assert calls["after"] <= 1
    assert engine.generate(GenerationRequest(text="Next job.", seed=1, **SHORT)).takes[0].audio.size > 0


def test_gpu_out_of_memory_is_reported_and_next_job_runs(engine, monkeypatch):
    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with monkeypatch.context() as m:
        m.setattr(generation, "generate_coarse", boom)
        with pytest.raises(GPUOutOfMemory, match="fewer takes.*small"):
            engine.generate(GenerationRequest(text="Too big.", seed=1, **SHORT))
    assert engine.generate(GenerationRequest(text="Fits again.", seed=1, **SHORT)).takes[0].audio.size > 0


@pytest.mark.parametrize(
    "changes",
    [dict(text=""), dict(text="   \n\t"), dict(semantic_temp=float("nan")), dict(coarse_temp=float("inf")),
     dict(fine_temp=-1.0), dict(top_p=0.0), dict(top_p=1.5), dict(top_k=0), dict(top_k=-3), dict(seed=-1),
     dict(seed=2**32), dict(takes=0), dict(takes=1000), dict(min_eos_p=2.0), dict(max_seconds=0.0)],
)
def test_bad_requests_are_refused_with_a_sentence(engine, changes):
    with pytest.raises(ValueError) as e:
        engine.generate(GenerationRequest(**{"text": "ok", **changes}))
    assert str(e.value)[0].isupper() and len(str(e.value)) > 10


def test_staged_api_matches_generate(engine):
    req = GenerationRequest(text="Staged or not.", seed=9, **SHORT)
    whole = engine.generate(req).takes[0]
    g = torch.Generator().manual_seed(9)
    sem = engine.text_to_semantic(req.text, max_seconds=req.max_seconds, generator=g)
    coarse = engine.semantic_to_coarse(sem, generator=g)
    fine = engine.coarse_to_fine(coarse, generator=g)
    np.testing.assert_array_equal(fine[0], whole.voice.fine)
    np.testing.assert_array_equal(engine.decode(fine[0]), whole.audio)


def test_memory_estimates_follow_the_published_shapes():
    for size, expected in (("large", (446e6, 328e6, 312e6)), ("small", (193e6, 104e6, 92e6))):
        for stage, n in zip(("semantic", "coarse", "fine"), expected):
            cfg = placement.stage_config(size, stage)
            with torch.device("meta"):
                model = build_model(stage, cfg)
            actual = sum(p.numel() for p in set(model.parameters()))
            assert placement.count_params(cfg, stage) == actual
            assert abs(actual - n) / n < 0.02
    large = placement.estimate_gpu_memory("large", "bfloat16", "resident")
    assert 2.2 * 2**30 < large < 3.5 * 2**30
    assert placement.estimate_gpu_memory("large", "bfloat16", "offload") < 1.5 * 2**30
    assert placement.estimate_gpu_memory("small", "bfloat16", "resident") < placement.estimate_gpu_memory("large", "bfloat16", "offload") + 0.2 * 2**30
    assert placement.estimate_gpu_memory("large", "float32", "resident") > large
    assert placement.recommend(8 * 2**30)["size"] == "large"
    assert placement.recommend(None)["device"] == "cpu"


def test_cpu_auto_precision_is_measured_not_read_from_the_flags(tmp_path, monkeypatch):
    from bark_core import precision

    flags = {"zen3": "avx avx2 fma f16c", "sapphire rapids": "avx2 avx512f avx512_bf16 amx_tile amx_bf16",
             "cooper lake": "avx2 avx512f avx512_bf16", "amx only": "avx2 amx_bf16"}
    for cpu, f in flags.items():  # the flags still name the CPU's instructions (for the warning on explicit choices)
        info = tmp_path / f"cpuinfo-{cpu.replace(' ', '-')}"
        info.write_text(f"processor\t: 0\nflags\t\t: fpu {f} rdrand\n")
        assert placement.cpu_has_native_bf16(info) is (cpu != "zen3"), cpu
    assert placement.cpu_has_native_bf16(tmp_path / "missing") is False
    cpu = torch.device("cpu")
    # issue 14's Xeon lists avx512_bf16, yet bfloat16 was slower there: auto keeps float32 whatever the flags say
    xeon = {"float32": {"one_row": 0.244, "prompt": 17.7}, "bfloat16": {"one_row": 0.298, "prompt": 29.5}}
    fast = {"float32": {"one_row": 1.0, "prompt": 10.0}, "bfloat16": {"one_row": 0.5, "prompt": 5.0}}
    for native in (True, False):
        monkeypatch.setattr(placement, "cpu_has_native_bf16", lambda: native)
        for i, (timings, expected) in enumerate(((xeon, torch.float32), (fast, torch.bfloat16))):
            monkeypatch.setattr(precision, "measure", lambda size, candidates, budget_s, timings=timings: timings)
            cache = tmp_path / f"cache-{native}-{i}"
            assert placement.resolve_dtype("auto", cpu, cache) == expected
            assert placement.resolve("cpu", "auto", "cpu", cache_dir=cache).dtype == expected
            verdict = precision.cached_choice(cache)
            assert placement.recommend(None, cpu_bf16=verdict.dtype == "bfloat16")["dtype"] == placement.dtype_name(expected)
            assert placement.resolve("cpu", "float32", "cpu", cache_dir=cache).dtype == torch.float32  # exact on request


def test_emulated_cpu_precision_is_named_with_the_fix(tmp_path):
    zen3, spr = tmp_path / "zen3", tmp_path / "spr"
    zen3.write_text("flags\t\t: fpu avx avx2 fma f16c\n")
    spr.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_fp16\n")
    for dtype in (torch.bfloat16, torch.float16):
        warning = placement.cpu_precision_warning(dtype, zen3)
        name = placement.dtype_name(dtype)
        assert f"no {name} instructions" in warning and "slower" in warning and "Use float32" in warning
        assert placement.cpu_precision_warning(dtype, spr) is None
    assert placement.cpu_precision_warning(torch.float32, zen3) is None


def test_cli_warns_when_the_cpu_emulates_the_precision(tiny_native, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(placement, "cpu_computes_natively", lambda dtype, cpuinfo=None: dtype == torch.float32)
    args = ["generate", "Slow here.", "-o", str(tmp_path / "a.wav"), "--models", str(tiny_native), "--device", "cpu",
            "--max-seconds", "0.3", "--cache-dir", str(tmp_path)]
    assert cli_main(args + ["--dtype", "bfloat16"]) == 0
    assert "warning: This CPU has no bfloat16 instructions" in capsys.readouterr().err
    assert cli_main(args + ["--dtype", "float32"]) == 0
    assert "instructions" not in capsys.readouterr().err


# ---------------------------------------------------------------- CLI


def test_cli_takes_write_numbered_files(tiny_native, tmp_path):
    out = tmp_path / "take.wav"
    assert cli_main(["generate", "Two takes.", "-o", str(out), "--models", str(tiny_native), "--device", "cpu",
                     "--takes", "2", "--seed", "4", "--max-seconds", "0.6", "--cache-dir", str(tmp_path)]) == 0
    for k in (1, 2):
        audio, sr = sf.read(tmp_path / f"take-{k}.wav")
        assert sr == 24000 and audio.ndim == 1 and len(audio) > 0
        assert load_voice_npz(tmp_path / f"take-{k}.npz").fine.shape[0] == 8
    assert not out.exists()


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "bark_core", "generate", "hi", "--cache-dir", str(tmp_path / "c"), "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr
    assert "suno/bark" in lines[0] and "download" in lines[0]
    r = subprocess.run(cmd[:5] + ["--takes", "99"], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).parents[1], timeout=120)
    assert r.returncode != 0 and r.stderr.strip().startswith("error: Takes must be")


def test_cli_convert_then_generate_from_native(tiny_original, tmp_path):
    dst = tmp_path / "native"
    assert cli_main(["convert", str(tiny_original), str(dst), "--dtype", "bfloat16"]) == 0
    out = tmp_path / "a.wav"
    assert cli_main(["generate", "Converted.", "-o", str(out), "--models", str(dst), "--device", "cpu",
                     "--dtype", "bfloat16", "--max-seconds", "0.5", "--seed", "1"]) == 0
    assert sf.info(out).frames > 0


def test_fixed_shape_decoder_matches_eager_decoding(engine, monkeypatch):
    """The fixed-shape step that CUDA graphs capture gives the tokens of the eager step."""
    from bark_core.decoding import GraphDecoders, StaticDecoder

    req = GenerationRequest(text="Fixed shapes, same tokens.", seed=21, takes=2, max_seconds=1.0)
    eager = engine.generate(req)
    monkeypatch.setattr(engine, "decoders", GraphDecoders(StaticDecoder))
    static = engine.generate(req)
    again = engine.generate(req)  # decoders are reused across generations
    for a, b, c in zip(eager.takes, static.takes, again.takes):
        np.testing.assert_array_equal(a.voice.fine, b.voice.fine)
        np.testing.assert_array_equal(b.voice.fine, c.voice.fine)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="offload moves weights to a CUDA GPU")
def test_offload_visit_moves_weights_for_the_stage_only():
    """Offload: the stage runs on a device copy; the resting weights come back untouched and tied."""
    from bark_core.model import FineGPT, GPTConfig

    model = FineGPT(GPTConfig(input_vocab_size=1056, output_vocab_size=1056, n_layer=1, n_head=2, n_embd=16))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    visit = placement.Placement(torch.device("cuda"), torch.float32, "offload")
    placement.prepare_stage(model, visit)
    with placement.on_device(model, visit) as m:
        assert {p.device.type for p in m.parameters()} == {"cuda"}
        assert m.transformer.wtes[1].weight is m.lm_heads[0].weight
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.transformer.wtes[1].weight is model.lm_heads[0].weight
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_model_size_per_stage(tmp_path):
    """A Suno .pt folder holding both sizes: the stages named small load the small files, the rest large."""
    import shutil

    from bark_core.testweights import write_test_weights

    both = write_test_weights(tmp_path / "both", fmt="original", seed=0)  # text.pt ... (the "small" files)
    other = write_test_weights(tmp_path / "other", fmt="original", seed=1)
    for name in ("text", "coarse", "fine"):
        shutil.copy(other / f"{name}.pt", both / f"{name}_2.pt")  # stand-ins for the large files
    engine = Engine.load(EngineSettings(models=str(both), small_stages=("fine",), device="cpu", dtype="float32",
                                        cache_dir=str(tmp_path / "cache")))
    small = Engine.load(EngineSettings(models=str(both), small=True, device="cpu", dtype="float32",
                                       cache_dir=str(tmp_path / "cache")))
    large = Engine.load(EngineSettings(models=str(both), device="cpu", dtype="float32", cache_dir=str(tmp_path / "cache")))

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))

    assert same(engine.models["fine"], small.models["fine"]) and not same(engine.models["fine"], large.models["fine"])
    assert same(engine.models["coarse"], large.models["coarse"]) and not same(engine.models["coarse"], small.models["coarse"])
    assert engine.generate(GenerationRequest(text="Mixed sizes.", seed=1, **SHORT)).takes[0].audio.size > 0
    with pytest.raises(ValueError, match="Unknown stage"):
        Engine.load(EngineSettings(models=str(both), small_stages=("codec",), device="cpu"))


def test_the_engine_refuses_a_second_job_while_one_runs(tiny_native):
    """Even called from two threads at once (a route that skipped the queue), jobs never run side by side."""
    import threading

    from bark_core import EngineBusy

    engine = Engine.load(EngineSettings(models=str(tiny_native), offline=True, device="cpu"))
    started, release = threading.Event(), threading.Event()

    def hold(progress):
        started.set()
        release.wait(10)

    first = threading.Thread(target=engine.generate, args=(GenerationRequest(text="One.", max_seconds=0.1, seed=1),),
                             kwargs=dict(on_progress=hold))
    first.start()
    assert started.wait(30)
    with pytest.raises(EngineBusy, match="busy"):
        engine.generate(GenerationRequest(text="Two.", max_seconds=0.1, seed=2))
    release.set()
    first.join(30)
    assert engine.generate(GenerationRequest(text="Three.", max_seconds=0.1, seed=3)).takes  # free again
