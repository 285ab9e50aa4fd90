// The dashboard page served by the gateway at / and /dashboard: the DOM shell around
// client.js. Open it with ?session=ID (the URL the control plane gives). This file holds
// the page's session, its connection state and the connector's; each panel is panel.js's.

import { connect } from './client.js';
import { option } from './dom.js';
import { describeError } from './format.js';
import { Panel } from './panel.js';

const SESSION_KEY = 'saeta.session';

// ---------------------------------------------------------------- the session's state

const page = {
  connection: null,
  datasets: [],
  panels: [],
  state: 'connecting',
  connectorOffline: (error) => setConnector(false, error),
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

// ---------------------------------------------------------------- start

function addPanel() {
  const panel = new Panel(page.panels.length, page);
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
