"""Reading Bark weights: Suno's original ``.pt`` files, transformers ``BarkModel``
checkpoints, and the project's own ("native") safetensors folder.

Every format is loaded strictly: missing keys, unexpected keys and shape mismatches are
named in the error. Models are built on the ``meta`` device and receive the checkpoint
tensors with ``load_state_dict(..., assign=True)``, so no random initialisation happens.
Pickles are only ever read with ``torch.load(weights_only=True)`` and a small allowlist.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .model import GPTConfig, build_model

logger = logging.getLogger(__name__)

STAGES = ("semantic", "coarse", "fine")
FORMATS = ("original", "transformers", "native")

ORIGINAL_FILES = {
    "large": {"semantic": "text_2.pt", "coarse": "coarse_2.pt", "fine": "fine_2.pt"},
    "small": {"semantic": "text.pt", "coarse": "coarse.pt", "fine": "fine.pt"},
}
HF_PREFIX = {"semantic": "semantic.", "coarse": "coarse_acoustics.", "fine": "fine_acoustics."}
HF_CONFIG_KEY = {"semantic": "semantic_config", "coarse": "coarse_acoustics_config", "fine": "fine_acoustics_config"}
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
NATIVE_META = "bark_core.json"
NATIVE_FORMAT_VERSION = 1
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SPEAKER_INDEX = "speaker_embeddings_path.json"
SPEAKER_DIR = "speaker_embeddings"
CODEC_DIR = "codec"



class CheckpointError(ValueError):
    """A weights folder or file cannot be used; the message says why and what to do."""


# --------------------------------------------------------------------------- safe torch.load


def pickle_allowlist() -> list:
    """Exactly the globals Suno's .pt files reference: numpy scalars, dtypes, and _codecs.encode.

    For ``torch.serialization.safe_globals`` around any ``torch.load(weights_only=True)`` of those files
    (``safe_torch_load`` here; tests and benchmarks that load them with Suno's own code).
    """
    import _codecs

    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    allow: list = [
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        np.dtype,
        _codecs.encode,
    ]
    dtypes_mod = getattr(np, "dtypes", None)
    if dtypes_mod is not None:
        for name in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType"):
            cls = getattr(dtypes_mod, name, None)
            if cls is not None:
                allow.append((cls, f"numpy.dtypes.{name}"))
    return allow


def safe_torch_load(path: str | os.PathLike) -> object:
    """``torch.load`` with ``weights_only=True``, memory-mapped, allowing only numpy scalars.

    A pickle that would import anything else (and so could run code) is refused, not run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Weights file {path} does not exist.")
    with torch.serialization.safe_globals(pickle_allowlist()):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(
                f"Refusing to load {path}: it contains Python objects other than weights "
                f"(it could run code when unpickled). Only plain weight files are accepted. Detail: {_first_line(e)}"
            ) from None
        except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
            msg = str(e)
            if "mmap" in msg and "zipfile" in msg.lower():  # legacy (pre-1.6) format: no mmap
                try:
                    return torch.load(path, map_location="cpu", weights_only=True)
                except pickle.UnpicklingError as e2:
                    raise CheckpointError(
                        f"Refusing to load {path}: it contains Python objects other than weights. Detail: {_first_line(e2)}"
                    ) from None
                except Exception as e2:  # noqa: BLE001 - reported as a corrupt file
                    e = e2
            raise CheckpointError(
                f"Weights file {path} is truncated or corrupt ({_first_line(e)}). Delete it and download it again."
            ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------- format detection


def original_variant(folder: Path, small: bool | None) -> str | None:
    have = {v: all((folder / f).is_file() for f in files.values()) for v, files in ORIGINAL_FILES.items()}
    order = ("small", "large") if small else ("large", "small")
    for v in order:
        if have[v]:
            return v
    return None


def _is_transformers(folder: Path) -> bool:
    cfg = folder / "config.json"
    if not cfg.is_file() or not any((folder / f).is_file() for f in HF_WEIGHT_FILES):
        return False
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and all(k in data for k in HF_CONFIG_KEY.values())


def detect_format(folder: str | os.PathLike, small: bool | None = None) -> str:
    """Which checkpoint format ``folder`` holds: "native", "transformers" or "original".

    ``small=True`` prefers Suno's small ``.pt`` files where a folder holds several sets.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"Model folder {folder} does not exist or is not a folder.")
    if (folder / NATIVE_META).is_file():
        return "native"
    if small and original_variant(folder, True) == "small":
        return "original"
    if _is_transformers(folder):
        return "transformers"
    if original_variant(folder, small) is not None:
        return "original"
    raise CheckpointError(
        f"{folder} holds no Bark weights I recognise. Expected one of: Suno's text_2.pt/coarse_2.pt/fine_2.pt "
        f"(or text.pt/coarse.pt/fine.pt), a transformers BarkModel checkpoint (config.json + model.safetensors "
        f"or pytorch_model.bin), or a folder made by `python -m bark_core convert` ({NATIVE_META} + *.safetensors)."
    )


# --------------------------------------------------------------------------- reading raw state dicts


@dataclass
class StageWeights:
    """One stage's config and tensors, keyed by our (Suno's) parameter names."""

    stage: str
    config: GPTConfig
    tensors: dict[str, torch.Tensor]
    source: str  # file name(s), for error messages


def _read_original(folder: Path, stage: str, small: bool | None) -> StageWeights:
    variant = original_variant(folder, small)
    if variant is None:
        raise CheckpointError(f"{folder} has no complete set of Suno .pt files.")
    path = folder / ORIGINAL_FILES[variant][stage]
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_args" not in ckpt:
        raise CheckpointError(f"{path} is not a Bark checkpoint (it has no 'model' and 'model_args' entries).")
    try:
        config = GPTConfig.from_model_args(dict(ckpt["model_args"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unusable model_args ({e}).") from None
    tensors = {}
    for k, v in ckpt["model"].items():
        if k.startswith("_orig_mod."):
            k = k[len("_orig_mod.") :]
        if k.endswith(".attn.bias"):  # causal-mask buffer of Suno's slow attention path
            continue
        tensors[k] = v
    loss = ckpt.get("best_val_loss")
    if loss is not None:
        logger.info("%s: %s model, best_val_loss %.3f", path.name, stage, float(np.asarray(loss)))
    return StageWeights(stage, config, tensors, path.name)


_HF_RENAMES = [
    (re.compile(r"^input_embeds_layer\."), "transformer.wte."),
    (re.compile(r"^input_embeds_layers\.(\d+)\."), r"transformer.wtes.\1."),
    (re.compile(r"^position_embeds_layer\."), "transformer.wpe."),
    (re.compile(r"^layers\.(\d+)\.layernorm_1\."), r"transformer.h.\1.ln_1."),
    (re.compile(r"^layers\.(\d+)\.layernorm_2\."), r"transformer.h.\1.ln_2."),
    (re.compile(r"^layers\.(\d+)\.attn\.att_proj\."), r"transformer.h.\1.attn.c_attn."),
    (re.compile(r"^layers\.(\d+)\.attn\.out_proj\."), r"transformer.h.\1.attn.c_proj."),
    (re.compile(r"^layers\.(\d+)\.mlp\.in_proj\."), r"transformer.h.\1.mlp.c_fc."),
    (re.compile(r"^layers\.(\d+)\.mlp\.out_proj\."), r"transformer.h.\1.mlp.c_proj."),
    (re.compile(r"^layernorm_final\."), "transformer.ln_f."),
]
_HF_MASK = re.compile(r"^layers\.\d+\.attn\.bias$")


def hf_key_to_ours(key: str) -> str | None:
    """Map a transformers Bark sub-model key (prefix removed) to ours; None for the mask buffer."""
    if _HF_MASK.match(key):
        return None
    for pattern, repl in _HF_RENAMES:
        new, n = pattern.subn(repl, key)
        if n:
            return new
    return key  # lm_head.weight, lm_heads.N.weight, or an unknown key reported later


def our_key_to_hf(key: str) -> str:
    """Inverse of :func:`hf_key_to_ours` (used to write transformers-format test weights)."""
    inverse = [
        (r"^transformer\.wte\.", "input_embeds_layer."),
        (r"^transformer\.wtes\.(\d+)\.", r"input_embeds_layers.\1."),
        (r"^transformer\.wpe\.", "position_embeds_layer."),
        (r"^transformer\.h\.(\d+)\.ln_1\.", r"layers.\1.layernorm_1."),
        (r"^transformer\.h\.(\d+)\.ln_2\.", r"layers.\1.layernorm_2."),
        (r"^transformer\.h\.(\d+)\.attn\.c_attn\.", r"layers.\1.attn.att_proj."),
        (r"^transformer\.h\.(\d+)\.attn\.c_proj\.", r"layers.\1.attn.out_proj."),
        (r"^transformer\.h\.(\d+)\.mlp\.c_fc\.", r"layers.\1.mlp.in_proj."),
        (r"^transformer\.h\.(\d+)\.mlp\.c_proj\.", r"layers.\1.mlp.out_proj."),
        (r"^transformer\.ln_f\.", "layernorm_final."),
    ]
    for pattern, repl in inverse:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def hf_stage_config(stage: str, sub: dict) -> GPTConfig:
    """Our GPTConfig from one of config.json's ``*_config`` dicts (accepts transformers' aliases)."""
    def get(*names, default=None):
        for n in names:
            if n in sub:
                return sub[n]
        return default

    args = {
        "input_vocab_size": get("input_vocab_size", "vocab_size"),
        "output_vocab_size": get("output_vocab_size", "input_vocab_size", "vocab_size"),
        "n_layer": get("num_layers", "num_hidden_layers"),
        "n_head": get("num_heads", "num_attention_heads"),
        "n_embd": get("hidden_size"),
        "block_size": get("block_size", "window_size", default=1024),
        "bias": bool(get("bias", default=True)),
    }
    if stage == "fine":
        args["n_codes_total"] = get("n_codes_total", default=8)
        args["n_codes_given"] = get("n_codes_given", default=1)
    missing = [k for k, v in args.items() if v is None]
    if missing:
        raise CheckpointError(f"config.json's {HF_CONFIG_KEY[stage]} lacks {missing}.")
    return GPTConfig.from_model_args(args)


def has_embedded_codec(folder: str | os.PathLike) -> bool:
    """Whether a transformers BarkModel folder's config.json describes a codec (``codec_config``)."""
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("codec_config"), dict)


def read_hf_config(folder: Path) -> dict:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"Cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object.")
    return data


def read_hf_tensors(folder: Path, prefix: str) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of a transformers checkpoint whose key starts with ``prefix`` (prefix removed)."""
    files: list[Path]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file() and not (folder / index_name.replace(".index.json", "")).is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
                raise CheckpointError(f"Cannot read {index}: {e}") from None
            names = sorted({v for k, v in weight_map.items() if k.startswith(prefix)})
            files = [_safe_child(folder, n) for n in names]
            break
    else:
        if (folder / "model.safetensors").is_file():
            files = [folder / "model.safetensors"]
        elif (folder / "pytorch_model.bin").is_file():
            files = [folder / "pytorch_model.bin"]
        else:
            raise CheckpointError(f"{folder} has config.json but neither model.safetensors nor pytorch_model.bin.")
    out: dict[str, torch.Tensor] = {}
    for f in files:
        if f.suffix == ".safetensors":
            for k, v in read_safetensors(f, prefix).items():
                out[k[len(prefix) :]] = v
        else:
            sd = safe_torch_load(f)
            if not isinstance(sd, dict):
                raise CheckpointError(f"{f} does not hold a state dict.")
            out.update({k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)})
    return out, ", ".join(f.name for f in files)


def _safe_child(folder: Path, name: str) -> Path:
    p = (folder / name).resolve()
    if folder.resolve() not in p.parents:
        raise CheckpointError(f"Refusing to read {name!r}: it points outside {folder}.")
    return p


def read_safetensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (memory-mapped) whose key starts with ``prefix``."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"Weights file {path} is truncated or corrupt ({_first_line(e)}). Delete it and download it again."
        ) from None


def _read_transformers(folder: Path, stage: str) -> StageWeights:
    data = read_hf_config(folder)
    sub = data.get(HF_CONFIG_KEY[stage])
    if not isinstance(sub, dict):
        raise CheckpointError(f"{folder / 'config.json'} has no {HF_CONFIG_KEY[stage]}.")
    config = hf_stage_config(stage, sub)
    raw, source = read_hf_tensors(folder, HF_PREFIX[stage])
    tensors = {}
    for k, v in raw.items():
        ours = hf_key_to_ours(k)
        if ours is not None:
            tensors[ours] = v
    return StageWeights(stage, config, tensors, source)


def read_native_meta(folder: Path) -> dict:
    path = folder / NATIVE_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"Cannot read {path}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != "bark_core":
        raise CheckpointError(f"{path} is not a bark_core model description.")
    if meta.get("version", 0) > NATIVE_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer Bark Studio (format {meta.get('version')}); this one reads "
            f"format {NATIVE_FORMAT_VERSION}. Update Bark Studio or convert the weights again."
        )
    return meta


def _read_native(folder: Path, stage: str) -> StageWeights:
    meta = read_native_meta(folder)
    cfg = meta.get("stages", {}).get(stage)
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{folder / NATIVE_META} has no config for the {stage} stage.")
    config = GPTConfig.from_model_args(cfg)
    path = folder / f"{stage}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing.")
    return StageWeights(stage, config, read_safetensors(path), path.name)


def read_stage(folder: str | os.PathLike, stage: str, small: bool | None = None, fmt: str | None = None) -> StageWeights:
    """Config and tensors of one stage, in our key names, whatever the folder's format."""
    if stage not in STAGES:
        raise ValueError(f"Unknown stage {stage!r}; expected one of {STAGES}.")
    folder = Path(folder)
    fmt = fmt or detect_format(folder, small)
    if fmt == "original":
        return _read_original(folder, stage, small)
    if fmt == "transformers":
        return _read_transformers(folder, stage)
    if fmt == "native":
        return _read_native(folder, stage)
    raise ValueError(f"Unknown checkpoint format {fmt!r}; expected one of {FORMATS}.")


# --------------------------------------------------------------------------- building models


def tied_pairs(config: GPTConfig) -> list[tuple[str, str]]:
    """(lm_heads.i.weight, transformer.wtes.i+1.weight) pairs of the fine model."""
    n = config.n_codes_total - config.n_codes_given
    return [(f"lm_heads.{i}.weight", f"transformer.wtes.{i + 1}.weight") for i in range(n)]


def _fmt_shape(shape) -> str:
    return "(" + ",".join(str(s) for s in shape) + ")"


def _limited(items: list[str], n: int = 8) -> str:
    items = sorted(items)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def check_state_dict(stage: str, model: nn.Module, tensors: dict[str, torch.Tensor], source: str = "") -> None:
    """Raise CheckpointError naming every missing key, unexpected key and wrong shape."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [
        f"{k} has shape {_fmt_shape(tensors[k].shape)}, expected {_fmt_shape(shape)}"
        for k, shape in expected.items()
        if k in tensors and tuple(tensors[k].shape) != shape
    ]
    parts = []
    if missing:
        parts.append("missing " + _limited(missing))
    if unexpected:
        parts.append("unexpected " + _limited(unexpected))
    if wrong:
        parts.append(_limited(wrong, 4))
    if parts:
        where = f" ({source})" if source else ""
        raise CheckpointError(f"{stage}{where}: " + "; ".join(parts) + ". The checkpoint does not match its config.")


def build_stage(weights: StageWeights, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build the stage's model on ``meta`` and assign the checkpoint tensors (no random init)."""
    config, tensors = weights.config, dict(weights.tensors)
    if weights.stage == "fine":
        for head, wte in tied_pairs(config):
            if head not in tensors and wte in tensors:
                tensors[head] = tensors[wte]
            elif head in tensors and wte in tensors and tensors[head] is not tensors[wte]:
                if tensors[head].shape == tensors[wte].shape and not torch.equal(tensors[head], tensors[wte]):
                    logger.warning("fine: %s differs from its tied %s; using %s.", wte, head, head)
            if head in tensors:
                tensors[wte] = tensors[head]
    with torch.device("meta"):
        model = build_model(weights.stage, config)
    check_state_dict(weights.stage, model, tensors, weights.source)
    state = {}
    for k, v in tensors.items():
        if v.is_floating_point():
            state[k] = v.to(device=device, dtype=dtype)
        else:
            state[k] = v.to(device=device)
    if weights.stage == "fine":  # keep the tie after dtype/device conversion
        for head, wte in tied_pairs(config):
            state[wte] = state[head]
    model.load_state_dict(state, strict=True, assign=True)
    if weights.stage == "fine":
        model.tie_weights()
    model.eval()
    model.requires_grad_(False)
    return model


def load_stage(
    folder: str | os.PathLike,
    stage: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    small: bool | None = None,
) -> nn.Module:
    """One stage's model ("semantic", "coarse" or "fine"), eval mode, no gradients."""
    return build_stage(read_stage(folder, stage, small), device, dtype)

