"""The Models & memory panel's logic: first-run text, sizes per stage, the settings a reload asks for."""

from __future__ import annotations

import html
import logging
from typing import Any, Optional

import gradio as gr

import bark_core

from .engine_holder import STAGES, EngineHolder, settings_sizes

log = logging.getLogger(__name__)

DEFAULT_REPOS = ("suno/bark", "suno/bark-small")


def first_run_text(holder: EngineHolder) -> str:
    err = holder.error or "The model weights were not found."
    kinds = set(settings_sizes(holder.settings).values())
    size = ("about 6.2 GB (large and small models)" if len(kinds) > 1 else
            "about 1.7 GB (small model)" if kinds == {"small"} else "about 4.5 GB (large model)")
    return (
        "### First run: get the Bark model\n"
        f"{html.escape(err)}\n\n"
        f"**Download** fetches the weights from the Hugging Face Hub ({size}, codec and tokenizer included) into "
        "your Hugging Face cache; later starts load from disk. "
        "Offline? Download on another machine with `python -m bark_core download` and start with "
        "`python app.py --models /path/to/folder`, or use `--small` for the smaller model."
    )


def sizes_dict(semantic: str, coarse: str, fine: str) -> dict[str, str]:
    sizes = dict(zip(STAGES, (semantic, coarse, fine)))
    for stage, size in sizes.items():
        if size not in bark_core.MODEL_SIZES:
            raise gr.Error(f"Pick Large or Small for the {stage} model.")
    return sizes


def engine_sizes(engine: Any) -> Optional[dict[str, str]]:
    """The loaded engine's size per stage, or None when there is none or a stage is neither large nor small."""
    if engine is None:
        return None
    try:
        sizes = engine.info().get("sizes")
    except Exception:
        log.debug("engine.info() failed", exc_info=True)
        return None
    if not isinstance(sizes, dict) or any(sizes.get(s) not in bark_core.MODEL_SIZES for s in STAGES):
        return None
    return {s: sizes[s] for s in STAGES}


def reload_settings(base: Any, sizes: dict[str, str], device: str, dtype: str, placement: str) -> Any:
    """The settings a reload asks for: ``base`` with one size per stage, device, precision and placement.

    Every stage small is ``small=True``; some small is ``small_stages``; none is both off. The two
    default Hub repos are named by size, so either one is dropped to let each stage find its own.
    """
    from dataclasses import replace

    unknown = {v for v in sizes.values()} - set(bark_core.MODEL_SIZES)
    if set(sizes) != set(STAGES) or unknown:
        raise ValueError("Each stage needs a size: large or small.")
    small = tuple(s for s in STAGES if sizes[s] == "small")
    every = len(small) == len(STAGES)
    new = replace(base, small=every, small_stages=() if every else small, device=device, dtype=dtype,
                  placement=placement)
    if getattr(base, "models", None) in DEFAULT_REPOS:
        new = replace(new, models=None)
    return new


def model_defaults(settings: Any, engine: Any = None) -> dict[str, Any]:
    """What the Models tab shows first: the hardware's recommendation, then the settings, then the loaded engine."""
    d: dict[str, Any] = dict(size="large", device="auto", dtype="float32", placement="resident")
    try:
        # On a CPU: float32 (exact); the loaded engine's measured choice replaces it on page load.
        d.update(bark_core.recommend(bark_core.cuda_total_memory(), cpu_bf16=False))
    except Exception:
        log.debug("no hardware recommendation", exc_info=True)
    size = d.pop("size", "large")
    if size not in bark_core.MODEL_SIZES:
        size = "large"
    d["sizes"] = {s: size for s in STAGES}
    if settings is not None:  # stages the settings ask small; "large" there is only the default
        d["sizes"] = {s: "small" if v == "small" else d["sizes"][s] for s, v in settings_sizes(settings).items()}
        for k in ("device", "dtype", "placement"):
            v = getattr(settings, k, "auto")
            if v and v != "auto":
                d[k] = v
    if d["placement"] not in ("resident", "offload", "cpu"):
        d["placement"] = "resident"
    if d["dtype"] not in ("float32", "bfloat16", "float16", "int8"):
        d["dtype"] = "float32"
    loaded = engine_sizes(engine)
    d["sizes"] = loaded or ({s: None for s in STAGES} if engine is not None else d["sizes"])  # tiny: neither
    return d
