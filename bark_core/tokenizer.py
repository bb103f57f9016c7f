"""Text -> BERT ids, with the multilingual cased BERT tokenizer Suno uses.

``encode`` returns raw BERT ids (no offset, no special tokens); the generation code adds
Bark's ``TEXT_ENCODING_OFFSET``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

HUB_ID = "bert-base-multilingual-cased"
BERT_VOCAB_SIZE = 119_547  # ids must stay below this (Bark's text embedding covers them + offset)


class TokenizerError(ValueError):
    """The tokenizer files are missing or unusable."""


class TextTokenizer:
    """Wraps ``transformers.BertTokenizer`` (what Suno's ``generation.py`` uses)."""

    def __init__(self, tokenizer):
        self._tok = tokenizer

    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> "TextTokenizer":
        """Load from a folder holding ``vocab.txt`` and/or ``tokenizer.json``.

        Bark's tokenizer is cased: unless the folder's tokenizer_config.json says otherwise,
        no lower-casing is applied.
        """
        from transformers import BertTokenizer

        path = Path(path)
        if not any((path / f).is_file() for f in ("vocab.txt", "tokenizer.json")):
            raise TokenizerError(f"{path} has no tokenizer (vocab.txt or tokenizer.json).")
        kwargs = {}
        cfg_path = path / "tokenizer_config.json"
        cfg = {}
        if cfg_path.is_file():
            try:
                cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise TokenizerError(f"Cannot read {cfg_path}: {e}") from None
        if "do_lower_case" not in cfg:
            kwargs["do_lower_case"] = False
        try:
            tok = BertTokenizer.from_pretrained(str(path), local_files_only=True, **kwargs)
        except (OSError, ValueError, TypeError) as e:
            raise TokenizerError(f"Cannot load the tokenizer from {path}: {str(e).splitlines()[0]}") from None
        return cls(tok)

    @classmethod
    def from_spec(
        cls,
        spec: str | None = None,
        models_folder: str | os.PathLike | None = None,
        offline: bool = False,
        cache_dir: str | os.PathLike | None = None,
    ) -> "TextTokenizer":
        """Resolve (local folder, the models folder, or the Hub) and load."""
        from .sources import resolve_tokenizer

        return cls.from_folder(resolve_tokenizer(spec, models_folder=models_folder, offline=offline, cache_dir=cache_dir))

    @property
    def vocab_size(self) -> int:
        return len(self._tok)

    def encode(self, text: str) -> list[int]:
        """Raw BERT ids of ``text`` (``add_special_tokens=False``), as Suno computes them."""
        if not isinstance(text, str):
            raise ValueError("Text to tokenize must be a string.")
        ids = self._tok.encode(text, add_special_tokens=False)
        return [int(i) for i in ids]

    def decode(self, ids: list[int]) -> str:
        """Text of BERT ids (for display/debugging)."""
        return self._tok.decode(ids)
