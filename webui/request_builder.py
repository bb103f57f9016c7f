"""What the browser or an API caller sends, as a validated ``GenerationRequest``: the one place input becomes a request."""

from __future__ import annotations

from typing import Any, Optional

from bark_core import GenerationRequest, Voice, settings as table

from .store import GenerationRecord

# Longest prompt accepted at once: about five minutes of speech (~16 characters a second), split into
# ~20 segments. Much longer text would hold the one shared engine for a long time, and splitting
# 100 000 characters alone takes seconds, so it is refused with a sentence instead.
MAX_TEXT_CHARS = 5000


def text_too_long(text: Optional[str], limit: int) -> Optional[str]:
    if text is not None and len(text) > limit:
        return (f"The text is {len(text):,} characters long; the studio takes at most {limit:,} at a time "
                f"(about {limit // 16 // 60} minutes of audio). Split it into parts and generate them one by one.")
    return None


class RequestBuilder:
    """Widget or API values -> ``GenerationRequest``; ``defaults`` fill what the user left unset (``--max-seconds``)."""

    def __init__(self, max_text_chars: int = MAX_TEXT_CHARS, defaults: Optional[dict[str, Any]] = None):
        self.max_text_chars = int(max_text_chars)
        self.defaults = dict(defaults or {})

    def make(self, text: Any, voice: Optional[Voice], values: dict[str, Any]) -> GenerationRequest:
        """Widget or API values by setting name -> a validated request (ValueError with a sentence)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("Please enter some text to speak.")
        too_long = text_too_long(text, self.max_text_chars)
        if too_long:
            raise ValueError(too_long)
        kwargs = table.from_widgets(values)
        for k, v in self.defaults.items():
            if kwargs.get(k) is None:
                kwargs[k] = v
        return GenerationRequest(text=text, voice=voice, **kwargs)  # checks its values

    @staticmethod
    def from_record(rec: GenerationRecord, voice: Optional[Voice], **overrides: Any) -> GenerationRequest:
        """The request a history row was made with (its stored settings, ``voice`` resolved from its reference),
        with ``overrides``."""
        stored = rec.settings
        values = {st.name: stored.get(st.name, st.default) for st in table.SETTINGS}
        values.update(overrides)
        return GenerationRequest(text=stored.get("text", rec.prompt), voice=voice, **values)


__all__ = ["MAX_TEXT_CHARS", "RequestBuilder", "text_too_long"]
