// Browser protocol v1 (docs/protocol.md): constants, binary frame header, typed errors.
// No DOM and no I/O here; client.js is the WebSocket shell around it.

export const FRAME_HEADER_BYTES = 8;
export const MAX_TEXT_FRAME_BYTES = 64 * 1024;

/** WebSocket close codes the gateway uses. */
export const Close = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  SESSION_INVALID: 4001,
  REVOKED: 4003,
  TOO_SLOW: 4008,
  TOO_MANY_SOCKETS: 4029,
});

/** Close codes after which reconnecting with the same session can succeed. */
const RECONNECTABLE = new Set([
  Close.GOING_AWAY, Close.ABNORMAL, Close.INTERNAL, Close.SERVICE_RESTART, Close.TRY_AGAIN_LATER,
  Close.TOO_SLOW,
]);

export function mayReconnect(closeCode) {
  return RECONNECTABLE.has(closeCode);
}

/**
 * Error codes: the gateway's (docs/protocol.md, "Error codes") and the client's own,
 * each with a message a person can act on.
 */
export const ErrorCodes = Object.freeze({
  BAD_REQUEST: 'The request was refused as malformed.',
  UNAUTHORIZED: 'The session is not valid.',
  DATASET_NOT_FOUND: 'No such dataset for this session.',
  CONNECTOR_OFFLINE: "The data source's connector is offline. Try again when it is back.",
  QUERY_FAILED: 'The data source could not complete the query.',
  TIMEOUT: 'The data source did not answer in time.',
  CANCELLED: 'The query was cancelled.',
  TOO_MANY_QUERIES: 'Too many queries at once on this connection or session.',
  TOO_MANY_SOCKETS: 'This session has too many connections open (other tabs?). Close one and reload.',
  QUOTA_EXCEEDED: 'Too many queries for now (a quota of this user or organisation). Try again shortly.',
  RESULT_TOO_LARGE: 'The summary has too many rows or groups for the data source. Narrow it, or page through it.',
  INTERNAL: 'The gateway hit an internal error.',
  // The client's own codes.
  SESSION_INVALID: 'The session is invalid or has expired. Open the dashboard again from your portal.',
  SESSION_REVOKED: 'Access was revoked for this session.',
  CONNECTION_LOST: 'The connection to the gateway was lost.',
  CLIENT_TOO_SLOW: 'This page stopped taking data, so the gateway closed the connection. Reconnecting.',
  CONNECTION_FAILED: 'Could not connect to the gateway.',
  GATEWAY_UNAVAILABLE: 'The gateway is temporarily unavailable. Retrying.',
  PROTOCOL_ERROR: 'The gateway sent something this client does not understand.',
  CLOSED: 'The connection is closed.',
});

const RETRYABLE = new Set([
  'CONNECTOR_OFFLINE', 'TIMEOUT', 'CONNECTION_LOST', 'GATEWAY_UNAVAILABLE', 'INTERNAL', 'CLIENT_TOO_SLOW',
  'QUOTA_EXCEEDED',
]);

export class SaetaError extends Error {
  /**
   * @param {string} code a stable code from ErrorCodes
   * @param {string} [message] the gateway's message, or the code's default one
   * @param {{closeCode?: number, queryId?: string|null, retryAfterMs?: number|null}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || ErrorCodes[code] || code);
    this.name = 'SaetaError';
    this.code = code;
    this.closeCode = extra.closeCode ?? null;
    this.queryId = extra.queryId ?? null;
    /** When the gateway says a retry can succeed (QUOTA_EXCEEDED), in ms; else null. */
    this.retryAfterMs = Number.isInteger(extra.retryAfterMs) ? extra.retryAfterMs : null;
  }

  get retryable() {
    return RETRYABLE.has(this.code);
  }
}

/** The error that a socket closed with `code` means for whatever was running on it. */
export function closeError(code, reason) {
  switch (code) {
    case Close.SESSION_INVALID:
      return new SaetaError('SESSION_INVALID', undefined, { closeCode: code });
    case Close.REVOKED:
      return new SaetaError('SESSION_REVOKED', undefined, { closeCode: code });
    case Close.TRY_AGAIN_LATER:
      return new SaetaError('GATEWAY_UNAVAILABLE', undefined, { closeCode: code });
    case Close.TOO_SLOW:
      return new SaetaError('CLIENT_TOO_SLOW', undefined, { closeCode: code });
    case Close.TOO_MANY_SOCKETS:
      return new SaetaError('TOO_MANY_SOCKETS', undefined, { closeCode: code });
    case Close.TOO_BIG:
    case Close.POLICY:
      return new SaetaError('BAD_REQUEST', reason || undefined, { closeCode: code });
    default:
      return new SaetaError('CONNECTION_LOST', undefined, { closeCode: code });
  }
}

/**
 * Splits a binary frame into its header and a view of its Arrow IPC payload, without
 * copying: the payload is a Uint8Array over the same ArrayBuffer, 8 bytes in, so Arrow
 * column buffers stay 8-byte aligned.
 * @param {ArrayBuffer} buffer
 */
export function parseFrame(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < FRAME_HEADER_BYTES) {
    throw new SaetaError('PROTOCOL_ERROR', 'binary frame shorter than its header');
  }
  const header = new DataView(buffer, 0, FRAME_HEADER_BYTES);
  return {
    stream: header.getUint32(0, true),
    flags: header.getUint32(4, true),
    payload: new Uint8Array(buffer, FRAME_HEADER_BYTES),
  };
}

/** Parses a gateway text frame; anything that is not a JSON object with a string type is a protocol error. */
export function parseServerMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new SaetaError('PROTOCOL_ERROR', 'text frame is not JSON');
  }
  if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
    throw new SaetaError('PROTOCOL_ERROR', 'text frame is not a typed message');
  }
  return msg;
}

/** Filter ops (docs/protocol.md, "Filters"). */
export const COMPARISON_OPS = ['=', '!=', '<', '<=', '>', '>='];
export const SET_OPS = ['in', 'not_in'];
export const NULL_OPS = ['is_null', 'not_null'];
const MAX_CONDITIONS = 64;
const MAX_IN_VALUES = 1000;
const MAX_FILTER_VALUES = 2000;

function isFilterValue(v) {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** A query's filter, checked for shape the way the gateway checks it (the connector then
 * checks columns and value types against the dataset). Returns it as sent. */
export function checkFilter(filter) {
  if (!Array.isArray(filter) || filter.length > MAX_CONDITIONS) {
    throw new SaetaError('BAD_REQUEST', `filter must be a list of at most ${MAX_CONDITIONS} conditions`);
  }
  const checked = filter.map((cond, i) => {
    const where = `filter[${i}]`;
    if (!Array.isArray(cond) || cond.length < 2 || cond.length > 3) {
      throw new SaetaError('BAD_REQUEST', `${where} must be [column, op, value]`);
    }
    const [column, op, value] = cond;
    if (typeof column !== 'string' || column.length === 0) {
      throw new SaetaError('BAD_REQUEST', `${where}: the column must be a non-empty string`);
    }
    if (NULL_OPS.includes(op)) {
      if (cond.length === 3 && value !== null) throw new SaetaError('BAD_REQUEST', `${where}: ${op} takes no value`);
      return [column, op];
    }
    if (SET_OPS.includes(op)) {
      if (!Array.isArray(value) || value.length < 1 || value.length > MAX_IN_VALUES || !value.every(isFilterValue)) {
        throw new SaetaError('BAD_REQUEST', `${where}: ${op} needs a list of 1 to ${MAX_IN_VALUES} values`);
      }
      return [column, op, value];
    }
    if (!COMPARISON_OPS.includes(op)) {
      throw new SaetaError('BAD_REQUEST', `${where}: unknown op ${JSON.stringify(op)}`);
    }
    if (cond.length !== 3 || !isFilterValue(value)) {
      throw new SaetaError('BAD_REQUEST', `${where}: ${op} needs a string, number or boolean`);
    }
    return [column, op, value];
  });
  const values = checked.reduce((n, c) => n + (c.length < 3 ? 0 : Array.isArray(c[2]) ? c[2].length : 1), 0);
  if (values > MAX_FILTER_VALUES) {
    throw new SaetaError('BAD_REQUEST', `filter holds more than ${MAX_FILTER_VALUES} values in all`);
  }
  return checked;
}

/** The `subscribe` request for `spec` = {dataset, columns?, filter?}: a live query. */
export function subscribeRequest(id, spec) {
  if (spec && (spec.limit != null || spec.ordered != null)) {
    throw new SaetaError('BAD_REQUEST', 'a subscription takes no limit and no order');
  }
  const msg = JSON.parse(queryRequest(id, spec));
  msg.action = 'subscribe';
  return JSON.stringify(msg);
}

/** The `query` request for `spec`, validated the way the gateway will. */
export function queryRequest(id, spec) {
  if (!spec || typeof spec.dataset !== 'string' || spec.dataset.length === 0) {
    throw new SaetaError('BAD_REQUEST', 'query needs a dataset name');
  }
  const msg = { action: 'query', id, dataset: spec.dataset };
  if (spec.columns != null) {
    if (!Array.isArray(spec.columns) || !spec.columns.every((c) => typeof c === 'string')) {
      throw new SaetaError('BAD_REQUEST', 'columns must be a list of names');
    }
    msg.columns = spec.columns;
  }
  if (spec.limit != null) {
    if (!Number.isSafeInteger(spec.limit) || spec.limit < 0) {
      throw new SaetaError('BAD_REQUEST', 'limit must be a whole number ≥ 0');
    }
    msg.limit = spec.limit;
  }
  if (spec.filter != null) {
    msg.filter = checkFilter(spec.filter);
  }
  if (spec.ordered != null) {
    if (typeof spec.ordered !== 'boolean') throw new SaetaError('BAD_REQUEST', 'ordered must be true or false');
    if (spec.ordered) msg.ordered = true;
  }
  if (spec.aggregate != null) { // docs/protocol.md, "Aggregation": the gateway checks its shape
    if (typeof spec.aggregate !== 'object' || Array.isArray(spec.aggregate)) {
      throw new SaetaError('BAD_REQUEST', 'aggregate must be an object');
    }
    msg.aggregate = spec.aggregate;
  }
  if (spec.sort != null) { // docs/protocol.md, "Pages"
    if (!Array.isArray(spec.sort)) throw new SaetaError('BAD_REQUEST', 'sort must be a list of keys');
    msg.sort = spec.sort;
  }
  if (spec.offset != null) {
    if (!Number.isSafeInteger(spec.offset) || spec.offset < 0) {
      throw new SaetaError('BAD_REQUEST', 'offset must be a whole number ≥ 0');
    }
    msg.offset = spec.offset;
  }
  if (spec.resumable) msg.resumable = true; // checkpoints: docs/protocol.md, "Resuming"
  const text = JSON.stringify(msg);
  if (new TextEncoder().encode(text).length > MAX_TEXT_FRAME_BYTES) {
    throw new SaetaError('BAD_REQUEST', 'request larger than 64 KiB');
  }
  return text;
}
