"""What a take check could not do, and why: a take's scores say so instead of leaving a number out.

``not_checked(score, ...)`` adds ``score["not_checked"]``: ``{"same_voice": why, "on_script": why}`` for
each check that could not run (a voice was chosen but no speaker encoder is installed; a language
the aligner cannot check). The badge and ``/generate``'s scores show it.
"""

from __future__ import annotations

from typing import Any, Optional

SAME_VOICE_MISSING = "the speaker encoder (resemblyzer) is not installed"


def _reason(issues: list[str], prefix: str) -> Optional[str]:
    for issue in issues:
        if issue.startswith(prefix):
            return issue[len(prefix):].lstrip(" :") or None
    return None


def not_checked(score: dict[str, Any], language: str, has_voice: bool, checker: Any) -> dict[str, Any]:
    """``score`` (a ``TakeScore.to_dict()``) with ``not_checked`` reasons; the sentences also join its ``issues``."""
    why: dict[str, str] = {}
    issues = list(score.get("issues") or [])
    if score.get("on_script") is None:
        found = _reason(issues, "on-script not checked")
        if found and found.startswith("for "):
            found = f"only English can be checked, and this prompt is {language}"
        why["on_script"] = found or "the aligner could not check it"
    if has_voice and score.get("speaker_similarity") is None:
        missing = checker.speaker_unavailable()
        found = SAME_VOICE_MISSING if missing else _reason(issues, "speaker not checked")
        why["same_voice"] = found or "the voice's own audio holds no speech to compare with"
        if missing and not any(i.startswith("speaker not checked") for i in issues):
            issues.append(f"same voice not checked: {missing}")
    if not why:
        return score
    return {**score, "issues": issues, "not_checked": why}


def not_checked_bits(scores: dict[str, Any]) -> list[str]:
    """Badge words for the checks that could not run, e.g. "same voice: not checked (…)"."""
    why = scores.get("not_checked") or {}
    out = []
    if "on_script" in why:
        out.append(f"on script: not checked ({why['on_script']})")
    if "same_voice" in why:
        out.append(f"same voice: not checked ({why['same_voice']})")
    return out


__all__ = ["not_checked", "not_checked_bits", "SAME_VOICE_MISSING"]
