"""How far the fast CPU precisions drift from float32 (issue 14), and the coarse decode step against its floor.

    python bench/bench_quality.py                        # small shape: semantic, coarse, fine; float32 vs bfloat16 vs int8
    python bench/bench_quality.py --stages coarse --steps 20 --json build/quality.json
    python bench/bench_quality.py --stages coarse --skip-quality    # only the coarse step beside its floor

Quality, teacher-forced: each stage's model reads the same random input sequence in float32 and in
each candidate precision; at every predicted position the candidate's logits are compared with
float32's over the ids the stage samples from (semantic: 10_000 ids + EOS; coarse: the 1024 ids of
the codebook due at that position; fine: the 1024 ids of codebook 2, one full 1024-frame pass):

* top-1 agreement: the candidate's most likely id is float32's;
* sampled agreement at Bark's temperature 0.7 (``--temp``): the same uniform draw, inverse-CDF sampled from both
  distributions, gives the same id (how often a seeded run would take the same token);
* mean KL(float32 || candidate) at temperature 0.7, in nats per position;
* float32's mean top-1 probability, to show how peaked these random-weight distributions are.

Candidates: bfloat16 (weights, activations and KV cache), and the engine's int8 mode (``--dtype int8``,
bark_core.quantize: per-output-channel symmetric int8 weights of every Linear and output head; the rest
float32). The int8 mode computes a call of <= 16 rows (a decode step) on torch's CPU kernel
``torch._weight_int8pack_mm`` with bfloat16 activations, and a many-row call (a prompt, the fine stage)
as an int8 x int8 product (``torch._int_mm``, each activation row quantized on the fly), except the fine
model's MLP output projections: the dequantized weight in the prompt dtype (bfloat16 where measured
faster, else float32). Teacher
forcing feeds whole sequences, so two rows are printed: ``int8`` (the many-row path, as in prompts and
the fine stage) and ``int8-step`` (the engine's own decoding: a prefill up to the first predicted position,
then one cached decode step per position through the int8 kernel, the bfloat16 KV cache and its attention;
causal stages only). torchao 0.18.0's ``Int8WeightOnlyConfig`` on the CPU converts the whole int8 weight to
float on every call, so it is no faster than a float matmul.

RANDOM WEIGHTS CANNOT PROVE QUALITY ON REAL ONES: Suno's trained weights have other scales,
outliers and far more peaked distributions; these figures bound the numerical drift of each
precision at Bark's real shapes, nothing more. A real-weight check must repeat this on the real
checkpoints (same script, ``--weights DIR`` pointing at a native folder).

Speed: the coarse decode step (one token at ~887 ids of context, the engine's eager path, the
1024-row slice of the output head) in each precision, best of ``--steps``, beside its floor: the
bytes of weights a step reads divided by this machine's memory bandwidth (summing a 1 GiB buffer).
The CPU model (/proc/cpuinfo) and the load average are printed beside every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bark_core import constants as C  # noqa: E402
from bark_core.checkpoints import StageWeights, build_stage, load_stage  # noqa: E402
from bark_core.model import KVCache  # noqa: E402,F401
from bark_core.precision import cpu_model  # noqa: E402
from bark_core.quantize import Int8Linear, quantize_model  # noqa: E402
from benchutil import best_of  # noqa: E402

TEMP = 0.7
VARIANTS = ("float32", "bfloat16", "int8", "int8-step")
PROMPT_DTYPE = [torch.float32]  # int8 mode's dtype for many-row products (--prompt-dtype; the engine measures it)


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, load {os.getloadavg()[0]:.1f}"


# ---------------------------------------------------------------- int8 weight-only: the engine's own mode


def to_int8(model: nn.Module, prompt_dtype: torch.dtype = torch.float32) -> nn.Module:
    """The engine's --dtype int8 transform (bark_core.quantize) of a float32 model."""
    return quantize_model(model, prompt_dtype)


def build(stage: str, weights, variant: str) -> nn.Module:
    dtype = torch.float32 if variant == "float32" else torch.bfloat16
    if isinstance(weights, Path):
        model = load_stage(weights, stage, device="cpu", dtype=torch.float32)
    else:
        model = build_stage(StageWeights(stage, weights[0], weights[1], "random"), "cpu", torch.float32)
    model = model.eval()
    if variant.startswith("int8"):
        return to_int8(model, PROMPT_DTYPE[0])
    return model.to(dtype)


# ---------------------------------------------------------------- teacher-forced logits


def all_logits(model: nn.Module, idx: torch.Tensor, merge_context: bool = False) -> torch.Tensor:
    """Logits at every position (1, T, V) of a causal stage model, float32."""
    t = model.transformer
    if merge_context:
        m = C.MAX_TEXT_TOKENS
        emb = torch.cat([t.wte(idx[:, :m]) + t.wte(idx[:, m:2 * m]), t.wte(idx[:, 2 * m:])], dim=1)
    else:
        emb = t.wte(idx)
    x = emb + t.wpe(torch.arange(emb.shape[1]).unsqueeze(0))
    for block in t.h:
        x = block(x)
    return model.lm_head(t.ln_f(x)).float()


def stage_inputs(stage: str, gen: torch.Generator):
    """The stage's input and, per predicted position, the [a, b) ids it samples from."""
    if stage == "semantic":  # 256 text ids + 256 semantic history (summed) + infer, then 200 semantic tokens
        text = torch.randint(C.TEXT_ENCODING_OFFSET, C.TEXT_ENCODING_OFFSET + 100_000, (1, 256), generator=gen)
        hist = torch.randint(0, C.SEMANTIC_VOCAB_SIZE, (1, 256), generator=gen)
        toks = torch.randint(0, C.SEMANTIC_VOCAB_SIZE, (1, 200), generator=gen)
        idx = torch.cat([text, hist, torch.tensor([[C.SEMANTIC_INFER_TOKEN]]), toks], dim=1)
        return idx, [(256 + j, 0, C.SEMANTIC_VOCAB_SIZE + 1) for j in range(200)]
    if stage == "coarse":  # 256 semantic ids + infer + 630 interleaved coarse ids (the window's context)
        sem = torch.randint(0, C.SEMANTIC_VOCAB_SIZE, (1, 256), generator=gen)
        codes = torch.randint(0, C.CODEBOOK_SIZE, (1, 630), generator=gen)
        codes = codes + C.SEMANTIC_VOCAB_SIZE + (torch.arange(630) % 2) * C.CODEBOOK_SIZE
        idx = torch.cat([sem, torch.tensor([[C.COARSE_INFER_TOKEN]]), codes], dim=1)
        rows = []
        for k in range(630):  # position 256 + k predicts coarse id k, of codebook k % 2
            a = C.SEMANTIC_VOCAB_SIZE + (k % 2) * C.CODEBOOK_SIZE
            rows.append((256 + k, a, a + C.CODEBOOK_SIZE))
        return idx, rows
    codes = torch.randint(0, C.CODEBOOK_SIZE, (1, 1024, 8), generator=gen)
    return codes, [(j, 0, C.CODEBOOK_SIZE) for j in range(1024)]


def logits_of(stage: str, model: nn.Module, idx: torch.Tensor, rows: list) -> list[torch.Tensor]:
    with torch.inference_mode():
        if stage == "fine":
            out = model(2, idx).float()  # codebook 2, every frame
        else:
            out = all_logits(model, idx, merge_context=stage == "semantic")
    return [out[0, p, a:b] for p, a, b in rows]


def decoded_logits(stage: str, model: nn.Module, idx: torch.Tensor, rows: list) -> list[torch.Tensor]:
    """The logits at each predicted position as the engine makes them: a prefill up to the first one, then one
    cached decode step per position, teacher-forced (causal stages)."""
    n_ctx = rows[0][0] + 1 + (C.MAX_TEXT_TOKENS if stage == "semantic" else 0)  # ids the prefill reads
    cache = model.new_cache(1, idx.shape[1])
    with torch.inference_mode():
        out = [model(idx[:, :n_ctx], cache, merge_context=stage == "semantic").float()]
        out += [model(idx[:, j : j + 1], cache).float() for j in range(n_ctx, n_ctx + len(rows) - 1)]
    return [o[0, a:b] for o, (_, a, b) in zip(out, rows)]


def compare(ref: list[torch.Tensor], cand: list[torch.Tensor], gen: torch.Generator, temp: float = TEMP) -> dict:
    r = torch.stack([x.double() for x in ref])  # (N, V), every position samples from V ids
    c = torch.stack([x.double() for x in cand])
    lp, lq = F.log_softmax(r / temp, -1), F.log_softmax(c / temp, -1)
    p = lp.exp()
    u = torch.rand(r.shape[0], 1, generator=gen, dtype=torch.float64)
    pick = lambda logp: torch.searchsorted(logp.exp().cumsum(-1), u * logp.exp().sum(-1, keepdim=True)).clamp(max=r.shape[1] - 1)  # noqa: E731
    return dict(
        positions=r.shape[0],
        top1_agreement=(r.argmax(-1) == c.argmax(-1)).double().mean().item(),
        sampled_agreement=(pick(lp) == pick(lq)).double().mean().item(),
        mean_kl=(p * (lp - lq)).sum(-1).mean().item(),
        ref_top1_prob=p.max(-1).values.mean().item(),
    )


# ---------------------------------------------------------------- the coarse decode step


def decode_step(model: nn.Module, tok: torch.Tensor, cache: KVCache, start: int, rows: tuple[int, int]) -> torch.Tensor:
    """GPT.forward for one token with the output head cut to ``rows`` (the engine's eager decode step)."""
    t = model.transformer
    x = t.wte(tok) + t.wpe(torch.tensor([[start]]))
    for i, block in enumerate(t.h):
        x = block(x, cache, i, start)
    return model.head(t.ln_f(x)[:, -1, :], rows)


def step_weights(model: nn.Module, rows: tuple[int, int]) -> list[torch.Tensor]:
    """The tensors one decode step reads (every block tensor, the head's slice)."""
    out = [b for b in model.transformer.h.parameters()] + [b for b in model.transformer.h.buffers()]
    head = model.lm_head
    out += [head.weight[rows[0]:rows[1]], head.scale_bf16[rows[0]:rows[1]]] if isinstance(head, Int8Linear) else [
        head.weight[rows[0]:rows[1]]]
    return out


def bandwidth() -> float:
    """Bytes per second reading a 1 GiB buffer once (best of 5; larger than any last-level cache here)."""
    buf = torch.ones(256 * 1024**2)
    return buf.numel() * 4 / best_of(lambda: buf.sum(), 5)


def step_times(weights, steps: int) -> list[dict]:
    ctx, rows = 256 + 1 + 630, (C.SEMANTIC_VOCAB_SIZE, C.SEMANTIC_VOCAB_SIZE + C.CODEBOOK_SIZE)
    gen = torch.Generator().manual_seed(1)
    idx, _ = stage_inputs("coarse", gen)
    bw = bandwidth()
    out = []
    for variant in VARIANTS[:3]:
        model = build("coarse", weights, variant)
        cache = model.new_cache(1, ctx + 8)
        tok = torch.tensor([[11_000]])
        with torch.inference_mode():
            x = idx
            t = model.transformer
            h = t.wte(x) + t.wpe(torch.arange(ctx).unsqueeze(0))
            for i, block in enumerate(t.h):  # prefill the cache (values do not matter for the step's cost)
                h = block(h, cache, i, 0)
            cache.length = ctx
            step = best_of(lambda: decode_step(model, tok, cache, ctx, rows), steps)
            nbytes = sum(w.numel() * w.element_size() for w in step_weights(model, rows))
        out.append(dict(variant=variant, step_ms=step * 1e3, weight_mb=nbytes / 2**20,
                        floor_ms=nbytes / bw * 1e3, bandwidth_gbs=bw / 1e9))
        print(f"  coarse step {variant:<9} {step * 1e3:8.2f} ms   floor {nbytes / bw * 1e3:6.2f} ms "
              f"(its {nbytes / 2**20:.0f} MiB of weights read once at {bw / 1e9:.1f} GB/s)   [{machine()}]", flush=True)
        del model, cache
    return out


# ---------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["small", "large"], default="small")
    p.add_argument("--stages", default="semantic,coarse,fine")
    p.add_argument("--weights", type=Path, help="a native weights folder (default: seeded random weights)")
    p.add_argument("--temp", type=float, default=TEMP,
                   help="sampling temperature of the comparison; lower = the more peaked distributions of real weights")
    p.add_argument("--steps", type=int, default=10, help="best of N for the step timings")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-quality", action="store_true", help="only the coarse step timings")
    p.add_argument("--prompt-dtype", choices=["float32", "bfloat16"], default=None,
                   help="int8 mode's dtype for many-row products (default: what the engine measures on this CPU)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.prompt_dtype:
        PROMPT_DTYPE[0] = getattr(torch, args.prompt_dtype)
    else:
        from bark_core.placement import cpu_auto_choice, prompt_dtype_for

        PROMPT_DTYPE[0] = prompt_dtype_for(cpu_auto_choice(None, args.size))
    print(f"int8 mode: int8 weight-only Linears (bark_core.quantize), many-row products in "
          f"{str(PROMPT_DTYPE[0]).replace('torch.', '')}")
    stages = [s for s in args.stages.split(",") if s]
    print(f"machine: {machine()}; threads {torch.get_num_threads()}")
    if args.weights:
        weights_by_stage = {s: args.weights for s in stages}
        print(f"weights: {args.weights}")
    else:
        import bench

        states = bench.random_states(args.size, "cpu")
        weights_by_stage = {s: states[s] for s in stages}
        print(f"weights: seeded random, {args.size} shape (bench.random_states). "
              "RANDOM WEIGHTS CANNOT PROVE QUALITY ON REAL ONES.")
    results = dict(machine=machine(), cpu=cpu_model(), torch=torch.__version__, size=args.size, temp=args.temp,
                   weights=str(args.weights or "random"), quality={}, speed=[])
    print(f"\nteacher-forced against float32 (temperature {args.temp:g} for sampling and KL)")
    print(f"{'stage':<9}{'precision':<10}{'positions':>10}{'top-1 agree':>13}{'sampled agree':>15}"
          f"{'mean KL':>12}{'f32 top-1 p':>13}")
    for stage in [] if args.skip_quality else stages:
        gen = torch.Generator().manual_seed(7)
        idx, rows = stage_inputs(stage, gen)
        t0 = time.perf_counter()
        ref = logits_of(stage, build(stage, weights_by_stage[stage], "float32"), idx, rows)
        for variant in VARIANTS[1:]:
            if variant == "int8-step" and stage == "fine":
                continue  # the fine stage only makes many-row calls
            try:
                model = build(stage, weights_by_stage[stage], variant)
                of = decoded_logits if variant == "int8-step" else logits_of  # int8-step: the engine's decode steps
                cand = of(stage, model, idx, rows)
            except (RuntimeError, NotImplementedError) as e:
                print(f"{stage:<9}{variant:<10} cannot run here: {e}")
                continue
            m = compare(ref, cand, torch.Generator().manual_seed(11), args.temp)
            results["quality"].setdefault(stage, {})[variant] = m
            print(f"{stage:<9}{variant:<10}{m['positions']:>10}{m['top1_agreement']:>12.1%}{m['sampled_agreement']:>15.1%}"
                  f"{m['mean_kl']:>12.2e}{m['ref_top1_prob']:>13.3f}", flush=True)
        print(f"         ({time.perf_counter() - t0:.0f} s; {machine()})", flush=True)
    if "coarse" in weights_by_stage and not args.skip_speed:
        print(f"\ncoarse decode step at {256 + 1 + 630} ids of context, best of {args.steps}")
        results["speed"] = step_times(weights_by_stage["coarse"], args.steps)
    print("\nRandom weights cannot prove quality on real ones: these figures bound numerical drift at "
          "Bark's shapes; repeat with --weights on the real checkpoints before trusting a fast mode.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
