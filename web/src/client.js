// saeta's browser client: one WebSocket per session (docs/protocol.md), several queries
// at once, each an async iterator of apache-arrow RecordBatches as they arrive.
// An ES module with no DOM inside; it runs in browsers and in Node.js (pass `WebSocket`).

import { RecordBatchReader, Table } from 'apache-arrow';
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

export { Close, ErrorCodes, SaetaError } from './protocol.js';

/** A queue of byte views that apache-arrow's async reader pulls from. */
class ByteQueue {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.done = false;
    this.error = null;
  }

  push(view) {
    if (this.done) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: view, done: false });
    else this.items.push(view);
  }

  end(error = null) {
    if (this.done) return;
    this.done = true;
    this.error = error;
    for (const waiter of this.waiters.splice(0)) {
      if (error) waiter.reject(error);
      else waiter.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift(), done: false });
        if (this.done) {
          return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejections surface where they are awaited
  return { promise, resolve, reject };
}

/**
 * One running query. Iterate it (`for await (const batch of q)`) to get RecordBatches as
 * they arrive, or `await q.table()` for the whole Table; not both.
 */
export class Query {
  constructor(connection, id, spec, live = false) {
    this.connection = connection;
    this.id = id;
    this.spec = spec;
    this.live = live; // a subscription: the snapshot, then new rows until unsubscribe()
    this._snapshot = deferred();
    this.stream = null;
    this.stats = { batches: 0, rows: 0, bytes: 0, startedAt: Date.now(), endedAt: null };
    this.totalRecords = null;
    this.schema = null; // the apache-arrow Schema, once the stream's first message is read
    this._info = deferred();
    this._done = deferred();
    this._bytes = new ByteQueue();
    this._consumed = false;
    this._finished = false;
  }

  /** Resolves with the gateway's info message (schema, partitions, total_records). */
  get info() {
    return this._info.promise;
  }

  /** Resolves with {rows, bytes} once the query ended well; rejects with its SaetaError. */
  get done() {
    return this._done.promise;
  }

  /** A subscription's snapshot has arrived: resolves with its row count. */
  get snapshot() {
    return this._snapshot.promise;
  }

  cancel() {
    if (!this._finished) this.connection._send({ action: 'cancel', id: this.id });
  }

  /** Ends a subscription: its iterator then finishes normally and `done` resolves. */
  unsubscribe() {
    if (!this._finished) this.connection._send({ action: 'unsubscribe', id: this.id });
  }

  async *[Symbol.asyncIterator]() {
    if (this._consumed) throw new SaetaError('BAD_REQUEST', 'a query can be read only once');
    this._consumed = true;
    await this._info.promise;
    if (this.live) {
      yield* this._liveBatches();
      return;
    }
    const reader = await RecordBatchReader.from(this._bytes);
    await reader.open();
    this.schema = reader.schema; // kept: a query without rows still has one
    for await (const batch of reader) {
      this.stats.batches += 1;
      this.stats.rows += batch.numRows;
      yield batch;
    }
    await this._done.promise; // an error after the last batch still fails the query
  }

  /** A subscription's batches, decoded frame by frame: apache-arrow's stream reader holds
   * a batch back until more bytes follow it, which a live stream may not send for a long
   * time. Every frame holds whole IPC messages (docs/protocol.md), so each is read on its
   * own behind the stream's schema message. */
  async *_liveBatches() {
    let schemaBytes = null;
    for await (const view of this._bytes) {
      if (schemaBytes === null) {
        schemaBytes = view;
        this.schema = RecordBatchReader.from(schemaBytes).open().schema;
        continue;
      }
      const reader = RecordBatchReader.from([schemaBytes, view]);
      for (const batch of reader) {
        this.stats.batches += 1;
        this.stats.rows += batch.numRows;
        yield batch;
      }
    }
    await this._done.promise;
  }

  /** The whole result as one apache-arrow Table. */
  async table() {
    const batches = [];
    for await (const batch of this) batches.push(batch);
    return batches.length ? new Table(batches) : new Table(this.schema);
  }

  // --- called by the connection

  _onInfo(msg) {
    this.stream = msg.stream;
    this.totalRecords = msg.total_records ?? null;
    this._info.resolve(msg);
  }

  _onSnapshot(msg) {
    this._snapshot.resolve(msg.rows);
  }

  _onBytes(view) {
    this.stats.bytes += view.byteLength;
    this._bytes.push(view);
  }

  _onEnd(msg) {
    this._finished = true;
    this.stats.endedAt = Date.now();
    this._bytes.end();
    this._done.resolve({ rows: msg.rows, bytes: msg.bytes });
  }

  _fail(error) {
    if (this._finished) return;
    this._finished = true;
    this.stats.endedAt = Date.now();
    this._info.reject(error);
    this._snapshot.reject(error);
    this._bytes.end(error);
    this._done.reject(error);
  }
}

let nextConnectionId = 1;

/**
 * A session's connection to the gateway. Emits `statechange` events (event.detail is the
 * new state: connecting, open, reconnecting, revoked, invalid, closed) on itself.
 */
export class Connection extends EventTarget {
  constructor(url, sessionId, options = {}) {
    super();
    this.url = streamUrl(url, sessionId);
    this.options = {
      reconnect: true,
      maxReconnectDelayMs: 10_000,
      maxReconnectAttempts: 20,
      WebSocket: globalThis.WebSocket,
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

  /** Starts a query: spec = {dataset, columns?, limit?, filter?, ordered?}. */
  query(spec) {
    return this._start(spec, false);
  }

  /** Starts a subscription (a live query): spec = {dataset, columns?, filter?}. Iterate
   * it like a query; it ends when you call `unsubscribe()` on it. */
  subscribe(spec) {
    return this._start(spec, true);
  }

  /** Cancels a running query by id (a no-op when it is not running). */
  cancel(id) {
    this.queries.get(id)?.cancel();
  }

  close() {
    this._closedByUser = true;
    this.ws?.close(Close.NORMAL, 'client closed');
  }

  // --- internals

  /** Sends a query (or, ``live``, a subscription) request and returns its Query. */
  _start(spec, live) {
    const id = `${this.prefix}${this.nextQuery++}`;
    const text = live ? subscribeRequest(id, spec) : queryRequest(id, spec);
    const q = new Query(this, id, spec, live);
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
        if (q) {
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

  _onClose(code, reason) {
    const error = closeError(code, reason);
    this._failAll(error);
    if (this._closedByUser) {
      this._setState('closed');
    } else if (code === Close.REVOKED) {
      this._setState('revoked', error);
    } else if (code === Close.SESSION_INVALID) {
      this._setState('invalid', error);
    } else if (this._everOpened && this.options.reconnect && mayReconnect(code)
      && this.attempts < this.options.maxReconnectAttempts) {
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
