"""Where the time goes: one coarse decode step at ~900 ids of context, a coarse window
prefill, a semantic decode step, one fine pass, ours vs the reference, on the same random
weights; optionally torch.profiler's top ops, and (CUDA) the offload transfer times.

    python bench/profile_steps.py --size small --device cpu --dtype float32 --steps 20 --profile
    python bench/profile_steps.py --size large --device cuda --dtype bfloat16 --profile

Also checks that slicing the coarse lm_head to the sampled codebook (1024 of 12096 rows)
gives bit-identical logits (a CPU float32 speed-up candidate).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import bench  # noqa: E402
from bark_core.checkpoints import StageWeights, build_stage  # noqa: E402
from bark_core.sampling import Sampling, sample  # noqa: E402


def timeit(fn, device, n):
    fn()  # warm
    bench._sync(device)
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        bench._sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--steps", type=int, default=10, help="repetitions per measurement (best of)")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    dev, dt = args.device, getattr(torch, args.dtype)
    gen = bench.import_reference()
    from bark.model import GPT as RefGPT, GPTConfig as RefCfg
    from bark.model_fine import FineGPT as RefFine, FineGPTConfig as RefFineCfg

    states = bench.random_states(args.size, "cpu")
    ours, ref = {}, {}
    for stage, (c, state) in states.items():
        ours[stage] = build_stage(StageWeights(stage, c, state, "random"), dev, dt)
        a = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size, bias=c.bias, dropout=0.0,
                 input_vocab_size=c.input_vocab_size, output_vocab_size=c.output_vocab_size)
        m = RefFine(RefFineCfg(**a, n_codes_total=8, n_codes_given=1)) if stage == "fine" else RefGPT(RefCfg(**a))
        m.load_state_dict(state, strict=False)
        ref[stage] = m.eval().to(dev)  # the reference keeps float32 weights (autocast bf16 on CUDA)
    del states
    ac = gen.autocast if dev == "cuda" else (lambda: torch.autocast("cpu", enabled=False))
    g = torch.Generator(dev).manual_seed(0)
    rows = []

    # ---- coarse: prefill of a full window (256 semantic + infer + 630 coarse), then decode steps at that context
    ctx = 256 + 1 + 630
    x = torch.randint(10_000, 12_048, (1, ctx), device=dev)
    co, cr = ours["coarse"], ref["coarse"]

    def ours_prefill():
        cache = co.new_cache(1, ctx + 60)
        return co(x, cache), cache

    with torch.inference_mode():
        rows.append(("coarse prefill (887 ids)", timeit(lambda: ours_prefill(), dev, args.steps),
                     timeit(lambda: ac_call(ac, lambda: cr(x, use_cache=True)), dev, args.steps)))
        _, cache = ours_prefill()
        with ac():
            _, kv = cr(x, use_cache=True)
        tok = torch.tensor([[11_000]], device=dev)
        L0 = cache.length

        def ours_step():
            cache.length = L0
            return co(tok, cache)

        def ours_step_sample():
            logits = ours_step()
            return sample(logits[:, 10_000:11_024], Sampling(0.7), g)

        def ref_step():
            with ac():
                logits, _ = cr(tok, past_kv=kv, use_cache=True)
                probs = torch.softmax(logits[0, 0, 10_000:11_024] / 0.7, dim=-1)
                return torch.multinomial(probs, num_samples=1)

        rows.append(("coarse decode step, forward only", timeit(ours_step, dev, args.steps),
                     timeit(lambda: ac_call(ac, lambda: cr(tok, past_kv=kv, use_cache=True)), dev, args.steps)))
        rows.append(("coarse decode step + sampling", timeit(ours_step_sample, dev, args.steps), timeit(ref_step, dev, args.steps)))
        logits = torch.randn(1, 12_096, device=dev)
        rows.append(("  sampling alone (1024 ids)", timeit(lambda: sample(logits[:, 10_000:11_024], Sampling(0.7), g), dev, args.steps * 5),
                     timeit(lambda: torch.multinomial(torch.softmax(logits[0, 10_000:11_024] / 0.7, -1), 1), dev, args.steps * 5)))
        # the lm_head alone, full vs sliced to one codebook; is the slice bit-identical?
        h = torch.randn(1, co.config.n_embd, device=dev, dtype=dt)
        W = co.lm_head.weight
        full = timeit(lambda: co.lm_head(h), dev, args.steps * 5)
        sliced = timeit(lambda: torch.nn.functional.linear(h, W[10_000:11_024]), dev, args.steps * 5)
        same = torch.equal(co.lm_head(h)[:, 10_000:11_024], torch.nn.functional.linear(h, W[10_000:11_024]))
        rows.append((f"  coarse lm_head full vs 1024-row slice (identical: {same})", full, sliced))

        # ---- semantic decode step at 513 + 100 context
        so, sr = ours["semantic"], ref["semantic"]
        xs = torch.randint(0, 10_000, (1, 513), device=dev)
        scache = so.new_cache(1, 513 + 200)
        so(xs, scache, merge_context=True)
        L1 = scache.length
        with ac():
            _, skv = sr(xs, merge_context=True, use_cache=True)
        stok = torch.tensor([[5]], device=dev)

        def ours_sstep():
            scache.length = L1
            return so(stok, scache)

        rows.append(("semantic decode step (ctx 257)", timeit(ours_sstep, dev, args.steps),
                     timeit(lambda: ac_call(ac, lambda: sr(stok, past_kv=skv, use_cache=True)), dev, args.steps)))

        # ---- fine: one pass over a 1024-frame window
        fo, fr = ours["fine"], ref["fine"]
        codes = torch.randint(0, 1024, (1, 1024, 8), device=dev)
        rows.append(("fine pass (1024 frames, 1 codebook)", timeit(lambda: fo(2, codes), dev, max(2, args.steps // 3)),
                     timeit(lambda: ac_call(ac, lambda: fr(2, codes)), dev, max(2, args.steps // 3))))

    print(f"\n{args.size} shape, {dev}, ours {args.dtype} vs reference float32{' + autocast bf16' if dev == 'cuda' else ''};"
          f" best of {args.steps}; torch threads {torch.get_num_threads()}")
    print(f"{'measurement':<58}{'ours ms':>10}{'ref ms':>10}{'ref/ours':>10}")
    for name, o, r in rows:
        print(f"{name:<58}{o * 1e3:>10.2f}{r * 1e3:>10.2f}{r / o:>9.2f}x")

    if dev == "cuda":  # offload: what moving each stage costs
        for stage, m in ours.items():
            nbytes = sum(t.numel() * t.element_size() for t in m.state_dict().values())
            m.to("cpu")
            torch.cuda.synchronize()
            t = time.perf_counter()
            m.to(dev)
            torch.cuda.synchronize()
            up = time.perf_counter() - t
            t = time.perf_counter()
            m.to("cpu")
            torch.cuda.synchronize()
            down = time.perf_counter() - t
            print(f"offload {stage}: {nbytes / 2**30:.2f} GiB, to GPU {up:.2f} s, back to CPU {down:.2f} s")
            m.to(dev)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev == "cuda" else [])
        sort = "self_cuda_time_total" if dev == "cuda" else "self_cpu_time_total"
        with torch.inference_mode():
            for name, fn in (("ours coarse decode step + sampling", ours_step_sample), ("reference coarse decode step + sampling", ref_step)):
                with profile(activities=acts) as prof:
                    for _ in range(5):
                        fn()
                    bench._sync(dev)
                print(f"\n== {name} (5 steps)")
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
                if dev == "cuda":
                    print(prof.key_averages().table(sort_by=sort, row_limit=8))


def ac_call(ac, fn):
    with ac():
        return fn()


if __name__ == "__main__":
    main()
