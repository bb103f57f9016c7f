"""Refusals are sentences and no user-supplied value reaches the log, Gradio's own checks included.

Gradio checks an event's inputs before our handlers see them (a number's bounds and precision, a
dropdown's choices, an uploaded file's path and data model). When one fails, Gradio prints a
traceback that quotes the value (``Value: <the user's text> is not in the list of choices``) and the
caller gets either that message or, for an unexpected exception, "The upstream Gradio app has raised
an exception". :func:`guard_inputs` rewords every such failure as a sentence naming the input (its API
parameter or label), never its value, and prints nothing. :func:`internal_error` does the same for an
exception a handler did not expect: the log gets where it happened (frames, no message), the caller a
sentence.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from typing import Any, Callable

import gradio as gr

log = logging.getLogger(__name__)

_FILES = (gr.File, gr.Audio, gr.Image, gr.Video, gr.UploadButton)
_CHOICES = (gr.Dropdown, gr.Radio, gr.CheckboxGroup)


def guard_inputs(demo: gr.Blocks) -> None:
    """Reword every failure of Gradio's own input checks on ``demo`` as a sentence that is not logged."""
    original = demo.preprocess_data

    async def preprocess_data(block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except Exception as e:
            name, sentence = refusal(block_fn, inputs, state)
            log.info("refused an input of %s (%s: %s)", getattr(block_fn, "name", "?"), name, type(e).__name__)
            raise gr.Error(sentence, print_exception=False) from None

    demo.preprocess_data = preprocess_data  # type: ignore[method-assign]


def refusal(block_fn: Any, inputs: list[Any], state: Any = None) -> tuple[str, str]:
    """(the input's name, a sentence) for the first input of ``block_fn`` Gradio would refuse."""
    blocks = list(getattr(block_fn, "inputs", []) or [])
    names = _input_names(block_fn, blocks)
    candidates = []
    for i, block in enumerate(blocks):
        if state is not None:
            try:
                block = state[block._id] if block._id in state else block
            except Exception:
                pass
        value = inputs[i] if i < len(inputs or []) else None
        if isinstance(block, (gr.Number, gr.Slider, *_CHOICES, gr.Checkbox, gr.Textbox)):
            try:
                block.preprocess(value)  # pure for these kinds; Gradio's own check
                if isinstance(block, gr.Number) and isinstance(value, str):
                    raise TypeError
            except Exception:
                return names[i], sentence(block, names[i])
        elif isinstance(block, _FILES):
            candidates.append((names[i], sentence(block, names[i])))
    if candidates:
        return candidates[0]
    return "?", "One of the values sent is not in the form this action takes; reload the page and try again."


def sentence(block: Any, name: str) -> str:
    """What an input of this kind takes, for the refusal of a bad value (never quoting it)."""
    if isinstance(block, (gr.Number, gr.Slider)):
        low, high = getattr(block, "minimum", None), getattr(block, "maximum", None)
        kind = "a whole number" if getattr(block, "precision", None) == 0 else "a number"
        span = f" from {low:g} to {high:g}" if low is not None and high is not None else \
            f" of at least {low:g}" if low is not None else f" of at most {high:g}" if high is not None else ""
        return f"{name} must be {kind}{span}."
    if isinstance(block, _CHOICES):
        return f"{name}: that is not one of the choices offered; pick one from the list."
    if isinstance(block, gr.Checkbox):
        return f"{name} must be true or false."
    if isinstance(block, _FILES):
        return f"{name}: that file cannot be used; upload it to this studio first (gradio_client does this itself)."
    return f"{name}: that value cannot be read."


def _input_names(block_fn: Any, blocks: list[Any]) -> list[str]:
    """Each input's API parameter name (documented endpoints) or label, capitalised for a sentence."""
    params: list[str] = []
    if getattr(block_fn, "api_name", None) and getattr(block_fn, "fn", None) is not None:
        try:
            params = list(inspect.signature(block_fn.fn).parameters)
        except (TypeError, ValueError):
            params = []
    out = []
    for i, block in enumerate(blocks):
        label = getattr(block, "label", None)
        if getattr(block_fn, "api_visibility", "public") != "private" and i < len(params):
            out.append(f"The parameter {params[i]}")
        elif isinstance(label, str) and label.strip():
            out.append(f"“{label.strip()}”")
        else:
            out.append("A value")
    return out


def internal_error(fn: Callable, e: BaseException) -> gr.Error:
    """An exception a handler did not expect: its frames to the log (no message: it may hold user text) and
    a sentence for the caller."""
    frames = "".join(traceback.format_tb(e.__traceback__)) if e.__traceback__ is not None else ""
    log.error("%s failed (%s); where:\n%s", getattr(fn, "__name__", "an event"), type(e).__name__, frames.rstrip())
    return gr.Error(f"Something went wrong on the server ({type(e).__name__}); the server log has the details. "
                    "Try again, or reload the page.", print_exception=False)

