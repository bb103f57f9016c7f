// Cloning: the recording's waveform with a window that can be dragged (or resized at its right edge).
// Dragging writes the Window start / length boxes (#clone-start, #clone-seconds) as if typed; typing in
// them moves the window. The waveform is drawn by webui/tab_clone.py (waveform_html).
(function () {
  const box = (id) => document.querySelector(`#${id} input`);
  const wave = () => document.querySelector('#clone-wave .clone-wave');
  function type(input, value) {
    input.value = String(Math.round(value * 100) / 100);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }
  function place() {
    const w = wave(), start = box('clone-start'), len = box('clone-seconds');
    if (!w || !start || !len) return;
    const d = parseFloat(w.dataset.duration), s = parseFloat(start.value), l = parseFloat(len.value);
    const win = w.querySelector('.clone-window');
    if (!(d > 0) || isNaN(s) || isNaN(l)) { win.style.display = 'none'; return; }
    win.style.display = 'block';
    win.style.left = `${Math.max(0, Math.min(100, 100 * s / d))}%`;
    win.style.width = `${Math.max(0, Math.min(100 - 100 * s / d, 100 * l / d))}%`;
  }
  let drag = null;
  document.addEventListener('pointerdown', (e) => {
    const w = wave();
    if (!w || !w.contains(e.target)) return;
    const rect = w.getBoundingClientRect(), d = parseFloat(w.dataset.duration);
    const s = parseFloat(box('clone-start').value) || 0, l = parseFloat(box('clone-seconds').value) || Math.min(10, d);
    const at = d * (e.clientX - rect.left) / rect.width;
    const resize = e.target.classList.contains('clone-window-edge');
    // a press outside the window moves its start there; inside it drags the window
    drag = { rect, d, s: e.target.closest('.clone-window') ? s : Math.max(0, Math.min(at, d - l)), l, x: e.clientX, resize };
    if (!e.target.closest('.clone-window')) { type(box('clone-start'), drag.s); place(); }
    e.preventDefault();
  });
  document.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dt = drag.d * (e.clientX - drag.x) / drag.rect.width;
    if (drag.resize) type(box('clone-seconds'), Math.max(1, Math.min(drag.l + dt, drag.d - drag.s, 30)));
    else type(box('clone-start'), Math.max(0, Math.min(drag.s + dt, drag.d - drag.l)));
    place();
  });
  document.addEventListener('pointerup', () => { drag = null; });
  document.addEventListener('input', (e) => {
    if (e.target.closest && e.target.closest('#clone-start, #clone-seconds')) place();
  });
  new MutationObserver(() => { if (wave() && !wave().dataset.placed) { wave().dataset.placed = '1'; setTimeout(place, 50); } })
    .observe(document.documentElement, { childList: true, subtree: true });
})();
