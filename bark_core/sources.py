"""Where weights come from: a local folder, or a Hugging Face Hub repo in the HF cache.

For a Hub repo, the cheapest complete file set is fetched (huggingface_hub's own tqdm
progress bars): the transformers ``BarkModel`` checkpoint (codec included) rather than
Suno's 13 GB of ``.pt`` files. Failures never surface as huggingface_hub tracebacks:
they become :class:`WeightsNotFound`, whose message says what to download and how.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .checkpoints import CheckpointError, detect_format, has_embedded_codec

logger = logging.getLogger(__name__)

DEFAULT_REPO = "suno/bark"
DEFAULT_SMALL_REPO = "suno/bark-small"
CODEC_REPO = "facebook/encodec_24khz"
TOKENIZER_REPO = "bert-base-multilingual-cased"

# Sizes as published on the Hub (for messages only).
KNOWN_SIZES = {
    ("suno/bark", "text_2.pt"): "5.35 GB",
    ("suno/bark", "coarse_2.pt"): "3.93 GB",
    ("suno/bark", "fine_2.pt"): "3.74 GB",
    ("suno/bark", "text.pt"): "2.32 GB",
    ("suno/bark", "coarse.pt"): "1.25 GB",
    ("suno/bark", "fine.pt"): "1.11 GB",
    ("suno/bark", "pytorch_model.bin"): "4.49 GB",
    ("suno/bark-small", "pytorch_model.bin"): "1.68 GB",
    ("suno/bark-small", "model.safetensors"): "1.68 GB",
}

TOKENIZER_PATTERNS = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
SPEAKER_PATTERNS = ["speaker_embeddings_path.json", "speaker_embeddings/*", "speaker_embeddings/**"]
CODEC_PATTERNS = ["config.json", "model.safetensors", "preprocessor_config.json"]

ProgressHook = Optional[Callable[[str], None]]


class WeightsNotFound(Exception):
    """The weights are not available locally and could not be downloaded."""


@dataclass(frozen=True)
class FileSet:
    """A complete set of files to fetch from one repo for one checkpoint format."""

    fmt: str  # "transformers", "original" or "native"
    weights: tuple[str, ...]  # the big files
    extras: tuple[str, ...]  # glob patterns of small companion files

    @property
    def patterns(self) -> list[str]:
        return list(self.weights) + list(self.extras)


def parse_repo(spec: str) -> tuple[str, Optional[str]]:
    """'owner/name[@revision]' -> (repo id, revision or None)."""
    if "@" in spec:
        repo, rev = spec.split("@", 1)
        return repo, rev or None
    return spec, None


def _size(repo: str, name: str) -> str:
    s = KNOWN_SIZES.get((repo, name))
    return f"{name} ({s})" if s else name


def choose_file_set(files: list[str], small: bool) -> FileSet:
    """The cheapest complete Bark file set among a repo's ``files``."""
    have = set(files)
    extras = tuple(TOKENIZER_PATTERNS + SPEAKER_PATTERNS + ["generation_config.json", "codec/*"])
    if "bark_core.json" in have:
        return FileSet("native", ("bark_core.json", "semantic.safetensors", "coarse.safetensors", "fine.safetensors"), extras)
    small_pt = ("text.pt", "coarse.pt", "fine.pt")
    large_pt = ("text_2.pt", "coarse_2.pt", "fine_2.pt")
    if small and have.issuperset(small_pt):
        return FileSet("original", small_pt, extras)
    if "config.json" in have:
        for weights in (("model.safetensors",), ("pytorch_model.bin",)):
            if have.issuperset(weights):
                return FileSet("transformers", ("config.json",) + weights, extras)
        for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
            if index in have:
                ext = ".safetensors" if "safetensors" in index else ".bin"
                shards = tuple(sorted(f for f in have if f.endswith(ext) and "-of-" in f))
                return FileSet("transformers", ("config.json", index) + shards, extras)
    if have.issuperset(large_pt):
        return FileSet("original", large_pt, extras)
    if have.issuperset(small_pt):
        return FileSet("original", small_pt, extras)
    raise WeightsNotFound("no Bark checkpoint among the repo's files")


def _expected_sets(repo: str, small: bool) -> list[list[str]]:
    """What a user could download for ``repo`` (for messages)."""
    if repo == "suno/bark" and small:
        return [["text.pt", "coarse.pt", "fine.pt"]]
    if repo == "suno/bark":
        return [["config.json", "pytorch_model.bin"], ["text_2.pt", "coarse_2.pt", "fine_2.pt"]]
    if repo == "suno/bark-small":
        return [["config.json", "pytorch_model.bin"]]
    return [["config.json", "model.safetensors or pytorch_model.bin"]]


def _missing_message(repo: str, small: bool, cache_dir, reason: str) -> str:
    sets = " or ".join("[" + ", ".join(_size(repo, f) for f in s) + "]" for s in _expected_sets(repo, small))
    where = cache_dir or "the Hugging Face cache (~/.cache/huggingface/hub)"
    flag = " --small" if small else ""
    return (
        f"Bark weights from {repo} are not available: {reason}. Needed from https://huggingface.co/{repo}: "
        f"{sets}, plus the tokenizer files and speaker_embeddings/. Either run `python -m bark_core download{flag}` "
        f"once while online (it stores them in {where}), or download them yourself and pass `--models DIR` "
        f"with the folder that holds them."
    )


HUB_ADDRESS = ("huggingface.co", 443)
HUB_PROBE_SECONDS = 1.5


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the Hugging Face Hub accepts a connection within ``timeout`` seconds (no request is sent).

    Offline, huggingface_hub retries for ~30 s before it gives up; this answers in ``timeout`` at most,
    so the app and the CLI can go offline at once (local folders and the Hub cache only).
    """
    import socket

    try:
        socket.create_connection(HUB_ADDRESS, timeout=timeout).close()
        return True
    except OSError:
        return False


UNREACHABLE = (f"The Hugging Face Hub cannot be reached (huggingface.co did not answer within {HUB_PROBE_SECONDS:g} s)")


def _hub_reason(e: Exception) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, LocalEntryNotFoundError):
        return "they are not in the local cache and offline mode is on (or the Hub cannot be reached)"
    if isinstance(e, GatedRepoError):
        return "the repo is gated; log in with `hf auth login` after accepting its terms"
    if isinstance(e, RepositoryNotFoundError):
        return "the repo does not exist (or is private)"
    if isinstance(e, RevisionNotFoundError):
        return "that revision does not exist"
    text = str(e).strip().splitlines()
    return f"the download failed ({text[0] if text else type(e).__name__})"


def _list_repo_files(repo: str, revision: Optional[str]) -> list[str]:
    from huggingface_hub import HfApi

    return list(HfApi().list_repo_files(repo, revision=revision))


def _cached_snapshot(repo: str, revision: Optional[str], cache_dir) -> Optional[Path]:
    """The cached snapshot folder of a repo, without any network access; None if not cached."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def _fetch(repo: str, revision, patterns: list[str], cache_dir, offline: bool, on_progress: ProgressHook) -> Path:
    from huggingface_hub import snapshot_download

    if on_progress:
        on_progress(f"Fetching {', '.join(p for p in patterns if '*' not in p)} from {repo}")
    return Path(
        snapshot_download(
            repo, revision=revision, cache_dir=cache_dir, allow_patterns=patterns, local_files_only=offline
        )
    )


def _is_local(spec: str) -> bool:
    """A path rather than a Hub id ("owner/name[@rev]")."""
    if Path(spec).expanduser().exists() or spec.startswith((".", "/", "~", "\\")):
        return True
    return spec.count("/") > 1 and "@" not in spec


def resolve_models(
    spec: Optional[str] = None,
    small: bool = False,
    offline: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
) -> Path:
    """A local folder holding a complete Bark checkpoint (any format).

    ``spec`` None -> ``suno/bark`` (``suno/bark-small`` with ``small``); an existing folder ->
    that folder; anything else -> a Hub repo id (``owner/name[@revision]``) fetched into the HF cache.
    """
    if spec is not None and _is_local(spec):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise WeightsNotFound(f"Model folder {folder} does not exist. Pass `--models DIR` with an existing folder.")
        try:
            detect_format(folder, small)
        except CheckpointError as e:
            raise WeightsNotFound(str(e)) from None
        return folder
    repo, revision = parse_repo(spec or (DEFAULT_SMALL_REPO if small else DEFAULT_REPO))
    cache_dir = str(cache_dir) if cache_dir is not None else None
    if offline:
        snap = _cached_snapshot(repo, revision, cache_dir)
        if snap is not None:
            try:
                files = [str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()]
                fs = choose_file_set(files, small)
                _verify_complete(snap, fs)
                detect_format(snap, small)
                return snap
            except (WeightsNotFound, CheckpointError):
                pass
        raise WeightsNotFound(_missing_message(repo, small, cache_dir, "they are not in the local cache and offline mode is on"))
    try:
        files = _list_repo_files(repo, revision)
        fs = choose_file_set(files, small)
        snap = _fetch(repo, revision, fs.patterns, cache_dir, False, on_progress)
        _verify_complete(snap, fs)
        return snap
    except WeightsNotFound as e:
        raise WeightsNotFound(_missing_message(repo, small, cache_dir, str(e))) from None
    except Exception as e:  # noqa: BLE001 - huggingface_hub / network errors become one clear message
        snap = _cached_snapshot(repo, revision, cache_dir)
        if snap is not None:
            try:
                detect_format(snap, small)
                logger.warning("Could not reach the Hub (%s); using the cached copy of %s.", _hub_reason(e), repo)
                return snap
            except CheckpointError:
                pass
        raise WeightsNotFound(_missing_message(repo, small, cache_dir, _hub_reason(e))) from None


def _verify_complete(folder: Path, fs: FileSet) -> None:
    missing = [w for w in fs.weights if not (folder / w).is_file()]
    if missing:
        raise WeightsNotFound(f"{', '.join(missing)} missing from {folder}")


def _resolve_simple(
    spec: Optional[str], default_repo: str, patterns: list[str], required: list[str], what: str,
    offline: bool, cache_dir, on_progress: ProgressHook,
) -> Path:
    if spec is not None and _is_local(spec):
        folder = Path(spec).expanduser()
        if not all(any((folder / r).is_file() for r in alt.split("|")) for alt in required):
            raise WeightsNotFound(f"{folder} is not a {what} folder (it needs {', '.join(required)}).")
        return folder
    repo, revision = parse_repo(spec or default_repo)
    cache_dir = str(cache_dir) if cache_dir is not None else None
    try:
        snap = _fetch(repo, revision, patterns, cache_dir, offline, on_progress)
        if all(any((snap / r).is_file() for r in alt.split("|")) for alt in required):
            return snap
        reason = f"{', '.join(required)} not found in the cached copy"
    except Exception as e:  # noqa: BLE001
        reason = _hub_reason(e)
    raise WeightsNotFound(
        f"The {what} from {repo} is not available: {reason}. Needed: {', '.join(r.replace('|', ' or ') for r in required)} "
        f"from https://huggingface.co/{repo}. Run `python -m bark_core download` once while online, or pass a local folder."
    )


def resolve_codec(
    spec: Optional[str] = None,
    offline: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
    required: bool = True,
) -> Optional[Path]:
    """Folder of the EnCodec 24 kHz model (``facebook/encodec_24khz`` unless ``spec`` says otherwise).

    With ``required=False`` a missing codec gives None instead of :class:`WeightsNotFound`.
    """
    try:
        return _resolve_simple(spec, CODEC_REPO, CODEC_PATTERNS, ["config.json", "model.safetensors|pytorch_model.bin"],
                               "EnCodec codec", offline, cache_dir, on_progress)
    except WeightsNotFound:
        if required:
            raise
        return None


def resolve_tokenizer(
    spec: Optional[str] = None,
    models_folder: Optional[str | os.PathLike] = None,
    offline: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
) -> Path:
    """Folder of the BERT tokenizer: ``spec``, else the models folder if it has one, else the Hub."""
    if spec is None and models_folder is not None:
        folder = Path(models_folder)
        if (folder / "vocab.txt").is_file() or (folder / "tokenizer.json").is_file():
            return folder
    return _resolve_simple(spec, TOKENIZER_REPO, TOKENIZER_PATTERNS, ["vocab.txt|tokenizer.json"],
                           "BERT tokenizer", offline, cache_dir, on_progress)


@dataclass(frozen=True)
class Downloaded:
    """Folders that ``download`` made available."""

    models: Path
    codec: Optional[Path]
    tokenizer: Path


def download(
    small: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
    spec: Optional[str] = None,
) -> Downloaded:
    """Fetch everything a first run needs (weights, tokenizer, codec if not embedded) ahead of time."""
    models = resolve_models(spec, small=small, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    codec = None
    if not has_embedded_codec(models) and not (models / "codec" / "config.json").is_file():
        codec = resolve_codec(None, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    tokenizer = resolve_tokenizer(None, models_folder=models, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    return Downloaded(models, codec, tokenizer)


# --------------------------------------------------------------------------- voice cloning weights

HUBERT_REPO = "facebook/hubert-base-ls960"
QUANTIZER_REPO = "GitMylo/bark-voice-cloning"
QUANTIZER_FILE = "quantifier_hubert_base_ls960_14.pth"  # version 0, the one every Bark UI uses
DEFAULT_QUANTIZER = f"{QUANTIZER_REPO}:{QUANTIZER_FILE}"
HUBERT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # preferred first
KNOWN_SIZES.update({
    (QUANTIZER_REPO, QUANTIZER_FILE): "104 MB",
    (QUANTIZER_REPO, "quantifier_V1_hubert_base_ls960_23.pth"): "244 MB",
})


def _clone_missing(what: str, repo: str, needed: str, flag: str, cache_dir, reason: str) -> str:
    where = cache_dir or "the Hugging Face cache (~/.cache/huggingface/hub)"
    return (
        f"The {what} from {repo} is not available: {reason}. Needed from https://huggingface.co/{repo}: {needed}. "
        f"Either run `python -m bark_core download --clone` once while online (it stores it in {where}), "
        f"or download it yourself and pass `{flag}`."
    )


def _hubert_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / w).is_file() for w in HUBERT_WEIGHTS)


def resolve_hubert(
    spec: Optional[str] = None,
    offline: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
) -> Path:
    """Folder of a transformers ``HubertModel`` (``facebook/hubert-base-ls960`` unless ``spec`` says otherwise).

    ``spec``: a local folder, or a Hub id ``owner/name[@revision]``; only config.json and one weights
    file (model.safetensors if the repo has it, else pytorch_model.bin) are fetched.
    """
    if spec is not None and _is_local(spec):
        folder = Path(spec).expanduser()
        if not _hubert_complete(folder):
            raise WeightsNotFound(
                f"{folder} is not a HuBERT folder (it needs config.json and model.safetensors or pytorch_model.bin)."
            )
        return folder
    repo, revision = parse_repo(spec or HUBERT_REPO)
    cache_dir = str(cache_dir) if cache_dir is not None else None
    needed = "config.json and model.safetensors or pytorch_model.bin"
    if offline:
        snap = _cached_snapshot(repo, revision, cache_dir)
        if snap is not None and _hubert_complete(snap):
            return snap
        reason = "it is not in the local cache and offline mode is on"
    else:
        try:
            files = _list_repo_files(repo, revision)
            weights = next((w for w in HUBERT_WEIGHTS if w in files), None)
            if "config.json" not in files or weights is None:
                raise WeightsNotFound(f"the repo has no {needed}")
            snap = _fetch(repo, revision, ["config.json", weights], cache_dir, False, on_progress)
            if _hubert_complete(snap):
                return snap
            reason = f"{needed} missing from the downloaded copy"
        except WeightsNotFound as e:
            reason = str(e)
        except Exception as e:  # noqa: BLE001 - huggingface_hub / network errors become one clear message
            snap = _cached_snapshot(repo, revision, cache_dir)
            if snap is not None and _hubert_complete(snap):
                logger.warning("Could not reach the Hub (%s); using the cached copy of %s.", _hub_reason(e), repo)
                return snap
            reason = _hub_reason(e)
    raise WeightsNotFound(_clone_missing("HuBERT model", repo, needed, "--hubert DIR", cache_dir, reason))


def parse_quantizer_spec(spec: str) -> tuple[str, Optional[str], str]:
    """'owner/name[@revision]:file.pth' -> (repo, revision, file); ValueError for anything else."""
    repo_part, sep, filename = spec.partition(":")
    repo, revision = parse_repo(repo_part)
    parts = filename.replace("\\", "/").split("/")
    if (not sep or repo.count("/") != 1 or not all(repo.split("/")) or not filename
            or filename.startswith("/") or any(p in ("", "..") for p in parts)):
        raise ValueError(
            f"Quantizer {spec!r} is neither an existing file nor REPO:FILE "
            f"(for example {DEFAULT_QUANTIZER})."
        )
    return repo, revision, filename


def resolve_quantizer(
    spec: Optional[str] = None,
    offline: bool = False,
    cache_dir: Optional[str | os.PathLike] = None,
    on_progress: ProgressHook = None,
) -> Path:
    """Path of a quantizer ``.pth``: a local file, or ``REPO[@rev]:FILE`` on the Hub
    (default ``GitMylo/bark-voice-cloning:quantifier_hubert_base_ls960_14.pth``)."""
    spec = spec or DEFAULT_QUANTIZER
    local = Path(spec).expanduser()
    if local.is_file():
        return local
    if local.exists():
        raise WeightsNotFound(f"Quantizer {local} is not a file.")
    if ":" not in spec or spec.startswith((".", "/", "~", "\\")):
        raise WeightsNotFound(f"Quantizer file {local} does not exist. Pass `--quantizer FILE` with an existing .pth file.")
    repo, revision, filename = parse_quantizer_spec(spec)
    cache_dir = str(cache_dir) if cache_dir is not None else None
    from huggingface_hub import hf_hub_download

    try:
        if on_progress and not offline:
            on_progress(f"Fetching {filename} from {repo}")
        return Path(hf_hub_download(repo, filename, revision=revision, cache_dir=cache_dir, local_files_only=offline))
    except Exception as e:  # noqa: BLE001
        reason = ("it is not in the local cache and offline mode is on" if offline else _hub_reason(e))
    raise WeightsNotFound(
        _clone_missing("quantizer", repo, _size(repo, filename), "--quantizer FILE", cache_dir, reason)
    )


@dataclass(frozen=True)
class DownloadedClone:
    """What ``download --clone`` made available."""

    hubert: Path
    quantizer: Path
    codec: Path


def download_clone(cache_dir: Optional[str | os.PathLike] = None, on_progress: ProgressHook = None) -> DownloadedClone:
    """Fetch the voice-cloning weights ahead of time: HuBERT base, the v0 quantizer and EnCodec 24 kHz."""
    hubert = resolve_hubert(None, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    quantizer = resolve_quantizer(None, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    codec = resolve_codec(None, offline=False, cache_dir=cache_dir, on_progress=on_progress)
    return DownloadedClone(hubert, quantizer, codec)
