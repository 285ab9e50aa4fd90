// A panel's counters (batches, rows, bytes, elapsed, rows/s) and its progress bar, drawn
// from the stats of the run going on or the last one.

import { el } from './dom.js';
import { formatBytes, numberFormat } from './format.js';

/** Draws ``shown`` ({batches, rows, bytes, elapsedMs}) into ``panel``'s counters, its
 * root's data attributes and its progress bar (out of ``panel.totalRecords`` when known). */
export function drawCounters(panel, shown) {
  const rate = shown.elapsedMs > 0 ? Math.round(shown.rows / (shown.elapsedMs / 1000)) : 0;
  const item = (label, value, id) => el('span', {}, `${label} `, el('b', { 'data-testid': id, text: value }));
  panel.counters.replaceChildren(
    item('batches', numberFormat.format(shown.batches), 'batches'),
    item('rows', numberFormat.format(shown.rows), 'rows'),
    item('bytes', formatBytes(shown.bytes), 'bytes'),
    item('elapsed', `${(shown.elapsedMs / 1000).toFixed(2)} s`, 'elapsed'),
    item('rows/s', numberFormat.format(rate), 'rate'),
  );
  panel.root.dataset.rows = String(shown.rows);
  panel.root.dataset.batches = String(shown.batches);
  const progress = panel.progress;
  if (panel.totalRecords) {
    progress.max = panel.totalRecords;
    progress.value = Math.min(shown.rows, panel.totalRecords);
  } else if (panel.state === 'running') {
    progress.removeAttribute('value'); // indeterminate
  } else {
    progress.max = 1;
    progress.value = panel.state === 'done' || panel.state === 'following' ? 1 : 0;
  }
}
