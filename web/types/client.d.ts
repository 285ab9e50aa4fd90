// Types of @saeta/client (src/client.js): the public API of docs/js-client.md.
// test/types.test.js checks that every name and member declared here exists in the module
// at run time; test/types/consumer.ts is compiled against it by `tsc --noEmit`.
import type { RecordBatch, Schema, Table } from 'apache-arrow';

/** A filter condition: [column, op, value], [column, 'in'|'not_in', values], [column, 'is_null'|'not_null']. */
export type Scalar = string | number | boolean;
export type Condition =
  | [column: string, op: '=' | '!=' | '<' | '<=' | '>' | '>=', value: Scalar]
  | [column: string, op: 'in' | 'not_in', values: Scalar[]]
  | [column: string, op: 'is_null' | 'not_null'];

export interface Measure {
  op: 'count' | 'sum' | 'min' | 'max' | 'mean' | 'first' | 'last';
  column?: string;
  as?: string;
}

export interface Aggregate {
  group_by?: string[];
  bucket?: { column: string; width?: number; count?: number };
  measures: Measure[];
  sort?: SortKey[];
  offset?: number;
}

export interface SortKey {
  column: string;
  desc?: boolean;
}

/** What a query asks for (docs/protocol.md). */
export interface QuerySpec {
  dataset: string;
  columns?: string[];
  limit?: number;
  filter?: Condition[];
  ordered?: boolean;
  aggregate?: Aggregate;
  sort?: SortKey[];
  offset?: number;
  resumable?: boolean;
}

/** What a subscription asks for: no limit, no order. */
export interface SubscribeSpec {
  dataset: string;
  columns?: string[];
  filter?: Condition[];
  aggregate?: Aggregate;
}

export interface ConnectOptions {
  /** Reconnect after a drop, with backoff (default true). */
  reconnect?: boolean;
  /** Resume queries from their checkpoints after a reconnect (default true). */
  resume?: boolean;
  maxResumes?: number;
  maxReconnectDelayMs?: number;
  maxReconnectAttempts?: number;
  /** The WebSocket class (Node.js: pass one; browsers: the global one). */
  WebSocket?: typeof WebSocket;
  /** Large raw results over HTTP streaming: 'auto' (default), 'never' or 'always'. */
  http?: 'auto' | 'never' | 'always';
  httpMinRows?: number;
  fetch?: typeof fetch;
}

export interface QueryInfo {
  stream: number;
  schema: { fields: { name: string; type: string }[] };
  partitions: number;
  total_records: number | null;
}

export interface QueryStats {
  batches: number;
  rows: number;
  bytes: number;
  startedAt: number;
  endedAt: number | null;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'revoked' | 'invalid' | 'closed';

export declare const Close: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  ABNORMAL: 1006;
  POLICY: 1008;
  TOO_BIG: 1009;
  INTERNAL: 1011;
  SERVICE_RESTART: 1012;
  TRY_AGAIN_LATER: 1013;
  SESSION_INVALID: 4001;
  REVOKED: 4003;
  TOO_SLOW: 4008;
  TOO_MANY_SOCKETS: 4029;
}>;

/** Each stable error code and its default message. */
export declare const ErrorCodes: Readonly<Record<string, string>>;

export declare class SaetaError extends Error {
  constructor(code: string, message?: string, extra?: { closeCode?: number; queryId?: string | null; retryAfterMs?: number | null });
  readonly code: string;
  readonly closeCode: number | null;
  readonly queryId: string | null;
  /** When the gateway says a retry can succeed (QUOTA_EXCEEDED), in ms; else null. */
  readonly retryAfterMs: number | null;
  /** Whether trying again later can succeed. */
  readonly retryable: boolean;
}

export declare class Query implements AsyncIterable<RecordBatch> {
  readonly id: string;
  readonly spec: QuerySpec | SubscribeSpec;
  /** 'socket', or 'http' when it went over HTTP streaming. */
  readonly transport: 'socket' | 'http';
  readonly stats: QueryStats;
  /** The apache-arrow Schema, once the stream's first message is read. */
  readonly schema: Schema | null;
  /** Resolves with the gateway's info message. */
  readonly info: Promise<QueryInfo>;
  /** Resolves with {rows, bytes} once the query ended well; rejects with its SaetaError. */
  readonly done: Promise<{ rows: number; bytes: number }>;
  /** A subscription's snapshot has arrived: resolves with its row count. */
  readonly snapshot: Promise<number>;
  cancel(): void;
  /** Ends a subscription: its iterator then finishes normally. */
  unsubscribe(): void;
  /** The whole result as one Table (read a query once: iterate it, or this). */
  table(): Promise<Table>;
  [Symbol.asyncIterator](): AsyncIterator<RecordBatch>;
}

/** A session's connection to the gateway; emits 'statechange' (event.detail: the new state). */
export declare class Connection extends EventTarget {
  constructor(url: string, sessionId: string, options?: ConnectOptions);
  readonly url: string;
  readonly state: ConnectionState;
  readonly error: SaetaError | null;
  /** Opens the socket; resolves once it is open, rejects with a SaetaError if it cannot. */
  open(): Promise<Connection>;
  /** The datasets this session may read. */
  list(): Promise<{ name: string }[]>;
  query(spec: QuerySpec): Query;
  subscribe(spec: SubscribeSpec): Query;
  /** The whole result over HTTP streaming at once (docs/protocol.md, "HTTP streaming"). */
  fetchTable(spec: QuerySpec): Promise<Table>;
  cancel(id: string): void;
  close(): void;
}

/** Connects to the gateway at `url` (its base URL, ws:// or wss://). */
export declare function connect(url: string, sessionId: string, options?: ConnectOptions): Promise<Connection>;
