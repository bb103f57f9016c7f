"""Helpers the bench scripts share (each script puts this folder on sys.path, as Python does for a script)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

SENTENCES = [  # what espeak-ng speaks for the take-check benches (real speech; random Bark weights make noise)
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A rainbow is a division of white light into many beautiful colors.",
    "I never thought the old lighthouse would still be standing after the storm.",
    "Turn left at the bakery and walk two blocks until you see the green door.",
    "My grandmother used to sing that song while she was cooking dinner.",
    "We should leave early tomorrow because the traffic will be terrible.",
]

LONG_TEXT = (  # three sentences of ~30 words: three segments (35 word-equivalents each at most)
    "The first part of this long text is about the weather, which was bright and warm all day long, so we walked "
    "along the river and watched the boats go by until the evening came. "
    "The second part tells how we cooked dinner together with fresh vegetables from the market, and how the kitchen "
    "smelled of garlic, herbs and bread for the rest of the night. "
    "The third part ends the story, because everyone was tired after such a long day and went to sleep early, "
    "dreaming of the next trip to the sea."
)


def best_of(fn: Callable[[], object], n: int) -> float:
    """The fastest of ``n`` timed calls of ``fn``, in seconds, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def espeak(text: str, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """espeak-ng (Debian package) speaking ``text`` in ``voice``: float32 mono audio and its sample rate."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (Debian package espeak-ng).")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        audio, rate = sf.read(path, dtype="float32")
    return audio, rate
