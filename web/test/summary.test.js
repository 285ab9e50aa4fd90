import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateDay, Float64, Int64, TimestampMillisecond, tableFromArrays } from 'apache-arrow';
import { chartAggregate, rangeFilter, Summary } from '../src/summary.js';

test('a line chart asks for M4 in as many buckets as it has pixels', () => {
  const agg = chartAggregate({ x: 'fecha', y: 'total', xKind: 'time', type: 'line', width: 812.4 });
  assert.deepEqual(agg.bucket, { column: 'fecha', count: 812 });
  assert.deepEqual(agg.measures.map((m) => m.op), ['count', 'first', 'min', 'max', 'last']);
  const bars = chartAggregate({ x: 'region', y: 'total', xKind: 'category', type: 'line', width: 800 });
  assert.deepEqual(bars.group_by, ['region']);
  assert.deepEqual(bars.measures.map((m) => m.op), ['count', 'sum']);
  const dots = chartAggregate({ x: 'id', y: 'total', xKind: 'number', type: 'scatter', width: 300 });
  assert.deepEqual(dots.measures.map((m) => m.op), ['count', 'min', 'max']);
});

test('an M4 answer draws its buckets in order, one point for a bucket of one value', () => {
  const answer = tableFromArrays({
    fecha: Float64Array.from([0, 10, 20]),
    saeta_rows: Float64Array.from([4, 1, 3]),
    first: Float64Array.from([5, 7, 1]),
    min: Float64Array.from([1, 7, 0]),
    max: Float64Array.from([9, 7, 2]),
    last: Float64Array.from([2, 7, 2]),
  });
  const summary = new Summary({}, 'fecha', 'total', 'number');
  for (const batch of answer.batches) summary.append(batch);
  assert.equal(summary.represented, 8);
  const { points } = summary.chartPoints('line');
  assert.deepEqual(points.map((p) => [p.x, p.y]), [[0, 5], [0, 1], [0, 9], [0, 2], [10, 7], [20, 1], [20, 0], [20, 2]]);
});

test('bars over a category are the sums by label, the rest folded into one', () => {
  const answer = tableFromArrays({
    region: ['norte', 'sur', null],
    saeta_rows: Float64Array.from([2, 3, 1]),
    sum: Float64Array.from([10, 30, 5]),
  });
  const summary = new Summary({}, 'region', 'total', 'category');
  summary.append(answer.batches[0]);
  const { labels, points } = summary.chartPoints('bar');
  assert.deepEqual(labels, ['sur', 'norte', '(null)']);
  assert.deepEqual(points, [30, 10, 5]);
  assert.equal(summary.represented, 6);
});

test('a zoomed range is a filter in the form of the x column', () => {
  const at = Date.UTC(2024, 2, 31, 1, 2, 3, 4) + 0.6;
  assert.deepEqual(rangeFilter('t', new TimestampMillisecond(), at, at + 1000), [
    ['t', '>=', '2024-03-31T01:02:03.004'], ['t', '<=', '2024-03-31T01:02:04.005'],
  ]);
  assert.deepEqual(rangeFilter('t', new TimestampMillisecond('UTC'), at, at)[0], ['t', '>=', '2024-03-31T01:02:03.004Z']);
  assert.deepEqual(rangeFilter('d', new DateDay(), at, at + 86_400_000), [['d', '>=', '2024-03-31'], ['d', '<=', '2024-04-02']]);
  assert.deepEqual(rangeFilter('n', new Int64(), 1.5, 9.2), [['n', '>=', 1], ['n', '<=', 10]]);
  assert.deepEqual(rangeFilter('v', new Float64(), 1.5, 9.2), [['v', '>=', 1.5], ['v', '<=', 9.2]]);
});
