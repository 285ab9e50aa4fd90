import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketMeans, gridSample, m4, sumByLabel } from '../src/downsample.js';

function series(n, f) {
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = i;
    ys[i] = f(i);
  }
  return [xs, ys];
}

test('m4 keeps every extreme of a million rows in at most 4 points per bucket', () => {
  const n = 1_000_000;
  const [xs, ys] = series(n, (i) => Math.sin(i / 1000) + (i === 123_457 ? 50 : 0) - (i === 876_543 ? 50 : 0));
  const points = m4(xs, ys, n, 800);
  assert.ok(points.length <= 800 * 4, `${points.length} points`);
  const top = Math.max(...points.map((p) => p.y));
  const bottom = Math.min(...points.map((p) => p.y));
  assert.equal(top, ys[123_457]);
  assert.equal(bottom, ys[876_543]);
  for (let i = 1; i < points.length; i++) assert.ok(points[i].x > points[i - 1].x, 'row order kept');
});

test('m4 returns small inputs whole and skips NaN', () => {
  const xs = Float64Array.from([0, 1, 2, 3]);
  const ys = Float64Array.from([5, NaN, 7, 8]);
  assert.deepEqual(m4(xs, ys, 4, 100), [{ x: 0, y: 5 }, { x: 2, y: 7 }, { x: 3, y: 8 }]);
  assert.deepEqual(m4(xs, ys, 0, 100), []);
});

test('gridSample gives at most one point per cell and keeps the range', () => {
  const n = 200_000;
  const [xs, ys] = series(n, (i) => (i * 7919) % 1000);
  const points = gridSample(xs, ys, n, 100, 50);
  assert.ok(points.length <= 100 * 50);
  assert.ok(points.some((p) => p.x === 0));
  assert.ok(points.length > 100);
});

test('sumByLabel sums per label, largest first, the rest folded', () => {
  const labels = ['a', 'b', 'a', 'c', null];
  const ys = Float64Array.from([1, 5, 2, 1, 4]);
  assert.deepEqual(sumByLabel(labels, ys, 5, 2), { labels: ['b', '(null)', '(other)'], values: [5, 4, 4] });
});

test('bucketMeans averages runs of rows', () => {
  const xs = Float64Array.from([0, 1, 2, 3, 4, 5]);
  const ys = Float64Array.from([1, 3, 5, 7, NaN, 11]);
  assert.deepEqual(bucketMeans(xs, ys, 6, 3), [{ x: 0.5, y: 2 }, { x: 2.5, y: 6 }, { x: 5, y: 11 }]);
  assert.deepEqual(bucketMeans(xs, ys, 0, 3), []);
});
