// saeta's browser client: one WebSocket per session (docs/protocol.md), several queries
// at once, each an async iterator of apache-arrow RecordBatches as they arrive; a query
// over HTTP streaming is http_query.js's.
// An ES module with no DOM inside; it runs in browsers and in Node.js (pass `WebSocket`).
//
// Why one file: the connection's socket, its reconnects and its queries' table share one
// state machine.

import {
  Close,
  SaetaError,
  closeError,
  mayReconnect,
  parseFrame,
  parseServerMessage,
  queryRequest,
  subscribeRequest,
} from './protocol.js';

import { fetchTable, HttpQuery } from './http_query.js';
import { deferred, Query } from './query.js';

export { Close, ErrorCodes, SaetaError } from './protocol.js';
export { Query } from './query.js';

let nextConnectionId = 1;

/**
 * A session's connection to the gateway. Emits `statechange` events (event.detail is the
 * new state: connecting, open, reconnecting, revoked, invalid, closed) on itself.
 */
export class Connection extends EventTarget {
  constructor(url, sessionId, options = {}) {
    super();
    this.url = streamUrl(url, sessionId);
    this.baseUrl = url;
    this.sessionId = sessionId;
    this.options = {
      reconnect: true,
      resume: true, // queries and subscriptions carry on after a lost socket or replica (docs/protocol.md, "Resuming")
      maxResumes: 20,
      maxReconnectDelayMs: 10_000,
      maxReconnectAttempts: 20,
      WebSocket: globalThis.WebSocket,
      // Large raw results over HTTP streaming (docs/js-client.md): 'auto' for a query with
      // no aggregate and no limit, or a limit of at least httpMinRows; 'never'; 'always'.
      http: 'auto',
      httpMinRows: 100_000,
      fetch: globalThis.fetch,
      ...options,
    };
    this.state = 'connecting';
    this.error = null;
    this.queries = new Map(); // id -> Query
    this.byStream = new Map(); // stream -> Query
    this.pendingLists = [];
    this.attempts = 0;
    this.prefix = `q${nextConnectionId++}-`;
    this.nextQuery = 1;
    this.ws = null;
    this._closedByUser = false;
    this._everOpened = false;
    this._suspended = new Set(); // queries waiting for a new socket to resume on
    this._http = new Map(); // id -> HttpQuery, running over HTTP streaming
    this._httpMissing = false; // the gateway answered that it has no HTTP queries
  }

  /** Opens the socket; resolves once it is open, rejects with a SaetaError if it cannot. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new this.options.WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this._everOpened = true;
        this.attempts = 0;
        for (const q of this._suspended) this._resume(q);
        this._suspended.clear();
        this._setState('open');
        resolve(this);
      };
      ws.onmessage = (event) => this._onMessage(event.data);
      ws.onclose = (event) => {
        if (!opened) {
          const error = event.code === Close.ABNORMAL
            ? new SaetaError('CONNECTION_FAILED', undefined, { closeCode: event.code })
            : closeError(event.code, event.reason);
          reject(error);
        }
        this._onClose(event.code, event.reason);
      };
      ws.onerror = () => {}; // a close event with the code always follows
    });
  }

  /** The datasets this session may read: [{name}]. */
  list() {
    const d = deferred();
    this.pendingLists.push(d);
    if (!this._send({ action: 'list' })) {
      this.pendingLists.pop();
      d.reject(this.error || new SaetaError('CLOSED'));
    }
    return d.promise;
  }

  /** Starts a query: spec = {dataset, columns?, limit?, filter?, ordered?, aggregate?, sort?, offset?}
   * (docs/protocol.md: "Aggregation", "Pages"). */
  query(spec) {
    if (!this._overHttp(spec)) return this._start(spec, false);
    const id = `${this.prefix}${this.nextQuery++}`;
    const q = new HttpQuery(this.baseUrl, this.sessionId, id, spec, {
      fetch: this.options.fetch,
      resume: this.options.resume,
      maxResumes: this.options.maxResumes,
      fallback: this.options.http === 'auto' ? (query, why) => this._runOnSocket(query, why) : null,
    });
    this._http.set(id, q);
    q.done.then(() => this._http.delete(id), () => this._http.delete(id));
    return q;
  }

  /** Whether ``spec`` goes over HTTP streaming: a large raw result (option http). */
  _overHttp(spec) {
    const mode = this.options.http;
    if (mode === 'never' || typeof this.options.fetch !== 'function' || this._httpMissing) return false;
    if (mode === 'always') return true;
    const raw = spec.aggregate == null;
    return raw && (spec.limit == null || spec.limit >= this.options.httpMinRows);
  }

  /** Runs on the socket a query HTTP could not serve (``why``, its SaetaError); a gateway
   * without HTTP queries is not asked again. */
  _runOnSocket(q, why) {
    this._http.delete(q.id);
    if (why.status !== 0 && why.code !== 'TOO_MANY_SOCKETS') this._httpMissing = true;
    q.connection = this;
    this.queries.set(q.id, q);
    if (!this._sendText(q.request)) {
      this.queries.delete(q.id);
      q._fail(this.error || new SaetaError('CLOSED'));
    }
  }

  /** Starts a subscription (a live query): spec = {dataset, columns?, filter?}. Iterate
   * it like a query; it ends when you call `unsubscribe()` on it. */
  subscribe(spec) {
    return this._start(spec, true);
  }

  /** Runs ``spec`` over HTTP instead (docs/protocol.md, "HTTP streaming"): the whole
   * result as an apache-arrow Table, for large raw results. */
  fetchTable(spec) {
    return fetchTable(this.baseUrl, this.sessionId, spec, { fetch: this.options.fetch });
  }

  /** Cancels a running query by id (a no-op when it is not running). */
  cancel(id) {
    (this.queries.get(id) ?? this._http.get(id))?.cancel();
  }

  close() {
    this._closedByUser = true;
    for (const q of [...this._http.values()]) q.cancel();
    this.ws?.close(Close.NORMAL, 'client closed');
  }

  // --- internals

  /** Sends a query (or, ``live``, a subscription) request and returns its Query. */
  _start(spec, live) {
    const id = `${this.prefix}${this.nextQuery++}`;
    const resumable = Boolean(this.options.resume);
    const text = live ? subscribeRequest(id, { ...spec, resumable }) : queryRequest(id, { ...spec, resumable });
    const q = new Query(this, id, spec, live);
    q.request = text;
    q.resumable = resumable;
    this.queries.set(id, q);
    if (!this._sendText(text)) {
      this.queries.delete(id);
      q._fail(this.error || new SaetaError('CLOSED'));
    }
    return q;
  }

  _send(obj) {
    return this._sendText(JSON.stringify(obj));
  }

  _sendText(text) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(text);
    return true;
  }

  _setState(state, error = null) {
    this.state = state;
    if (error) this.error = error;
    this.dispatchEvent(Object.assign(new Event('statechange'), { detail: state, error }));
  }

  _onMessage(data) {
    if (typeof data !== 'string') {
      const frame = parseFrame(data);
      this.byStream.get(frame.stream)?._onBytes(frame.payload);
      return;
    }
    let msg;
    try {
      msg = parseServerMessage(data);
    } catch (error) {
      this._failAll(error);
      return;
    }
    const q = msg.id != null ? this.queries.get(msg.id) : undefined;
    switch (msg.type) {
      case 'datasets':
        this.pendingLists.shift()?.resolve(msg.datasets);
        break;
      case 'info':
        if (q) {
          this.byStream.set(msg.stream, q);
          q._onInfo(msg);
        }
        break;
      case 'snapshot':
        q?._onSnapshot(msg);
        break;
      case 'checkpoint':
        q?._onCheckpoint(msg);
        break;
      case 'end':
        if (q) {
          q._onEnd(msg);
          this._forget(q);
        }
        break;
      case 'error': {
        const error = new SaetaError(msg.code, msg.message, {
          queryId: msg.id ?? null,
          retryAfterMs: msg.retry_after_ms ?? null,
        });
        if (q && msg.code === 'CONNECTOR_OFFLINE' && q.committed && q._canResume(this.options.maxResumes)) {
          // Mid-query, the replica holding the tunnel went away; the connector re-homes:
          // carry on (a query refused before any row fails at once, as ever).
          if (q.stream != null) this.byStream.delete(q.stream);
          const delay = Math.min(2_000, 100 * 2 ** q.resumes);
          setTimeout(() => this._resume(q), delay);
        } else if (q) {
          q._fail(error);
          this._forget(q);
        } else if (msg.id == null) {
          this.pendingLists.shift()?.reject(error);
        }
        break;
      }
      default:
        break; // newer gateways may add message types; v1 clients ignore them
    }
  }

  _forget(q) {
    this.queries.delete(q.id);
    if (q.stream != null) this.byStream.delete(q.stream);
  }

  _failAll(error) {
    for (const q of this.queries.values()) q._fail(error);
    this.queries.clear();
    this.byStream.clear();
    for (const d of this.pendingLists.splice(0)) d.reject(error);
  }

  /** Sends query ``q`` again from its last committed checkpoint; on a closed socket it
   * waits for the next one. */
  _resume(q) {
    if (q._finished) return;
    if (this.ws?.readyState !== 1) {
      this._suspended.add(q);
      return;
    }
    this._sendText(q._resumeText());
  }

  _onClose(code, reason) {
    const error = closeError(code, reason);
    const willReconnect = !this._closedByUser && this._everOpened && this.options.reconnect
      && mayReconnect(code) && this.attempts < this.options.maxReconnectAttempts;
    if (willReconnect) { // queries that can carry on wait for the new socket
      for (const q of this.queries.values()) {
        if (q._canResume(this.options.maxResumes)) this._suspended.add(q);
      }
      for (const q of this._suspended) this.queries.delete(q.id);
    } else { // no new socket is coming: the waiting ones fail too
      for (const q of this._suspended) this.queries.set(q.id, q);
      this._suspended.clear();
    }
    this._failAll(error);
    for (const q of this._suspended) this.queries.set(q.id, q);
    this.byStream.clear();
    if (this._closedByUser) {
      this._setState('closed');
    } else if (code === Close.REVOKED) {
      this._setState('revoked', error);
    } else if (code === Close.SESSION_INVALID) {
      this._setState('invalid', error);
    } else if (willReconnect) {
      this._reconnect(error);
    } else {
      this._setState('closed', error);
    }
  }

  _reconnect(error) {
    this.attempts += 1;
    const base = Math.min(this.options.maxReconnectDelayMs, 500 * 2 ** (this.attempts - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    this._setState('reconnecting', error);
    setTimeout(() => {
      if (this._closedByUser) return;
      this.open().catch((err) => {
        void err; // _onClose already moved the state on
      });
    }, delay);
  }
}

function streamUrl(url, sessionId) {
  if (typeof sessionId !== 'string' || sessionId.length === 0) {
    throw new SaetaError('SESSION_INVALID', 'no session id');
  }
  const base = String(url).replace(/\/+$/, '');
  return `${base}/stream/${encodeURIComponent(sessionId)}`;
}

/**
 * Connects to a gateway. `url` is its base WebSocket URL (ws://host:8081); resolves with an
 * open Connection, or rejects with a SaetaError (SESSION_INVALID, SESSION_REVOKED,
 * CONNECTION_FAILED, ...).
 */
export async function connect(url, sessionId, options = {}) {
  const connection = new Connection(url, sessionId, options);
  await connection.open();
  return connection;
}
