"""Why is offload slow? Times and profiles one semantic stage, resident vs offload (CUDA only).

    python bench/profile_offload.py --size small
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
from bark_core import placement as placement_mod  # noqa: E402
from bark_core.checkpoints import StageWeights, build_stage  # noqa: E402
from bark_core.engine import Engine, EngineSettings  # noqa: E402
from bark_core.tokenizer import TextTokenizer  # noqa: E402
from bark_core.voices import load_voice_npz  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="small")
    args = p.parse_args()
    wd = Path(bench.ROOT) / "build" / "bench-weights"
    folder = bench.prepare_companions(wd)
    voice = load_voice_npz(bench.write_voice(wd / "voice.npz"))
    tok = TextTokenizer.from_spec(None, models_folder=folder, offline=True)
    states = bench.random_states(args.size, "cuda")
    ms = bench.max_seconds_for(100)
    for placement in ("resident", "offload"):
        place = placement_mod.resolve("cuda", "bfloat16", placement)
        models = {s: build_stage(StageWeights(s, c, st, "random"), place.home, place.dtype) for s, (c, st) in states.items()}
        engine = Engine(models, tok, None, place, EngineSettings(models=str(folder), offline=True, cuda_graphs=False), folder)
        run = lambda: engine.text_to_semantic(bench.TEXT, voice, early_stop=False, max_seconds=ms, seed=1)  # noqa: E731
        run()
        torch.cuda.synchronize()
        t = time.perf_counter()
        run()
        torch.cuda.synchronize()
        print(f"{placement}: semantic, 100 tokens, eager: {time.perf_counter() - t:.2f} s; "
              f"params on {next(models['semantic'].parameters()).device}, dtype {next(models['semantic'].parameters()).dtype}")
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]) as prof:
            run()
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        del engine, models
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
