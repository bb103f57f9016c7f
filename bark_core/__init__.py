"""Bark Studio's engine: Suno's Bark, token-exact on CPU float32, fast, and light on GPU memory.

    from bark_core import Engine, EngineSettings, GenerationRequest
    engine = Engine.load(EngineSettings(models="suno/bark-small"))
    gen = engine.generate(GenerationRequest(text="Hello! [laughs]", takes=2))

This module is the public API; the web UI imports only what is listed in ``__all__``.
"""

from . import audiotools, contract, export, settings, takecheck, timeline
from .checkpoints import STAGES
from .contract import Done, EngineProtocol, Failed, Preview, SegmentDone
from .cloning import CloneResult, CloneSettings, VoiceCloner, check_recording, pick_window, read_audio
from .constants import SAMPLE_RATE
from .engine import MODEL_SIZES, Engine, EngineBusy, EngineSettings, free_accelerator_memory, stage_sizes
from .placement import (
    available_devices,
    cuda_total_memory,
    estimate_gpu_memory,
    precision_warning,
    recommend,
)
from .settings import MAX_SEED, MAX_SEGMENT_RETAKES, MAX_TAKES, SETTINGS, Setting
from .sources import WeightsNotFound
from .sources import download as download_weights
from .types import (
    BatchJob,
    Generation,
    GenerationCancelled,
    GenerationRequest,
    GPUOutOfMemory,
    Progress,
    SegmentCheck,
    SegmentTake,
    Take,
    Voice,
)
from .voices import DEFAULT_MAX_VOICE_BYTES as MAX_VOICE_BYTES
from .voices import PresetInfo, load_voice_npz, preset_catalog, save_voice

__all__ = [
    # engine and requests
    "Engine", "EngineBusy", "EngineSettings", "Generation", "GenerationCancelled", "GenerationRequest",
    "GPUOutOfMemory", "Progress", "Take", "STAGES", "SAMPLE_RATE", "MODEL_SIZES", "stage_sizes", "BatchJob", "SegmentCheck", "SegmentTake", "WeightsNotFound", "download_weights", "free_accelerator_memory",
    # the engine contract: any engine's surface, a generation's stream events (contract.follow reads them)
    "EngineProtocol", "SegmentDone", "Preview", "Done", "Failed", "contract",
    # the settings table
    "MAX_SEED", "MAX_SEGMENT_RETAKES", "MAX_TAKES", "SETTINGS", "Setting", "settings",
    # voices and cloning
    "MAX_VOICE_BYTES", "PresetInfo", "Voice", "load_voice_npz", "preset_catalog", "save_voice",
    "CloneResult", "CloneSettings", "VoiceCloner", "check_recording", "pick_window", "read_audio",
    # hardware and memory
    "available_devices", "cuda_total_memory", "estimate_gpu_memory", "precision_warning", "recommend",
    # take check, audio tools, export, long-form timeline (modules)
    "audiotools", "export", "takecheck", "timeline",
]
