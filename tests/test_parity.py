"""Exactness: our CLI's tokens equal Suno's bark 0.1.5, element for element (CPU, float32).

The reference loads the tiny Suno-format .pt files with its own loader; our CLI reads the
same weights from the original-format folder and from the transformers-format folder
(written from the same seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bark_core.checkpoints import pickle_allowlist
from bark_core.cli import main as cli_main

TEXT = "Hello there [laughs] I like pizza, and music ♪ la la ♪."
CASES = {
    # name: (voice, seed, reference kwargs)
    "no-voice": (None, 1, dict(max_gen_duration_s=2.0)),
    "voice": ("v2/en_speaker_6", 2, dict(max_gen_duration_s=2.0)),
    "top-k-top-p": ("v2/de_speaker_3", 3, dict(top_k=50, top_p=0.8, max_gen_duration_s=1.5)),
    "early-stop": (None, 4, dict(min_eos_p=1.2e-4)),
    "no-early-stop": ("en_speaker_1", 5, dict(allow_early_stop=False, max_gen_duration_s=1.0)),
}


@pytest.fixture(scope="module")
def reference(reference_bark, tiny_original, monkeypatch_module):
    """Suno's generation module with its three models loaded from the tiny .pt files."""
    from transformers import BertTokenizer

    gen = reference_bark
    tokenizer = BertTokenizer.from_pretrained(str(tiny_original))
    monkeypatch_module.setattr(gen.BertTokenizer, "from_pretrained", classmethod(lambda cls, *a, **k: tokenizer))
    with torch.serialization.safe_globals(pickle_allowlist()):  # torch >= 2.6 loads weights_only by default
        for kind, name in (("text", "text.pt"), ("coarse", "coarse.pt"), ("fine", "fine.pt")):
            gen.models[kind] = gen._load_model(str(tiny_original / name), "cpu", model_type=kind)
    yield gen
    gen.models.clear()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def reference_tokens(gen, voice, seed, kwargs) -> dict[str, np.ndarray]:
    prompt = None if voice is None else str(Path(gen.CUR_PATH) / "assets" / "prompts" / f"{voice}.npz")
    sem_kw = {k: v for k, v in kwargs.items() if k in ("top_k", "top_p", "min_eos_p", "max_gen_duration_s", "allow_early_stop")}
    sampling = {k: v for k, v in kwargs.items() if k in ("top_k", "top_p")}
    torch.manual_seed(seed)
    semantic = gen.generate_text_semantic(TEXT, history_prompt=prompt, temp=0.7, silent=True, use_kv_caching=True, **sem_kw)
    coarse = gen.generate_coarse(semantic, history_prompt=prompt, temp=0.7, silent=True, use_kv_caching=True, **sampling)
    fine = gen.generate_fine(coarse, history_prompt=prompt, temp=0.5)
    return dict(semantic_prompt=semantic, coarse_prompt=coarse, fine_prompt=fine)


def our_tokens(models: Path, voice, seed, kwargs, tmp_path, reference_prompts: Path) -> dict[str, np.ndarray]:
    out = tmp_path / "tokens.npz"
    args = ["generate", TEXT, "--models", str(models), "--device", "cpu", "--dtype", "float32", "--takes", "1",
            "--seed", str(seed), "--save-tokens", str(out), "--tokens-only"]
    if voice is not None:
        args += ["--voice", str(reference_prompts / f"{voice}.npz")]
    flags = {"top_k": "--top-k", "top_p": "--top-p", "min_eos_p": "--min-eos-p", "max_gen_duration_s": "--max-seconds"}
    for key, flag in flags.items():
        if key in kwargs:
            args += [flag, str(kwargs[key])]
    if kwargs.get("allow_early_stop") is False:
        args.append("--no-early-stop")
    assert cli_main(args) == 0
    with np.load(out) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("fmt", ["original", "transformers"])
@pytest.mark.parametrize("case", list(CASES))
def test_tokens_equal_reference(case, fmt, reference, tiny_original, tiny_transformers, tmp_path):
    voice, seed, kwargs = CASES[case]
    expected = reference_tokens(reference, voice, seed, kwargs)
    models = tiny_original if fmt == "original" else tiny_transformers
    got = our_tokens(models, voice, seed, kwargs, tmp_path, Path(reference.CUR_PATH) / "assets" / "prompts")
    for key in ("semantic_prompt", "coarse_prompt", "fine_prompt"):
        assert got[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    if case == "early-stop":  # the case must really stop early, by probability, before the 768-step cap
        assert 0 < len(expected["semantic_prompt"]) < 768
