// The dashboard page served by the gateway at / and /dashboard: the DOM shell around
// client.js. Open it with ?session=ID (the URL the control plane gives).

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import { DataType } from 'apache-arrow';
import { connect, ErrorCodes, SaetaError } from './client.js';
import { axisKind, NumberColumn, writeLabels } from './columns.js';
import { bucketMeans, gridSample, m4, sumByLabel } from './downsample.js';

Chart.register(
  BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement,
  ScatterController, Tooltip,
);

const PAGE_ROWS = 25;
// A followed panel keeps the newest rows only: past this many, the oldest batches go.
const MAX_FOLLOWED_ROWS = 2_000_000;
const REDRAW_MS = 200;
const SESSION_KEY = 'saeta.session';

// ---------------------------------------------------------------- small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function option(value, label = value) {
  return el('option', { value, text: label });
}

const numberFormat = new Intl.NumberFormat('en-US');
const timeFormat = new Intl.DateTimeFormat('sv-SE', {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  timeZone: 'UTC',
});

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function formatCell(value) {
  if (value == null) return '∅';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return String(value); // numbers: the shortest text that reads back as the same value
}

function formatTimeCell(value) {
  if (value == null) return '∅';
  const ms = Number(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(value);
}

function formatTime(ms) {
  return Number.isFinite(ms) ? timeFormat.format(new Date(ms)) : '';
}

/** Message for an error, by its stable code; the gateway's own words added after. */
export function describeError(error) {
  if (!(error instanceof SaetaError)) return `Unexpected error: ${error?.message ?? error}`;
  const base = ErrorCodes[error.code] ?? error.code;
  const detail = error.message && error.message !== base ? ` (${error.message})` : '';
  return `${error.code}: ${base}${detail}`;
}

// ---------------------------------------------------------------- the session's state

const page = {
  connection: null,
  datasets: [],
  panels: [],
  state: 'connecting',
};
window.saeta = page; // read by the browser tests and handy in the console

function setState(state, message = null, kind = 'error') {
  page.state = state;
  document.body.dataset.state = state;
  document.getElementById('state').textContent = state;
  const banner = document.getElementById('banner');
  banner.hidden = !message;
  banner.textContent = message ?? '';
  banner.dataset.kind = kind;
  const usable = state === 'open';
  document.getElementById('add-panel').disabled = !usable;
  for (const panel of page.panels) panel.setUsable(usable);
}

function takeSession() {
  const params = new URLSearchParams(window.location.search);
  const fromUrl = params.get('session');
  if (fromUrl) {
    // Keep it out of the address bar, history and bookmarks; the tab keeps it.
    sessionStorage.setItem(SESSION_KEY, fromUrl);
    params.delete('session');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? `?${rest}` : ''));
    return fromUrl;
  }
  return sessionStorage.getItem(SESSION_KEY);
}

function gatewayUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}`;
}

// ---------------------------------------------------------------- one chart panel

class Panel {
  constructor(index) {
    this.index = index;
    this.query = null;
    this.schema = null;
    this.state = 'idle';
    this.error = null;
    this.chart = null;
    this.batches = [];
    this.rows = 0;
    this.stats = { batches: 0, rows: 0, bytes: 0, elapsedMs: 0 };
    this.pageIndex = 0;
    this.redrawTimer = null;
    this.build();
  }

  build() {
    this.datasetSelect = el('select', { 'data-testid': 'dataset', onchange: () => this.loadSchema() },
      option('', '— dataset —'), ...page.datasets.map((d) => option(d.name)));
    this.chartType = el('select', { 'data-testid': 'chart-type', onchange: () => this.redraw() },
      option('line'), option('bar'), option('scatter'));
    this.xSelect = el('select', { 'data-testid': 'x', onchange: () => this.changeAxes() });
    this.ySelect = el('select', { 'data-testid': 'y', onchange: () => this.changeAxes() });
    this.limitInput = el('input', { type: 'number', min: '0', step: '1', placeholder: 'all rows', 'data-testid': 'limit' });
    this.followBox = el('input', { type: 'checkbox', 'data-testid': 'follow', onchange: () => this.setUsable(page.state === 'open') });
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
    this.renderCounters();
    document.getElementById('panels').append(this.root);
  }

  setUsable(usable) {
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
    this.setUsable(page.state === 'open');
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
    if (error.code === 'CONNECTOR_OFFLINE') setConnector(false, error);
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
      const probe = page.connection.query({ dataset, limit: 0 });
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

  async run() {
    const dataset = this.datasetSelect.value;
    const limitText = this.limitInput.value.trim();
    const spec = { dataset, columns: this.selectedColumns() };
    const follow = this.followBox.checked;
    if (limitText && !follow) spec.limit = Number(limitText);
    // Rows in the dataset's order: the table pages through them and line charts join them
    // in order. The browser's receive is the dashboard's bottleneck, not the partitions.
    if (!follow) spec.ordered = true;
    this.resetData();
    this.showMessage(null);
    delete this.root.dataset.error;
    let query;
    try {
      query = follow ? page.connection.subscribe(spec) : page.connection.query(spec);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.query = query;
    this.setPanelState('running');
    if (follow) {
      query.snapshot.then((rows) => {
        if (this.query === query) this.setPanelState('following');
        this.root.dataset.snapshotRows = String(rows);
      }, () => {});
    }
    const started = performance.now();
    this.startedAt = started;
    const tick = setInterval(() => this.renderCounters(), 250);
    try {
      const info = await query.info;
      this.totalRecords = info.total_records;
      for await (const batch of query) {
        this.append(batch);
        if (follow && this.rows > MAX_FOLLOWED_ROWS * 1.1) this.dropOldest(MAX_FOLLOWED_ROWS);
        this.stats = { ...query.stats, elapsedMs: performance.now() - started };
        this.scheduleRedraw();
      }
      this.stats = { ...query.stats, elapsedMs: performance.now() - started };
      this.setPanelState('done');
    } catch (error) {
      this.stats = { ...query.stats, elapsedMs: performance.now() - started };
      this.fail(error);
    } finally {
      clearInterval(tick);
      this.query = null;
      this.renderCounters();
      this.redraw();
      this.renderTable();
    }
  }

  resetData() {
    this.batches = [];
    this.offsets = [];
    this.rows = 0;
    this.xColumn = new NumberColumn();
    this.yColumn = new NumberColumn();
    this.xLabels = [];
    this.pageIndex = 0;
    this.totalRecords = null;
    this.stats = { batches: 0, rows: 0, bytes: 0, elapsedMs: 0 };
    this.dataX = this.xSelect.value;
    this.dataY = this.ySelect.value;
  }

  append(batch) {
    this.offsets.push(this.rows);
    this.batches.push(batch);
    this.appendSeries(batch);
    this.rows += batch.numRows;
    if (this.rows - batch.numRows < (this.pageIndex + 1) * PAGE_ROWS) this.renderTable();
  }

  /** Keeps about the newest ``keep`` rows of a followed dataset, then redraws from them. */
  dropOldest(keep) {
    while (this.batches.length > 1 && this.rows - this.batches[0].numRows >= keep) {
      this.rows -= this.batches.shift().numRows;
    }
    this.offsets = [];
    let at = 0;
    for (const batch of this.batches) {
      this.offsets.push(at);
      at += batch.numRows;
    }
    this.xColumn = new NumberColumn();
    this.yColumn = new NumberColumn();
    this.xLabels = [];
    for (const batch of this.batches) this.appendSeries(batch);
    this.renderTable();
  }

  /** Adds a batch's x and y values to the chart's series. */
  appendSeries(batch) {
    if (this.dataX && this.kinds.get(this.dataX) === 'category') {
      writeLabels(batch.getChild(this.dataX), this.xLabels);
    } else if (this.dataX) {
      this.xColumn.appendVector(batch.getChild(this.dataX));
    } else {
      this.xColumn.appendIndex(batch.numRows);
    }
    if (this.dataY) this.yColumn.appendVector(batch.getChild(this.dataY));
  }

  /** x or y changed: rebuilds the series from the batches already received, when they
   * hold the new columns; otherwise asks for a new run. */
  changeAxes() {
    if (!this.batches?.length) return;
    const fetched = new Set(this.batches[0].schema.fields.map((f) => f.name));
    const missing = [this.xSelect.value, this.ySelect.value].filter((c) => c && !fetched.has(c));
    if (missing.length) {
      this.showMessage(`Press Run to load ${missing.join(' and ')}.`, 'info');
      return;
    }
    this.showMessage(null);
    this.dataX = this.xSelect.value;
    this.dataY = this.ySelect.value;
    this.xColumn = new NumberColumn();
    this.yColumn = new NumberColumn();
    this.xLabels = [];
    for (const batch of this.batches) this.appendSeries(batch);
    this.redraw();
  }

  scheduleRedraw() {
    if (this.redrawTimer) return;
    this.redrawTimer = setTimeout(() => {
      this.redrawTimer = null;
      this.redraw();
    }, REDRAW_MS);
  }

  /** {labels, points, trend}: what the chart draws for the rows so far. */
  chartPoints(type) {
    const n = this.yColumn ? this.yColumn.length : 0;
    const width = Math.max(100, this.canvas.clientWidth || 600);
    if (!n) return { labels: null, points: [], trend: null };
    const xKind = this.dataX ? this.kinds.get(this.dataX) : 'number';
    if (xKind === 'category') {
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

  redraw() {
    if (!this.dataY || !this.yColumn) return;
    const type = this.chartType.value;
    const { labels, points, trend } = this.chartPoints(type);
    const xKind = this.dataX ? this.kinds.get(this.dataX) : 'number';
    const categorical = xKind === 'category';
    const chartType = categorical ? 'bar' : type;
    const xScale = categorical
      ? { type: 'category' }
      : {
        type: 'linear',
        bounds: 'data',
        title: { display: true, text: this.dataX || 'row' },
        ticks: xKind === 'time' ? { callback: (v) => formatTime(v), maxRotation: 0, autoSkipPadding: 24 } : {},
      };
    const dataset = {
      label: categorical ? `sum of ${this.dataY}` : (trend ? `${this.dataY} (min/max)` : this.dataY),
      data: points,
      borderColor: trend ? 'rgba(31,111,235,0.35)' : '#1f6feb',
      backgroundColor: 'rgba(31,111,235,0.45)',
      borderWidth: 1,
      pointRadius: chartType === 'scatter' ? 1.5 : 0,
      spanGaps: false,
    };
    const datasets = [dataset];
    if (trend) {
      datasets.push({
        label: `${this.dataY} (mean)`, data: trend, borderColor: '#0b2e6b', borderWidth: 2, pointRadius: 0,
      });
    }
    const config = {
      type: chartType,
      data: categorical ? { labels, datasets } : { datasets },
      options: {
        animation: false,
        parsing: categorical ? true : false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: xScale, y: { title: { display: true, text: this.dataY } } },
        plugins: {
          legend: { display: datasets.length > 1 },
          tooltip: xKind === 'time' ? { callbacks: { title: (items) => formatTime(items[0]?.parsed?.x) } } : {},
        },
      },
    };
    if (this.chart && this.chart.config.type === chartType && this.chartShape === `${chartType}:${xKind}`) {
      this.chart.data = config.data;
      this.chart.options = config.options;
      this.chart.update('none');
    } else {
      this.chart?.destroy();
      this.chart = new Chart(this.canvas, config);
      this.chartShape = `${chartType}:${xKind}`;
    }
    this.root.dataset.points = String(points.length);
  }

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

  renderTable() {
    const pages = Math.max(1, Math.ceil(this.rows / PAGE_ROWS));
    this.pageIndex = Math.min(this.pageIndex, pages - 1);
    const fields = this.batches.length ? this.batches[0].schema.fields : [];
    const names = fields.map((f) => f.name);
    const formats = fields.map((f) => (DataType.isTimestamp(f.type) || DataType.isDate(f.type) ? formatTimeCell : formatCell));
    const start = this.pageIndex * PAGE_ROWS;
    const end = Math.min(this.rows, start + PAGE_ROWS);
    const body = [];
    for (let i = start; i < end; i++) {
      const row = this.rowAt(i);
      body.push(el('tr', {}, ...names.map((n, k) => el('td', { text: formats[k](row[n]) }))));
    }
    this.table.replaceChildren(
      el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { text: n })))),
      el('tbody', {}, ...body),
    );
    const prev = el('button', { type: 'button', disabled: this.pageIndex === 0, onclick: () => { this.pageIndex -= 1; this.renderTable(); } }, '‹ Prev');
    const next = el('button', { type: 'button', disabled: this.pageIndex >= pages - 1, onclick: () => { this.pageIndex += 1; this.renderTable(); } }, 'Next ›');
    const where = this.rows ? `rows ${numberFormat.format(start + 1)}–${numberFormat.format(end)} of ${numberFormat.format(this.rows)}` : 'no rows';
    this.pager.replaceChildren(prev, el('span', { 'data-testid': 'page', text: where }), next);
  }

  renderCounters() {
    const live = this.query;
    const shown = live
      ? { ...live.stats, elapsedMs: performance.now() - this.startedAt }
      : this.stats;
    const rate = shown.elapsedMs > 0 ? Math.round(shown.rows / (shown.elapsedMs / 1000)) : 0;
    const item = (label, value, id) => el('span', {}, `${label} `, el('b', { 'data-testid': id, text: value }));
    this.counters.replaceChildren(
      item('batches', numberFormat.format(shown.batches), 'batches'),
      item('rows', numberFormat.format(shown.rows), 'rows'),
      item('bytes', formatBytes(shown.bytes), 'bytes'),
      item('elapsed', `${(shown.elapsedMs / 1000).toFixed(2)} s`, 'elapsed'),
      item('rows/s', numberFormat.format(rate), 'rate'),
    );
    this.root.dataset.rows = String(shown.rows);
    this.root.dataset.batches = String(shown.batches);
    if (this.totalRecords) {
      this.progress.max = this.totalRecords;
      this.progress.value = Math.min(shown.rows, this.totalRecords);
    } else if (this.state === 'running') {
      this.progress.removeAttribute('value'); // indeterminate
    } else {
      this.progress.max = 1;
      this.progress.value = this.state === 'done' || this.state === 'following' ? 1 : 0;
    }
  }
}

// ---------------------------------------------------------------- start

function addPanel() {
  const panel = new Panel(page.panels.length);
  page.panels.push(panel);
  panel.setUsable(page.state === 'open');
  return panel;
}

const CONNECTOR_POLL_MS = { offline: 3000, online: 15000 };
let connectorTimer = null;

/** Shows whether the tenant's connector is reachable; polled while the page is open. */
function setConnector(online, error = null) {
  document.body.dataset.connector = online ? 'online' : 'offline';
  const badge = document.getElementById('connector');
  badge.textContent = online ? 'connector online' : 'connector offline';
  if (!online) setState('open', describeError(error), 'warn');
  else if (page.state === 'open') setState('open');
  clearTimeout(connectorTimer);
  connectorTimer = setTimeout(refreshDatasets, online ? CONNECTOR_POLL_MS.online : CONNECTOR_POLL_MS.offline);
}

async function refreshDatasets() {
  if (page.connection?.state !== 'open') return false;
  try {
    page.datasets = await page.connection.list();
    for (const panel of page.panels) {
      const current = panel.datasetSelect.value;
      panel.datasetSelect.replaceChildren(option('', '— dataset —'), ...page.datasets.map((d) => option(d.name)));
      panel.datasetSelect.value = current;
    }
    setConnector(true);
    return true;
  } catch (error) {
    if (error.code === 'CONNECTOR_OFFLINE') setConnector(false, error);
    return false;
  }
}

async function start() {
  document.getElementById('add-panel').addEventListener('click', addPanel);
  const session = takeSession();
  if (!session) {
    setState('nosession', 'No session. Open this dashboard with the link your portal gives (…/?session=…).');
    return;
  }
  try {
    page.connection = await connect(gatewayUrl(), session);
  } catch (error) {
    setState(error.code === 'SESSION_INVALID' ? 'invalid' : 'closed', describeError(error));
    return;
  }
  page.connection.addEventListener('statechange', async (event) => {
    const state = event.detail;
    if (state === 'open') {
      setState('open');
      await refreshDatasets();
    } else if (state === 'reconnecting') {
      setState('reconnecting', 'Connection lost. Reconnecting…', 'warn');
    } else {
      const error = event.error ?? page.connection.error;
      setState(state, error ? describeError(error) : 'The connection is closed.');
    }
  });
  setState('open');
  const first = addPanel();
  if (await refreshDatasets()) await openView(first, new URLSearchParams(window.location.search));
}

/**
 * A view named in the URL (`?dataset=ventas&chart=bar&x=region&y=total&limit=1000`, and
 * `&follow=1` to follow it live): the
 * first panel picks it and runs it at once. Unknown names are ignored.
 */
async function openView(panel, params) {
  const dataset = params.get('dataset');
  if (!dataset || !page.datasets.some((d) => d.name === dataset)) return;
  panel.datasetSelect.value = dataset;
  await panel.loadSchema();
  if (panel.state !== 'ready') return;
  const pick = (select, value) => {
    if (value && [...select.options].some((o) => o.value === value)) select.value = value;
  };
  pick(panel.chartType, params.get('chart'));
  pick(panel.xSelect, params.get('x'));
  pick(panel.ySelect, params.get('y'));
  const limit = params.get('limit');
  if (limit && /^\d{1,15}$/.test(limit)) panel.limitInput.value = limit;
  panel.followBox.checked = params.get('follow') === '1';
  panel.setUsable(page.state === 'open');
  await panel.run();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
