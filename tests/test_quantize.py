"""The fast CPU mode (--dtype int8): int8 weight-only Linears, the placement rule, and the engine on tiny weights."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bark_core import decoding, placement, precision, quantize
from bark_core.engine import Engine, EngineSettings
from bark_core.flags import add_engine_arguments, engine_settings
from bark_core.model import bark_config, build_model, cached_attention
from bark_core.types import GenerationRequest

pytestmark = pytest.mark.skipif(not quantize.int8_available(), reason="this torch build lacks the CPU int8 kernel")

XEON = {"float32": {"one_row": 0.244, "prompt": 17.7}, "bfloat16": {"one_row": 0.298, "prompt": 7.5}}  # AMX-like
ZEN = {"float32": {"one_row": 0.25, "prompt": 17.7}, "bfloat16": {"one_row": 0.2, "prompt": 90.0}}  # emulated bf16


@pytest.fixture
def measured(monkeypatch):
    """Inject the CPU's precision timings (no second of measuring per test)."""
    def use(timings):
        monkeypatch.setattr(precision, "measure", lambda size, candidates, budget_s: timings)
    use(ZEN)
    return use


def test_int8_linear_is_close_to_its_dequantized_float_weights():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96, bias=True)
    q8 = quantize.Int8Linear(lin)
    assert q8.weight.dtype == torch.int8 and q8.weight.shape == (96, 64) and not q8.weight.requires_grad
    deq = q8.weight.float() * q8.scale[:, None]
    assert (deq - lin.weight).abs().max() <= q8.scale.max() / 2 + 1e-6  # rounding error: half a step
    for rows in (1, 3, quantize.SMALL_ROWS, quantize.SMALL_ROWS + 1, 40):  # int8 kernel, then dequantized matmul
        x = torch.randn(2, rows, 64)
        want = F.linear(x, deq, lin.bias)
        got = q8(x)
        one_row_kernel = 2 * rows <= quantize.SMALL_ROWS  # gives its own bfloat16, which the next such call reads
        assert got.shape == want.shape and got.dtype == (torch.bfloat16 if one_row_kernel else torch.float32)
        torch.testing.assert_close(got.float(), want, rtol=2e-2, atol=2e-2)  # bfloat16 activations on the int8 kernel
    x = torch.randn(1, 64)
    got = q8(x, rows=(10, 42)).float()
    torch.testing.assert_close(got, F.linear(x, deq[10:42], lin.bias[10:42]), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("prompt_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kind", ["semantic", "coarse", "fine"])
def test_quantized_models_stay_close_to_float32(kind, prompt_dtype):
    torch.manual_seed(1)
    model = build_model(kind, bark_config(kind, "tiny")).eval()
    q = build_model(kind, bark_config(kind, "tiny")).eval()
    q.load_state_dict(model.state_dict())
    quantize.quantize_model(q, prompt_dtype)
    assert quantize.is_quantized(q) and not quantize.is_quantized(model)
    attn = [m.attn_dtype for m in q.modules() if hasattr(m, "attn_dtype")]
    assert attn and all(a == (torch.bfloat16 if prompt_dtype == torch.bfloat16 else None) for a in attn)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in q.modules())
    assert n_linear == 0 and sum(isinstance(m, quantize.Int8Linear) for m in q.modules()) > 0
    # many-row calls on int8 x int8 everywhere but the fine model's MLP output projections (GELU's output as input)
    float_path = {name for name, m in q.named_modules() if isinstance(m, quantize.Int8Linear) and not m.int_mm}
    mlp_out = {f"transformer.h.{i}.mlp.c_proj" for i in range(len(q.transformer.h))}
    assert float_path == (mlp_out if kind == "fine" else set())
    with torch.inference_mode():
        if kind == "fine":
            idx = torch.randint(0, 1024, (1, 40, 8))
            a, b = model(3, idx), q(3, idx)
            assert q.lm_heads[0].weight.device.type == "cpu"
            assert q.transformer.wtes[1].weight.dtype == torch.float32  # the embedding keeps the float copy
        else:
            idx = torch.randint(0, 1000, (1, 20))
            cache_a, cache_b = model.new_cache(1, 32), q.new_cache(1, 32)
            assert cache_a.k.dtype == torch.float32 and cache_b.k.dtype == torch.bfloat16  # int8 mode: bf16 cache
            a, b = model(idx, cache_a, rows=(0, 500)), q(idx, cache_b, rows=(0, 500))
            a2, b2 = model(idx[:, :1], cache_a), q(idx[:, :1], cache_b)  # a decode step: the int8 kernel
            assert torch.nn.functional.cosine_similarity(a2.flatten(), b2.flatten(), dim=0) > 0.99
            assert q.lm_head.weight.device.type == "cpu"
    assert a.shape == b.shape
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99


def test_a_prompt_run_for_its_last_row_only_fills_the_same_cache_and_gives_the_same_logits():
    torch.manual_seed(4)
    model = build_model("coarse", bark_config("coarse", "tiny")).eval()
    idx = torch.randint(0, 500, (2, 30))
    with torch.inference_mode():
        full_cache, last_cache = model.new_cache(2, 40), model.new_cache(2, 40)
        full = model(idx, full_cache, rows=(0, 300))
        model.last_row_only = True
        last = model(idx, last_cache, rows=(0, 300))
        assert last_cache.length == full_cache.length == 30
        step_full, step_last = model(idx[:, :1], full_cache), model(idx[:, :1], last_cache)  # a step reads the cache
    torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)  # one-row products: other last bits, same values
    assert torch.equal(full_cache.k, last_cache.k) and torch.equal(full_cache.v, last_cache.v)
    torch.testing.assert_close(step_last, step_full, rtol=0, atol=0)
    assert quantize.quantize_model(model).last_row_only  # the int8 mode's causal models set it


def test_cached_attention_over_the_whole_cache_matches_torch_attention_on_the_filled_slice():
    torch.manual_seed(2)
    cache = torch.randn(3, 2, 4, 50, 16).to(torch.bfloat16)  # (layer, B, nh, max_len, hs), filled or not
    k, v = cache[1], cache[2]
    q = torch.randn(2, 4, 1, 16).to(torch.bfloat16)  # one decode step at position 36: sees positions 0..36
    want = F.scaled_dot_product_attention(q.float(), k[:, :, :37].float(), v[:, :, :37].float())
    torch.testing.assert_close(cached_attention(q, k, v, 37).float(), want, rtol=2e-2, atol=2e-2)
    q3 = torch.randn(2, 4, 3, 16).to(torch.bfloat16)  # three new positions 34..36, each sees those up to its own
    seen = torch.ones(3, 37, dtype=torch.bool).tril(diagonal=34)
    want3 = F.scaled_dot_product_attention(q3.float(), k[:, :, :37].float(), v[:, :, :37].float(), attn_mask=seen)
    torch.testing.assert_close(cached_attention(q3, k, v, 37).float(), want3, rtol=2e-2, atol=2e-2)


def test_thread_picker_runs_steps_on_the_fastest_thread_count_it_timed(monkeypatch):
    clock = [0.0]
    cost = {1: 1.0, 2: 5.0}  # seconds per step: two threads stall, as on a busy core

    def step():
        clock[0] += cost[torch.get_num_threads()]
        return torch.get_num_threads()

    monkeypatch.setattr(decoding.time, "perf_counter", lambda: clock[0])
    before = torch.get_num_threads()
    picker = decoding.ThreadPicker((2, 1), every=4)
    assert [picker.run(step) for _ in range(4)] == [1, 2, 1, 1]  # probe 1 and 2, then the faster until step 4
    assert [picker.run(step) for _ in range(5)] == [1, 2, 1, 1, 1]  # the same winner: the next probe 8 steps on
    cost.update({1: 3.0, 2: 1.0})  # the other core went quiet, one thread got slower: probe again at once
    assert [picker.run(step) for _ in range(5)] == [1, 1, 2, 2, 2]
    assert torch.get_num_threads() == before
    steady = decoding.ThreadPicker((2, 1), every=4, max_every=16)  # the same winner every time: rarer probes
    cost.update({1: 1.0, 2: 5.0})
    assert [i for i in range(60) if steady.run(step) == 2] == [1, 5, 13, 29, 45]  # 4, 8, 16, then 16 steps apart


def test_int8_placement_is_cpu_only_inexact_and_picks_its_prompt_dtype(tmp_path, measured):
    p = placement.resolve("cpu", "int8", "auto", cache_dir=tmp_path / "zen")
    assert (p.quantize, p.precision, p.placement, p.device.type) == ("int8", "int8", "cpu", "cpu")
    assert p.dtype == torch.float32 and p.prompt_dtype == torch.float32 and not p.exact
    assert p.choice is not None and p.choice.timings_ms  # the measured timings ride along, for info()
    measured(XEON)
    assert placement.resolve("auto", "int8", cache_dir=tmp_path / "xeon").prompt_dtype == torch.bfloat16
    assert placement.resolve("cpu", "float32", "cpu", cache_dir=tmp_path / "xeon").precision == "float32"
    assert placement.resolve("cpu", "float32", "cpu", cache_dir=tmp_path / "xeon").exact
    with pytest.raises(ValueError, match="CPU-only mode.*bfloat16"):
        placement._refuse_quantized_off_cpu("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="CPU only"):
        placement.resolve("cpu", "int8", "offload", cache_dir=tmp_path / "xeon")
    with pytest.raises(ValueError, match="int8"):
        placement.resolve("cpu", "int4", "cpu", cache_dir=tmp_path / "xeon")
    assert placement.prompt_dtype_for(None) == torch.float32


def test_cli_flag_selects_int8():
    p = argparse.ArgumentParser()
    add_engine_arguments(p)
    assert engine_settings(p.parse_args(["--dtype", "int8"])).dtype == "int8"


def test_engine_loads_and_generates_in_int8(tiny_native, tmp_path, measured):
    engine = Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="int8",
                                        cache_dir=str(tmp_path / "cache")))
    assert all(quantize.is_quantized(m) for m in engine.models.values())
    assert engine.placement.precision == "int8" and not engine.placement.exact
    before = {n: t.data_ptr() for n, t in engine.models["coarse"].state_dict().items()}
    placement.prepare_stage(engine.models["coarse"], engine.placement)  # a second call changes nothing
    assert {n: t.data_ptr() for n, t in engine.models["coarse"].state_dict().items()} == before
    gen = engine.generate(GenerationRequest(text="Hello [laughs] there.", takes=2, seed=3, max_seconds=0.4))
    assert len(gen.takes) == 2 and np.isfinite(gen.audio).all() and gen.audio.size > 0
    assert all(t.voice.fine.shape[0] == 8 for t in gen.takes)
    assert isinstance(engine.decoders, decoding.ThreadedDecoders) or torch.get_num_threads() == 1
    info = engine.info()
    assert info["exact"] is False
    assert info["dtype"] == "int8"


def test_a_quantized_model_lets_go_of_its_memory_mapped_checkpoint(tmp_path):
    """The float tensors left after quantizing (embeddings, LayerNorms) are copied out of the checkpoint's memory
    map, so the mapped file (whose Linear pages quantizing read) can be released; their values are unchanged."""
    from safetensors.torch import save_file

    from bark_core.checkpoints import read_safetensors

    torch.manual_seed(2)
    source = build_model("coarse", bark_config("coarse", "tiny")).eval()
    path = tmp_path / "coarse.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    mapped = read_safetensors(path)
    in_file = {t.untyped_storage().data_ptr() for t in mapped.values()}
    with torch.device("meta"):
        q = build_model("coarse", bark_config("coarse", "tiny"))
    q.load_state_dict(mapped, strict=True, assign=True)
    assert q.transformer.wte.weight.untyped_storage().data_ptr() in in_file  # loaded straight from the map
    quantize.quantize_model(q)
    floats = [t for t in list(q.parameters()) + list(q.buffers()) if t.dtype.is_floating_point]
    assert floats and not any(t.untyped_storage().data_ptr() in in_file for t in floats)
    assert torch.equal(q.transformer.wte.weight, source.transformer.wte.weight)
    assert torch.equal(q.transformer.h[0].ln_1.weight, source.transformer.h[0].ln_1.weight)


def test_int8_linear_many_rows_on_int_mm_stay_close():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96, bias=True)
    q8 = quantize.Int8Linear(lin, int_mm=True)  # int8 activations, int8 x int8 -> int32 (torch._int_mm)
    deq = q8.weight.float() * q8.scale[:, None]
    x = torch.randn(2, 40, 64)
    torch.testing.assert_close(q8(x), F.linear(x, deq, lin.bias), rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(q8(x, rows=(10, 42)), F.linear(x, deq[10:42], lin.bias[10:42]), rtol=5e-2, atol=5e-2)
