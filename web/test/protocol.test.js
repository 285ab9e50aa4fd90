import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Close, closeError, mayReconnect, parseFrame, parseServerMessage, queryRequest, SaetaError } from '../src/protocol.js';

test('parseFrame gives a view over the same buffer, 8 bytes in', () => {
  const buffer = new ArrayBuffer(24);
  const view = new DataView(buffer);
  view.setUint32(0, 7, true);
  view.setUint32(4, 0, true);
  const frame = parseFrame(buffer);
  assert.equal(frame.stream, 7);
  assert.equal(frame.flags, 0);
  assert.equal(frame.payload.buffer, buffer);
  assert.equal(frame.payload.byteOffset, 8);
  assert.equal(frame.payload.byteLength, 16);
});

test('parseFrame refuses frames shorter than the header', () => {
  assert.throws(() => parseFrame(new ArrayBuffer(7)), (e) => e instanceof SaetaError && e.code === 'PROTOCOL_ERROR');
});

test('close codes map to typed errors and reconnect rules', () => {
  assert.equal(closeError(Close.REVOKED).code, 'SESSION_REVOKED');
  assert.equal(closeError(Close.SESSION_INVALID).code, 'SESSION_INVALID');
  assert.equal(closeError(Close.TRY_AGAIN_LATER).code, 'GATEWAY_UNAVAILABLE');
  assert.equal(closeError(Close.GOING_AWAY).code, 'CONNECTION_LOST');
  assert.equal(closeError(Close.TOO_BIG).code, 'BAD_REQUEST');
  assert.ok(mayReconnect(Close.GOING_AWAY));
  assert.ok(mayReconnect(Close.TRY_AGAIN_LATER));
  assert.ok(!mayReconnect(Close.REVOKED));
  assert.ok(!mayReconnect(Close.SESSION_INVALID));
  assert.ok(!mayReconnect(Close.NORMAL));
});

test('server messages must be typed JSON objects', () => {
  assert.deepEqual(parseServerMessage('{"type":"end","id":"a","rows":1,"bytes":2}').rows, 1);
  for (const bad of ['nope', '[]', 'null', '{"id":1}']) {
    assert.throws(() => parseServerMessage(bad), (e) => e.code === 'PROTOCOL_ERROR');
  }
});

test('queryRequest validates before sending', () => {
  assert.deepEqual(JSON.parse(queryRequest('q1', { dataset: 'ventas', columns: ['a'], limit: 5 })),
    { action: 'query', id: 'q1', dataset: 'ventas', columns: ['a'], limit: 5 });
  assert.throws(() => queryRequest('q', {}), (e) => e.code === 'BAD_REQUEST');
  assert.throws(() => queryRequest('q', { dataset: 'd', limit: -1 }), (e) => e.code === 'BAD_REQUEST');
  assert.throws(() => queryRequest('q', { dataset: 'd', columns: 'a' }), (e) => e.code === 'BAD_REQUEST');
  assert.throws(() => queryRequest('q', { dataset: 'd', columns: ['x'.repeat(70000)] }), (e) => e.code === 'BAD_REQUEST');
});

test('queryRequest sends filters and ordered, checked for shape', () => {
  const filter = [['total', '>', 100], ['region', 'in', ['norte', 'sur']], ['nota', 'is_null'], ['x', 'not_null', null]];
  assert.deepEqual(JSON.parse(queryRequest('q', { dataset: 'd', filter, ordered: true })), {
    action: 'query', id: 'q', dataset: 'd', ordered: true,
    filter: [['total', '>', 100], ['region', 'in', ['norte', 'sur']], ['nota', 'is_null'], ['x', 'not_null']],
  });
  assert.equal(JSON.parse(queryRequest('q', { dataset: 'd', ordered: false })).ordered, undefined);
  for (const bad of [
    'total > 100',
    [['total', 'like', 'a%']],
    [['total', '>']],
    [['total', '>', null]],
    [['total', '>', Number.NaN]],
    [['', '=', 1]],
    [['r', 'in', []]],
    [['r', 'in', 'norte']],
    [['r', 'is_null', 1]],
    Array(65).fill(['a', '=', 1]),
    Array(3).fill(['a', 'in', Array(1000).fill(1)]),
  ]) {
    assert.throws(() => queryRequest('q', { dataset: 'd', filter: bad }), (e) => e.code === 'BAD_REQUEST', JSON.stringify(bad));
  }
  assert.throws(() => queryRequest('q', { dataset: 'd', ordered: 'yes' }), (e) => e.code === 'BAD_REQUEST');
});

test('subscribeRequest: like a query, without limit or order', async () => {
  const { subscribeRequest } = await import('../src/protocol.js');
  assert.deepEqual(JSON.parse(subscribeRequest('s', { dataset: 'd', columns: ['a'], filter: [['a', '>', 1]] })), {
    action: 'subscribe', id: 's', dataset: 'd', columns: ['a'], filter: [['a', '>', 1]],
  });
  assert.throws(() => subscribeRequest('s', { dataset: 'd', limit: 1 }), (e) => e.code === 'BAD_REQUEST');
  assert.throws(() => subscribeRequest('s', { dataset: 'd', ordered: true }), (e) => e.code === 'BAD_REQUEST');
  assert.throws(() => subscribeRequest('s', { dataset: 'd', filter: [['a', '~', 1]] }), (e) => e.code === 'BAD_REQUEST');
});

test('4008: the page was too slow; reconnecting may succeed', () => {
  const e = closeError(Close.TOO_SLOW, 'client too slow');
  assert.equal(e.code, 'CLIENT_TOO_SLOW');
  assert.equal(mayReconnect(Close.TOO_SLOW), true);
});

test('4029: too many sockets for the session; not retried', () => {
  const e = closeError(Close.TOO_MANY_SOCKETS, 'at most 8 sockets per session');
  assert.equal(e.code, 'TOO_MANY_SOCKETS');
  assert.equal(e.closeCode, 4029);
  assert.equal(mayReconnect(Close.TOO_MANY_SOCKETS), false);
});

test('QUOTA_EXCEEDED is retryable and says when', () => {
  const over = new SaetaError('QUOTA_EXCEEDED', 'at most 600 queries a minute per user', { retryAfterMs: 1200 });
  assert.equal(over.retryable, true);
  assert.equal(over.retryAfterMs, 1200);
  assert.equal(new SaetaError('QUERY_FAILED', 'x').retryAfterMs, null);
  assert.equal(new SaetaError('QUOTA_EXCEEDED', 'x', { retryAfterMs: 'soon' }).retryAfterMs, null);
});
