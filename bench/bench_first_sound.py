"""Time to first sound with previews (issue 21, item 2): the first ``on_preview`` vs the whole take.

    python bench/bench_first_sound.py                     # tiny random weights, 200 semantic tokens
    python bench/bench_first_sound.py --size small --repeat 2

Random Bark weights at ``--size`` (written once under ``--weights-dir``) and a random EnCodec at the
real 24 kHz model's shape (so a preview's decode costs what it would with the real codec), on the
exact CPU path (float32). For one segment and for a three-segment text, each run with previews on
(an ``on_preview`` callback) and off (none), alternating, best of ``--repeat``:

- first sound: seconds until the first preview (on) / the first finished segment (off, as before);
- whole: seconds until the whole request is done; the previews' cost is whole(on) - whole(off),
  and the engine's own ``timings["preview"]`` (seconds spent decoding them);
- that the final takes are byte-identical with previews on and off.

The CPU model, the load average and the date are printed beside the figures: on a shared machine
the absolute seconds move with other jobs' load; the ratios in one run are what to compare.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bark_core import precision  # noqa: E402
from benchutil import LONG_TEXT  # noqa: E402  (this folder is on sys.path when a bench script runs)
from bark_core.codec import Codec  # noqa: E402
from bark_core.constants import SEMANTIC_RATE_HZ  # noqa: E402
from bark_core.engine import Engine, EngineSettings  # noqa: E402
from bark_core.types import GenerationRequest  # noqa: E402

ONE = "Hello there, this is one segment of speech made while you listen."
SEED = 3


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{precision.cpu_model()} ({os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, load average {load})")


def full_size_random_codec(seed: int = 0) -> Codec:
    """A random EnCodec at facebook/encodec_24khz's shape (transformers' default config)."""
    from transformers import EncodecConfig

    from bark_core.testweights import random_codec

    return Codec(random_codec(seed, EncodecConfig()))


def weights(size: str, weights_dir: Path) -> Path:
    from bark_core.testweights import write_test_weights

    folder = weights_dir / f"{size}-native-preview"
    if not (folder / ".complete").is_file():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing random {size} weights to {folder} (once) ...", flush=True)
        write_test_weights(folder, size=size, fmt="native", seed=0)
        (folder / ".complete").write_text("ok")
    return folder


def run(engine: Engine, request: GenerationRequest, preview: bool) -> dict:
    """One generation; seconds to the first preview / first segment / whole, and its takes."""
    marks: dict[str, list[float]] = {"preview": [], "segment": []}
    t0 = time.perf_counter()
    kwargs = dict(on_segment=lambda k, n, a: marks["segment"].append(time.perf_counter() - t0))
    if preview:
        kwargs["on_preview"] = lambda k, n, a: marks["preview"].append(time.perf_counter() - t0)
    gen = engine.generate(request, **kwargs)
    whole = time.perf_counter() - t0
    first = marks["preview"][0] if preview and marks["preview"] else marks["segment"][0]
    return dict(first=first, whole=whole, previews=len(marks["preview"]), preview_s=gen.timings.get("preview", 0.0),
                audio_s=gen.takes[0].seconds, segments=len(gen.takes[0].segments), gen=gen)


def same(a, b) -> bool:
    return all(np.array_equal(x.audio, y.audio) and np.array_equal(x.voice.fine, y.voice.fine)
               and np.array_equal(x.voice.coarse, y.voice.coarse) and np.array_equal(x.voice.semantic, y.voice.semantic)
               for x, y in zip(a.takes, b.takes))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=["tiny", "small", "large"], default="tiny")
    p.add_argument("--semantic-tokens", type=int, default=200, help="per segment of the one-segment case (no early stop)")
    p.add_argument("--repeat", type=int, default=1, help="best of R, on and off alternating")
    p.add_argument("--weights-dir", default="build/bench-weights")
    args = p.parse_args()

    print(f"bench_first_sound  {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print("note: a shared machine (other engineers' jobs were running): absolute seconds move with their load")
    folder = weights(args.size, Path(args.weights_dir))
    engine = Engine.load(EngineSettings(models=str(folder), device="cpu", dtype="float32", placement="cpu",
                                        offline=True, convert_cache=False), load_codec=False)
    engine.codec = full_size_random_codec()
    print(f"weights: random {args.size} (exact CPU float32), codec: random EnCodec at the real 24 kHz shape; "
          f"previews: first at {engine.preview_first_s} s of audio, then every {engine.preview_every_s} s, "
          f"and at each segment's coarse end; later previews re-read {engine.preview_context_s} s before their new frames")
    seconds = args.semantic_tokens / SEMANTIC_RATE_HZ
    cases = [("one segment", GenerationRequest(text=ONE, seed=SEED, early_stop=False, max_seconds=seconds)),
             ("long text", GenerationRequest(text=LONG_TEXT, seed=SEED, early_stop=False,
                                                          max_seconds=seconds / 2))]
    engine.generate(GenerationRequest(text="Warm up.", seed=1, early_stop=False, max_seconds=0.5))
    print()
    print(f"| case | audio | first sound, previews on | first sound, off (first segment) | whole, on | whole, off "
          f"| preview cost | previews (decode s) | identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, request in cases:
        on, off = [], []
        for _ in range(args.repeat):
            on.append(run(engine, request, True))
            off.append(run(engine, request, False))
        b_on = min(on, key=lambda r: r["whole"])
        b_off = min(off, key=lambda r: r["whole"])
        identical = all(same(r["gen"], off[0]["gen"]) for r in on + off)
        first_on = min(r["first"] for r in on)
        first_off = min(r["first"] for r in off)
        cost = b_on["whole"] - b_off["whole"]
        print(f"| {name} ({b_on['segments']} segment(s)) | {b_on['audio_s']:.1f} s | {first_on:.2f} s ({first_on / b_on['whole']:.0%} of whole) "
              f"| {first_off:.2f} s | {b_on['whole']:.2f} s | {b_off['whole']:.2f} s "
              f"| {cost:+.2f} s ({cost / b_off['whole']:+.1%}) | {b_on['previews']} ({b_on['preview_s']:.2f} s) "
              f"| {'yes' if identical else 'NO'} |", flush=True)
    print(f"\nload average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
