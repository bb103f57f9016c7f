"""Random Bark checkpoints in every supported format, for tests and offline demos.

``write_test_weights(dir, size, fmt)`` writes a complete model folder: the three stages
with Bark's real vocabularies, a tiny cased BERT vocabulary, a random 24 kHz EnCodec
(8 codebooks at 6 kbps, 320 samples per frame) and speaker embeddings in the
transformers layout. The same ``seed`` gives the same stage weights in every format.
"""

from __future__ import annotations

import json
import logging
import os
import string
from pathlib import Path

import numpy as np
import torch

from .checkpoints import (
    CODEC_DIR,
    HF_PREFIX,
    ORIGINAL_FILES,
    SPEAKER_DIR,
    SPEAKER_INDEX,
    STAGES,
    our_key_to_hf,
    tied_pairs,
)
from .conversion import convert
from .constants import (
    CODEBOOK_SIZE,
    COARSE_RATE_HZ,
    LANGUAGES,
    SEMANTIC_RATE_HZ,
    SEMANTIC_VOCAB_SIZE,
)
from .model import GPTConfig, bark_config, build_model

logger = logging.getLogger(__name__)

def stage_config(stage: str, size: str = "tiny") -> GPTConfig:
    """Bark's config of ``stage`` at ``size`` ("tiny", "small" or "large")."""
    return bark_config(stage, size)


def random_state_dict(stage: str, config: GPTConfig, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random weights of one stage, in our (Suno's) key names; fine's ties kept."""
    gen = torch.Generator().manual_seed(seed * 1000 + STAGES.index(stage))
    with torch.device("meta"):
        model = build_model(stage, config)
    state = {}
    for k, v in model.state_dict().items():
        if stage == "fine" and k.startswith("transformer.wtes.") and k != "transformer.wtes.0.weight":
            continue  # tied to an lm_head, filled below
        if ".ln_" in k:
            base = 1.0 if k.endswith("weight") else 0.0
            state[k] = base + 0.1 * torch.randn(v.shape, generator=gen)
        else:
            state[k] = 0.1 * torch.randn(v.shape, generator=gen)
    if stage == "fine":
        for head, wte in tied_pairs(config):
            state[wte] = state[head]
    return state


# --------------------------------------------------------------------------- companions


def write_vocab(folder: Path) -> None:
    """A small cased BERT WordPiece vocabulary with BertTokenizer config files."""
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    tokens += chars
    tokens += ["##" + c for c in string.ascii_letters + string.digits]
    words = ("the and to of a in is it you that he was for on are as with his they I at be this have from "
             "or one had by word but not what all were we when your can said there use an each which she do how "
             "their if will up other about out many then them these so some her would make like him into time "
             "has look two more write go see number no way could people my than first water been call who oil "
             "its now find long down day did get come made may part Hello hello world Bark music laughs sighs "
             "clears throat ing ed ly er est tion ness").split()
    tokens += words + ["##" + w for w in ("ing", "ed", "ly", "er", "est", "tion", "ness", "s", "es")]
    tokens += ["é", "ü", "ñ", "ß", "♪", "—", "…", "[laughter]", "[music]"]
    seen, vocab = set(), []
    for t in tokens:
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": False, "strip_accents": None,
        "tokenize_chinese_chars": True, "model_max_length": 512, "unk_token": "[UNK]", "sep_token": "[SEP]",
        "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
    }, indent=2), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
    }, indent=2), encoding="utf-8")


def tiny_codec_config():
    """A small random EnCodec config with the real model's rates: 24 kHz, hop 320, 8 codebooks at 6 kbps."""
    from transformers import EncodecConfig

    return EncodecConfig(
        target_bandwidths=[1.5, 3.0, 6.0], sampling_rate=24_000, audio_channels=1, hidden_size=16,
        num_filters=4, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 2], num_lstm_layers=1,
        codebook_size=CODEBOOK_SIZE, kernel_size=7, last_kernel_size=7, residual_kernel_size=3,
    )


def random_codec(seed: int, config=None):
    """A random ``transformers.EncodecModel`` (codebooks filled, not zero): tiny, or at ``config``'s shape
    (``transformers.EncodecConfig()`` is the real 24 kHz model's)."""
    from transformers import EncodecModel

    torch.manual_seed(seed)
    model = EncodecModel(config if config is not None else tiny_codec_config()).eval()
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for layer in model.quantizer.layers:
            cb = layer.codebook
            cb.embed.copy_(torch.randn(cb.embed.shape, generator=gen))
            cb.embed_avg.copy_(cb.embed)
            cb.cluster_size.fill_(1.0)
    return model


def write_speaker_embeddings(folder: Path, seed: int) -> None:
    """``speaker_embeddings_path.json`` + ``speaker_embeddings/{,v2/}*.npy`` (random valid tokens)."""
    rng = np.random.default_rng(seed)
    (folder / SPEAKER_DIR / "v2").mkdir(parents=True, exist_ok=True)
    index: dict = {"repo_or_path": "."}
    names = ["announcer"] + [f"{p}{lang}_speaker_{n}" for p in ("", "v2/") for lang in LANGUAGES for n in range(10)]
    for name in names:
        t = int(rng.integers(100, 301))
        n = int(round(t * COARSE_RATE_HZ / SEMANTIC_RATE_HZ))
        fine = rng.integers(0, CODEBOOK_SIZE, size=(8, n), dtype=np.int64)
        arrays = {
            "semantic_prompt": rng.integers(0, SEMANTIC_VOCAB_SIZE, size=(t,), dtype=np.int64),
            "coarse_prompt": fine[:2].copy(),
            "fine_prompt": fine,
        }
        entry = {}
        for key, arr in arrays.items():
            rel = f"{SPEAKER_DIR}/{name}_{key}.npy"
            np.save(folder / rel, arr, allow_pickle=False)
            entry[key] = rel
        index[name] = entry
    (folder / SPEAKER_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- formats


def _write_original(folder: Path, states: dict, configs: dict, size: str) -> None:
    variant = "small" if size in ("tiny", "small") else "large"
    for stage in STAGES:
        cfg = configs[stage]
        args = {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd, "block_size": cfg.block_size,
                "bias": cfg.bias, "dropout": 0.0}
        if stage == "coarse":
            args["vocab_size"] = cfg.input_vocab_size  # Suno's nanoGPT spelling, in != out not needed
        else:
            args["input_vocab_size"] = cfg.input_vocab_size
            args["output_vocab_size"] = cfg.output_vocab_size
        if stage == "fine":
            args["n_codes_total"] = cfg.n_codes_total
            args["n_codes_given"] = cfg.n_codes_given
        model = {"_orig_mod." + k: v for k, v in states[stage].items()}
        if stage == "semantic":  # Suno's slow-attention causal mask buffers, to be ignored on load
            mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size)).view(1, 1, cfg.block_size, cfg.block_size)
            for i in range(cfg.n_layer):
                model[f"_orig_mod.transformer.h.{i}.attn.bias"] = mask
        ckpt = {"model_args": args, "model": model, "iter_num": 100_000,
                "best_val_loss": np.float64(2.5 + STAGES.index(stage)), "config": {"dataset": "test"}}
        torch.save(ckpt, folder / ORIGINAL_FILES[variant][stage])


def _hf_config(configs: dict, codec_config) -> dict:
    from transformers import BarkConfig

    def sub(stage):
        c = configs[stage]
        d = {"num_layers": c.n_layer, "num_heads": c.n_head, "hidden_size": c.n_embd, "block_size": c.block_size,
             "input_vocab_size": c.input_vocab_size, "output_vocab_size": c.output_vocab_size, "bias": c.bias,
             "dropout": 0.0}
        if stage == "fine":
            d.update(n_codes_total=c.n_codes_total, n_codes_given=c.n_codes_given)
        return d

    cfg = BarkConfig(semantic_config=sub("semantic"), coarse_acoustics_config=sub("coarse"),
                     fine_acoustics_config=sub("fine"), codec_config=codec_config.to_dict())
    d = cfg.to_dict()
    d["architectures"] = ["BarkModel"]
    return d


def _write_transformers(folder: Path, states: dict, configs: dict, codec, weights_file: str) -> None:
    out: dict[str, torch.Tensor] = {}
    for stage in STAGES:
        cfg = configs[stage]
        for k, v in states[stage].items():
            if weights_file.endswith(".safetensors") and stage == "fine" and k.startswith("lm_heads."):
                continue  # save_pretrained keeps one of each tied pair: input_embeds_layers.N
            out[HF_PREFIX[stage] + our_key_to_hf(k)] = v
        if stage != "fine":
            mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool)).view(
                1, 1, cfg.block_size, cfg.block_size)
            for i in range(cfg.n_layer):
                out[f"{HF_PREFIX[stage]}layers.{i}.attn.bias"] = mask.clone()
    for k, v in codec.state_dict().items():
        out["codec_model." + k] = v
    (folder / "config.json").write_text(json.dumps(_hf_config(configs, codec.config), indent=2), encoding="utf-8")
    (folder / "generation_config.json").write_text(json.dumps({"_from_model_config": True}), encoding="utf-8")
    if weights_file == "model.safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in out.items()}, str(folder / weights_file), metadata={"format": "pt"})
    elif weights_file == "pytorch_model.bin":
        torch.save(out, folder / weights_file)
    else:
        raise ValueError("weights_file must be 'model.safetensors' or 'pytorch_model.bin'.")


def write_test_weights(
    dir: str | os.PathLike,
    size: str = "tiny",
    fmt: str = "original",
    seed: int = 0,
    weights_file: str = "model.safetensors",
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a complete, offline-usable random Bark model folder and return its path.

    ``fmt``: "original" (Suno's .pt files; tiny/small write text.pt etc., large text_2.pt),
    "transformers" (config.json + ``weights_file`` with the codec embedded as codec_model.*),
    or "native" (bark_core.json + safetensors, stored as ``dtype``). Every folder also holds
    the tokenizer files, ``codec/``, the speaker embeddings and the voice-cloning weights
    (``hubert/`` and ``quantizer.pth``, see ``write_clone_test_weights``).
    """
    if fmt not in ("original", "transformers", "native"):
        raise ValueError(f"Unknown format {fmt!r}; expected original, transformers or native.")
    folder = Path(dir)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty; choose a new folder for the test weights.")
    configs = {s: stage_config(s, size) for s in STAGES}
    states = {s: random_state_dict(s, configs[s], seed) for s in STAGES}
    codec = random_codec(seed)
    if fmt == "native":
        tmp = folder.parent / f".{folder.name}.src"
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        try:
            _write_companions(tmp, codec, seed)
            _write_original(tmp, states, configs, size)
            if folder.exists():
                folder.rmdir()
            convert(tmp, folder, dtype=dtype)
        finally:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        write_clone_test_weights(folder, seed)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    _write_companions(folder, codec, seed)
    if fmt == "original":
        _write_original(folder, states, configs, size)
    else:
        _write_transformers(folder, states, configs, codec, weights_file)
    write_clone_test_weights(folder, seed)
    logger.info("wrote %s %s test weights to %s", size, fmt, folder)
    return folder


def _write_companions(folder: Path, codec, seed: int) -> None:
    write_vocab(folder)
    codec.save_pretrained(str(folder / CODEC_DIR))
    write_speaker_embeddings(folder, seed)


# --------------------------------------------------------------------------- voice cloning

HUBERT_DIR = "hubert"
QUANTIZER_FILE = "quantizer.pth"


def tiny_hubert_config():
    """A tiny ``HubertConfig`` (10 layers, 32 wide) with HuBERT base's convolutional front end
    (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2: 320 samples per frame, 50 Hz at 16 kHz)."""
    from transformers import HubertConfig

    return HubertConfig(
        hidden_size=32, num_hidden_layers=10, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    )


def random_hubert(seed: int = 0, config=None):
    """A random ``transformers.HubertModel`` (tiny unless ``config`` says otherwise), in eval mode."""
    from transformers import HubertModel

    torch.manual_seed(seed + 13)
    return HubertModel(config if config is not None else tiny_hubert_config()).eval()


def random_quantizer(input_size: int = 32, seed: int = 0, version: int = 0, hidden_size: int = 16):
    """A random quantizer (``bark_core.quantizer.HubertQuantizer``) with Bark's 10 000 outputs."""
    from .quantizer import HubertQuantizer, QuantizerInfo

    torch.manual_seed(seed + 17)
    info = QuantizerInfo(input_size=input_size, hidden_size=hidden_size, output_size=SEMANTIC_VOCAB_SIZE, version=version)
    return HubertQuantizer(info).eval()


def write_clone_test_weights(folder: str | os.PathLike, seed: int = 0) -> Path:
    """Write ``folder/hubert/`` (a tiny random HubertModel folder) and ``folder/quantizer.pth``
    (a matching random version-0 quantizer in the published format, with ``.info``)."""
    from .quantizer import save_quantizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hubert = random_hubert(seed)
    hubert.save_pretrained(str(folder / HUBERT_DIR))
    save_quantizer(random_quantizer(hubert.config.hidden_size, seed), folder / QUANTIZER_FILE)
    return folder
