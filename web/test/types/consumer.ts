// A program written against @saeta/client's declarations (types/client.d.ts), compiled
// with `tsc --noEmit` (strict): the types must let docs/js-client.md's examples through
// and refuse what the protocol refuses.
import { Close, connect, SaetaError, type Condition, type QuerySpec } from '../../types/client.js';

export async function example(sessionId: string): Promise<number> {
  const conn = await connect('wss://gateway.example.com', sessionId, { http: 'auto', reconnect: true });
  const names: string[] = (await conn.list()).map((d) => d.name);
  const filter: Condition[] = [['region', '=', 'norte'], ['id', 'in', [1, 2]], ['total', 'not_null']];
  const spec: QuerySpec = { dataset: names[0] ?? 'ventas', columns: ['fecha', 'total'], limit: 1000, filter };
  const q = conn.query(spec);
  const info = await q.info;
  let rows = 0;
  for await (const batch of q) rows += batch.numRows;
  const line = await conn
    .query({ dataset: 'ventas', aggregate: { bucket: { column: 'fecha', count: 1200 }, measures: [{ op: 'max', column: 'total', as: 'max' }] } })
    .table();
  const live = conn.subscribe({ dataset: 'lecturas' });
  live.snapshot.then((n: number) => n);
  live.unsubscribe();
  try {
    await conn.fetchTable({ dataset: 'ventas' });
  } catch (err) {
    if (err instanceof SaetaError && err.retryable && err.closeCode === Close.TRY_AGAIN_LATER) rows += 0;
  }
  conn.close();
  // @ts-expect-error: a subscription takes no limit
  conn.subscribe({ dataset: 'x', limit: 5 });
  // @ts-expect-error: an unknown filter operator
  const bad: Condition = ['total', 'like', 5];
  void bad;
  return rows + line.numRows + (info.total_records ?? 0);
}
