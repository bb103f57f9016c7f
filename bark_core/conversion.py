"""Converting any supported weights folder into the native one, and the cache of converted copies.

Suno's ``.pt`` files and transformers ``pytorch_model.bin`` load slowly (pickles, float32);
a native folder (safetensors per stage, the tokenizer, the codec and the speaker embeddings
beside them) loads fast. ``convert`` writes one; ``cached_native`` keeps one per source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import torch

from .checkpoints import (
    CODEC_DIR, NATIVE_FORMAT_VERSION, NATIVE_META, SPEAKER_DIR, SPEAKER_INDEX, STAGES, TOKENIZER_FILES,
    CheckpointError, original_variant, tied_pairs, build_stage, detect_format, has_embedded_codec, read_stage,
)
from .codec import Codec
from .placement import dtype_name

logger = logging.getLogger(__name__)


def _copy_tokenizer(src: Path, dst: Path) -> bool:
    copied = False
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
            copied = True
    return copied


def _copy_speakers(src: Path, dst: Path) -> bool:
    if not (src / SPEAKER_INDEX).is_file():
        return False
    shutil.copy2(src / SPEAKER_INDEX, dst / SPEAKER_INDEX)
    if (src / SPEAKER_DIR).is_dir():
        shutil.copytree(src / SPEAKER_DIR, dst / SPEAKER_DIR, symlinks=False)
    return True


def convert(
    src_folder: str | os.PathLike,
    dst_folder: str | os.PathLike,
    dtype: torch.dtype | None = None,
    small: bool | None = None,
    codec_folder: str | os.PathLike | None = None,
    tokenizer_folder: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert any supported folder into a self-contained native folder.

    Writes ``semantic/coarse/fine.safetensors`` (fine's tied weights stored once),
    ``bark_core.json``, the tokenizer files, the codec (``codec/``) and the speaker
    embeddings. ``dtype`` None keeps float32. Atomic: built in a temporary folder
    beside ``dst_folder`` and renamed into place.
    """
    from safetensors.torch import save_file

    src, dst = Path(src_folder), Path(dst_folder)
    dtype = dtype or torch.float32
    storage = dtype_name(dtype)
    fmt = detect_format(src, small)
    if dst.exists() and not overwrite:
        raise CheckpointError(f"{dst} already exists; choose another folder or remove it first.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        meta: dict = {
            "format": "bark_core",
            "version": NATIVE_FORMAT_VERSION,
            "dtype": storage,
            "source": {"path": str(src.resolve()), "format": fmt},
            "stages": {},
        }
        for stage in STAGES:
            weights = read_stage(src, stage, small, fmt)
            model = build_stage(weights, "cpu", dtype)
            state = model.state_dict()
            if stage == "fine":
                for _, wte in tied_pairs(weights.config):
                    state.pop(wte)
            save_file({k: v.detach().contiguous() for k, v in state.items()}, str(tmp / f"{stage}.safetensors"),
                      metadata={"format": "pt", "bark_core_stage": stage})
            meta["stages"][stage] = weights.config.to_dict()
            del model, state, weights
        # tokenizer
        tok_src = Path(tokenizer_folder) if tokenizer_folder else src
        meta["tokenizer"] = "." if _copy_tokenizer(tok_src, tmp) else None
        # codec
        meta["codec"] = _write_codec(src, fmt, tmp, codec_folder)
        meta["speaker_embeddings"] = SPEAKER_INDEX if _copy_speakers(src, tmp) else None
        (tmp / NATIVE_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if dst.exists() and overwrite:
            shutil.rmtree(dst)
        try:
            os.replace(tmp, dst)
        except OSError:
            if (dst / NATIVE_META).is_file():  # another process finished the same conversion first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted %s (%s) to %s (%s)", src, fmt, dst, storage)
    return dst


def _write_codec(src: Path, fmt: str, dst: Path, codec_folder: str | os.PathLike | None) -> str | None:
    """Copy or extract the codec into ``dst/codec``; the relative path, or None if there is none."""
    target = dst / CODEC_DIR
    if codec_folder is not None:
        shutil.copytree(Path(codec_folder), target)
        return CODEC_DIR
    if (src / CODEC_DIR / "config.json").is_file():
        shutil.copytree(src / CODEC_DIR, target)
        return CODEC_DIR
    if fmt == "transformers" and has_embedded_codec(src):
        Codec.from_bark_checkpoint(src).save(target)
        return CODEC_DIR
    if fmt == "native":
        return None
    logger.info("%s has no codec; the native folder will use facebook/encodec_24khz", src)
    return None


def _cache_key(folder: Path) -> str:
    h = hashlib.sha256(str(folder.resolve()).encode())
    for p in sorted(folder.iterdir()):
        if p.is_file() and (p.suffix in (".pt", ".bin", ".safetensors", ".json")):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def cached_native(
    folder: str | os.PathLike,
    cache_dir: str | os.PathLike,
    dtype: torch.dtype | None = None,
    small: bool | None = None,
) -> Path:
    """A native copy of a slow-to-load folder (.pt or pytorch_model.bin), converted once.

    Native folders and transformers safetensors folders are returned as they are. The
    cache entry is keyed by the source path and its files' sizes and mtimes, so an
    updated source is converted again.
    """
    folder = Path(folder)
    fmt = detect_format(folder, small)
    if fmt == "native":
        return folder
    if fmt == "transformers" and (folder / "model.safetensors").is_file():
        return folder
    dtype = dtype or torch.float32
    variant = "small" if fmt == "original" and original_variant(folder, small) == "small" else "main"
    name = f"{folder.resolve().name or 'models'}-{variant}-{dtype_name(dtype)}-{_cache_key(folder)}"
    dst = Path(cache_dir) / name
    if (dst / NATIVE_META).is_file():
        return dst
    logger.info("converting %s into the fast-loading cache %s (once)", folder, dst)
    return convert(folder, dst, dtype=dtype, small=small)
