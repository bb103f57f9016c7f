// Bark Studio page script (injected through launch_options' head):
// - the tag palette inserts a tag at the caret of the prompt box, spaced;
// - Ctrl+Enter / Cmd+Enter in the prompt box presses Generate;
// - a setting the user changes before the saved ones come back after a reload is marked, so it stands
//   (the restore itself is Gradio's page-load event: webui/remember.py).
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

  // ---- what the user changed before the saved settings came back ---------------------------------
  // The saved settings, prompt and voice come back through the page-load event (webui/remember.py),
  // as component values. A box the user changed before that ran keeps the user's value: it is marked
  // here by the ids of the elements around it (a setting's id is its name with dashes, the prompt's "prompt").
  window.barkStudioTouched = window.barkStudioTouched || {};
  function touched(e) {
    if (!e.isTrusted || window.barkStudioRestored) return;
    for (var el = e.target; el && el !== document.body; el = el.parentElement) {
      if (el.id) window.barkStudioTouched[el.id] = true;
    }
  }
  document.addEventListener("input", touched, true);
  document.addEventListener("change", touched, true);
})();
