"""HuBERT (transformers ``HubertModel``) as the cloning method's feature extractor.

The quantizer reads the output of HuBERT's 9th transformer layer: in transformers,
``hidden_states[0]`` is the embeddings' output (after the positional convolution) and
``hidden_states[i]`` the output of layer ``i``, so layer 9 is ``hidden_states[9]``
(fairseq: ``output_layer=9``). Layers after it are never needed and are dropped at load.
Input is the raw 16 kHz mono waveform (no feature extractor, no normalisation), as in
fairseq's ``hubert_base_ls960``; frames come at 50 Hz.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

HUBERT_SAMPLE_RATE = 16_000
HUBERT_LAYER = 9
MIN_SAMPLES = 400  # the convolutional front end's receptive field (25 ms)


def load_hubert(folder: str | os.PathLike, device: str | torch.device = "cpu", layer: int = HUBERT_LAYER):
    """A ``HubertModel`` folder (config.json + weights), cut after ``layer``, in eval mode on ``device``."""
    from transformers import HubertConfig, HubertModel

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} is not a HuBERT folder (no config.json).")
    try:
        config = HubertConfig.from_pretrained(str(folder), local_files_only=True)
        model = HubertModel.from_pretrained(str(folder), config=config, local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"Cannot load HuBERT from {folder}: {first}") from None
    return prepare_hubert(model, layer).to(device)


def prepare_hubert(model, layer: int = HUBERT_LAYER):
    """Check ``model`` reaches ``layer``, drop the layers after it, freeze it."""
    n = len(model.encoder.layers)
    if n < layer:
        raise ValueError(f"This HuBERT has {n} transformer layers; the quantizer reads layer {layer}.")
    if n > layer:
        model.encoder.layers = model.encoder.layers[:layer]
        model.config.num_hidden_layers = layer
    return model.float().eval().requires_grad_(False)


@torch.no_grad()
def hubert_features(model, wav_16k: torch.Tensor, layer: int = HUBERT_LAYER) -> torch.Tensor:
    """Layer ``layer``'s output (T, hidden) for a 16 kHz mono waveform (samples,); T = 50 per second."""
    if wav_16k.dim() != 1:
        raise ValueError(f"HuBERT takes one mono waveform (samples,); got shape {tuple(wav_16k.shape)}.")
    if wav_16k.shape[0] < MIN_SAMPLES:
        raise ValueError(f"The audio is too short for HuBERT ({wav_16k.shape[0]} samples at 16 kHz; at least {MIN_SAMPLES}).")
    device = next(model.parameters()).device
    x = wav_16k.to(device=device, dtype=torch.float32).unsqueeze(0)  # (1, samples)
    out = model(x, output_hidden_states=True)
    return out.hidden_states[layer][0]  # (T, hidden)
