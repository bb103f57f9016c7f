"""How well the take check's default thresholds tell right from wrong, on real speech (espeak-ng).

    python bench/calibrate_takecheck.py                  # 8 sentences x 6 espeak-ng voices, about two minutes
    python bench/calibrate_takecheck.py --json bench/results/takecheck-calibration.json

On script (``Thresholds.min_on_script``): every sentence, spoken by every voice, is scored against
  * its own text (a right take: should pass),
  * its text followed by the next sentence's (a take that stopped half way: should fail),
  * another sentence's text (a wrong take: should fail).
Same speaker (``Thresholds.min_speaker_similarity``): the speaker similarity of two different
sentences by one voice (should pass) and by two voices (should fail).

For each check it prints the share of takes that pass at the default threshold, the score ranges,
and the threshold that separates the two groups with the fewest mistakes. espeak-ng is a formant
synthesizer: it speaks more cleanly than Bark and its voices differ less than people do, so these
figures bound the check on clean speech; Bark's takes (noisier) score lower on script, and real
speakers differ more than espeak-ng's variants. The CPU model and load are printed beside the timing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bark_core.precision import cpu_model  # noqa: E402
from bark_core.takecheck import TakeChecker, Thresholds  # noqa: E402
from bark_core.takecheck.speaker import SpeakerEncoder, cosine  # noqa: E402
import benchutil  # noqa: E402
from benchutil import espeak  # noqa: E402

SENTENCES = benchutil.SENTENCES
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en+f2", "en+m7", "en-us+f5"]


def best_cut(good: list[float], bad: list[float]) -> tuple[float, int]:
    """The threshold (pass when score >= it) with the fewest mistakes over both groups, and that count."""
    cuts = sorted(set(good) | set(bad))
    best = (cuts[0], len(bad))
    for c in cuts:
        mistakes = sum(g < c for g in good) + sum(b >= c for b in bad)
        if mistakes < best[1]:
            best = (c, mistakes)
    return best


def summary(name: str, threshold: float, good: list[float], bad: dict[str, list[float]]) -> dict:
    """Pass rates at ``threshold`` and score ranges per group; the best single cut between good and all bad."""
    everything_bad = [x for xs in bad.values() for x in xs]
    cut, mistakes = best_cut(good, everything_bad)
    out = dict(check=name, default_threshold=threshold,
               groups={"right": dict(n=len(good), pass_rate=float(np.mean([g >= threshold for g in good])),
                                     min=min(good), median=float(np.median(good)), max=max(good))},
               best_threshold=cut, best_threshold_mistakes=mistakes, n=len(good) + len(everything_bad))
    for k, xs in bad.items():
        out["groups"][k] = dict(n=len(xs), pass_rate=float(np.mean([x >= threshold for x in xs])),
                                min=min(xs), median=float(np.median(xs)), max=max(xs))
    print(f"\n{name} (default threshold {threshold:g}; pass = score >= threshold)")
    print(f"  {'group':<40}{'n':>5}{'passes':>9}{'min':>8}{'median':>8}{'max':>8}")
    for k, g in out["groups"].items():
        print(f"  {k:<40}{g['n']:>5}{g['pass_rate']:>9.0%}{g['min']:>8.2f}{g['median']:>8.2f}{g['max']:>8.2f}")
    print(f"  fewest mistakes at {cut:.2f}: {mistakes} of {out['n']}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    t0 = time.perf_counter()
    defaults = Thresholds()
    clips = {(v, i): espeak(s, v) for v, (i, s) in itertools.product(VOICES, enumerate(SENTENCES))}
    checker = TakeChecker()
    n = len(SENTENCES)

    right, stopped, wrong = [], [], []
    for (v, i), (audio, rate) in clips.items():
        on = lambda text: checker.score(audio, rate, text, language="en").on_script  # noqa: E731
        right.append(on(SENTENCES[i]))
        stopped.append(on(SENTENCES[i] + " " + SENTENCES[(i + 1) % n]))
        wrong.append(on(SENTENCES[(i + 3) % n]))
    on_script = summary("on script", defaults.min_on_script, right,
                        {"stopped half way (2 texts, 1 spoken)": stopped, "another sentence": wrong})
    by_voice = {v: [r for (w, _), r in zip(clips, right) if w == v] for v in VOICES}
    on_script["right_pass_rate_by_voice"] = {v: float(np.mean([r >= defaults.min_on_script for r in rs]))
                                             for v, rs in by_voice.items()}
    print("  right takes passing, by voice: " + ", ".join(f"{v} {p:.0%}" for v, p in
                                                            on_script["right_pass_rate_by_voice"].items()))

    encoder = SpeakerEncoder.load()
    emb = {k: encoder.embed(a, r) for k, (a, r) in clips.items()}
    same = [cosine(emb[(v, i)], emb[(v, j)]) for v in VOICES for i, j in itertools.combinations(range(n), 2)]
    other = [cosine(emb[(v, i)], emb[(w, j)]) for v, w in itertools.combinations(VOICES, 2)
             for i in range(n) for j in range(n) if i != j]
    speaker = summary("same speaker", defaults.min_speaker_similarity, same, {"another espeak-ng voice": other})

    seconds = time.perf_counter() - t0
    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    print(f"\n{len(clips)} clips ({len(VOICES)} voices x {n} sentences) in {seconds:.0f} s on {machine}")
    print("espeak-ng speaks cleanly and its voices are variants of one synthesizer: these figures bound the check "
          "on clean speech, not on Bark's takes.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(machine=machine, voices=VOICES, sentences=SENTENCES,
                                             on_script=on_script, speaker=speaker, seconds=seconds), indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
