// One chart panel of the dashboard: its controls, the query or subscription it runs and
// how it ends. What it holds of the result is rows.js's (rows) or summary.js's (an
// aggregate the source computed for the chart), its chart chart_view.js's, its table
// table_view.js's, its counters counters.js's; zooming zoom.js's; when a cut run starts
// again, restart.js's.
//
// Why one file: the panel's controls, its run and its table pages share one state.

import { DataType } from 'apache-arrow';
import { ChartView } from './chart_view.js';
import { axisKind } from './columns.js';
import { el, option } from './dom.js';
import { drawCounters } from './counters.js';
import { describeError } from './format.js';
import { mayRestart } from './restart.js';
import { Rows } from './rows.js';
import { chartAggregate, rangeFilter, Summary } from './summary.js';
import { PAGE_ROWS, renderServedPage, renderTable } from './table_view.js';
import { attachZoom, watchWidth } from './zoom.js';

// A followed panel keeps the newest rows only: past this many, the oldest batches go.
const MAX_FOLLOWED_ROWS = 2_000_000;
const REDRAW_MS = 200;

export class Panel {
  /** ``page``: the page's state (connection, datasets, state) and ``connectorOffline(error)``. */
  constructor(index, page) {
    this.index = index;
    this.page = page;
    this.query = null;
    this.schema = null;
    this.state = 'idle';
    this.error = null;
    this.rows = new Rows();
    this.kinds = new Map();
    this.stats = { batches: 0, rows: 0, bytes: 0, elapsedMs: 0 };
    this.pageIndex = 0;
    this.redrawTimer = null;
    this.restarts = 0;
    this.pendingRestart = false;
    this.zoom = null; // [lo, hi] of x when zoomed in
    this.arrowTypes = new Map();
    this.served = null; // the table's page query (a summarised run): {index, total}
    this.build();
  }

  build() {
    this.datasetSelect = el('select', { 'data-testid': 'dataset', onchange: () => this.loadSchema() },
      option('', '— dataset —'), ...this.page.datasets.map((d) => option(d.name)));
    // A summarised chart of another type needs another aggregate; rows are drawn anew.
    const retype = () => (this.rows instanceof Summary ? this.changeAxes() : this.redraw());
    this.chartType = el('select', { 'data-testid': 'chart-type', onchange: retype },
      option('line'), option('bar'), option('scatter'));
    this.xSelect = el('select', { 'data-testid': 'x', onchange: () => this.changeAxes() });
    this.ySelect = el('select', { 'data-testid': 'y', onchange: () => this.changeAxes() });
    this.limitInput = el('input', { type: 'number', min: '0', step: '1', placeholder: 'all rows', 'data-testid': 'limit' });
    this.followBox = el('input', { type: 'checkbox', 'data-testid': 'follow', onchange: () => this.setUsable(this.page.state === 'open') });
    this.runButton = el('button', { class: 'primary', type: 'button', 'data-testid': 'run', disabled: true, onclick: () => this.run() }, 'Run');
    this.cancelButton = el('button', { type: 'button', 'data-testid': 'cancel', disabled: true, onclick: () => this.stop() }, 'Cancel');
    this.columnsBox = el('div', { class: 'columns', 'data-testid': 'columns' });
    this.counters = el('div', { class: 'counters', 'data-testid': 'counters' });
    this.progress = el('progress', { max: '1', value: '0', 'data-testid': 'progress' });
    this.message = el('div', { class: 'message', 'data-testid': 'message', hidden: true });
    this.canvas = el('canvas', { 'data-testid': 'chart' });
    this.table = el('table', { 'data-testid': 'table' });
    this.pager = el('div', { class: 'pager' });
    this.root = el('section', { class: 'panel', 'data-testid': 'panel', 'data-state': 'idle' },
      el('div', { class: 'controls' },
        el('label', {}, 'Dataset', this.datasetSelect),
        el('label', {}, 'Chart', this.chartType),
        el('label', {}, 'x', this.xSelect),
        el('label', {}, 'y', this.ySelect),
        el('label', {}, 'Row limit', this.limitInput),
        el('label', { class: 'follow', title: 'Keep the chart moving: new rows as the source grows' }, this.followBox, 'Follow'),
        this.runButton, this.cancelButton),
      this.columnsBox, this.progress, this.counters, this.message,
      el('div', { class: 'chart-box' }, this.canvas),
      el('div', { class: 'table-box' }, this.table), this.pager);
    this.chartView = new ChartView(this.canvas);
    // A summarised chart asks the source again for a zoomed range, or a new width.
    const again = () => {
      if (this.rows instanceof Summary && !this.query && this.page.state === 'open') this.run();
    };
    attachZoom(this.canvas, this.chartView, (range) => {
      if (!(this.rows instanceof Summary) || (range === null && this.zoom === null)) return;
      this.zoom = range;
      again();
    });
    watchWidth(this.canvas.parentElement ?? this.canvas, () => this.rows.width, again);
    this.renderCounters();
    document.getElementById('panels').append(this.root);
  }

  setUsable(usable) {
    if (usable && this.pendingRestart) { // the page is back: the cut run starts again
      this.pendingRestart = false;
      setTimeout(() => this.run(true), 0);
    }
    const running = this.state === 'running' || this.state === 'following';
    this.runButton.disabled = !usable || running || !this.schema;
    this.cancelButton.disabled = !usable || !running;
    this.cancelButton.textContent = this.query?.live ? 'Stop' : 'Cancel';
    this.datasetSelect.disabled = !usable || running;
    this.followBox.disabled = running;
    this.limitInput.disabled = running || this.followBox.checked; // a subscription has no limit
  }

  /** Cancel for a query; for a followed dataset, unsubscribe (what came stays drawn). */
  stop() {
    if (this.query?.live) this.query.unsubscribe();
    else this.query?.cancel();
  }

  setPanelState(state) {
    this.state = state;
    this.root.dataset.state = state;
    this.setUsable(this.page.state === 'open');
  }

  showMessage(text, kind = 'error') {
    this.message.hidden = !text;
    this.message.textContent = text ?? '';
    this.message.dataset.kind = kind;
  }

  fail(error) {
    this.error = error;
    this.root.dataset.error = error.code ?? 'UNEXPECTED';
    this.showMessage(describeError(error));
    this.setPanelState(error.code === 'CANCELLED' ? 'cancelled' : 'error');
    if (error.code === 'CONNECTOR_OFFLINE') this.page.connectorOffline(error);
  }

  /** Learns the dataset's schema with a zero-row query, then offers its columns. */
  async loadSchema() {
    const dataset = this.datasetSelect.value;
    this.schema = null;
    this.columnsBox.replaceChildren();
    this.xSelect.replaceChildren();
    this.ySelect.replaceChildren();
    this.showMessage(null);
    this.setPanelState('idle');
    if (!dataset) return;
    try {
      const probe = this.page.connection.query({ dataset, limit: 0 });
      const info = await probe.info;
      await probe.done;
      if (this.datasetSelect.value !== dataset) return; // the user moved on
      this.schema = info.schema.fields;
      this.offerColumns(await probe.table());
      this.setPanelState('ready');
    } catch (error) {
      this.fail(error);
    }
  }

  offerColumns(emptyTable) {
    const arrowFields = new Map(emptyTable.schema.fields.map((f) => [f.name, f]));
    const kinds = new Map(this.schema.map((f) => [f.name, axisKind(arrowFields.get(f.name)?.type)]));
    this.kinds = kinds;
    this.arrowTypes = new Map([...arrowFields].map(([name, f]) => [name, f.type]));
    this.columnsBox.replaceChildren(...this.schema.map((f) => el('label', {},
      el('input', { type: 'checkbox', value: f.name, checked: true }), `${f.name}`,
      el('small', { text: ` ${f.type}` }))));
    const xs = this.schema.filter((f) => kinds.get(f.name));
    const ys = this.schema.filter((f) => ['number', 'time'].includes(kinds.get(f.name)));
    this.xSelect.replaceChildren(option('', '(row number)'), ...xs.map((f) => option(f.name)));
    this.ySelect.replaceChildren(...ys.map((f) => option(f.name)));
    const time = xs.find((f) => kinds.get(f.name) === 'time');
    if (time) this.xSelect.value = time.name;
    // y: a measure rather than a key: the last float column (totals tend to come last),
    // else the first other number.
    const isFloat = (f) => DataType.isFloat(arrowFields.get(f.name)?.type) || DataType.isDecimal(arrowFields.get(f.name)?.type);
    const candidates = ys.filter((f) => kinds.get(f.name) === 'number' && f.name !== this.xSelect.value);
    const y = candidates.findLast(isFloat) ?? candidates.find((f) => !/^id$|_id$/i.test(f.name)) ?? candidates[0];
    if (y) this.ySelect.value = y.name;
  }

  selectedColumns() {
    const picked = [...this.columnsBox.querySelectorAll('input:checked')].map((i) => i.value);
    for (const needed of [this.xSelect.value, this.ySelect.value]) {
      if (needed && !picked.includes(needed)) picked.push(needed);
    }
    return picked;
  }

  /** Whether a run asks the source for the chart's aggregate rather than the rows: a
   * query of every row (no row limit, not followed) with an x and a y to chart. */
  summarises() {
    return !this.followBox.checked && !this.limitInput.value.trim() && !!this.xSelect.value && !!this.ySelect.value;
  }

  /** The spec of a run, and what holds its answer. */
  runSpec() {
    const dataset = this.datasetSelect.value;
    const x = this.xSelect.value;
    const y = this.ySelect.value;
    if (this.summarises()) {
      // The chart box's width: the canvas is 300 px wide until Chart.js first sizes it.
      const width = Math.max(100, this.canvas.parentElement?.clientWidth || this.canvas.clientWidth || 600);
      const type = this.chartType.value;
      const aggregate = chartAggregate({ x, y, xKind: this.kinds.get(x), type, width });
      const spec = { dataset, aggregate };
      if (this.zoom && this.kinds.get(x) !== 'category') spec.filter = rangeFilter(x, this.arrowTypes.get(x), ...this.zoom);
      const summary = new Summary(aggregate, x, y, this.kinds.get(x));
      summary.width = width;
      // The table's row count, asked at once beside the chart (from Parquet footers, free).
      const counted = { dataset, aggregate: { measures: [{ op: 'count' }] } };
      if (spec.filter) counted.filter = spec.filter;
      summary.total = this.page.connection.query(counted).table();
      summary.total.catch(() => {}); // its error shows when the table asks for it
      return { spec, holder: summary };
    }
    this.zoom = null;
    const limitText = this.limitInput.value.trim();
    const spec = { dataset, columns: this.selectedColumns() };
    const follow = this.followBox.checked;
    if (limitText && !follow) spec.limit = Number(limitText);
    // Rows in the dataset's order: the table pages through them and line charts join them
    // in order. The browser's receive is the dashboard's bottleneck, not the partitions.
    if (!follow) spec.ordered = true;
    return { spec, holder: new Rows(this.kinds, x, y) };
  }

  async run(restarted = false) {
    if (!restarted) this.restarts = 0;
    const follow = this.followBox.checked;
    const { spec, holder } = this.runSpec();
    this.resetData(holder);
    this.showMessage(null);
    delete this.root.dataset.error;
    let query;
    try {
      query = follow ? this.page.connection.subscribe(spec) : this.page.connection.query(spec);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.query = query;
    this.root.dataset.transport = query.transport; // socket, or http for a large raw result
    this.setPanelState('running');
    if (follow) {
      query.snapshot.then((rows) => {
        if (this.query === query) this.setPanelState('following');
        this.root.dataset.snapshotRows = String(rows);
      }, () => {});
    }
    const started = performance.now();
    this.startedAt = started;
    let restart = false;
    const tick = setInterval(() => this.renderCounters(), 250);
    try {
      const info = await query.info;
      this.totalRecords = info.total_records;
      for await (const batch of query) {
        this.append(batch);
        if (follow && this.rows.count > MAX_FOLLOWED_ROWS * 1.1) this.dropOldest(MAX_FOLLOWED_ROWS);
        this.stats = this.shownStats(query.stats, started);
        this.scheduleRedraw();
      }
      this.stats = this.shownStats(query.stats, started);
      if (this.rows instanceof Summary) await this.servePage(0); // done: the chart and its table
      this.setPanelState('done');
    } catch (error) {
      this.stats = this.shownStats(query.stats, started);
      if (mayRestart(error, this.restarts, this.page.connection?.state)) {
        restart = true;
        this.restarts += 1;
        this.root.dataset.restarts = String(this.restarts);
        this.setPanelState('restarting');
        this.showMessage('The stream was cut and cannot carry on where it was: running it again from the start.', 'info');
      } else {
        this.fail(error);
      }
    } finally {
      clearInterval(tick);
      this.query = null;
      this.renderCounters();
      this.redraw();
      this.renderTable();
    }
    if (restart) {
      if (this.page.state === 'open') setTimeout(() => this.run(true), 0);
      else this.pendingRestart = true;
    }
  }

  /** The counters of a run: a summarised one counts the source rows its chart stands for. */
  shownStats(stats, started) {
    const rows = this.rows instanceof Summary ? this.rows.represented : stats.rows;
    return { ...stats, rows, elapsedMs: performance.now() - started };
  }

  resetData(holder = new Rows(this.kinds, this.xSelect.value, this.ySelect.value)) {
    this.rows = holder;
    this.served = null;
    this.pageIndex = 0;
    this.totalRecords = null;
    this.stats = { batches: 0, rows: 0, bytes: 0, elapsedMs: 0 };
  }

  append(batch) {
    this.rows.append(batch);
    if (this.rows instanceof Summary) return; // its table is a page the source serves
    if (this.rows.count - batch.numRows < (this.pageIndex + 1) * PAGE_ROWS) this.renderTable();
  }

  /** Keeps about the newest ``keep`` rows of a followed dataset, then redraws from them. */
  dropOldest(keep) {
    this.rows.dropOldest(keep);
    this.renderTable();
  }

  /** x or y changed: rebuilds the series from the batches already received, when they
   * hold the new columns; otherwise asks for a new run. */
  changeAxes() {
    if (this.rows instanceof Summary) { // the source summarises for the new axes
      this.zoom = null;
      if (!this.query && this.page.state === 'open' && this.summarises()) this.run();
      return;
    }
    if (!this.rows.batches.length) return;
    const missing = this.rows.missing([this.xSelect.value, this.ySelect.value]);
    if (missing.length) {
      this.showMessage(`Press Run to load ${missing.join(' and ')}.`, 'info');
      return;
    }
    this.showMessage(null);
    this.rows.setAxes(this.xSelect.value, this.ySelect.value);
    this.redraw();
  }

  scheduleRedraw() {
    if (this.redrawTimer) return;
    this.redrawTimer = setTimeout(() => {
      this.redrawTimer = null;
      this.redraw();
    }, REDRAW_MS);
  }

  redraw() {
    if (!this.rows.y) return;
    this.root.dataset.points = String(this.chartView.draw(this.rows, this.chartType.value));
  }

  renderTable() {
    if (this.rows instanceof Summary) {
      if (!this.served) this.servePage(0);
      return;
    }
    this.pageIndex = renderTable(this.table, this.pager, this.rows, this.pageIndex, (page) => {
      this.pageIndex = page;
      this.renderTable();
    });
  }

  /** A summarised run's table: page ``index`` of the rows, sorted and cut by the source
   * (docs/protocol.md, "Pages"), and, once, how many rows there are. */
  async servePage(index) {
    const holder = this.rows;
    const filter = this.zoom ? rangeFilter(holder.x, this.arrowTypes.get(holder.x), ...this.zoom) : undefined;
    const dataset = this.datasetSelect.value;
    const served = this.served ?? { index, total: null };
    this.served = served;
    try {
      if (served.total === null) {
        const table = await (holder.total
          ?? this.page.connection.query({ dataset, filter, aggregate: { measures: [{ op: 'count' }] } }).table());
        served.total = Number(table.getChild('count')?.get(0) ?? 0);
      }
      const spec = { dataset, columns: this.selectedColumns(), limit: PAGE_ROWS, filter };
      if (index > 0) spec.offset = index * PAGE_ROWS;
      const rows = await this.page.connection.query(spec).table();
      if (this.rows !== holder) return; // another run began
      served.index = index;
      renderServedPage(this.table, this.pager, rows, index, served.total, (page) => this.servePage(page));
    } catch (error) {
      if (this.rows === holder) this.showMessage(describeError(error));
    }
  }

  renderCounters() {
    const live = this.query;
    drawCounters(this, live ? this.shownStats(live.stats, this.startedAt) : this.stats);
  }
}
