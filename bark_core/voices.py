"""Voices (Bark "history prompts"): validate, load, save, resolve official presets, catalog.

A voice is three integer token arrays: ``semantic_prompt`` (T,), ``coarse_prompt`` (2, N)
and ``fine_prompt`` (8, N). Everything that reads one treats its input as untrusted:
files are size-checked before reading, ``.npy`` headers are checked before any data is
allocated, pickles are never loaded, and preset names come from an allowlist, so no
file path is ever built from user text.
"""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import BinaryIO, Optional, Union

import numpy as np

from .constants import (
    CODEBOOK_SIZE,
    COARSE_RATE_HZ,
    LANGUAGES,
    N_COARSE_CODEBOOKS,
    N_FINE_CODEBOOKS,
    SEMANTIC_RATE_HZ,
    SEMANTIC_VOCAB_SIZE,
)
from .files import open_limited
from .presets import catalog_path
from .types import Voice

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

VOICE_KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")

# Size caps: about two minutes of audio, far more than any real prompt (Suno's are < 15 s,
# and generation only ever reads the last ~630 coarse / 512 fine frames).
MAX_SEMANTIC_TOKENS = 6_000  # ~120 s at 49.9 Hz
MAX_FRAMES = 9_000  # ~120 s at 75 Hz
_MAX_ITEMSIZE = 8
_NPY_HEADER_ALLOWANCE = 64 * 1024
DEFAULT_MAX_VOICE_BYTES = 4 * 1024 * 1024  # an .npz or .npy bigger than this is refused unread
_MAX_INDEX_JSON_BYTES = 1024 * 1024

_MAX_ELEMENTS = {
    "semantic_prompt": MAX_SEMANTIC_TOKENS,
    "coarse_prompt": N_COARSE_CODEBOOKS * MAX_FRAMES,
    "fine_prompt": N_FINE_CODEBOOKS * MAX_FRAMES,
}
_NDIM = {"semantic_prompt": 1, "coarse_prompt": 2, "fine_prompt": 2}

# The reference's coarse-stage check: round(N / T, 1) == round(75 / 49.9, 1) == 1.5.
_COARSE_PER_SEMANTIC = round(COARSE_RATE_HZ / SEMANTIC_RATE_HZ, 1)

SPEAKER_EMBEDDINGS_INDEX = "speaker_embeddings_path.json"
SPEAKER_EMBEDDINGS_DIR = "speaker_embeddings"


def _preset_names() -> tuple[str, ...]:
    names = ["announcer"]
    for prefix in ("", "v2/"):
        for lang in LANGUAGES:
            names.extend(f"{prefix}{lang}_speaker_{n}" for n in range(10))
    return tuple(names)


PRESET_NAMES: tuple[str, ...] = _preset_names()
_PRESET_SET = frozenset(PRESET_NAMES)
_NAME_HINT = "'announcer', '{lang}_speaker_{0-9}' or 'v2/{lang}_speaker_{0-9}' with lang one of " + ", ".join(
    LANGUAGES
)


# --------------------------------------------------------------------------- validation


def _describe_dtype(a: np.ndarray) -> str:
    return "Python objects" if a.dtype.hasobject else str(a.dtype)


def validate_voice(semantic, coarse, fine, name: str = "", *, check_ratio: bool = True) -> Voice:
    """Check a voice's three token arrays and return them as a ``Voice`` (int64, C-contiguous copies).

    Raises ValueError with a user-facing sentence when the arrays cannot be a Bark voice,
    including when they would fail the reference's coarse-stage consistency check
    (``check_ratio=False`` skips that one: the engine's own check of a request's voice).
    """
    if not isinstance(name, str):
        raise ValueError("A voice name must be text.")
    arrays = {"semantic_prompt": semantic, "coarse_prompt": coarse, "fine_prompt": fine}
    for key, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"The voice's {key} must be a NumPy array, got {type(a).__name__}.")
        if a.dtype.kind not in "iu":
            raise ValueError(
                f"The voice's {key} must hold whole-number token ids (an integer array), "
                f"but it holds {_describe_dtype(a)}."
            )
        if a.ndim != _NDIM[key]:
            want = "(T,)" if key == "semantic_prompt" else ("(2, N)" if key == "coarse_prompt" else "(8, N)")
            raise ValueError(f"The voice's {key} must have shape {want}, got {tuple(a.shape)}.")
    if coarse.shape[0] != N_COARSE_CODEBOOKS:
        raise ValueError(
            f"The voice's coarse_prompt must have {N_COARSE_CODEBOOKS} rows (codebooks), got {coarse.shape[0]}."
        )
    if fine.shape[0] != N_FINE_CODEBOOKS:
        raise ValueError(f"The voice's fine_prompt must have {N_FINE_CODEBOOKS} rows (codebooks), got {fine.shape[0]}.")
    t, n = semantic.shape[0], coarse.shape[1]
    if t == 0 or n == 0 or fine.shape[1] == 0:
        raise ValueError("The voice is empty: its semantic, coarse and fine prompts must all hold tokens.")
    if t > MAX_SEMANTIC_TOKENS:
        raise ValueError(
            f"The voice is too long: {t} semantic tokens (at most {MAX_SEMANTIC_TOKENS}, about two minutes)."
        )
    if n > MAX_FRAMES or fine.shape[1] > MAX_FRAMES:
        raise ValueError(
            f"The voice is too long: {max(n, fine.shape[1])} frames (at most {MAX_FRAMES}, about two minutes)."
        )
    if fine.shape[1] != n:
        raise ValueError(
            f"The voice's coarse_prompt and fine_prompt must cover the same frames, got {n} and {fine.shape[1]}."
        )
    for key, a, hi in (
        ("semantic_prompt", semantic, SEMANTIC_VOCAB_SIZE),
        ("coarse_prompt", coarse, CODEBOOK_SIZE),
        ("fine_prompt", fine, CODEBOOK_SIZE),
    ):
        lo_v, hi_v = int(a.min()), int(a.max())
        if lo_v < 0 or hi_v >= hi:
            raise ValueError(
                f"The voice's {key} holds token ids outside 0..{hi - 1} (found {lo_v}..{hi_v}); "
                "this is not a Bark voice."
            )
    ratio = round(n / t, 1)
    if check_ratio and ratio != _COARSE_PER_SEMANTIC:
        raise ValueError(
            f"The voice's parts do not belong together: Bark needs about {_COARSE_PER_SEMANTIC} coarse "
            f"frames per semantic token, but this voice has {n} frames for {t} semantic tokens ({ratio})."
        )
    return Voice(
        semantic=np.array(semantic, dtype=np.int64, order="C", copy=True),
        coarse=np.array(coarse, dtype=np.int64, order="C", copy=True),
        fine=np.array(fine, dtype=np.int64, order="C", copy=True),
        name=name,
    )


# --------------------------------------------------------------------------- safe .npy / .npz reading


def _read_npy(fp: BinaryIO, key: str, label: str) -> np.ndarray:
    """Read one ``.npy`` stream, checking its header (dtype, ndim, size) before reading any data."""
    try:
        version = np.lib.format.read_magic(fp)
    except ValueError:
        raise ValueError(f"{label}: '{key}' is not a NumPy array.") from None
    try:
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"{label}: '{key}' uses an unsupported .npy format version {version}.")
    except ValueError as e:
        if "unsupported .npy" in str(e):
            raise
        raise ValueError(f"{label}: the header of '{key}' is damaged or not allowed.") from None
    if dtype.hasobject:
        raise ValueError(
            f"{label}: '{key}' holds Python objects (pickled data); voice files may only hold integer "
            "token arrays, and pickles are never loaded."
        )
    if dtype.kind not in "iu" or dtype.itemsize > _MAX_ITEMSIZE:
        raise ValueError(
            f"{label}: '{key}' must hold whole-number token ids (an integer array), but it holds {dtype}."
        )
    if len(shape) != _NDIM[key]:
        raise ValueError(f"{label}: '{key}' must be a {_NDIM[key]}-dimensional array, got shape {tuple(shape)}.")
    count = 1
    for d in shape:
        count *= int(d)
    if count > _MAX_ELEMENTS[key]:
        raise ValueError(
            f"{label}: '{key}' declares {count} tokens (shape {tuple(shape)}), more than a voice may hold "
            f"({_MAX_ELEMENTS[key]}, about two minutes)."
        )
    nbytes = count * dtype.itemsize
    data = fp.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{label}: '{key}' is truncated (expected {nbytes} bytes of data, found {len(data)}).")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran_order else "C")


def _check_max_bytes(max_bytes: int) -> None:
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive whole number, got {max_bytes!r}.")


def _read_npz_members(zf: zipfile.ZipFile, label: str) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    keys = [n[:-4] if n.endswith(".npy") else n for n in names]
    if len(keys) != len(set(keys)):
        raise ValueError(f"{label}: the file lists the same array twice.")
    missing = [k for k in VOICE_KEYS if k not in keys]
    extra = sorted(k for k in keys if k not in VOICE_KEYS)
    if missing or extra:
        parts = []
        if missing:
            parts.append("it lacks " + ", ".join(missing))
        if extra:
            parts.append("it has unexpected arrays " + ", ".join(repr(k[:40]) for k in extra[:5]))
        raise ValueError(
            f"{label} is not a Bark voice: {' and '.join(parts)} "
            "(a voice holds exactly semantic_prompt, coarse_prompt and fine_prompt)."
        )
    out: dict[str, np.ndarray] = {}
    for info, key in zip(infos, keys):
        limit = _MAX_ELEMENTS[key] * _MAX_ITEMSIZE + _NPY_HEADER_ALLOWANCE
        if info.file_size > limit:
            raise ValueError(
                f"{label}: '{key}' unpacks to {info.file_size} bytes, more than a voice may hold ({limit})."
            )
        if info.flag_bits & 0x1:
            raise ValueError(f"{label}: encrypted voice files are not supported.")
        with zf.open(info) as member:
            out[key] = _read_npy(member, key, label)
    return out


def load_voice_npz(
    source: Union[PathLike, BinaryIO], max_bytes: int = DEFAULT_MAX_VOICE_BYTES, name: Optional[str] = None
) -> Voice:
    """Load and validate a Bark voice ``.npz`` from a path or a binary file object.

    Files over ``max_bytes`` are refused before reading; each array's header is checked
    before its data is read; pickled (object) arrays are refused and never unpickled.
    """
    _check_max_bytes(max_bytes)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = f"Voice file '{path.name}'"
        if name is None:
            name = path.stem
        with open_limited(path, label, max_bytes,
                          lambda size: f"{label} is {size} bytes, larger than the {max_bytes}-byte limit for voices.") as f:
            return _load_npz_stream(f, label, name)
    if hasattr(source, "read"):
        label = "The voice file"
        try:
            pos = source.tell()
            size = source.seek(0, io.SEEK_END) - pos
            source.seek(pos)
            stream: BinaryIO = source
        except (OSError, AttributeError, ValueError):
            data = source.read(max_bytes + 1)
            size = len(data)
            stream = io.BytesIO(data)
        if size > max_bytes:
            raise ValueError(f"{label} is {size} bytes, larger than the {max_bytes}-byte limit for voices.")
        return _load_npz_stream(stream, label, name or "")
    raise ValueError(f"A voice file must be a path or an open binary file, got {type(source).__name__}.")


def _load_npz_stream(f: BinaryIO, label: str, name: str) -> Voice:
    head = f.read(6)
    f.seek(-len(head), io.SEEK_CUR)
    if head == b"\x93NUMPY":
        raise ValueError(
            f"{label} is a single .npy array; a voice is an .npz holding semantic_prompt, "
            "coarse_prompt and fine_prompt."
        )
    try:
        with zipfile.ZipFile(f) as zf:
            arrays = _read_npz_members(zf, label)
    except zipfile.BadZipFile:
        raise ValueError(f"{label} is not a valid .npz voice file (it is not a readable zip archive).") from None
    except (EOFError, NotImplementedError, OSError, RuntimeError, zipfile.LargeZipFile, zlib.error, struct.error,
            UnicodeDecodeError):
        raise ValueError(f"{label} is damaged or uses an unsupported zip feature.") from None
    return validate_voice(arrays["semantic_prompt"], arrays["coarse_prompt"], arrays["fine_prompt"], name=name)


def _load_npy_file(path: Path, key: str, max_bytes: int) -> np.ndarray:
    label = f"Voice preset file '{path.name}'"
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{label} is {size} bytes, larger than the {max_bytes}-byte limit for voices.")
    with open(path, "rb") as f:
        return _read_npy(f, key, label)


# --------------------------------------------------------------------------- saving


def save_voice(voice: Voice, path: PathLike) -> Path:
    """Validate ``voice`` and write it atomically as an ``.npz`` (temp file in the same folder, then rename)."""
    if not isinstance(voice, Voice):
        raise ValueError(f"save_voice needs a Voice, got {type(voice).__name__}.")
    checked = validate_voice(voice.semantic, voice.coarse, voice.fine, name=voice.name)
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"Voice files must end in .npz, got '{path.name}'.")
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **checked.as_npz_dict())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# --------------------------------------------------------------------------- presets


def _check_preset_name(name: object) -> str:
    if not isinstance(name, str) or name not in _PRESET_SET:
        shown = repr(name)[:60] if isinstance(name, str) else type(name).__name__
        raise ValueError(f"Unknown voice preset {shown}. Preset names look like {_NAME_HINT}.")
    return name


def _allowed_roots(folder: Path) -> list[Path]:
    """The folders a preset file may resolve into: the folder itself, and for a Hugging Face
    cache snapshot (``.../snapshots/<rev>``, whose files are symlinks) the repo's ``blobs`` folder."""
    root = folder.resolve()
    roots = [root]
    if root.parent.name == "snapshots":
        blobs = root.parent.parent / "blobs"
        if blobs.is_dir():
            roots.append(blobs.resolve())
    return roots


def _safe_file(folder: Path, rel: object, what: str) -> Path:
    """Resolve an untrusted relative path inside ``folder``; refuse anything that could leave it."""
    if not isinstance(rel, str) or not rel or len(rel) > 512:
        raise ValueError(f"The voice preset index gives an invalid path for {what}.")
    if "\x00" in rel:
        raise ValueError(f"The voice preset index gives an invalid path for {what}.")
    norm = rel.replace("\\", "/")
    if norm.startswith("/") or PureWindowsPath(rel).drive or os.path.isabs(rel):
        raise ValueError(f"The voice preset index gives an absolute path for {what}; only paths inside the model folder are allowed.")
    if any(part == ".." for part in norm.split("/")):
        raise ValueError(f"The voice preset index gives a path for {what} that leaves the model folder ('..').")
    candidate = folder / norm
    real = candidate.resolve()
    if not any(real.is_relative_to(r) for r in _allowed_roots(folder)):
        raise ValueError(f"The file for {what} points outside the model folder (through a link); refusing it.")
    if not real.is_file():
        raise ValueError(f"The file for {what} is missing from the model folder.")
    return real


def _load_index(folder: Path) -> Optional[dict]:
    index = folder / SPEAKER_EMBEDDINGS_INDEX
    if not index.is_file():
        return None
    real = index.resolve()
    if not any(real.is_relative_to(r) for r in _allowed_roots(folder)):
        raise ValueError(f"{SPEAKER_EMBEDDINGS_INDEX} points outside the model folder (through a link); refusing it.")
    if real.stat().st_size > _MAX_INDEX_JSON_BYTES:
        raise ValueError(f"{SPEAKER_EMBEDDINGS_INDEX} is too large to be a voice preset index.")
    try:
        data = json.loads(real.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{SPEAKER_EMBEDDINGS_INDEX} in the model folder is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{SPEAKER_EMBEDDINGS_INDEX} in the model folder is not a JSON object.")
    return data


def _voice_from_npy_paths(paths: dict[str, Path], name: str, max_bytes: int) -> Voice:
    arrays = {k: _load_npy_file(p, k, max_bytes) for k, p in paths.items()}
    return validate_voice(arrays["semantic_prompt"], arrays["coarse_prompt"], arrays["fine_prompt"], name=name)


def _from_models_folder(name: str, folder: Path, max_bytes: int) -> Optional[Voice]:
    index = _load_index(folder)
    entry = index.get(name) if index is not None else None
    if entry is not None:
        if not isinstance(entry, dict) or any(k not in entry for k in VOICE_KEYS):
            raise ValueError(
                f"{SPEAKER_EMBEDDINGS_INDEX} has a broken entry for '{name}' "
                "(it needs semantic_prompt, coarse_prompt and fine_prompt paths)."
            )
        paths = {k: _safe_file(folder, entry[k], f"'{name}' {k}") for k in VOICE_KEYS}
        logger.debug("voice preset %s from %s", name, SPEAKER_EMBEDDINGS_INDEX)
        return _voice_from_npy_paths(paths, name, max_bytes)
    # Convention (transformers' save_pretrained layout): speaker_embeddings/{name}_{key}.npy
    rels = {k: f"{SPEAKER_EMBEDDINGS_DIR}/{name}_{k}.npy" for k in VOICE_KEYS}
    if all((folder / r).is_file() for r in rels.values()):
        paths = {k: _safe_file(folder, r, f"'{name}' {k}") for k, r in rels.items()}
        logger.debug("voice preset %s from %s/", name, SPEAKER_EMBEDDINGS_DIR)
        return _voice_from_npy_paths(paths, name, max_bytes)
    return None


def _from_prompts_dir(name: str, folder: Path, max_bytes: int) -> Optional[Voice]:
    rel = f"{name}.npz"
    if not (folder / rel).is_file():
        return None
    path = _safe_file(folder, rel, f"'{name}'")
    return load_voice_npz(path, max_bytes=max_bytes, name=name)


def resolve_preset(
    name: str,
    models_folder: Optional[PathLike] = None,
    prompts_dir: Optional[PathLike] = None,
    max_bytes: int = DEFAULT_MAX_VOICE_BYTES,
) -> Voice:
    """Load an official preset by name.

    Looks in ``models_folder`` (a transformers-format Bark folder: ``speaker_embeddings_path.json``,
    else ``speaker_embeddings/{name}_{key}.npy``), then in ``prompts_dir`` (Suno's layout:
    ``{name}.npz``, e.g. ``bark/assets/prompts``). The name must be in ``PRESET_NAMES``.
    """
    name = _check_preset_name(name)
    _check_max_bytes(max_bytes)
    if models_folder is None and prompts_dir is None:
        raise ValueError("No folder to look for voice presets in: give a model folder or a presets folder.")
    for root, lookup in ((models_folder, _from_models_folder), (prompts_dir, _from_prompts_dir)):
        if root is None:
            continue
        folder = Path(root)
        if not folder.is_dir():
            logger.debug("voice folder %s does not exist", folder)
            continue
        voice = lookup(name, folder, max_bytes)
        if voice is not None:
            return voice
    raise ValueError(f"Voice preset '{name}' is not installed (it is in neither the model folder nor the presets folder).")


def load_voice(
    spec: Union[str, os.PathLike, Voice],
    models_folder: Optional[PathLike] = None,
    prompts_dir: Optional[PathLike] = None,
    max_bytes: int = DEFAULT_MAX_VOICE_BYTES,
) -> Voice:
    """Turn a voice spec into a validated ``Voice``: a preset name, a path ending in ``.npz``,
    or an existing ``Voice`` (re-validated)."""
    if isinstance(spec, Voice):
        return validate_voice(spec.semantic, spec.coarse, spec.fine, name=spec.name)
    if isinstance(spec, str) and spec in _PRESET_SET:
        return resolve_preset(spec, models_folder=models_folder, prompts_dir=prompts_dir, max_bytes=max_bytes)
    if isinstance(spec, (str, os.PathLike)) and os.fspath(spec).lower().endswith(".npz"):
        return load_voice_npz(spec, max_bytes=max_bytes)
    shown = repr(spec)[:60] if isinstance(spec, (str, os.PathLike)) else type(spec).__name__
    raise ValueError(f"Unknown voice {shown}: use a preset name like {_NAME_HINT}, or a .npz voice file.")


# --------------------------------------------------------------------------- catalog

GENDERS = ("male", "female", "unknown")


@dataclass(frozen=True)
class PresetInfo:
    """What the UI shows about one official preset."""

    name: str
    language: str  # code, e.g. "en"
    language_name: str  # e.g. "English"
    version: str  # "v1" or "v2"
    gender: str  # "male", "female" or "unknown"
    description: str


def _default_info(name: str) -> PresetInfo:
    if name == "announcer":
        return PresetInfo(name, "en", LANGUAGES["en"], "v1", "unknown", "English, announcer style")
    version = "v2" if name.startswith("v2/") else "v1"
    base = name[3:] if version == "v2" else name
    lang, _, n = base.split("_")
    return PresetInfo(name, lang, LANGUAGES[lang], version, "unknown", f"{LANGUAGES[lang]} speaker {n} ({version})")


def preset_catalog(path: Optional[PathLike] = None) -> list[PresetInfo]:
    """All official presets in ``PRESET_NAMES`` order, described by ``presets/voices.json`` (or ``path``).

    Names come from the allowlist; the JSON only adds gender and description. Presets it
    lacks are listed with gender "unknown"; entries for unknown names are ignored.
    """
    file = Path(path) if path is not None else catalog_path()
    infos = {n: _default_info(n) for n in PRESET_NAMES}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        logger.warning("preset catalog %s unreadable (%s); listing presets without descriptions", file, e)
        return list(infos.values())
    entries = data.get("presets", []) if isinstance(data, dict) else []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("name") not in infos:
            logger.warning("preset catalog: ignoring entry %r", entry if not isinstance(entry, dict) else entry.get("name"))
            continue
        base = infos[entry["name"]]
        gender = entry.get("gender", base.gender)
        description = entry.get("description", base.description)
        if gender not in GENDERS or not isinstance(description, str):
            logger.warning("preset catalog: ignoring malformed entry for %s", base.name)
            continue
        infos[base.name] = PresetInfo(
            base.name, base.language, base.language_name, base.version, gender, description[:200]
        )
    return list(infos.values())

