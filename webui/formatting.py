"""How the studio words and lays out its records: sizes, dates, history rows, take captions, details."""

from __future__ import annotations

import datetime as _dt
import html
from typing import Any, Optional

from bark_core import settings as table

from .checks import not_checked_bits
from .store import GenerationRecord


STAGE_LABEL = {"semantic": "Semantic tokens (text → meaning)", "coarse": "Coarse audio tokens",
               "fine": "Fine audio tokens", "decode": "Decoding audio"}
MARKDOWN_PUNCTUATION = set("\\`*_{}[]()#+-.!|~:")


def plain(text: Any) -> str:
    """User text made inert inside Markdown: HTML-escaped, Markdown punctuation written as character references.

    So a prompt or a voice name like ``![t](http://host/x.png)`` shows as exactly those characters
    and the browser fetches nothing (a backslash escape would show its backslash inside a URL).
    """
    return "".join(html.escape(ch) if ch in "&<>\"'" else f"&#{ord(ch)};" if ch in MARKDOWN_PUNCTUATION else ch
                   for ch in str(text))


def fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _fmt_when(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def history_rows(records: list[GenerationRecord]) -> list[list[Any]]:
    return [["★" if r.starred else "", _fmt_when(r.created), short(r.prompt, 60), short(r.voice_label, 28),
             len(r.takes), f"{r.seconds:.1f} s", r.seed] for r in records]


def take_info(i: int, seconds: float, seed: int, total: Optional[float],
              scores: Optional[dict[str, Any]] = None, label: Optional[str] = None) -> str:
    """A take card's caption: its name (``label``, default "Take i+1"), length, own seed, time and check badge."""
    parts = [f"**{plain(label) if label else f'Take {i + 1}'}**", f"{seconds:.1f} s", f"seed {seed}"]
    if total is not None:
        parts.append(f"made in {total:.1f} s")
    badge = score_badge(scores)
    return " · ".join(parts) + (f"  \n{badge}" if badge else "")


def score_badge(scores: Optional[dict[str, Any]]) -> str:
    """A take's check as a compact badge; the issues are its tooltip."""
    if not scores:
        return ""
    on_script, similar = scores.get("on_script"), scores.get("speaker_similarity")
    skipped = not_checked_bits(scores)  # a check that could not run says so, and why
    bits = [] if on_script is None and skipped and skipped[0].startswith("on script") else \
        ["on script " + ("not checked" if on_script is None else f"{on_script:.2f}")]
    if similar is not None:
        bits.append(f"same voice {similar:.2f}")
    bits += skipped
    passed = scores.get("passed", scores.get("details", {}).get("passed"))
    mark, cls = ("✓", "badge-pass") if passed else ("⚠", "badge-warn")
    lines = ["; ".join(scores.get("issues") or ["no issues"])]
    for k, seg in enumerate(scores.get("segments") or []):  # long-form: each segment, and drift from segment 1
        on = seg.get("on_script")
        same = seg.get("similarity_to_first")
        lines.append(f"segment {k + 1}: on script {'not checked' if on is None else f'{on:.2f}'}"
                     + ("" if same is None or k == 0 else f", same speaker as segment 1 {same:.2f}")
                     + (f", {seg['tries']} tries" if seg.get("tries", 1) > 1 else ""))
    if scores.get("segments"):
        drift = [s["similarity_to_first"] for s in scores["segments"][1:] if s.get("similarity_to_first") is not None]
        if drift:
            bits.append(f"drift min {min(drift):.2f}")
    tip = html.escape("\n".join(lines), quote=True).replace("\n", "&#10;")  # one line of Markdown
    return f"<span class='take-score {cls}' title=\"{tip}\">{mark} {html.escape(' · '.join(bits))}</span>"


def details_md(rec: GenerationRecord) -> str:
    t = rec.timings
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in t.items() if k != "total")
    lines = [
        f"**{plain(short(rec.prompt, 300))}**",
        "",
        f"Voice: {plain(rec.voice_label)} · seed **{rec.seed}** · {len(rec.takes)} take(s) · "
        f"{rec.seconds:.1f} s each · {'★ starred' if rec.starred else 'not starred'}",
        "",
        plain(table.describe(rec.settings)),
        "",
        f"Made {_fmt_when(rec.created)} in {t.get('total', 0):.1f} s ({timing})",
    ]
    if rec.warnings:
        lines += ["", "⚠ " + plain(" ".join(rec.warnings))]
    return "\n".join(lines)
