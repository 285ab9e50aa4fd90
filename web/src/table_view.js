// A panel's table: one page of the rows held (rows.js), and the pager under it.

import { DataType } from 'apache-arrow';
import { el } from './dom.js';
import { formatCell, formatTimeCell, numberFormat } from './format.js';

export const PAGE_ROWS = 25;

/** Renders page ``pageIndex`` (clamped to the pages there are) into ``table`` and
 * ``pager``; ``turn(page)`` is called by the pager's buttons. Returns the page shown. */
/** Renders ``rows`` (an Arrow table: page ``pageIndex`` the source served, of ``total``
 * rows in all) into ``table`` and ``pager``; ``turn(page)`` for the pager's buttons. */
export function renderServedPage(table, pager, rows, pageIndex, total, turn) {
  const names = rows.schema.fields.map((f) => f.name);
  const formats = rows.schema.fields.map((f) => (DataType.isTimestamp(f.type) || DataType.isDate(f.type) ? formatTimeCell : formatCell));
  const body = [];
  for (let i = 0; i < rows.numRows; i++) {
    const row = rows.get(i);
    body.push(el('tr', {}, ...names.map((n, k) => el('td', { text: formats[k](row[n]) }))));
  }
  table.replaceChildren(
    el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { text: n })))),
    el('tbody', {}, ...body),
  );
  const start = pageIndex * PAGE_ROWS;
  const pages = Math.max(1, Math.ceil(total / PAGE_ROWS));
  const prev = el('button', { type: 'button', disabled: pageIndex === 0, onclick: () => turn(pageIndex - 1) }, '‹ Prev');
  const next = el('button', { type: 'button', disabled: pageIndex >= pages - 1, onclick: () => turn(pageIndex + 1) }, 'Next ›');
  const where = rows.numRows
    ? `rows ${numberFormat.format(start + 1)}–${numberFormat.format(start + rows.numRows)} of ${numberFormat.format(total)}`
    : 'no rows';
  pager.replaceChildren(prev, el('span', { 'data-testid': 'page', text: where }), next);
}

export function renderTable(table, pager, rows, pageIndex, turn) {
  const pages = Math.max(1, Math.ceil(rows.count / PAGE_ROWS));
  const shown = Math.min(pageIndex, pages - 1);
  const fields = rows.batches.length ? rows.batches[0].schema.fields : [];
  const names = fields.map((f) => f.name);
  const formats = fields.map((f) => (DataType.isTimestamp(f.type) || DataType.isDate(f.type) ? formatTimeCell : formatCell));
  const start = shown * PAGE_ROWS;
  const end = Math.min(rows.count, start + PAGE_ROWS);
  const body = [];
  for (let i = start; i < end; i++) {
    const row = rows.rowAt(i);
    body.push(el('tr', {}, ...names.map((n, k) => el('td', { text: formats[k](row[n]) }))));
  }
  table.replaceChildren(
    el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { text: n })))),
    el('tbody', {}, ...body),
  );
  const prev = el('button', { type: 'button', disabled: shown === 0, onclick: () => turn(shown - 1) }, '‹ Prev');
  const next = el('button', { type: 'button', disabled: shown >= pages - 1, onclick: () => turn(shown + 1) }, 'Next ›');
  const where = rows.count
    ? `rows ${numberFormat.format(start + 1)}–${numberFormat.format(end)} of ${numberFormat.format(rows.count)}`
    : 'no rows';
  pager.replaceChildren(prev, el('span', { 'data-testid': 'page', text: where }), next);
  return shown;
}
