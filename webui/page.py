"""The page being built: the studio, the Blocks, and every component a tab registers by name.

Every part of the page (each tab in ``webui.tabs``, the frame around them in ``webui.frame``, the
hidden API in ``webui.api``) has the same shape: ``layout(page)`` adds its components inside the
Blocks, under names, and ``wire(page)`` connects its handlers to them (``webui.wiring``). A part
reaches another part's components only by name through the page (``page["text"]``, or a named
group such as ``page.group("filters")``), never by importing the other part, so tabs never import tabs.
All layouts run before any wiring, so every name exists when events are connected.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import gradio as gr

from .studio import Studio
from .wiring import bind, connect

ENGINE = dict(concurrency_limit=1, concurrency_id="engine")  # engine jobs share one limit: build_demo(engine_concurrency=)
QUICK = dict(show_progress="hidden")


class Page:
    """The studio and the Blocks, plus the named components (and named groups of names) the parts add."""

    def __init__(self, studio: Studio, demo: gr.Blocks):
        self.studio = studio
        self.demo = demo
        self._parts: dict[str, Any] = {}
        self._groups: dict[str, tuple[str, ...]] = {}

    def add(self, name: str, part: Any) -> Any:
        """Register ``part`` (a component, or anything other parts wire to) as ``name``; returns it."""
        if name in self._parts or name in self._groups:
            raise KeyError(f"two parts of the page are both called {name!r}")
        self._parts[name] = part
        return part

    def __getitem__(self, name: str) -> Any:
        return self._parts[name]

    def pick(self, *names: str) -> dict[str, Any]:
        """The components called ``names``, by name (a handler's inputs or outputs)."""
        return {n: self._parts[n] for n in names}

    def define(self, group: str, names: Iterable[str]) -> None:
        """Name a set of components other parts use together (e.g. ``filters``: the voice list's filters).

        A member may name another group (even one defined later): it stands for that group's members.
        """
        if group in self._groups or group in self._parts:
            raise KeyError(f"two parts of the page are both called {group!r}")
        self._groups[group] = tuple(names)

    def group(self, *names: str) -> dict[str, Any]:
        """The components of the named groups (and of single components named beside them), by name, in order."""
        out: dict[str, Any] = {}
        for n in names:
            out.update(self.group(*self._groups[n]) if n in self._groups else {n: self._parts[n]})
        return out

    def on(self, trigger: Callable, fn: Callable, inputs: dict[str, Any], outputs: dict[str, Any], **kwargs: Any):
        """Connect handler ``fn`` (its ``studio`` bound to this page's) to ``trigger`` (``webui.wiring.connect``);
        a saving action gets the studio's quotas."""
        return connect(trigger, bind(fn, studio=self.studio), inputs, outputs, quotas=self.studio.quotas, **kwargs)


__all__ = ["ENGINE", "QUICK", "Page"]
