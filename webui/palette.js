// Bark Studio: insert a tag from the palette at the caret of the prompt box.
(function () {
  function promptBox() {
    return document.querySelector("#prompt textarea");
  }
  function insertAtCaret(box, tag) {
    var value = box.value;
    var start = box.selectionStart == null ? value.length : box.selectionStart;
    var end = box.selectionEnd == null ? start : box.selectionEnd;
    var before = value.slice(0, start);
    var after = value.slice(end);
    var text = tag;
    // Keep words apart: a space before a bracketed tag or note when needed, and after.
    // The same rule, in Python, is webui/tags.py (insert_at); tests check that both agree.
    if (before && !/\s$/.test(before) && tag !== "..." && tag !== "—") text = " " + text;
    if (after && !/^\s/.test(after) && !/^[.,!?;:]/.test(after)) text = text + " ";
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
})();
