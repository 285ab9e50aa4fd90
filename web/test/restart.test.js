// When a dashboard panel runs a cut stream again by itself (web/src/restart.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RESTARTS, mayRestart } from '../src/restart.js';

test('a stream whose data changed runs again, a few times in a row at most', () => {
  const changed = { code: 'RESUME_UNAVAILABLE' };
  assert.equal(mayRestart(changed, 0, 'open'), true);
  assert.equal(mayRestart(changed, MAX_RESTARTS - 1, 'open'), true);
  assert.equal(mayRestart(changed, MAX_RESTARTS, 'open'), false);
});

test('a lost socket runs the stream again only while the connection comes back', () => {
  const lost = { code: 'CONNECTION_LOST' };
  assert.equal(mayRestart(lost, 0, 'reconnecting'), true);
  assert.equal(mayRestart(lost, 0, 'closed'), false); // no new socket is coming
  assert.equal(mayRestart({ code: 'SESSION_REVOKED' }, 0, 'reconnecting'), false);
  assert.equal(mayRestart({ code: 'QUERY_FAILED' }, 0, 'open'), false);
});
