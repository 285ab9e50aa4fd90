import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryUrl, splitFrames } from '../src/http_query.js';

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
