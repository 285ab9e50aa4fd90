import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { Rows } from '../src/rows.js';

function batch(from, n, region = 'norte') {
  const ids = Float64Array.from({ length: n }, (_, i) => from + i);
  const totals = Float64Array.from({ length: n }, (_, i) => (from + i) * 2);
  return tableFromArrays({ id: ids, total: totals, region: Array(n).fill(region) }).batches[0];
}

const kinds = new Map([['id', 'number'], ['total', 'number'], ['region', 'category']]);

test('rows are found across batches by their index', () => {
  const rows = new Rows(kinds, 'id', 'total');
  rows.append(batch(0, 3));
  rows.append(batch(3, 5));
  rows.append(batch(8, 1));
  assert.equal(rows.count, 9);
  for (const i of [0, 2, 3, 7, 8]) assert.equal(rows.rowAt(i).id, i);
  assert.equal(rows.yColumn.length, 9);
});

test('a followed panel keeps the newest rows, whole batches, and rebuilds its series', () => {
  const rows = new Rows(kinds, 'id', 'total');
  for (let b = 0; b < 5; b++) rows.append(batch(b * 10, 10));
  rows.dropOldest(25);
  assert.equal(rows.count, 30); // whole batches: 3 of 10 rows, the fewest that keep 25
  assert.equal(rows.rowAt(0).id, 20);
  assert.equal(rows.rowAt(29).id, 49);
  assert.equal(rows.xColumn.length, 30);
  assert.equal(rows.xColumn.values[0], 20);
  rows.dropOldest(1);
  assert.equal(rows.count, 10); // never fewer than the last batch
  assert.equal(rows.rowAt(0).id, 40);
});

test('other axes are rebuilt from what is held, and missing columns are named', () => {
  const rows = new Rows(kinds, 'id', 'total');
  rows.append(batch(0, 4));
  assert.deepEqual(rows.missing(['id', 'price', '']), ['price']);
  rows.setAxes('', 'id');
  assert.equal(rows.xKind, 'number');
  assert.deepEqual([...rows.xColumn.values.slice(0, 4)], [0, 1, 2, 3]); // the row number
  assert.deepEqual([...rows.yColumn.values.slice(0, 4)], [0, 1, 2, 3]);
});

test('a category x sums y by label; a long line is down-sampled with its trend', () => {
  const rows = new Rows(kinds, 'region', 'total');
  rows.append(batch(0, 2, 'norte'));
  rows.append(batch(2, 2, 'sur'));
  const { labels, points } = rows.chartPoints('bar', 600);
  assert.deepEqual(labels, ['sur', 'norte']); // the largest sum first
  assert.deepEqual(points, [10, 2]);

  const long = new Rows(kinds, 'id', 'total');
  long.append(batch(0, 10_000));
  const line = long.chartPoints('line', 100);
  assert.ok(line.points.length <= 400, `${line.points.length} points`);
  assert.ok(line.trend && line.trend.length > 0);
  assert.equal(long.chartPoints('bar', 100).trend, null);
  assert.deepEqual(new Rows(kinds, 'id', 'total').chartPoints('line', 100).points, []);
});
