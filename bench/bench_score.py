"""How long the take check adds to a take: score a 14 s take (espeak-ng sentences, padded with pauses to 14 s).

    python bench/bench_score.py              # best of 3, the parts and the whole, on this CPU
    python bench/bench_score.py --repeat 5 --seconds 14 --json out.json

Prints the CPU model, the load average (other processes slow every figure down), the one-time
model loads, and per take: on-script (resample + alignment + phone loop), speaker embedding, signal
checks and the whole ``TakeChecker.score`` (with a voice reference built once beforehand, as the
Studio does). Needs espeak-ng (Debian package).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import benchutil  # noqa: E402
from benchutil import espeak  # noqa: E402

SENTENCES = benchutil.SENTENCES[:4]  # a 14 s take: these four in turn


def speech(seconds: float, voice: str = "en-us") -> tuple[np.ndarray, int, str]:
    """espeak-ng speaking whole sentences in turn, padded with pauses to exactly ``seconds``; audio, rate, text."""
    spoken = [espeak(sentence, voice) for sentence in SENTENCES]
    rate = spoken[0][1]
    target = int(seconds * rate)
    parts, texts, total, i = [], [], 0, 0
    while True:  # whole sentences while they fit
        a = spoken[i % len(spoken)][0]
        if parts and total + len(a) > target:
            break
        parts.append(a[:target])
        texts.append(SENTENCES[i % len(SENTENCES)])
        total += len(parts[-1])
        i += 1
    gap = (target - total) // len(parts)  # the rest as equal pauses after each sentence
    audio = np.concatenate([np.concatenate([p, np.zeros(gap, np.float32)]) for p in parts])
    audio = np.pad(audio, (0, target - len(audio)))
    return audio, rate, " ".join(texts)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=14.0)
    ap.add_argument("--repeat", type=int, default=3, help="best of R")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()

    import torch

    from bark_core.precision import cpu_model
    from bark_core.takecheck import TakeChecker
    from bark_core.takecheck.signal import measure
    from bark_core.takecheck.speaker import resample
    from bark_core.takecheck.text import prompt_words

    audio, rate, text = speech(args.seconds)
    ref_audio, ref_rate, _ = speech(4.0)
    checker = TakeChecker()
    t = time.perf_counter()
    aligner = checker.aligner()
    load_aligner = time.perf_counter() - t
    t = time.perf_counter()
    encoder = checker.encoder()
    load_encoder = time.perf_counter() - t
    reference = checker.reference(ref_audio, ref_rate)
    words = prompt_words(text)
    audio16 = resample(audio, rate, 16_000)

    r = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": os.getloadavg()[0],
        "take_seconds": round(len(audio) / rate, 2),
        "words": len(words),
        "load_aligner_s": load_aligner,
        "load_encoder_s": load_encoder,
        "on_script_s": best(lambda: aligner.check(audio16, words), args.repeat),
        "speaker_embedding_s": best(lambda: encoder.embed(audio, rate), args.repeat),
        "signal_s": best(lambda: measure(audio, rate), args.repeat),
        "score_without_reference_s": best(lambda: checker.score(audio, rate, text), args.repeat),
        "score_with_reference_s": best(lambda: checker.score(audio, rate, text, reference=reference), args.repeat),
        "load_average_after": os.getloadavg()[0],
    }
    s = checker.score(audio, rate, text, reference=reference)
    r["on_script"] = s.on_script
    r["speaker_similarity"] = s.speaker_similarity
    print(f"CPU: {r['cpu']} ({r['cores']} cores, torch threads {r['torch_threads']}); "
          f"load average {r['load_average_before']:.1f} before, {r['load_average_after']:.1f} after")
    print(f"take: {r['take_seconds']} s, {r['words']} words; best of {args.repeat}")
    print(f"one-time loads: aligner {r['load_aligner_s']:.2f} s, speaker encoder {r['load_encoder_s']:.2f} s")
    for k in ("on_script_s", "speaker_embedding_s", "signal_s", "score_without_reference_s", "score_with_reference_s"):
        print(f"  {k[:-2].replace('_', ' '):28s} {r[k]:.3f} s")
    print(f"scores: on_script {s.on_script}, speaker_similarity {s.speaker_similarity}, issues {s.issues}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
