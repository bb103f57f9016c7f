// Bark Studio page script (injected through launch_options' head):
// - the tag palette inserts a tag at the caret of the prompt box, spaced;
// - Ctrl+Enter / Cmd+Enter in the prompt box presses Generate;
// - the generation settings (#controls, #advanced) and the chosen voice are kept in localStorage
//   and put back after a reload.
(function () {
  "use strict";
  if (window.barkStudioPage) return; // Gradio may put the head in twice: listen once
  window.barkStudioPage = true;

  function promptBox() {
    return document.querySelector("#prompt textarea");
  }

  // ---- tag palette -------------------------------------------------------------------------
  var ATTACHED = ["...", "—"]; // pause marks written straight after a word
  var CLOSING = ".,!?;:";
  // The spacing rule, in Python, is webui/tags.py (insert_at); tests check that both agree:
  // - a space before the tag when the text before it does not end in whitespace, except for a pause
  //   mark straight after a word ("Hello..."); after punctuation it gets one ("Bark. ...", never "Bark....");
  // - a space after it when the text after it starts with neither whitespace nor closing punctuation,
  //   or when a tag ending in "." meets a "." (never four dots).
  function spaced(before, after, tag) {
    var text = tag;
    var prev = before.slice(-1);
    var next = after.charAt(0);
    var attached = ATTACHED.indexOf(tag) >= 0;
    if (before && !/\s$/.test(before) && (!attached || CLOSING.indexOf(prev) >= 0)) text = " " + text;
    if (after && !/^\s/.test(after) &&
        (CLOSING.indexOf(next) < 0 || (tag.slice(-1) === "." && next === "."))) text = text + " ";
    return text;
  }
  function insertAtCaret(box, tag) {
    var value = box.value;
    var start = box.selectionStart == null ? value.length : box.selectionStart;
    var end = box.selectionEnd == null ? start : box.selectionEnd;
    var before = value.slice(0, start);
    var after = value.slice(end);
    var text = spaced(before, after, tag);
    box.value = before + text + after;
    var caret = before.length + text.length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.focus();
  }
  document.addEventListener("mousedown", function (e) {
    // Keep the caret in the prompt box while a tag button is pressed.
    if (e.target.closest && e.target.closest("[data-bark-tag]")) e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-bark-tag]");
    if (!btn) return;
    e.preventDefault();
    var box = promptBox();
    if (box) insertAtCaret(box, btn.getAttribute("data-bark-tag"));
  });
  window.barkInsertTag = function (tag) {
    var box = promptBox();
    if (box) insertAtCaret(box, tag);
  };

  // ---- Ctrl/Cmd+Enter generates ----------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || e.isComposing) return;
    if (!(e.target.closest && e.target.closest("#prompt"))) return;
    e.preventDefault();
    var btn = document.getElementById("generate-btn");
    if (btn && !btn.disabled) btn.click();
  }, true);

  // ---- settings and voice survive a reload -------------------------------------------------------
  // Each setting is keyed by its label; a slider is set through its number box, then Gradio is told
  // with the same input/change events a user's typing sends, so the server gets the value too.
  // Advanced renders its boxes only once opened: a saved Advanced value opens it (and it stays open
  // when a value there was changed, so the user sees what is not a default).
  var STORE = "bark-studio-settings";
  var SCOPES = ["#controls", "#advanced"];
  var restored = false;
  var restoring = false;

  function load() {
    try {
      var data = JSON.parse(localStorage.getItem(STORE) || "{}");
      return data && typeof data === "object" ? data : {};
    } catch (err) {
      return {};
    }
  }
  function labelOf(input) {
    var aria = input.getAttribute("aria-label") || "";
    if (input.type === "range") return null; // the slider's number box carries it
    if (input.type === "checkbox") {
      var lab = input.closest("label");
      return lab ? lab.innerText.trim() : null;
    }
    if (input.type === "number") return aria.replace(/^number input for /, "") || null;
    return null;
  }
  function settingInputs() {
    var out = {};
    SCOPES.forEach(function (scope) {
      var root = document.querySelector(scope);
      if (!root) return;
      root.querySelectorAll("input").forEach(function (input) {
        var label = labelOf(input);
        if (label) out[label] = input;
      });
    });
    return out;
  }
  function collect() {
    var values = {};
    var inputs = settingInputs();
    Object.keys(inputs).forEach(function (label) {
      var input = inputs[label];
      if (input.closest("#seed")) return; // a seed is per run: kept, it would pin every later run to it
      values[label] = input.type === "checkbox" ? input.checked : input.value;
    });
    return values;
  }
  function save() {
    if (!restored || restoring) return;
    var data = load();
    var values = Object.assign({}, data.values || {}, collect());
    data.values = values;
    var voice = document.querySelector("#voice-gallery input[type=radio]:checked");
    if (voice) data.voice = voice.value;
    try {
      localStorage.setItem(STORE, JSON.stringify(data));
    } catch (err) { /* storage full or disabled: nothing to keep */ }
  }
  var saveTimer = null;
  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 150);
  }
  function watched(target) {
    return target && target.closest && (target.closest("#controls") || target.closest("#advanced") ||
                                         target.closest("#voice-gallery"));
  }
  // What the user changed before the saved settings were applied: theirs stand, the rest is restored.
  var touched = {};
  function touchedKey(input) {
    if (input.closest("#voice-gallery")) return "voice";
    var range = (input.getAttribute("aria-label") || "").match(/^range slider for (.*)$/);
    return range ? range[1] : labelOf(input);
  }
  function changed(e) {
    if (!watched(e.target)) return;
    if (!restored && e.isTrusted) {
      var key = touchedKey(e.target);
      if (key) touched[key] = true;
    }
    saveSoon();
  }
  document.addEventListener("input", changed, true);
  document.addEventListener("change", changed, true);
  document.addEventListener("click", function (e) {
    // What was used for a run is kept even when it came from "Reuse settings" (set without events).
    if (e.target.closest && e.target.closest("#generate-btn")) save();
  }, true);
  window.addEventListener("pagehide", save);

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }
  async function until(test, ms) {
    for (var waited = 0; waited <= ms; waited += 100) {
      var got = test();
      if (got) return got;
      await sleep(100);
    }
    return null;
  }
  function setBox(input, value) {
    if (String(input.value) === String(value)) return false;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }
  function setCheck(input, value) {
    if (input.checked === !!value) return false;
    input.click();
    return true;
  }
  function apply(values) {
    var inputs = settingInputs();
    var changed = { any: false, advanced: false };
    Object.keys(values).forEach(function (label) {
      var input = inputs[label];
      if (!input || touched[label]) return;
      var did = input.type === "checkbox" ? setCheck(input, values[label]) : setBox(input, values[label]);
      if (did) {
        changed.any = true;
        if (input.closest("#advanced")) changed.advanced = true;
      }
    });
    return changed;
  }
  function accordionButton() {
    return document.querySelector("#advanced > button.label-wrap, #advanced button.label-wrap");
  }
  async function mounted(scope, ms) { // until the inputs under scope stop appearing (1 s unchanged), at most ms
    var last = -1, since = 0;
    for (var waited = 0; waited <= ms; waited += 100) {
      var n = document.querySelectorAll(scope + " input").length;
      if (n !== last) { last = n; since = waited; }
      else if (n > 0 && waited - since >= 1000) return;
      await sleep(100);
    }
  }
  async function restoreSettings(values) {
    var missing = Object.keys(values).filter(function (l) { return !settingInputs()[l]; });
    var opened = false;
    if (missing.length) {
      var button = accordionButton();
      if (button && !button.classList.contains("open")) {
        button.click();
        opened = true;
        await mounted("#advanced", 15000); // a loaded machine mounts its rows one after another
      }
    }
    var changed = apply(values);
    // A component that has only just mounted may set its own value after ours (a loaded machine):
    // apply again until every value holds and every saved label that will come has come.
    for (var i = 0; i < 20; i++) {
      await sleep(300);
      var again = apply(values);
      changed.advanced = changed.advanced || again.advanced;
      var inputs = settingInputs();
      var all = Object.keys(values).every(function (l) { return inputs[l]; });
      if (!again.any && (all || i >= 5)) break; // a label saved by an older version may never come
    }
    if (opened && !changed.advanced) {
      var close = accordionButton();
      if (close && close.classList.contains("open")) close.click();
    }
  }
  function voiceInput(ref) {
    var esc = window.CSS && CSS.escape ? CSS.escape(ref) : ref.replace(/["\\]/g, "\\$&");
    return document.querySelector('#voice-gallery input[type=radio][value="' + esc + '"]');
  }
  function chooseDropdown(id, label) {
    var input = document.querySelector("#" + id + " input");
    if (!input || input.value === label) return false;
    input.focus();
    input.value = label;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    return true;
  }
  function gallery() {
    return Array.prototype.map.call(document.querySelectorAll("#voice-gallery input"),
                                    function (i) { return i.value; }).join("\n");
  }
  function refiltered(ref, before) { // the voice, or true once the list changed, or null while it has not
    return voiceInput(ref) || (gallery() !== before ? true : null);
  }
  async function restoreVoice(ref) {
    if (!ref || touched.voice) return;
    var found = voiceInput(ref);
    if (!found && /^preset:(?!v2\/)/.test(ref)) { // a v1 preset: show v1
      var v1 = document.querySelector('#f-version input[type=radio][value="v1"]');
      var shown = gallery();
      if (v1 && !v1.checked) {
        v1.click();
        await until(function () { return refiltered(ref, shown); }, 3000);
        found = voiceInput(ref);
      }
    }
    var language = document.querySelector("#f-language input");
    var was = language ? language.value : null;
    var listed = gallery();
    if (!found && chooseDropdown("f-language", "All")) { // another language (or a voice of one's own)
      await until(function () { return refiltered(ref, listed); }, 3000);
      found = await until(function () { return voiceInput(ref); }, 300);
      if (!found && was) chooseDropdown("f-language", was); // gone (deleted): leave the filters as they were
      if (language) language.blur();
    }
    if (found && !found.checked) found.click();
  }
  async function restore() {
    var ready = await until(function () {
      // the page load's answer (its badge), not the "processing" timer Gradio shows in the badge meanwhile
      return document.querySelector("#engine-badge .badge") && document.querySelector("#controls input") &&
             document.querySelector("#voice-gallery input");
    }, 30000);
    if (!ready) { restored = true; return; }
    // The page's load event fills the voice list: wait for more than "No voice" (briefly: there may be none).
    await until(function () { return document.querySelectorAll("#voice-gallery input").length > 1; }, 5000);
    var data = load();
    restoring = true;
    try {
      if (data.values) await restoreSettings(data.values);
      await restoreVoice(data.voice);
    } catch (err) {
      if (window.console) console.warn("Bark Studio: could not restore the saved settings", err);
    } finally {
      await sleep(200); // let the events just sent settle before saving again
      restoring = false;
      restored = true;
      if (Object.keys(touched).length) save(); // keep what the user changed meanwhile
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restore);
  else restore();
})();
