"""Connect handlers with named inputs and outputs to Gradio events.

A handler is a plain function (or generator) of keyword arguments that returns (or yields) a
dict of output name -> value; names it leaves out are not updated. It raises ``ValueError`` with
a sentence for anything the user did wrong. ``connect`` turns that into a Gradio event: inputs
are passed by name, the dict is mapped onto components, and a ``ValueError`` becomes a warning
toast (UI events: every component stays usable) or an API error (API events). Handlers can
therefore be called and tested without building the Blocks.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
from typing import Any, Callable, Mapping, Optional

import gradio as gr

from .http_guard import owner_from_request
from .input_guard import internal_error
from .quotas import SAVING_ACTIONS, Quotas, client_address

log = logging.getLogger(__name__)

# Parameters Gradio fills in itself, recognised by name in a handler's signature.
SPECIAL = {"request": gr.Request, "progress": gr.Progress, "evt": gr.SelectData}


def toast_text(message: Any) -> str:
    """A user-facing message as toast HTML: escaped, so user text inside it stays text."""
    return html.escape(str(message), quote=False)


def connect(trigger: Callable, fn: Callable, inputs: Mapping[str, Any], outputs: Mapping[str, Any], *,
            api: bool = False, defaults: Mapping[str, Any] = {}, quotas: Optional[Quotas] = None,
            **event_kwargs: Any):
    """``trigger(fn', [inputs], [outputs], **event_kwargs)`` with ``fn`` called by input name.

    A handler parameter ``owner`` that is not an input gets the caller's owner token (its cookie;
    None without one). ``api=True`` turns a ValueError into ``gr.Error`` (the API client's error); otherwise it is a
    warning toast and no output changes. ``defaults`` are the parameters' defaults API clients see.
    A saving action (``webui.quotas.SAVING_ACTIONS``) must be given the studio's ``quotas``: it is
    rate-limited per owner and per address.
    """
    names = list(inputs)
    out_names = list(outputs)
    wanted = inspect.signature(fn).parameters
    # ``owner`` is never an input the page sends: it is the caller's bark_owner cookie (webui.http_guard)
    derive_owner = "owner" in wanted and "owner" not in inputs
    if fn.__name__ not in SAVING_ACTIONS:
        quotas = None
    elif quotas is None:
        raise ValueError(f"{fn.__name__} saves: connect it with the studio's quotas (Page.on does)")
    specials = [p for p in SPECIAL if p in wanted or (p == "request" and (derive_owner or quotas is not None))]

    def to_components(result: Any) -> Any:
        """Named results -> values in output order; an output left out is skipped (not updated)."""
        result = result or {}
        if not isinstance(result, dict):
            raise TypeError(f"{fn.__name__} must return a dict of output names")
        unknown = set(result) - set(out_names)
        if unknown:
            raise KeyError(f"{fn.__name__} returned outputs it is not wired to: {sorted(unknown)}")
        values = [result[n] if n in result else gr.skip() for n in out_names]
        return None if not values else values[0] if len(values) == 1 else tuple(values)

    def refuse(e: Exception) -> Any:
        if api:  # an API client gets the sentence as text
            raise gr.Error(str(e), print_exception=False) from None  # a user's mistake is no traceback
        gr.Warning(toast_text(e))
        return to_components({})

    def call_args(args: tuple, kwargs: dict) -> dict:
        # Gradio passes the inputs, then the special parameters, all by position
        values = dict(zip(names + specials, args))
        values.update(kwargs)
        request = values.get("request")
        if derive_owner:
            values["owner"] = owner_from_request(request)
        if "request" not in wanted:
            values.pop("request", None)
        if quotas is not None:  # refused before any work; only a save that succeeds counts (``counted``)
            quotas.check_rate(owner_from_request(request), client_address(request))
        return values

    def counted(args: tuple, kwargs: dict) -> None:
        if quotas is not None:
            request = dict(zip(names + specials, args)).get("request", kwargs.get("request"))
            quotas.count_save(owner_from_request(request), client_address(request))

    wrapper = _wrapper(fn, call_args, to_components, refuse, counted)
    _show_to_gradio(wrapper, fn, names, defaults, specials)
    return trigger(wrapper, [inputs[n] for n in names], [outputs[n] for n in out_names], **event_kwargs)


def _wrapper(fn: Callable, call_args: Callable[[tuple, dict], dict], to_components: Callable[[Any], Any],
             refuse: Callable[[Exception], Any], counted: Callable[[tuple, dict], None]) -> Callable:
    """What Gradio calls for ``fn`` (a generator for a generator): ``fn(**call_args(...))``, its results as
    components, a ValueError (or gr.Error) refused, a save ``counted`` once it succeeded, any other exception a bug."""
    if inspect.isgeneratorfunction(fn):
        def wrapper(*args, **kwargs):
            try:
                for result in fn(**call_args(args, kwargs)):
                    yield to_components(result)
                counted(args, kwargs)
            except (ValueError, gr.Error) as e:
                yield refuse(e)
            except Exception as e:  # a bug: its frames to the log, never its message (it may quote user text)
                raise internal_error(fn, e) from None
        return wrapper

    def wrapper(*args, **kwargs):
        try:
            result = to_components(fn(**call_args(args, kwargs)))
            counted(args, kwargs)
            return result
        except (ValueError, gr.Error) as e:
            return refuse(e)
        except Exception as e:
            raise internal_error(fn, e) from None
    return wrapper


def _show_to_gradio(wrapper: Callable, fn: Callable, names: list[str], defaults: Mapping[str, Any],
                    specials: list[str]) -> None:
    """``wrapper`` takes ``fn``'s name and the signature Gradio reads: the inputs (with the API's defaults),
    then the special parameters it fills in itself, type-hinted."""
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[n]) if n in defaults
              else inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    for name in specials:
        default = gr.Progress() if name == "progress" else None
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                        annotation=SPECIAL[name]))
    _rename(wrapper, fn, inspect.Signature(params))
    wrapper.__annotations__ = {name: SPECIAL[name] for name in specials}  # Gradio reads type hints


def bind(fn: Callable, **bound: Any) -> Callable:
    """``fn`` with some keyword arguments fixed (e.g. ``studio``), keeping its name and remaining signature."""
    sig = inspect.signature(fn)
    rest = [p for n, p in sig.parameters.items() if n not in bound]
    if inspect.isgeneratorfunction(fn):
        def bound_fn(**kwargs):
            yield from fn(**bound, **kwargs)
    else:
        def bound_fn(**kwargs):
            return fn(**bound, **kwargs)
    _rename(bound_fn, fn, sig.replace(parameters=rest))
    return bound_fn


def _rename(wrapper: Callable, fn: Callable, signature: inspect.Signature) -> None:
    """``wrapper`` takes ``fn``'s name and docstring (tests find events by name) and the given signature."""
    functools.update_wrapper(wrapper, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    del wrapper.__wrapped__
    wrapper.__signature__ = signature  # type: ignore[attr-defined]


__all__ = ["bind", "connect", "toast_text"]
