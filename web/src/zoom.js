// Zooming a summarised chart: a drag across the chart picks an x range, a double click
// goes back to the whole range; the panel then asks the source again for that range at
// the chart's width. Resizing the chart by more than a tenth asks again too.

const MIN_DRAG_PX = 6;

/** Calls ``onRange([lo, hi])`` (x in chart units) after a drag over ``canvas`` of
 * ``chartView``'s chart, ``onRange(null)`` on a double click. */
export function attachZoom(canvas, chartView, onRange) {
  let from = null;
  canvas.addEventListener('pointerdown', (e) => {
    from = e.offsetX;
  });
  canvas.addEventListener('pointerup', (e) => {
    const scale = chartView.chart?.scales?.x;
    const start = from;
    from = null;
    if (start == null || !scale || scale.type !== 'linear' || Math.abs(e.offsetX - start) < MIN_DRAG_PX) return;
    const a = scale.getValueForPixel(Math.min(start, e.offsetX));
    const b = scale.getValueForPixel(Math.max(start, e.offsetX));
    if (Number.isFinite(a) && Number.isFinite(b) && b > a) onRange([a, b]);
  });
  canvas.addEventListener('dblclick', () => onRange(null));
}

/** Calls ``onResize(width)`` when ``element``'s width moves by more than a tenth from
 * the width last reported (``reported()``). */
export function watchWidth(element, reported, onResize) {
  if (typeof ResizeObserver === 'undefined') return;
  let timer = null;
  new ResizeObserver(() => {
    const width = element.clientWidth;
    const last = reported();
    if (!last || Math.abs(width - last) <= last / 10) return;
    clearTimeout(timer);
    timer = setTimeout(() => onResize(width), 250);
  }).observe(element);
}
