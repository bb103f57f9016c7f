"""What this browser remembers across a reload: the generation settings, the prompt and the chosen voice.

They are kept in the browser's localStorage (key ``STORAGE_KEY``) and come back through Gradio's own
page-load event, as component values, never as DOM events sent after the page has mounted:

- ``restore_js`` is a front-end-only load event: it returns the saved setting values (checked against
  the settings table) and the prompt as the widgets' values, and opens Advanced when a value there is
  not its default. A setting the user changed before it ran (``window.barkStudioTouched``, kept by
  the page script) keeps the user's value.
- ``saved_voice_js`` hands the saved voice to the server's page-load handler, which lists and selects
  it (``voice_to_restore``) only when this owner may still use it.
- ``save_settings_js`` and ``save_voice_js`` write them back whenever they change.

The seed is never kept: it is per run, and a kept one would pin every later run to it.
"""

from __future__ import annotations

import json
from typing import Any

from bark_core import settings as table

STORAGE_KEY = "bark-studio-settings"
NOT_KEPT = ("seed",)
KEPT = [s for s in table.SETTINGS if s.widget != "none" and s.name not in NOT_KEPT]
KEPT_NAMES = [s.name for s in KEPT]


def _spec(s: table.Setting) -> dict[str, Any]:
    """What the page needs to accept a saved value of ``s``: its kind, range, "off" value and default."""
    low = min(v for v in (s.minimum, s.off) if v is not None) if s.minimum is not None else None
    high = max(v for v in (s.maximum, s.off) if v is not None) if s.maximum is not None else None
    return {"kind": "bool" if s.kind is bool else "int" if s.kind is int else "float", "min": low, "max": high,
            "label": s.label, "default": s.ui_default, "advanced": s.section == "advanced"}


_READ = f"""
  var KEY = {json.dumps(STORAGE_KEY)};
  function readSaved() {{
    try {{
      var data = JSON.parse(localStorage.getItem(KEY) || "{{}}");
      return data && typeof data === "object" && !Array.isArray(data) ? data : {{}};
    }} catch (err) {{ return {{}}; }}
  }}
  function writeSaved(data) {{
    try {{ localStorage.setItem(KEY, JSON.stringify(data)); }} catch (err) {{ /* full or disabled */ }}
  }}"""


def restore_js() -> str:
    """Front-end load event: inputs ``KEPT_NAMES + ["text"]``, outputs the same plus the Advanced accordion."""
    specs = {s.name: _spec(s) for s in KEPT}
    return f"""(...current) => {{{_READ}
  var NAMES = {json.dumps(KEPT_NAMES)};
  var SPECS = {json.dumps(specs)};
  function accepted(spec, value) {{  // the saved value if the settings table allows it, else undefined
    if (spec.kind === "bool") return typeof value === "boolean" ? value : undefined;
    var n = typeof value === "number" ? value : (typeof value === "string" && value.trim() ? Number(value) : NaN);
    if (!isFinite(n) || n < spec.min || n > spec.max) return undefined;
    if (spec.kind === "int" && Math.floor(n) !== n) return undefined;
    return n;
  }}
  var data = readSaved();
  var saved = data.settings && typeof data.settings === "object" ? data.settings : {{}};
  if (!data.settings && data.values && typeof data.values === "object") {{  // saved by label (before 0.3)
    NAMES.forEach(function (name) {{
      if (SPECS[name].label in data.values) saved[name] = data.values[SPECS[name].label];
    }});
  }}
  var touched = window.barkStudioTouched || {{}};
  var out = [], openAdvanced = false;
  NAMES.forEach(function (name, i) {{
    var value = touched[name.replace(/_/g, "-")] ? undefined : accepted(SPECS[name], saved[name]);
    out.push(value === undefined || value === current[i] ? undefined : value);
    var shown = value === undefined ? current[i] : value;
    if (SPECS[name].advanced && shown !== SPECS[name].default) openAdvanced = true;
  }});
  var prompt = typeof data.prompt === "string" && !touched.prompt && !current[NAMES.length] ? data.prompt : undefined;
  out.push(prompt);
  out.push(openAdvanced ? {{__type__: "update", open: true}} : undefined);
  data.settings = {{}};  // kept as shown now, so a value the user set before this ran is kept too
  NAMES.forEach(function (name, i) {{ data.settings[name] = out[i] === undefined ? current[i] : out[i]; }});
  if (prompt === undefined && typeof current[NAMES.length] === "string") data.prompt = current[NAMES.length];
  delete data.values;
  writeSaved(data);
  window.barkStudioRestored = true;
  return out;
}}"""


def save_settings_js() -> str:
    """Front-end change event: inputs ``KEPT_NAMES + ["text"]``; keeps them once the restore has run."""
    return f"""(...values) => {{{_READ}
  if (!window.barkStudioRestored) return [];
  var NAMES = {json.dumps(KEPT_NAMES)};
  var data = readSaved();
  data.settings = {{}};
  NAMES.forEach(function (name, i) {{ if (values[i] !== null && values[i] !== undefined) data.settings[name] = values[i]; }});
  data.prompt = typeof values[NAMES.length] === "string" ? values[NAMES.length] : "";
  delete data.values;
  writeSaved(data);
  return [];
}}"""


def save_voice_js() -> str:
    """Front-end change event of the voice list: keeps the chosen voice (a list refresh that hides it does not)."""
    return f"""(voice) => {{{_READ}
  if (voice === null || voice === undefined || !window.barkStudioRestored) return [];
  var data = readSaved();
  data.voice = voice;
  writeSaved(data);
  return [];
}}"""


def saved_voice_js() -> str:
    """Front-end part of the server's load event: its one input becomes the saved voice reference."""
    return f"""() => {{{_READ}
  var voice = readSaved().voice;
  return [typeof voice === "string" ? voice.slice(0, 200) : ""];
}}"""


__all__ = ["KEPT_NAMES", "STORAGE_KEY", "restore_js", "save_settings_js", "save_voice_js", "saved_voice_js"]
