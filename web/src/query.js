// One query or subscription of a connection (client.js): its info, snapshot and end as
// promises, its record batches as an async iterator read from the bytes the socket hands
// it. No socket here: the connection feeds it frames.

import { RecordBatchReader, Table } from 'apache-arrow';
import { SaetaError } from './protocol.js';

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

export function deferred() {
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
    this.transport = 'socket'; // or 'http': HttpQuery (http_query.js)
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
    // Resumption (docs/protocol.md, "Resuming"): the request as first sent, checkpoints
    // waiting for their frames ([frames left, rows, token]), the last committed one, the
    // frames of a group not yet whole, and the frames handed to the reader.
    this.request = null;
    this.resumable = false;
    this.resumes = 0;
    this.committed = null;
    this._pending = [];
    this._held = [];
    this._frames = 0;
    this._skipSchema = false;
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
    if (msg.resumed_rows == null) this.totalRecords = msg.total_records ?? null;
    this._info.resolve(msg);
  }

  _onSnapshot(msg) {
    this._snapshot.resolve(msg.rows);
  }

  _onBytes(view) {
    if (this._skipSchema) { // a resumed stream's schema: the one the reader has
      this._skipSchema = false;
      return;
    }
    if (!this._pending.length) {
      this._deliver(view);
      return;
    }
    // Inside a checkpoint's group: handed on once the whole group is in, so that resuming
    // from the last committed checkpoint never repeats a row the reader has.
    this._held.push(view);
    this._pending[0][0] -= 1;
    if (this._pending[0][0] <= 0) {
      const [, rows, token] = this._pending.shift();
      // A null token: the stream cannot be resumed from here (a subscription's rows that
      // its source cannot read again), until a later checkpoint can.
      this.committed = token != null ? { rows, token } : null;
      for (const held of this._held.splice(0)) this._deliver(held);
    }
  }

  _deliver(view) {
    this._frames += 1;
    this.stats.bytes += view.byteLength;
    this._bytes.push(view);
  }

  _onCheckpoint(msg) {
    this._pending.push([msg.frames, msg.rows, msg.token]);
  }

  /** Whether the query can carry on in a new stream: resumable, and either a checkpoint
   * covers what the reader has, or nothing but the schema came yet. */
  _canResume(maxResumes) {
    if (!this.resumable || this._finished || this.resumes >= maxResumes) return false;
    return this.committed !== null || this._frames <= 1;
  }

  /** The request that carries the query on from its last committed checkpoint. */
  _resumeText() {
    this.resumes += 1;
    const msg = JSON.parse(this.request);
    if (this.committed) msg.resume = { token: this.committed.token, rows: this.committed.rows };
    this._pending = [];
    this._held = [];
    this._skipSchema = this._frames >= 1;
    this._frames = this._skipSchema ? 1 : 0;
    this.stream = null;
    return JSON.stringify(msg);
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
