import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordBatchStreamWriter, tableFromArrays, tableToIPC } from 'apache-arrow';
import { Connection } from '../src/client.js';
import { HttpQuery, queryUrl, splitFrames } from '../src/http_query.js';

function frame(kind, bytes) {
  const out = new Uint8Array(8 + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, bytes.length, true);
  view.setUint32(4, kind, true);
  out.set(bytes, 8);
  return out;
}

test('frames are split whatever the chunks they arrive in', () => {
  const text = new TextEncoder().encode('{"type":"info"}');
  const body = new Uint8Array([...frame(1, text), ...frame(2, new Uint8Array(16).fill(7)), ...frame(1, text)]);
  for (const cut of [1, 7, 8, 9, 23, body.length - 1]) {
    const seen = [];
    let rest = splitFrames(body.subarray(0, cut), (k, b) => seen.push([k, b.length]));
    const joined = new Uint8Array(rest.length + body.length - cut);
    joined.set(rest);
    joined.set(body.subarray(cut), rest.length);
    rest = splitFrames(joined, (k, b) => seen.push([k, b.length]));
    assert.deepEqual(seen, [[1, text.length], [2, 16], [1, text.length]], `cut at ${cut}`);
    assert.equal(rest.length, 0);
  }
});

test('the query URL is the gateway base URL over http', () => {
  assert.equal(queryUrl('ws://h:8081/'), 'http://h:8081/query');
  assert.equal(queryUrl('wss://h'), 'https://h/query');
});

// --- HttpQuery: a Query fed from a fetch() body (a fake fetch: no server here)

function ipcParts(tables) {
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, tables[0].schema);
  writer.close();
  const schemaOnly = writer.toUint8Array(true);
  const schema = schemaOnly.subarray(0, schemaOnly.length - 8);
  const batches = tables.map((t) => tableToIPC(t, 'stream')).map((b) => b.subarray(schema.length, b.length - 8));
  return { schema, batches, eos: schemaOnly.subarray(schemaOnly.length - 8) };
}

const text = (msg) => frame(1, new TextEncoder().encode(JSON.stringify(msg)));
const binary = (bytes) => frame(2, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, ...bytes]));

/** A fetch that answers each call with the next of ``answers`` ({status, json} or {frames,
 * cut}), the body in chunks of ``chunk`` bytes; its calls are kept. */
function fakeFetch(answers, chunk = 13) {
  const calls = [];
  const fetcher = async (url, init) => {
    calls.push({ url, init, body: JSON.parse(init.body) });
    const answer = answers[calls.length - 1];
    if (answer.status) return { ok: false, status: answer.status, json: async () => answer.json ?? {} };
    const bytes = Uint8Array.from(answer.frames.flatMap((f) => [...f]));
    const end = answer.cut ?? bytes.length;
    let at = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (init.signal?.aborted) {
          controller.error(new Error('aborted'));
          return;
        }
        if (at >= end) {
          if (answer.cut != null) controller.error(new Error('connection reset'));
          else controller.close();
          return;
        }
        controller.enqueue(bytes.slice(at, Math.min(end, at + chunk)));
        at += chunk;
      },
    });
    return { ok: true, status: 200, body };
  };
  return { fetcher, calls };
}

const A = tableFromArrays({ id: Int32Array.from({ length: 1000 }, (_, i) => i) });
const B = tableFromArrays({ id: Int32Array.from({ length: 500 }, (_, i) => 1000 + i) });
const info = { type: 'info', id: 'h1', stream: 1, schema: { fields: [{ name: 'id', type: 'int32' }] }, partitions: 1, total_records: 1500 };

test('an HTTP query yields its batches and its table whatever the chunks', async () => {
  const { schema, batches, eos } = ipcParts([A, B]);
  const frames = [text(info), binary(schema), binary(batches[0]), binary(batches[1]), binary(eos), text({ type: 'end', id: 'h1', rows: 1500, bytes: 1 })];
  for (const chunk of [5, 64, 100_000]) {
    const { fetcher, calls } = fakeFetch([{ frames }], chunk);
    const q = new HttpQuery('ws://gw:8081', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher });
    assert.equal((await q.info).total_records, 1500);
    const table = await q.table();
    assert.equal(table.numRows, 1500, `chunks of ${chunk}`);
    assert.deepEqual([table.getChild('id').get(0), table.getChild('id').get(1499)], [0, 1499]);
    assert.equal(q.stats.rows, 1500);
    assert.equal(calls[0].url, 'http://gw:8081/query');
    assert.equal(calls[0].init.headers.authorization, 'Bearer sid');
    assert.equal(calls[0].body.resumable, true);
  }
});

test('an HTTP query fails with its error frame, or its refusal, and never falls back for them', async () => {
  const failed = fakeFetch([{ frames: [text({ type: 'error', id: 'h1', code: 'DATASET_NOT_FOUND', message: 'no' })] }]);
  let fellBack = false;
  const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'x' }, { fetch: failed.fetcher, fallback: () => { fellBack = true; } });
  await assert.rejects(q.table(), (e) => e.code === 'DATASET_NOT_FOUND');
  const refused = fakeFetch([{ status: 401, json: { code: 'UNAUTHORIZED', message: 'no session' } }]);
  const r = new HttpQuery('ws://gw', 'sid', 'h2', { dataset: 'x' }, { fetch: refused.fetcher, fallback: () => { fellBack = true; } });
  await assert.rejects(r.done, (e) => e.code === 'UNAUTHORIZED');
  assert.equal(fellBack, false);
});

test('a gateway without HTTP queries hands the query to the socket', async () => {
  for (const status of [404, 405]) {
    const { fetcher } = fakeFetch([{ status }]);
    let handed = null;
    const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher, fallback: (query, why) => { handed = [query, why.status]; } });
    await q._ran;
    assert.deepEqual(handed, [q, status]);
    assert.equal(q.transport, 'socket');
  }
});

test('a body cut after a checkpoint carries on from it in a new request, each row once', async () => {
  const { schema, batches, eos } = ipcParts([A, B]);
  const first = [text(info), binary(schema), text({ type: 'checkpoint', id: 'h1', rows: 1000, frames: 1, token: 'T1' }), binary(batches[0])];
  const cutAt = first.reduce((n, f) => n + f.length, 0) + 20; // inside the next frame
  const second = [text({ ...info, resumed_rows: 1000 }), binary(schema), binary(batches[1]), binary(eos), text({ type: 'end', id: 'h1', rows: 500, bytes: 1 })];
  const { fetcher, calls } = fakeFetch([{ frames: [...first, binary(batches[1])], cut: cutAt }, { frames: second }]);
  const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher });
  const table = await q.table();
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].body.resume, { token: 'T1', rows: 1000 });
  assert.equal(table.numRows, 1500);
  assert.deepEqual(Array.from(table.getChild('id').toArray()), Array.from({ length: 1500 }, (_, i) => i));
  assert.equal(q.resumes, 1);
});

test('a body cut after rows no checkpoint covers fails the query with CONNECTION_LOST', async () => {
  const { schema, batches } = ipcParts([A, B]);
  const frames = [text(info), binary(schema), binary(batches[0]), binary(batches[1])];
  const { fetcher, calls } = fakeFetch([{ frames, cut: frames[0].length + frames[1].length + frames[2].length + 3 }]);
  const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher });
  await assert.rejects(q.done, (e) => e.code === 'CONNECTION_LOST');
  assert.equal(calls.length, 1);
});

test('cancel aborts the request and fails the query with CANCELLED', async () => {
  const { schema, batches } = ipcParts([A]);
  const { fetcher, calls } = fakeFetch([{ frames: [text(info), binary(schema), binary(batches[0])], cut: 10_000_000 }], 8);
  const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher });
  await q.info;
  q.cancel();
  await assert.rejects(q.done, (e) => e.code === 'CANCELLED');
  assert.equal(calls[0].init.signal.aborted, true);
});

test('the connection sends large raw results over HTTP, the rest over the socket', () => {
  const { fetcher } = fakeFetch([]);
  const conn = new Connection('ws://gw', 'sid', { WebSocket: class {}, fetch: fetcher });
  assert.equal(conn._overHttp({ dataset: 'd' }), true);
  assert.equal(conn._overHttp({ dataset: 'd', limit: 100_000 }), true);
  assert.equal(conn._overHttp({ dataset: 'd', limit: 100 }), false); // a page
  assert.equal(conn._overHttp({ dataset: 'd', aggregate: { measures: [{ op: 'count' }] } }), false);
  assert.equal(new Connection('ws://gw', 'sid', { WebSocket: class {}, fetch: fetcher, http: 'never' })._overHttp({ dataset: 'd' }), false);
  assert.equal(new Connection('ws://gw', 'sid', { WebSocket: class {}, fetch: fetcher, http: 'always' })._overHttp({ dataset: 'd', limit: 5 }), true);
});

test('a query HTTP cannot serve runs on the socket, and the gateway is not asked over HTTP again', async () => {
  const { fetcher, calls } = fakeFetch([{ status: 404 }]);
  const sent = [];
  const conn = new Connection('ws://gw', 'sid', { WebSocket: class {}, fetch: fetcher });
  conn.ws = { readyState: 1, send: (t) => sent.push(JSON.parse(t)) };
  const q = conn.query({ dataset: 'd' });
  await q._ran;
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].action, sent[0].id, sent[0].dataset], ['query', q.id, 'd']);
  assert.equal(conn.queries.get(q.id), q);
  assert.equal(conn._overHttp({ dataset: 'd' }), false);
  assert.equal(calls.length, 1);
});

test('a gateway that drains mid-query, then refuses while it restarts, is asked again from the checkpoint', async () => {
  const { schema, batches, eos } = ipcParts([A, B]);
  const first = [text(info), binary(schema), text({ type: 'checkpoint', id: 'h1', rows: 1000, frames: 1, token: 'T1' }),
    binary(batches[0]), text({ type: 'error', id: 'h1', code: 'GATEWAY_DRAINING', message: 'shutting down' })];
  const last = [text({ ...info, resumed_rows: 1000 }), binary(schema), binary(batches[1]), binary(eos), text({ type: 'end', id: 'h1', rows: 500, bytes: 1 })];
  const { fetcher, calls } = fakeFetch([{ frames: first }, { status: 503, json: { code: 'GATEWAY_DRAINING' } }, { frames: last }]);
  const q = new HttpQuery('ws://gw', 'sid', 'h1', { dataset: 'd' }, { fetch: fetcher });
  const table = await q.table();
  assert.equal(calls.length, 3);
  assert.deepEqual([calls[1].body.resume, calls[2].body.resume], [{ token: 'T1', rows: 1000 }, { token: 'T1', rows: 1000 }]);
  assert.equal(table.numRows, 1500);
  assert.equal(table.getChild('id').get(1000), 1000);
});
