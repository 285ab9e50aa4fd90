// A chart summarised where the data is (docs/protocol.md, "Aggregation"): the aggregate a
// panel asks for, sized to the chart's pixel width, and what it draws from the answer.
// Line and scatter charts of a number or time x ask for M4 per pixel column (first, min,
// max and last of y in each of `width` buckets); bars over a category ask for the sum of
// y by label; bars over a number or time, its sum per bucket. No DOM.

import { DataType } from 'apache-arrow';
import { NumberColumn, writeLabels } from './columns.js';
import { sumByLabel } from './downsample.js';

const M4 = ['first', 'min', 'max', 'last'];

/** The aggregate of a chart of ``type`` with axes ``x`` (of axis kind ``xKind``) and
 * ``y``, ``width`` pixels wide. */
export function chartAggregate({ x, y, xKind, type, width }) {
  const count = { op: 'count', as: 'saeta_rows' };
  if (xKind === 'category') {
    return { group_by: [x], measures: [count, { op: 'sum', column: y, as: 'sum' }] };
  }
  const bucket = { column: x, count: Math.max(1, Math.min(100_000, Math.round(width))) };
  if (type === 'bar') return { bucket, measures: [count, { op: 'sum', column: y, as: 'sum' }] };
  if (type === 'scatter') {
    return { bucket, measures: [count, { op: 'min', column: y, as: 'min' }, { op: 'max', column: y, as: 'max' }] };
  }
  return { bucket, measures: [count, ...M4.map((op) => ({ op, column: y, as: op }))] };
}

/** What a panel holds of an aggregate's answer: the same face as rows.js's Rows to the
 * chart (x, y, xKind, chartPoints), plus ``represented``: the source rows it stands for. */
export class Summary {
  constructor(aggregate, x, y, xKind) {
    this.aggregate = aggregate;
    this.x = x;
    this.y = y;
    this.kind = xKind;
    this.labels = [];
    this.columns = new Map();
    this.count = 0;
    this.represented = 0;
    this.batches = [];
  }

  get xKind() {
    return this.kind;
  }

  append(batch) {
    this.batches.push(batch);
    if (this.kind === 'category') writeLabels(batch.getChild(this.x), this.labels);
    for (const field of batch.schema.fields) {
      if (field.name === this.x && this.kind === 'category') continue;
      if (!this.columns.has(field.name)) this.columns.set(field.name, new NumberColumn(1024));
      this.columns.get(field.name).appendVector(batch.getChild(field.name));
    }
    const rows = this.columns.get('saeta_rows');
    for (let i = this.count; i < this.count + batch.numRows; i++) this.represented += rows.values[i];
    this.count += batch.numRows;
  }

  column(name) {
    return this.columns.get(name)?.values ?? new Float64Array(0);
  }

  /** {labels, points, trend}: what the chart draws (the answer is already sized to it). */
  chartPoints(type) {
    const n = this.count;
    if (!n) return { labels: null, points: [], trend: null };
    if (this.kind === 'category') {
      const { labels, values } = sumByLabel(this.labels, this.column('sum'), n);
      return { labels, points: values, trend: null };
    }
    const xs = this.column(this.x);
    const points = [];
    const names = this.columns.has('first') ? M4 : this.columns.has('min') ? ['min', 'max'] : ['sum'];
    const series = names.map((name) => this.column(name));
    for (let i = 0; i < n; i++) {
      let previous = NaN;
      for (const values of series) {
        const y = values[i];
        // An M4 bucket of one value draws one point, not four.
        if (Number.isNaN(y) || y === previous) continue;
        points.push({ x: xs[i], y });
        previous = y;
      }
    }
    return { labels: null, points, trend: null };
  }
}

/** A filter keeping ``x`` within [lo, hi] (chart units: epoch milliseconds for time), in
 * the form its Arrow ``type`` takes (docs/protocol.md, "Filters"). */
export function rangeFilter(x, type, lo, hi) {
  return [[x, '>=', filterValue(type, lo, Math.floor)], [x, '<=', filterValue(type, hi, Math.ceil)]];
}

function filterValue(type, value, round) {
  if (DataType.isDate(type)) return new Date(round(value / 86_400_000) * 86_400_000).toISOString().slice(0, 10);
  if (DataType.isTimestamp(type)) {
    const iso = new Date(round(value)).toISOString(); // ...Z
    return type.timezone ? iso : iso.slice(0, -1);
  }
  if (DataType.isInt(type)) return round(value);
  return value;
}
