// A query's stream over HTTP (docs/protocol.md, "HTTP streaming"): POST /query with the
// session in the Authorization header, the socket's frames in the body, each behind an
// 8-byte prefix (u32 LE length, u32 LE kind: 1 text, 2 binary). For large raw results:
// Chromium takes a fetch() body several times faster than WebSocket frames. HttpQuery is
// a Query (query.js) fed from the body instead of the socket; fetchTable the whole Table
// at once. No DOM.

import { tableFromIPC } from 'apache-arrow';
import { SaetaError, parseServerMessage, queryRequest } from './protocol.js';
import { Query } from './query.js';

const TEXT = 1;
const BINARY = 2;
const BINARY_HEADER = 8; // the binary frame's stream id and flags
const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
// Statuses of a gateway that has no HTTP streaming (before it, or a proxy in front that
// passes only the socket): the socket can still run the query.
const NO_HTTP = new Set([404, 405, 501]);
// Ends a resumable query carries on from (its last committed checkpoint, in a new
// request): the body cut, the gateway going away (draining, restarting, unreachable) or
// the replica holding the tenant's tunnel gone, the new gateway's session check not yet
// answered: what a socket's Query carries on after as a lost socket or CONNECTOR_OFFLINE.
const CARRY_ON = new Set([
  'CONNECTION_LOST', 'CONNECTION_FAILED', 'CONNECTOR_OFFLINE', 'GATEWAY_DRAINING', 'GATEWAY_UNAVAILABLE', 'CONTROL_PLANE_UNAVAILABLE',
]);

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

/** POSTs ``text`` (a query request) to the gateway; resolves with the 200 response, or
 * rejects with the refusal's SaetaError (its ``status`` set: the HTTP status). */
async function post(url, sessionId, text, fetcher, signal) {
  let response;
  try {
    response = await fetcher(queryUrl(url), {
      method: 'POST',
      headers: { authorization: `Bearer ${sessionId}`, 'content-type': 'application/json' },
      body: text,
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw new SaetaError('CANCELLED');
    throw Object.assign(new SaetaError('CONNECTION_FAILED', String(error?.message ?? error)), { status: 0 });
  }
  if (!response.ok) {
    const refusal = await response.json().catch(() => ({}));
    const error = new SaetaError(refusal.code ?? 'CONNECTION_FAILED', refusal.message, { retryAfterMs: refusal.retry_after_ms ?? null });
    throw Object.assign(error, { status: response.status });
  }
  return response;
}

/** The frames of a response body, as [kind, bytes]; rejects with CONNECTION_LOST when the
 * body is cut inside a frame or the read fails. Chunks are kept until the next frame is
 * whole and joined once, so a frame larger than the chunks costs one copy, not one per
 * chunk. */
async function* bodyFrames(response) {
  const reader = response.body.getReader();
  let chunks = [];
  let buffered = 0;
  let need = 8; // bytes that make the next frame whole (its prefix, until that is read)
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new SaetaError('CONNECTION_LOST', `the HTTP stream failed: ${error?.message ?? error}`);
      }
      if (chunk.done) break;
      chunks.push(chunk.value);
      buffered += chunk.value.length;
      if (buffered < need) continue;
      const bytes = chunks.length === 1 ? chunks[0] : join(chunks, buffered);
      const frames = [];
      const rest = splitFrames(bytes, (kind, frame) => frames.push([kind, frame]));
      chunks = rest.length ? [rest] : [];
      buffered = rest.length;
      need = rest.length >= 8 ? 8 + new DataView(rest.buffer, rest.byteOffset, 8).getUint32(0, true) : 8;
      yield* frames;
    }
  } finally {
    reader.releaseLock?.();
  }
  if (buffered) throw new SaetaError('CONNECTION_LOST', 'the HTTP stream ended inside a frame');
}

function join(chunks, size) {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Runs ``spec`` (as for Connection.query) over HTTP; resolves with the whole apache-arrow
 * Table, or rejects with the SaetaError the stream ended with. */
export async function fetchTable(url, sessionId, spec, { fetch: fetcher = globalThis.fetch } = {}) {
  const response = await post(url, sessionId, queryRequest(`h${Date.now().toString(36)}`, spec), fetcher);
  const parts = [];
  let size = 0;
  let ended = false;
  for await (const [kind, bytes] of bodyFrames(response)) {
    if (kind === BINARY) {
      parts.push(bytes.subarray(BINARY_HEADER));
      size += bytes.length - BINARY_HEADER;
    } else if (kind === TEXT) {
      const msg = parseServerMessage(new TextDecoder().decode(bytes));
      if (msg.type === 'error') throw new SaetaError(msg.code, msg.message);
      if (msg.type === 'end') ended = true;
    }
  }
  if (!ended) throw new SaetaError('CONNECTION_LOST', 'the HTTP stream ended early');
  if (size < EOS.length) return tableFromIPC(EOS);
  return tableFromIPC(join(parts, size));
}

/**
 * A query whose frames come over HTTP streaming: the same info, done, stats, iterator,
 * table() and cancel() as a socket's Query. Resumable like one (docs/protocol.md,
 * "Resuming"): a body cut, a gateway draining or gone, or a CONNECTOR_OFFLINE, after a
 * committed checkpoint (or before any row), carries on in a new request from there, after
 * 0.1 s doubling to 2 s, at most ``maxResumes`` times. ``fallback(query)``, when given, is called
 * instead of failing when the gateway cannot serve HTTP queries (no /query, a network
 * error before any answer, or the session's sockets all taken): the socket runs it.
 */
export class HttpQuery extends Query {
  constructor(url, sessionId, id, spec, { fetch: fetcher = globalThis.fetch, resume = true, maxResumes = 20, fallback = null } = {}) {
    super(null, id, spec, false);
    this.transport = 'http';
    this.resumable = Boolean(resume);
    this.request = queryRequest(id, { ...spec, resumable: this.resumable });
    this._url = url;
    this._sessionId = sessionId;
    this._fetch = fetcher;
    this._maxResumes = maxResumes;
    this._fallback = fallback;
    this._abort = new AbortController();
    this._answered = false; // a frame came: the gateway serves HTTP queries
    this._ran = this._run();
  }

  cancel() {
    if (this.transport !== 'http') {
      super.cancel();
      return;
    }
    if (this._finished) return;
    this._abort.abort();
    this._fail(new SaetaError('CANCELLED'));
  }

  unsubscribe() {
    this.cancel(); // a query, not a subscription: nothing to unsubscribe
  }

  async _run() {
    let text = this.request;
    for (;;) {
      let outcome;
      try {
        outcome = await this._attempt(text);
      } catch (error) {
        outcome = error instanceof SaetaError ? error : new SaetaError('PROTOCOL_ERROR', String(error));
      }
      if (outcome === null || this._finished) return; // ended, or cancelled
      if (!this._answered && this._fallback && fellBack(outcome)) {
        this.transport = 'socket';
        this._fallback(this, outcome);
        return;
      }
      const carryOn = CARRY_ON.has(outcome.code) && this._canResume(this._maxResumes);
      if (!carryOn) {
        this._fail(outcome);
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, Math.min(2_000, 100 * 2 ** this.resumes)); });
      if (this._finished) return;
      text = this._resumeText();
    }
  }

  /** One request: null when the query ended, else the SaetaError it stopped with. */
  async _attempt(text) {
    const response = await post(this._url, this._sessionId, text, this._fetch, this._abort.signal);
    for await (const [kind, bytes] of bodyFrames(response)) {
      if (this._finished) return null;
      this._answered = true;
      if (kind === BINARY) {
        if (bytes.length < BINARY_HEADER) throw new SaetaError('PROTOCOL_ERROR', 'binary frame shorter than its header');
        // Arrow's columns want 8-byte alignment: a payload the chunks left unaligned is copied.
        const payload = bytes.subarray(BINARY_HEADER);
        this._onBytes(payload.byteOffset % 8 ? payload.slice() : payload);
        continue;
      }
      if (kind !== TEXT) continue; // kinds a newer gateway may add
      const msg = parseServerMessage(new TextDecoder().decode(bytes));
      if (msg.type === 'info') this._onInfo(msg);
      else if (msg.type === 'checkpoint') this._onCheckpoint(msg);
      else if (msg.type === 'end') {
        this._onEnd(msg);
        return null;
      } else if (msg.type === 'error') {
        return new SaetaError(msg.code, msg.message, { queryId: msg.id ?? null, retryAfterMs: msg.retry_after_ms ?? null });
      }
    }
    return new SaetaError('CONNECTION_LOST', 'the HTTP stream ended without its end');
  }
}

/** Whether the socket may run a query HTTP could not: the gateway has no HTTP queries, or
 * could not be reached over HTTP, or every socket the session may hold is taken. */
function fellBack(error) {
  return NO_HTTP.has(error.status) || error.status === 0 || error.code === 'TOO_MANY_SOCKETS';
}
