// What a panel holds of a result, without the DOM: the record batches received (the
// table pages through them), a cap for followed datasets (the oldest batches go), and the
// chart's x and y series built from them, with what the chart draws for a given width.

import { NumberColumn, writeLabels } from './columns.js';
import { bucketMeans, gridSample, m4, sumByLabel } from './downsample.js';

export class Rows {
  /** ``kinds``: axis kind by column name (columns.js axisKind); ``x``, ``y``: the axes
   * (x '' for the row number). */
  constructor(kinds = new Map(), x = '', y = '') {
    this.kinds = kinds;
    this.batches = [];
    this.offsets = [];
    this.count = 0;
    this.setAxes(x, y);
  }

  /** Rebuilds the series for other axes from the batches already held. */
  setAxes(x, y) {
    this.x = x;
    this.y = y;
    this.xColumn = new NumberColumn();
    this.yColumn = new NumberColumn();
    this.xLabels = [];
    for (const batch of this.batches) this.addSeries(batch);
  }

  /** Columns the batches held do not have (a new run is needed for them). */
  missing(columns) {
    if (!this.batches.length) return [];
    const fetched = new Set(this.batches[0].schema.fields.map((f) => f.name));
    return columns.filter((c) => c && !fetched.has(c));
  }

  append(batch) {
    this.offsets.push(this.count);
    this.batches.push(batch);
    this.addSeries(batch);
    this.count += batch.numRows;
  }

  /** Keeps about the newest ``keep`` rows (whole batches; at least the last one). */
  dropOldest(keep) {
    while (this.batches.length > 1 && this.count - this.batches[0].numRows >= keep) {
      this.count -= this.batches.shift().numRows;
    }
    this.offsets = [];
    let at = 0;
    for (const batch of this.batches) {
      this.offsets.push(at);
      at += batch.numRows;
    }
    this.setAxes(this.x, this.y);
  }

  /** Row ``index`` (0 = the oldest held), as an object by column name. */
  rowAt(index) {
    let lo = 0;
    let hi = this.offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.batches[lo].get(index - this.offsets[lo]);
  }

  addSeries(batch) {
    if (this.x && this.kinds.get(this.x) === 'category') {
      writeLabels(batch.getChild(this.x), this.xLabels);
    } else if (this.x) {
      this.xColumn.appendVector(batch.getChild(this.x));
    } else {
      this.xColumn.appendIndex(batch.numRows);
    }
    if (this.y) this.yColumn.appendVector(batch.getChild(this.y));
  }

  get xKind() {
    return this.x ? this.kinds.get(this.x) : 'number';
  }

  /** {labels, points, trend}: what a chart of ``type`` draws, ``width`` pixels wide. */
  chartPoints(type, width) {
    const n = this.yColumn.length;
    if (!n) return { labels: null, points: [], trend: null };
    if (this.xKind === 'category') {
      const { labels, values } = sumByLabel(this.xLabels, this.yColumn.values, n);
      return { labels, points: values, trend: null };
    }
    const xs = this.xColumn.values;
    const ys = this.yColumn.values;
    if (type === 'scatter') return { labels: null, points: gridSample(xs, ys, n, width, 300), trend: null };
    const points = m4(xs, ys, n, width);
    // Down-sampled lines: the envelope keeps every extreme, the mean shows the trend.
    const trend = type === 'line' && n > width * 4 ? bucketMeans(xs, ys, n, Math.ceil(width / 3)) : null;
    return { labels: null, points, trend };
  }
}
