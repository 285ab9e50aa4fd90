// Text the dashboard shows: numbers, sizes, times and cells, and the line for an error.

import { ErrorCodes, SaetaError } from './client.js';

export const numberFormat = new Intl.NumberFormat('en-US');
const timeFormat = new Intl.DateTimeFormat('sv-SE', {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  timeZone: 'UTC',
});

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatCell(value) {
  if (value == null) return '∅';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return String(value); // numbers: the shortest text that reads back as the same value
}

export function formatTimeCell(value) {
  if (value == null) return '∅';
  const ms = Number(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(value);
}

export function formatTime(ms) {
  return Number.isFinite(ms) ? timeFormat.format(new Date(ms)) : '';
}

/** Message for an error, by its stable code; the gateway's own words added after. */
export function describeError(error) {
  if (!(error instanceof SaetaError)) return `Unexpected error: ${error?.message ?? error}`;
  const base = ErrorCodes[error.code] ?? error.code;
  const detail = error.message && error.message !== base ? ` (${error.message})` : '';
  return `${error.code}: ${base}${detail}`;
}
