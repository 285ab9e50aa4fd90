// Decoding one Arrow IPC stream in the browser with apache-arrow JS and with
// @uwdata/flechette (benchmarks/arrow_js_decode.py): time to a table, then to touch every
// value of a number, a time and a text column, and what each read, to compare.
import { tableFromIPC as arrowTable } from 'apache-arrow';
import { tableFromIPC as flechetteTable } from '@uwdata/flechette';

function touch(table, lib) {
  const total = table.getChild('total');
  const fecha = table.getChild('fecha');
  const region = table.getChild('region');
  const totals = lib === 'arrow' ? total.toArray() : total.toArray();
  let sum = 0;
  for (let i = 0; i < totals.length; i++) sum += totals[i];
  const times = fecha.toArray();
  let last = 0;
  for (let i = 0; i < times.length; i++) last = Math.max(last, Number(times[i] instanceof Date ? times[i].getTime() : times[i]));
  const regions = new Map();
  for (let i = 0; i < region.length; i++) {
    const r = region.at ? region.at(i) : region.get(i);
    regions.set(r, (regions.get(r) ?? 0) + 1);
  }
  return { rows: table.numRows, sum, last, regions: Object.fromEntries([...regions].sort()) };
}

window.decodeBench = (bytes, runs) => {
  const view = new Uint8Array(bytes);
  const out = { arrow: [], flechette: [], arrow_touch: [], flechette_touch: [] };
  let checks = {};
  for (let r = 0; r < runs; r++) {
    for (const lib of ['arrow', 'flechette']) {
      const started = performance.now();
      const table = lib === 'arrow' ? arrowTable(view) : flechetteTable(view, { useDate: false });
      const decoded = performance.now();
      const seen = touch(table, lib);
      out[lib].push(decoded - started);
      out[`${lib}_touch`].push(performance.now() - started);
      checks[lib] = seen;
    }
  }
  return { ms: out, checks };
};
