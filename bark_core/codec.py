"""EnCodec (24 kHz, 6 kbps = 8 codebooks) via ``transformers.EncodecModel``: codes -> audio."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from .checkpoints import check_state_dict, has_embedded_codec, read_hf_config, read_hf_tensors
from .constants import CODEBOOK_SIZE, N_FINE_CODEBOOKS, SAMPLE_RATE
from .sources import resolve_codec

logger = logging.getLogger(__name__)

CODEC_PREFIX = "codec_model."


class CodecError(ValueError):
    """The codec's files are missing or unusable."""


def _legacy_weight_norm(key: str) -> str:
    """Old transformers checkpoints store weight_norm as weight_g / weight_v."""
    key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
    return re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)


class Codec:
    """Decodes Bark's fine tokens (B, 8, N) into 24 kHz mono audio (B, N * 320)."""

    def __init__(self, model):
        from transformers import EncodecModel

        if not isinstance(model, EncodecModel):
            raise TypeError("Codec wraps a transformers.EncodecModel.")
        self.model = model.float().eval().requires_grad_(False)
        cfg = model.config
        if cfg.sampling_rate != SAMPLE_RATE:
            raise CodecError(f"The codec runs at {cfg.sampling_rate} Hz; Bark needs a {SAMPLE_RATE} Hz EnCodec.")
        if cfg.codebook_size != CODEBOOK_SIZE:
            raise CodecError(f"The codec has {cfg.codebook_size}-entry codebooks; Bark needs {CODEBOOK_SIZE}.")
        if len(model.quantizer.layers) < N_FINE_CODEBOOKS:
            raise CodecError(f"The codec has {len(model.quantizer.layers)} codebooks; Bark needs {N_FINE_CODEBOOKS}.")

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> "Codec":
        """Load a folder like ``facebook/encodec_24khz`` (config.json + model.safetensors)."""
        from transformers import EncodecModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise CodecError(f"{path} is not an EnCodec folder (no config.json).")
        try:
            model = EncodecModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise CodecError(f"Cannot load the codec from {path}: {str(e).splitlines()[0]}") from None
        return cls(model)

    @classmethod
    def from_bark_checkpoint(cls, folder: str | os.PathLike) -> "Codec":
        """The ``codec_model.*`` weights inside a transformers BarkModel checkpoint."""
        from transformers import EncodecConfig, EncodecModel


        folder = Path(folder)
        data = read_hf_config(folder)
        codec_cfg = data.get("codec_config")
        if not isinstance(codec_cfg, dict):
            raise CodecError(f"{folder / 'config.json'} has no codec_config; this checkpoint carries no codec.")
        cfg = EncodecConfig.from_dict({k: v for k, v in codec_cfg.items() if k != "model_type"})
        raw, source = read_hf_tensors(folder, CODEC_PREFIX)
        if not raw:
            raise CodecError(f"{folder} declares a codec but holds no {CODEC_PREFIX}* weights.")
        tensors = {_legacy_weight_norm(k): v for k, v in raw.items()}
        model = EncodecModel(cfg)
        check_state_dict("codec", model, tensors, source)
        model.load_state_dict(tensors, strict=True)
        return cls(model)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write a self-contained codec folder (EncodecModel.save_pretrained)."""
        folder = Path(folder)
        self.model.save_pretrained(str(folder))
        return folder

    # ------------------------------------------------------------------ use
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def hop_length(self) -> int:
        """Audio samples per code frame (320 for the 24 kHz model)."""
        return int(self.model.config.hop_length)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    def to(self, device: str | torch.device) -> "Codec":
        self.model.to(device)
        return self

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio (B, N * hop_length) float32 from codes (B, 8, N) in [0, 1024).

        Same as Suno's ``codec_decode``: quantizer.decode then decoder.
        """
        return self._decode(codes, partial=False)

    @torch.no_grad()
    def decode_partial(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio (B, N * hop_length) from the first K codebooks alone, codes (B, K, N) with 1 <= K <= 8.

        EnCodec's residual quantizer sums one embedding per codebook, so fewer codebooks
        decode to the same length at lower fidelity (a preview from Bark's 2 coarse ones).
        """
        return self._decode(codes, partial=True)

    def _decode(self, codes: torch.Tensor, partial: bool) -> torch.Tensor:
        if not isinstance(codes, torch.Tensor):
            codes = torch.as_tensor(codes)
        if codes.dim() == 2:
            codes = codes.unsqueeze(0)
        books_ok = 1 <= codes.shape[1] <= N_FINE_CODEBOOKS if partial else codes.shape[1] == N_FINE_CODEBOOKS
        if codes.dim() != 3 or not books_ok:
            books = f"1..{N_FINE_CODEBOOKS}" if partial else str(N_FINE_CODEBOOKS)
            raise ValueError(f"Codes must have shape (batch, {books}, frames); got {tuple(codes.shape)}.")
        if codes.shape[2] == 0:
            return torch.zeros(codes.shape[0], 0, device=self.device)
        if codes.is_floating_point():
            raise ValueError("Codes must be integers.")
        if int(codes.min()) < 0 or int(codes.max()) >= CODEBOOK_SIZE:
            raise ValueError(f"Codes must lie in [0, {CODEBOOK_SIZE}); got values {int(codes.min())}..{int(codes.max())}.")
        codes = codes.to(device=self.device, dtype=torch.long)
        emb = self.model.quantizer.decode(codes.transpose(0, 1))  # (B, D, N)
        out = self.model.decoder(emb)  # (B, 1, samples)
        return out.squeeze(1).float()

def load_codec(
    models_folder: str | os.PathLike | None = None,
    spec: str | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> Codec:
    """The codec for a models folder, looked up in this order:

    an explicit ``spec`` (folder or Hub id); the folder's own ``codec/``; the ``codec_model.*``
    weights of a transformers checkpoint; ``facebook/encodec_24khz`` from the Hub cache.
    """
    if spec is None and models_folder is not None:
        folder = Path(models_folder)
        if (folder / "codec" / "config.json").is_file():
            return Codec.from_folder(folder / "codec").to(device)
        if has_embedded_codec(folder) and any(
            (folder / f).is_file() for f in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
        ):
            return Codec.from_bark_checkpoint(folder).to(device)
    path = resolve_codec(spec, offline=offline, cache_dir=cache_dir)
    return Codec.from_folder(path).to(device)
