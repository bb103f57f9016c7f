"""Models & memory tab handlers, the header badge and the first-run download."""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr

import bark_core

from .engine_holder import STAGES, settings_sizes
from .formatting import fmt_bytes, plain
from .model_settings import engine_sizes, reload_settings, sizes_dict
from .studio import Studio
from .voice_book import NO_VOICE
from .voice_list import voice_list

log = logging.getLogger(__name__)

PLACEMENTS = [("All on GPU", "resident"), ("Stage-by-stage offload", "offload"), ("CPU only", "cpu")]
DTYPES = ["float32", "bfloat16", "float16", "int8"]  # int8: the fast CPU mode (weights in int8, not exact)
FAST = "int8"  # the fast CPU mode's precision: timed with the others, shown on its own line, never auto's choice
FAST_LABELS = {False: "Use the fast CPU mode", True: "Back to exact float32"}  # by "is the fast mode loaded?"


def device_choices() -> list[str]:
    """The devices this machine has (auto first)."""
    return ["auto", *bark_core.available_devices()]


SIZE_WORDS = {"large": "Large", "small": "Small", "tiny": "tiny test models"}
PLACEMENT_WORDS = {"resident": "all on GPU", "offload": "stage-by-stage offload", "cpu": "CPU only"}


def engine_label(info: dict[str, Any]) -> str:
    """What is loaded, in a few words: size, device, precision and (where it adds anything) placement.

    The placement "cpu" on the CPU device says nothing new, so it is not repeated ("tiny · cpu · float32 · cpu").
    """
    size = str(info.get("size") or "")
    sizes = info.get("sizes")
    if isinstance(sizes, dict) and size == "mixed":
        size = "mixed (" + ", ".join(f"{s} {SIZE_WORDS.get(str(sizes.get(s)), sizes.get(s, '?'))}" for s in STAGES) + ")"
    device = str(info.get("device") or "")
    placement = str(info.get("placement") or "")
    if placement == device.split(":")[0]:
        placement = ""
    bits = [SIZE_WORDS.get(size, size), device, str(info.get("dtype") or ""), PLACEMENT_WORDS.get(placement, placement)]
    return " · ".join(b for b in bits if b)


def precision_words(choice: dict[str, Any]) -> str:
    """The measured precision choice in words a user knows, e.g. "float32 (exact): bfloat16 was not faster on this CPU"."""
    chosen = str(choice.get("dtype") or "float32")
    timings = choice.get("timings_ms") or {}
    base = timings.get("float32") or {}
    others = []
    for p, t in timings.items():
        if p in ("float32", FAST) or not isinstance(t, dict):
            continue
        ratios = [base[s] / t[s] for s in base if s in t and t[s] and base[s]]
        others.append((p, min(ratios) if ratios else None))
    if chosen == "float32":
        if not others:
            return "float32 (exact): the only precision measured on this CPU."
        slower = [p for p, r in others if r is None or r < 1.0]
        close = [(p, r) for p, r in others if r is not None and r >= 1.0]
        parts = []
        if slower:
            parts.append(f"{' and '.join(slower)} {'was' if len(slower) == 1 else 'were'} not faster on this CPU")
        if close:
            parts.append(" and ".join(f"{p} was at best {r:.1f}x as fast" for p, r in close)
                         + ", too little to give up exact results")
        return "float32 (exact): " + "; ".join(parts) + " (measured when the model loaded)."
    r = dict(others).get(chosen)
    gain = f" ({r:.1f}x as fast as float32)" if r else ""
    return (f"{chosen} (faster, not token-exact): it was clearly faster than float32 on this CPU{gain}; "
            "pick float32 for exact results.")


def fast_mode_words(info: dict[str, Any]) -> str:
    """The fast CPU mode's line: what it gains per decode step on this CPU (the cached measurement) and what it
    costs in agreement, e.g. "Fast CPU mode (int8): about 1.9x faster per decode step on this CPU ..."."""
    fast = info.get("fast_cpu_mode") or {}
    on = info.get("dtype") == FAST
    if not fast.get("available") and not on:
        return "Fast CPU mode (int8): this PyTorch build has no CPU int8 kernel, so it is not available."
    low, high = (round(100 * a) for a in fast.get("agreement_on_random_weights") or (0, 0))
    agree = f"{low} %" if low == high else f"{low}-{high} %"
    cost = (f"its takes differ from exact ones (about {agree} of tokens agree with float32's on random weights; "
            "not measured on Suno's weights).")
    r = (fast.get("speedup") or {}).get("one_row")
    head = "Fast CPU mode (int8) is on" if on else "Fast CPU mode (int8)"
    if not isinstance(r, (int, float)) or r <= 0:
        return (f"{head}: its speed has not been measured on this CPU yet (it is measured when a model loads "
                f"with precision auto on the CPU); {cost}")
    when = "(measured on this CPU when a model first loaded here)"
    if r < 1.05:
        return f"{head}: not faster per decode step than float32 on this CPU ({r:.1f}x, {when[1:-1]}); {cost}"
    return f"{head}: about {r:.1f}x faster per decode step than float32 on this CPU {when}; {cost}"


def header_html(studio: Studio) -> str:
    engine = studio.holder.engine
    if engine is None:
        return "<div class='badge badge-warn'>Model not loaded</div>"
    return f"<div class='badge'>● {html.escape(engine_label(engine.info()) or 'ready')}</div>"


def models_md(studio: Studio) -> str:
    engine = studio.holder.engine
    if engine is None:
        return "**Current model:** not loaded."
    info = engine.info()
    rows = [f"**Current model:** {plain(engine_label(info) or '?')}"]
    params = info.get("params")
    if isinstance(params, dict):
        rows.append(f"{sum(int(v) for v in params.values()) / 1e6:.0f} M parameters")
    est = info.get("gpu_memory_estimate_bytes")
    if est:
        rows.append(f"estimated GPU memory {fmt_bytes(int(est))}")
    text = " · ".join(rows)
    choice = info.get("precision_choice")
    if isinstance(choice, dict) and choice.get("dtype") and info.get("dtype") != FAST:  # int8: the line below says it
        text += f"  \nPrecision: {plain(precision_words(choice))}"
    if isinstance(info.get("fast_cpu_mode"), dict):
        text += f"  \n{plain(fast_mode_words(info))}"
    if engine_sizes(engine) is None:
        text += ("  \nThese models are neither Large nor Small, so no size is picked below; pick one for each "
                 "stage before Reload model.")
    slow = info.get("precision_warning")
    return text + (f"  \n⚠ {plain(slow)}" if slow else "")


def loaded_controls(studio: Studio) -> dict[str, Any]:
    """The Models tab's controls set to what is loaded now (another visitor may have reloaded)."""
    engine = studio.holder.engine
    out: dict[str, Any] = {}
    sizes = engine_sizes(engine)
    if sizes:
        out.update({f"size_{s}": sizes[s] for s in STAGES})
    elif engine is not None:  # e.g. tiny test models: no size is picked rather than a wrong "Large"
        out.update({f"size_{s}": None for s in STAGES})
    if engine is not None:
        info = engine.info()
        device = str(info.get("device", "auto")).split(":")[0]
        out["m_device"] = gr.update(choices=device_choices(), value=device if device in device_choices() else "auto")
        if info.get("dtype") in DTYPES:
            out["m_dtype"] = info["dtype"]
        if info.get("placement") in dict((v, k) for k, v in PLACEMENTS):
            out["m_place"] = info["placement"]
    fast = info.get("fast_cpu_mode") if engine is not None else None
    on = engine is not None and info.get("dtype") == FAST
    shown = on or bool(isinstance(fast, dict) and fast.get("available"))  # a CPU engine where torch has the kernel
    out["fast_btn"] = gr.update(value=FAST_LABELS[on], visible=shown)
    return out


def estimate_memory(size_semantic: str, size_coarse: str, size_fine: str, m_device: str, m_dtype: str,
                    m_place: str) -> dict[str, Any]:
    picked = (size_semantic, size_coarse, size_fine)
    sizes = dict(zip(STAGES, picked))  # a size may be None: loaded models that are neither large nor small
    if m_dtype == "int8":
        return {"m_estimate": "**GPU memory needed:** none — int8 is the fast CPU mode: less memory, not "
                              "token-exact with the reference; what it gains on this CPU is measured above."}
    if m_place == "cpu" or m_device == "cpu" or (m_device == "auto" and device_choices() == ["auto", "cpu"]):
        pace = "slow" if "large" in sizes.values() else "slowish"
        slow = bark_core.precision_warning(m_dtype)
        return {"m_estimate": f"**GPU memory needed:** none — runs on the CPU ({pace})."
                + (f"  \n⚠ {plain(slow)}" if slow else "")}
    if not all(v in ("large", "small") for v in picked):
        return {"m_estimate": "**Memory estimate:** pick Large or Small for each stage."}
    sizes = sizes_dict(*picked)
    n = bark_core.estimate_gpu_memory(sizes, m_dtype, m_place)
    saved = bark_core.estimate_gpu_memory("large", m_dtype, m_place) - n
    total = bark_core.cuda_total_memory()
    free = (f" of {fmt_bytes(total)} on this GPU" + (" ⚠ may not fit" if n > total * 0.9 else " ✓")) if total else ""
    less = f" · {fmt_bytes(saved)} less than all large" if saved > 0 else ""
    return {"m_estimate": f"**Estimated peak GPU memory:** {fmt_bytes(n)}{free}{less}"}


def after_load(studio: Studio, owner: str, f_language: str, f_gender: str, f_version: str,
               f_query: str) -> dict[str, Any]:
    """Everything that shows the loaded engine, refreshed after a load."""
    studio.voices.refresh_catalog()
    return {"engine_badge": header_html(studio), "setup_panel": gr.update(visible=not studio.holder.ready),
            "models_info": models_md(studio), "voice": NO_VOICE, **loaded_controls(studio),
            **voice_list(studio, owner, NO_VOICE, f_language, f_gender, f_version, f_query)}


def reload_model(studio: Studio, owner: str, size_semantic: str, size_coarse: str, size_fine: str, m_device: str,
                 m_dtype: str, m_place: str, f_language: str, f_gender: str, f_version: str, f_query: str,
                 progress=gr.Progress()) -> dict[str, Any]:
    """Load the model with the chosen sizes, device, precision and placement."""
    if not studio.allow_model_changes:
        raise ValueError("Model changes are turned off on this deployment.")
    base = studio.holder.settings
    if base is None:
        raise ValueError("No engine settings to reload from.")
    if m_device not in device_choices():
        raise ValueError(f"This machine has no {plain(m_device)} device; pick one of {', '.join(device_choices())}.")
    if m_place != "cpu" and (m_device == "cpu" or (m_device == "auto" and device_choices() == ["auto", "cpu"])):
        m_place = "cpu"  # offload and resident placements need a GPU
    new = reload_settings(base, sizes_dict(size_semantic, size_coarse, size_fine), m_device, m_dtype, m_place)
    progress(0, desc="Loading")
    try:
        studio.holder.load(new, lambda msg, frac=None: progress(frac, desc=str(msg)))
    except ValueError:
        raise
    except Exception as e:
        log.error("reload failed: %s", e)
        raise ValueError(f"Could not load the model: {e}") from None
    return {**after_load(studio, owner, f_language, f_gender, f_version, f_query), "m_status": "✓ Loaded."}


def switch_fast_mode(studio: Studio, owner: str, f_language: str, f_gender: str, f_version: str, f_query: str,
                     progress=gr.Progress()) -> dict[str, Any]:
    """One click: reload what is loaded in the fast CPU mode (int8), or back in exact float32 from it."""
    engine = studio.holder.engine
    if engine is None:
        raise ValueError("No model is loaded yet.")
    on = engine.info().get("dtype") == FAST
    sizes = engine_sizes(engine) or settings_sizes(studio.holder.settings)  # what is loaded, not the radios
    out = reload_model(studio, owner, *(sizes[s] for s in STAGES), "cpu", "float32" if on else FAST, "cpu",
                       f_language, f_gender, f_version, f_query, progress=progress)
    return {**out, "m_status": "✓ Back to exact float32." if on else "✓ Fast CPU mode (int8) on."}


def download_model(studio: Studio, owner: str, f_language: str, f_gender: str, f_version: str, f_query: str,
                   progress=gr.Progress()) -> dict[str, Any]:
    """First run: download the weights the settings ask for, then load them."""
    if not studio.allow_model_changes:
        raise ValueError("Downloads are turned off on this deployment.")
    if studio.holder.settings is None:
        raise ValueError("No engine settings to download for.")
    try:
        progress(0, desc="Downloading")
        studio.holder.download(lambda msg, frac=None: progress(frac, desc=str(msg)))
        progress(0.9, desc="Loading the model")
        studio.holder.load(studio.holder.settings, lambda msg, frac=None: progress(frac, desc=str(msg)))
    except Exception as e:
        log.error("download failed: %s", e)
        studio.holder.error = str(e)
        raise ValueError(f"Download failed: {e}") from None
    return {**after_load(studio, owner, f_language, f_gender, f_version, f_query), "setup_status": "✓ Ready."}
