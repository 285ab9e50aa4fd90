// A query's stream over HTTP (docs/protocol.md, "HTTP streaming"): POST /query with the
// session in the Authorization header, the socket's frames in the body, each behind an
// 8-byte prefix (u32 LE length, u32 LE kind: 1 text, 2 binary). For large raw results:
// Chromium takes a fetch() body several times faster than WebSocket frames. No DOM.

import { tableFromIPC } from 'apache-arrow';
import { SaetaError, queryRequest } from './protocol.js';

const TEXT = 1;
const BINARY = 2;
const BINARY_HEADER = 8; // the binary frame's stream id and flags
const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** The HTTP query URL of a gateway whose base WebSocket URL is ``url`` (ws → http). */
export function queryUrl(url) {
  return `${String(url).replace(/\/+$/, '').replace(/^ws/, 'http')}/query`;
}

/** Splits a body's bytes into frames: calls ``onFrame(kind, bytes)`` for each whole one
 * and returns the bytes left over (the start of the next). */
export function splitFrames(pending, onFrame) {
  let at = 0;
  while (pending.length - at >= 8) {
    const view = new DataView(pending.buffer, pending.byteOffset + at, 8);
    const size = view.getUint32(0, true);
    if (pending.length - at - 8 < size) break;
    onFrame(view.getUint32(4, true), pending.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return pending.subarray(at);
}

/** Runs ``spec`` (as for Connection.query) over HTTP; resolves with the whole apache-arrow
 * Table, or rejects with the SaetaError the stream ended with. */
export async function fetchTable(url, sessionId, spec, { fetch: fetcher = globalThis.fetch } = {}) {
  const response = await fetcher(queryUrl(url), {
    method: 'POST',
    headers: { authorization: `Bearer ${sessionId}`, 'content-type': 'application/json' },
    body: queryRequest(`h${Date.now().toString(36)}`, spec),
    cache: 'no-store',
  });
  if (!response.ok) {
    const refusal = await response.json().catch(() => ({}));
    throw new SaetaError(refusal.code ?? 'CONNECTION_FAILED', refusal.message);
  }
  const parts = [];
  let size = 0;
  let error = null;
  let ended = false;
  let pending = new Uint8Array(0);
  const onFrame = (kind, bytes) => {
    if (kind === BINARY) {
      parts.push(bytes.slice(BINARY_HEADER)); // its own buffer: the read chunk is reused
      size += bytes.length - BINARY_HEADER;
    } else if (kind === TEXT) {
      const msg = JSON.parse(new TextDecoder().decode(bytes));
      if (msg.type === 'error') error = new SaetaError(msg.code, msg.message);
      if (msg.type === 'end') ended = true;
    }
  };
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const joined = new Uint8Array(pending.length + value.length);
    joined.set(pending);
    joined.set(value, pending.length);
    pending = splitFrames(joined, onFrame);
  }
  if (error) throw error;
  if (!ended || pending.length) throw new SaetaError('CONNECTION_LOST', 'the HTTP stream ended early');
  const stream = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    stream.set(p, at);
    at += p.length;
  }
  if (at < EOS.length) return tableFromIPC(EOS);
  return tableFromIPC(stream);
}
