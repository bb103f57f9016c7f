"""The HuBERT quantizer of the community cloning method: HuBERT features -> Bark semantic tokens.

Architecture (GitMylo's bark-voice-cloning-HuBERT-quantizer, MIT):
``LSTM(input, hidden, num_layers=2, batch_first=True)`` then ``Linear(hidden, output)`` (version 0)
or ``Linear(hidden, 4096) -> Linear(4096, output)`` (version 1); argmax per frame = the token.

Files are ``torch.save(state_dict)`` zips; newer ones carry a ``<name>/.info`` JSON member
(input_size, hidden_size, output_size, version). Files without it are version 0 (a file
without ``.info`` whose weights hold an ``intermediate`` layer is read as version 1). Loading
is ``torch.load(weights_only=True)``: a pickle that would import anything is refused and
never run.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

INTERMEDIATE_SIZE = 4096  # version 1's extra layer
VERSIONS = (0, 1)
MAX_QUANTIZER_BYTES = 2 * 1024**3
_MAX_INFO_BYTES = 64 * 1024
_MAX_DIM = 65_536


@dataclass(frozen=True)
class QuantizerInfo:
    """The sizes a quantizer file declares (its ``.info``), or those of the published v0 default."""

    input_size: int = 768
    hidden_size: int = 1024
    output_size: int = 10_000
    version: int = 0

    def to_json(self) -> str:
        return json.dumps({"input_size": self.input_size, "hidden_size": self.hidden_size,
                           "output_size": self.output_size, "version": self.version})


class HubertQuantizer(nn.Module):
    """LSTM (2 layers) -> [Linear(hidden, 4096)] -> Linear(., output); parameter names as published."""

    def __init__(self, info: QuantizerInfo = QuantizerInfo()):
        super().__init__()
        if info.version not in VERSIONS:
            raise ValueError(f"Unknown quantizer version {info.version!r}; known versions are 0 and 1.")
        self.info = info
        self.lstm = nn.LSTM(info.input_size, info.hidden_size, 2, batch_first=True)
        if info.version == 1:
            self.intermediate = nn.Linear(info.hidden_size, INTERMEDIATE_SIZE)
        self.fc = nn.Linear(INTERMEDIATE_SIZE if info.version == 1 else info.hidden_size, info.output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, output) from features (B, T, input)."""
        x, _ = self.lstm(x)  # (B, T, hidden)
        if self.info.version == 1:
            x = self.intermediate(x)  # (B, T, 4096)
        return self.fc(x)  # (B, T, output)

    @torch.no_grad()
    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """Token ids (T,) for features (T, input), or (B, T) for (B, T, input)."""
        if features.dim() == 2:
            return self(features.unsqueeze(0)).argmax(dim=-1)[0]
        return self(features).argmax(dim=-1)


# --------------------------------------------------------------------------- files


def _read_info(zf: zipfile.ZipFile, label: str) -> QuantizerInfo | None:
    members = [m for m in zf.infolist() if m.filename.endswith("/.info")]
    if not members:
        return None
    member = members[0]
    if member.file_size > _MAX_INFO_BYTES:
        raise ValueError(f"{label} has an oversized .info member; this is not a quantizer file.")
    try:
        data = json.loads(zf.read(member).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{label} has a .info member that is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label} has a .info member that is not a JSON object.")
    values = {}
    for key in ("input_size", "hidden_size", "output_size", "version"):
        v = data.get(key)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{label}: its .info lacks a whole-number {key}.")
        values[key] = v
    if values["version"] not in VERSIONS:
        raise ValueError(f"{label} is a version {values['version']} quantizer; only versions 0 and 1 are known.")
    for key in ("input_size", "hidden_size", "output_size"):
        if not 1 <= values[key] <= _MAX_DIM:
            raise ValueError(f"{label}: its .info gives {key} {values[key]}, outside 1..{_MAX_DIM}.")
    return QuantizerInfo(**values)


def _infer_info(state: dict[str, torch.Tensor], label: str) -> QuantizerInfo:
    """No ``.info``: version 0 (1 if an intermediate layer is present), sizes from the weights."""
    try:
        return QuantizerInfo(
            input_size=int(state["lstm.weight_ih_l0"].shape[1]),
            hidden_size=int(state["lstm.weight_hh_l0"].shape[1]),
            output_size=int(state["fc.weight"].shape[0]),
            version=1 if "intermediate.weight" in state else 0,
        )
    except (KeyError, IndexError):
        raise ValueError(
            f"{label} does not hold quantizer weights (it needs lstm.* and fc.* tensors)."
        ) from None


def _torch_load(path: Path, label: str) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"Refusing {label[:1].lower() + label[1:]}: it holds Python objects other than weights, "
            "which could run code when loaded."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, zlib.error, struct.error):
        raise ValueError(f"{label} is damaged: its weights cannot be read.") from None


def load_quantizer(path: str | os.PathLike, max_bytes: int = MAX_QUANTIZER_BYTES) -> HubertQuantizer:
    """Read a quantizer ``.pth`` (either version) safely; eval mode, no gradients, on the CPU.

    Raises ValueError with a sentence for anything that is not a usable quantizer file.
    """
    path = Path(path)
    label = f"Quantizer file '{path.name}'"
    if not path.is_file():
        raise ValueError(f"{label} does not exist or is not a file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{label} is {size} bytes, more than the {max_bytes}-byte limit for quantizers.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{label} is not a quantizer checkpoint (a torch.save zip archive); refusing it.")
    try:
        with zipfile.ZipFile(path) as zf:
            info = _read_info(zf, label)
    except (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, NotImplementedError):
        raise ValueError(f"{label} is damaged: it is not a readable zip archive.") from None
    state = _torch_load(path, label)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{label} is not a state dict of tensors; this is not a quantizer file.")
    if info is None:
        info = _infer_info(state, label)
    model = HubertQuantizer(info)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise ValueError(f"{label} does not match a version {info.version} quantizer ({what}).")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ValueError(
                f"{label} does not match its declared sizes: {k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}."
            )
        if not state[k].is_floating_point():
            raise ValueError(f"{label}: {k} is not a floating-point tensor.")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval().requires_grad_(False)


def save_quantizer(model: HubertQuantizer, path: str | os.PathLike) -> Path:
    """Write the published format: ``torch.save(state_dict)`` plus a ``<stem>/.info`` JSON member."""
    path = Path(path)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{path.stem}/.info", model.info.to_json())
    return path
