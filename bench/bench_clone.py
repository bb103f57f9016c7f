"""Voice cloning speed at the real shapes, random weights: 10 s of 44.1 kHz audio -> a Bark voice.

HuBERT base (transformers ``HubertConfig()``: 12 layers, 768 wide, cut after layer 9 as the
cloner does), the version-0 quantizer (LSTM 768 -> 1024 x 2 layers -> Linear 10 000) and the
24 kHz EnCodec (``EncodecConfig()``), all randomly initialised; nothing is downloaded. Prints
seconds per step (median and best of ``--repeat`` runs after one warm-up) beside the CPU model.
Target (issue 11): the whole clone under 3 s on the CPU.

    python bench/bench_clone.py                 # 10 s of audio, 3 runs
    python bench/bench_clone.py --seconds 5 --repeat 5 --threads 2
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bark_core.cloning import VoiceCloner, resample  # noqa: E402
from bark_core.codec import Codec  # noqa: E402
from bark_core.hubert import HUBERT_SAMPLE_RATE, prepare_hubert  # noqa: E402
from bark_core.precision import cpu_model  # noqa: E402
from bark_core.quantizer import HubertQuantizer, QuantizerInfo  # noqa: E402


def speech_like(seconds: float, rate: int) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope and short pauses (enough to exercise every step)."""
    t = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((130, 260, 390, 650, 1300), start=1))
    env = np.abs(np.sin(2 * np.pi * 2.0 * t)) * (np.sin(2 * np.pi * 0.4 * t) > -0.8)
    rng = np.random.default_rng(0)
    return (0.12 * env * voiced + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=44_100, help="sample rate of the input recording")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import EncodecConfig, EncodecModel, HubertConfig, HubertModel

    t0 = time.perf_counter()
    torch.manual_seed(0)
    hubert = prepare_hubert(HubertModel(HubertConfig()))
    quantizer = HubertQuantizer(QuantizerInfo()).eval().requires_grad_(False)
    codec = Codec(EncodecModel(EncodecConfig()))
    cloner = VoiceCloner(hubert, quantizer, codec)
    build_s = time.perf_counter() - t0
    audio = speech_like(args.seconds, args.rate)

    def steps() -> tuple[dict[str, float], dict[str, float], tuple[int, int]]:
        wall, cpu = {}, {}

        def timed(key, fn):
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            wall[key], cpu[key] = time.perf_counter() - t, time.process_time() - c
            return out

        wav16, wav24 = timed("resample", lambda: (resample(audio, args.rate, HUBERT_SAMPLE_RATE),
                                                  resample(audio, args.rate, 24_000)))
        feats = timed("hubert", lambda: cloner.features(wav16))
        timed("quantizer", lambda: quantizer.tokens(feats))
        timed("encodec", lambda: cloner.codes(wav24))
        result = timed("clone (all, end to end)", lambda: cloner.clone(audio, args.rate, start=0.0, seconds=args.seconds))
        return wall, cpu, (result.voice.semantic.shape[0], result.voice.fine.shape[1])

    steps()  # warm-up
    results = [steps() for _ in range(max(1, args.repeat))]
    runs, cpus, (tokens, frames) = [r[0] for r in results], [r[1] for r in results], results[0][2]
    params = {"hubert (9 layers)": sum(p.numel() for p in hubert.parameters()),
              "quantizer v0": sum(p.numel() for p in quantizer.parameters()),
              "encodec": sum(p.numel() for p in codec.model.parameters())}
    try:
        load = Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        load = "?"
    print(f"machine: {cpu_model()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}, load average {load} (other processes slow the median; see best)")
    print(f"input: {args.seconds:g} s at {args.rate} Hz -> {tokens} semantic tokens, "
          f"{frames} codec frames; models built in {build_s:.1f} s; "
          + ", ".join(f"{k} {v / 1e6:.1f}M params" for k, v in params.items()))
    print(f"{'step':26s} {'median s':>9s} {'best s':>8s} {'best CPU s':>11s}   ({len(runs)} runs after a warm-up; "
          "CPU s = process time summed over threads, less sensitive to other processes)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"{key:26s} {statistics.median(values):9.3f} {min(values):8.3f} {min(c[key] for c in cpus):11.3f}")
    total = statistics.median(r["clone (all, end to end)"] for r in runs)
    print(f"target < 3 s for {args.seconds:g} s of audio: {'met' if total < 3.0 else 'NOT met'} ({total:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
