// The Query's decoding path, fed the way the Connection feeds it: binary frames split at
// Arrow IPC message boundaries, viewed without copying.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordBatchStreamWriter, Table, tableFromArrays, tableToIPC } from 'apache-arrow';
import { Query, SaetaError } from '../src/client.js';


const fakeConnection = { sent: [], _send(obj) { this.sent.push(obj); return true; } };

function frame(bytes) {
  const buffer = new ArrayBuffer(8 + bytes.byteLength);
  new Uint8Array(buffer, 8).set(bytes);
  return new Uint8Array(buffer, 8);
}

test('a query yields the batches of its stream and a whole table', async () => {
  const n = 10_000;
  const table = tableFromArrays({ id: Int32Array.from({ length: n }, (_, i) => i), v: Float64Array.from({ length: n }, (_, i) => i / 2) });
  const ipc = tableToIPC(table, 'stream');
  const q = new Query(fakeConnection, 'q1', { dataset: 'd' });
  q._onInfo({ type: 'info', id: 'q1', stream: 1, schema: { fields: [] }, total_records: n });
  // Any split at a message boundary works; here: the whole stream in one frame.
  q._onBytes(frame(ipc));
  q._onEnd({ type: 'end', id: 'q1', rows: n, bytes: ipc.byteLength });
  const result = await q.table();
  assert.equal(result.numRows, n);
  assert.equal(result.getChild('id').get(9_999), 9_999);
  assert.equal(result.getChild('v').get(3), 1.5);
  assert.equal(q.stats.rows, n);
  assert.deepEqual(await q.done, { rows: n, bytes: ipc.byteLength });
});

test('an error frame fails the iteration with its code', async () => {
  const q = new Query(fakeConnection, 'q2', { dataset: 'd' });
  const table = tableFromArrays({ id: Int32Array.from([1, 2, 3]) });
  const ipc = tableToIPC(table, 'stream');
  q._onInfo({ type: 'info', id: 'q2', stream: 2, schema: { fields: [] }, total_records: null });
  q._onBytes(frame(ipc.subarray(0, 8))); // part of the schema message only
  q._fail(new SaetaError('CONNECTOR_OFFLINE', 'went away'));
  await assert.rejects(q.table(), (e) => e instanceof SaetaError && e.code === 'CONNECTOR_OFFLINE');
  await assert.rejects(q.done, (e) => e.code === 'CONNECTOR_OFFLINE');
});

test('cancel sends the cancel action while running, not after', async () => {
  const conn = { sent: [], _send(obj) { this.sent.push(obj); return true; } };
  const q = new Query(conn, 'q3', { dataset: 'd' });
  q.cancel();
  assert.deepEqual(conn.sent, [{ action: 'cancel', id: 'q3' }]);
  q._onEnd({ rows: 0, bytes: 0 });
  q.cancel();
  assert.equal(conn.sent.length, 1);
});

test('a query can be read only once', async () => {
  const q = new Query(fakeConnection, 'q4', { dataset: 'd' });
  const ipc = tableToIPC(tableFromArrays({ a: Int32Array.from([1]) }), 'stream');
  q._onInfo({ stream: 4, schema: { fields: [] } });
  q._onBytes(frame(ipc));
  q._onEnd({ rows: 1, bytes: ipc.byteLength });
  await q.table();
  await assert.rejects(q.table(), (e) => e.code === 'BAD_REQUEST');
});

test('a query without rows still gives a table with the schema', async () => {
  const q = new Query(fakeConnection, 'q5', { dataset: 'd', limit: 0 });
  const full = tableFromArrays({ a: Int32Array.from([1]), b: Float64Array.from([2]) });
  const writer = new RecordBatchStreamWriter(); // schema + end-of-stream, no batch
  writer.reset(undefined, full.schema);
  writer.close();
  const bytes = writer.toUint8Array(true);
  q._onInfo({ stream: 5, schema: { fields: [] } });
  q._onBytes(frame(bytes));
  q._onEnd({ rows: 0, bytes: bytes.byteLength });
  const table = await q.table();
  assert.equal(table.numRows, 0);
  assert.deepEqual(table.schema.fields.map((f) => f.name), ['a', 'b']);
});

test('a subscription yields batches as they come, its snapshot, and ends on unsubscribe', async () => {
  const conn = { sent: [], _send(obj) { this.sent.push(obj); return true; } };
  const q = new Query(conn, 's1', { dataset: 'd' }, true);
  const schema = tableFromArrays({ id: Int32Array.from([0]) }).schema;
  const sink = new RecordBatchStreamWriter();
  sink.reset(undefined, schema);
  const parts = [];
  const chunks = (async () => { for await (const c of sink) parts.push(c); })();
  sink.write(tableFromArrays({ id: Int32Array.from([1, 2]) }).batches[0]);
  sink.write(tableFromArrays({ id: Int32Array.from([3]) }).batches[0]);
  sink.finish();
  await chunks;
  const stream = Buffer.concat(parts);
  q._onInfo({ type: 'info', id: 's1', stream: 9, schema: { fields: [] }, total_records: null });
  const seen = [];
  const reading = (async () => { for await (const b of q) seen.push(...b.getChild('id').toArray()); })();
  // Frames hold whole IPC messages: cut the writer's pieces where each message starts
  // (its 0xFFFFFFFF continuation marker, alone or with the end marker's zero length; no data
  // value here looks like one).
  const messages = [];
  for (const part of parts) {
    const marker = (part.byteLength === 4 || part.byteLength === 8) && part.subarray(0, 4).every((b) => b === 0xff);
    if (marker || !messages.length) messages.push([]);
    messages.at(-1).push(part);
  }
  assert.equal(messages.length, 4); // schema, two batches, end-of-stream
  const message = (i) => frame(Buffer.concat(messages[i]));
  q._onBytes(message(0)); // schema
  q._onBytes(message(1)); // the snapshot's batch
  q._onSnapshot({ type: 'snapshot', id: 's1', rows: 2 });
  assert.equal(await q.snapshot, 2);
  while (seen.length < 2) await new Promise((r) => setTimeout(r, 5)); // yielded with nothing after it
  q._onBytes(message(2)); // a new row
  q._onBytes(message(3)); // end-of-stream marker
  q.unsubscribe();
  assert.deepEqual(conn.sent, [{ action: 'unsubscribe', id: 's1' }]);
  q._onEnd({ type: 'end', id: 's1', rows: 3, bytes: stream.byteLength });
  await reading;
  assert.deepEqual(seen, [1, 2, 3]);
  q.unsubscribe();
  assert.equal(conn.sent.length, 1);
});

// The IPC messages of a stream of `batches` tables (same schema): [schema, ...batches, eos].
function messages(parts) {
  const schemaOnly = new RecordBatchStreamWriter();
  schemaOnly.reset(undefined, parts[0].schema);
  schemaOnly.close();
  const schema = schemaOnly.toUint8Array(true).subarray(0, -8);
  const out = [schema];
  let offset = schema.byteLength;
  const all = tableToIPC(new Table(parts.flatMap((t) => t.batches)), 'stream');
  for (let i = 1; i <= parts.length; i += 1) {
    const upTo = tableToIPC(new Table(parts.slice(0, i).flatMap((t) => t.batches)), 'stream');
    out.push(all.subarray(offset, upTo.byteLength - 8));
    offset = upTo.byteLength - 8;
  }
  out.push(all.subarray(all.byteLength - 8));
  return out;
}

test('a resumed query hands the reader each row once: groups held until whole, the new schema skipped', async () => {
  const parts = [0, 1, 2].map((k) => tableFromArrays({ id: Int32Array.from({ length: 100 }, (_, i) => k * 100 + i) }));
  const [schema, m0, m1, m2, eos] = messages(parts);
  const q = new Query(fakeConnection, 'q9', { dataset: 'd' });
  q.resumable = true;
  q.request = JSON.stringify({ action: 'query', id: 'q9', dataset: 'd', resumable: true });
  q._onInfo({ type: 'info', id: 'q9', stream: 1, resumable: true });
  q._onBytes(frame(schema));
  q._onCheckpoint({ rows: 100, frames: 1, token: 't1' });
  q._onBytes(frame(m0));
  q._onCheckpoint({ rows: 300, frames: 2, token: 't2' });
  q._onBytes(frame(m1)); // the socket drops before the group's second frame
  assert.deepEqual(q.committed, { rows: 100, token: 't1' });
  assert.equal(q._canResume(20), true);
  const again = JSON.parse(q._resumeText());
  assert.deepEqual(again.resume, { token: 't1', rows: 100 });
  q._onInfo({ type: 'info', id: 'q9', stream: 2, resumable: true, resumed_rows: 100 });
  q._onBytes(frame(schema)); // skipped: the reader has it
  q._onCheckpoint({ rows: 200, frames: 1, token: 't3' });
  q._onBytes(frame(m1));
  q._onCheckpoint({ rows: 300, frames: 1, token: 't4' });
  q._onBytes(frame(m2));
  q._onBytes(frame(eos));
  q._onEnd({ type: 'end', id: 'q9', rows: 300, bytes: 0 });
  const table = await q.table();
  assert.deepEqual([...table.getChild('id')], Array.from({ length: 300 }, (_, i) => i));
});

test('a query that is not resumable, or got rows no checkpoint covers, cannot resume', () => {
  const q = new Query(fakeConnection, 'q10', { dataset: 'd' });
  assert.equal(q._canResume(20), false);
  q.resumable = true;
  assert.equal(q._canResume(20), true); // nothing came yet: it starts again
  q._onInfo({ stream: 3 });
  q._onBytes(frame(new Uint8Array(8)));
  q._onBytes(frame(new Uint8Array(8))); // data without a checkpoint
  assert.equal(q._canResume(20), false);
});

test('a subscription whose checkpoint has no token cannot resume until one that has', () => {
  const parts = [0, 1].map((k) => tableFromArrays({ id: Int32Array.from({ length: 10 }, (_, i) => k * 10 + i) }));
  const [schema, m0, m1] = messages(parts);
  const q = new Query(fakeConnection, 's9', { dataset: 'd' }, true);
  q.resumable = true;
  q.request = JSON.stringify({ action: 'subscribe', id: 's9', dataset: 'd', resumable: true });
  q._onInfo({ type: 'info', id: 's9', stream: 1, resumable: true });
  q._onBytes(frame(schema));
  q._onCheckpoint({ rows: 10, frames: 1, token: null }); // a database's snapshot: not readable again
  q._onBytes(frame(m0));
  assert.equal(q.committed, null);
  assert.equal(q._canResume(20), false);
  q._onCheckpoint({ rows: 20, frames: 1, token: 't2' });
  q._onBytes(frame(m1));
  assert.deepEqual(q.committed, { rows: 20, token: 't2' });
  assert.equal(q._canResume(20), true);
  assert.deepEqual(JSON.parse(q._resumeText()).resume, { token: 't2', rows: 20 });
});
