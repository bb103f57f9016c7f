"""Would a fused decode step pay? The coarse model's fixed-shape decode step (what the CUDA graph
replays) timed as it runs today and compiled with ``torch.compile``, with its kernel count and
how far the compiled logits are from the eager ones.

    python bench/step_fusion.py --size large --device cuda --dtype bfloat16   # eager, graph, compiled + graph
    python bench/step_fusion.py --size tiny --device cpu --dtype float32      # checks the script (no graphs)

Ours only (the reference has no fixed-shape step); random weights at Bark's shapes; one take
at ~900 ids of context, as in a coarse window. Compile time is reported separately.
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
from bark_core.decoding import GraphDecoder, StaticDecoder  # noqa: E402

CONTEXT = 256 + 1 + 630


class CompiledStatic(StaticDecoder):
    """StaticDecoder whose step is ``torch.compile``d (compiled on the first step)."""

    mode = "default"  # torch.compile mode (--mode): default, reduce-overhead or max-autotune-no-cudagraphs

    def __init__(self, model, batch, max_len):
        self.compiled = torch.compile(model.step, dynamic=False, fullgraph=True, mode=self.mode)
        super().__init__(model, batch, max_len)

    def _run(self) -> torch.Tensor:
        return self.compiled(self.idx, self.pos, self.cache)


class CompiledGraph(GraphDecoder, CompiledStatic):
    """The compiled step, captured as a CUDA graph (GraphDecoder captures ``CompiledStatic._run``)."""


def per_step(decoder, device: str, steps: int) -> float:
    """Best-of-3 seconds per decode step over ``steps`` steps from the same context."""
    tok = torch.tensor([11_000], device=device)
    start = decoder.cache.length
    best = float("inf")
    for _ in range(3):
        decoder.cache.length = start
        bench._sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            decoder.step(tok)
        bench._sync(device)
        best = min(best, (time.perf_counter() - t) / steps)
    decoder.cache.length = start
    return best


def kernels_per_step(decoder, device: str) -> int:
    """Device kernels (CUDA) or top-level aten ops (CPU) that one step launches."""
    from torch.profiler import ProfilerActivity, profile

    tok = torch.tensor([11_000], device=device)
    start = decoder.cache.length
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=acts) as prof:
        decoder.step(tok)
        bench._sync(device)
    decoder.cache.length = start
    events = prof.events()
    if device == "cuda":
        return sum(1 for e in events if e.device_type == torch.autograd.DeviceType.CUDA)
    return sum(1 for e in events if e.name.startswith("aten::")
               and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="large", choices=["tiny", "small", "large"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--mode", default="default", help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    args = p.parse_args()
    CompiledStatic.mode = args.mode
    dev, dt = args.device, getattr(torch, args.dtype)
    c, state = bench.random_states(args.size, dev)["coarse"]
    model = build_stage(StageWeights("coarse", c, state, "random"), dev, dt)
    del state
    x = torch.randint(10_000, 12_048, (1, CONTEXT), device=dev)
    variants = [("eager fixed-shape step", StaticDecoder)]
    if dev == "cuda":
        variants.append(("CUDA graph (today's default)", GraphDecoder))
    variants.append(("torch.compile", CompiledStatic))
    if dev == "cuda":
        variants.append(("torch.compile + CUDA graph", CompiledGraph))

    print(f"{args.size} coarse model ({c.n_layer} layers x {c.n_embd}), {dev}, {args.dtype}, context {CONTEXT}, "
          f"torch {torch.__version__}")
    reference_logits = None
    with torch.inference_mode():
        for name, cls in variants:
            t = time.perf_counter()
            try:
                decoder = cls(model, 1, c.block_size)
                decoder.prefill(x)
                logits = decoder.step(torch.tensor([11_000], device=dev)).float()
                bench._sync(dev)
            except Exception as e:  # e.g. no C++ compiler or triton for torch.compile: say so, go on
                print(f"  {name:<34} unavailable here: {type(e).__name__}: {str(e).splitlines()[0][:160]}", flush=True)
                continue
            setup = time.perf_counter() - t
            decoder.cache.length = CONTEXT
            if reference_logits is None:
                reference_logits, diff = logits, 0.0
            else:
                diff = (logits - reference_logits).abs().max().item()
            ms = per_step(decoder, dev, args.steps) * 1e3
            kernels = kernels_per_step(decoder, dev) if cls is not GraphDecoder and cls is not CompiledGraph else "-"
            print(f"  {name + (f' ({args.mode})' if cls in (CompiledStatic, CompiledGraph) else ''):<34} {ms:8.3f} ms/step   setup {setup:6.1f} s   "
                  f"{'kernels' if dev == 'cuda' else 'aten ops'}/step {kernels}   max |logit diff| vs eager {diff:.2e}")
            del decoder
            if dev == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
