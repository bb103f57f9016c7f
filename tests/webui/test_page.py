"""The page's one shape: parts registered by name on a Page, tabs that never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from webui.page import Page

WEBUI = Path(__file__).resolve().parents[2] / "webui"


def _tab(module: str) -> str | None:
    """The tab a module of webui belongs to ("tabs.studio.voices" -> "studio", "tab_history" -> "history"), or None."""
    parts = module.split(".")
    if parts[0] == "tabs" and len(parts) > 1:
        return parts[1]
    return {"tab_generate": "studio", "tab_voices": "studio", "tab_clone": "studio", "tab_presets": "studio",
            "tab_history": "history", "tab_models": "models", "tab_timeline": "timeline"}.get(parts[0])


def _imports(path: Path) -> set[str]:
    """The webui modules ``path`` imports, as dotted names below webui."""
    here = path.relative_to(WEBUI).with_suffix("").parts
    package = here[:-1] if here[-1] != "__init__" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            names = [".".join((*base, node.module))] if node.module else [".".join((*base, a.name)) for a in node.names]
            out.update(n for n in names if n)
    return out


def test_no_tab_imports_another_tab():
    arrows = []
    for path in WEBUI.rglob("*.py"):
        module = ".".join(path.relative_to(WEBUI).with_suffix("").parts)
        mine = _tab(module)
        for target in _imports(path):
            theirs = _tab(target)
            if mine and theirs and mine != theirs:
                arrows.append(f"{module} -> {target}")
    assert arrows == []


def test_handler_modules_lay_nothing_out():
    """A tab's handlers (``webui.tab_*``, the ``tab_timeline`` package included) are plain functions: only its
    module in ``webui.tabs`` lays out and wires them, so no handler module imports the page, the wiring or a tab."""
    reach = []
    for path in WEBUI.rglob("*.py"):
        module = ".".join(path.relative_to(WEBUI).with_suffix("").parts)
        if module.split(".")[0].startswith("tab_"):
            reach += [f"{module} -> {t}" for t in _imports(path)
                      if t in ("page", "wiring") or t.split(".")[0] == "tabs"]
    assert reach == []


def test_page_names_are_unique_and_groups_nest():
    page = Page(studio=None, demo=None)
    a, b, c = object(), object(), object()
    page.add("a", a), page.add("b", b), page.add("c", c)
    page.define("ab", ("a", "b"))
    page.define("all", ("ab", "c"))
    assert page.group("all") == {"a": a, "b": b, "c": c}
    assert page.group("ab", "c") == page.group("all") and page.pick("c") == {"c": c}
    with pytest.raises(KeyError):
        page.add("a", object())
    with pytest.raises(KeyError):
        page.define("c", ("a",))
