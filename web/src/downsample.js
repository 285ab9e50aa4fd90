// Down-sampling for charts: a million rows become at most a few points per pixel, so the
// chart stays responsive while every extreme stays visible. Pure functions, no DOM.

/**
 * Line and bar charts: rows in order, split into `buckets` runs of consecutive rows; each
 * run keeps its first, minimum, maximum and last point (M4), in row order. Rows whose x or
 * y is NaN are skipped. Returns [{x, y}].
 */
export function m4(xs, ys, n, buckets) {
  const out = [];
  if (n === 0 || buckets <= 0) return out;
  if (n <= buckets * 4) {
    for (let i = 0; i < n; i++) if (!Number.isNaN(xs[i]) && !Number.isNaN(ys[i])) out.push({ x: xs[i], y: ys[i] });
    return out;
  }
  const per = n / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * per);
    const end = Math.min(n, Math.floor((b + 1) * per));
    let first = -1;
    let last = -1;
    let lo = -1;
    let hi = -1;
    for (let i = start; i < end; i++) {
      const y = ys[i];
      if (Number.isNaN(y) || Number.isNaN(xs[i])) continue;
      if (first < 0) first = i;
      last = i;
      if (lo < 0 || y < ys[lo]) lo = i;
      if (hi < 0 || y > ys[hi]) hi = i;
    }
    if (first < 0) continue;
    const picks = [...new Set([first, lo, hi, last])].sort((a, c) => a - c);
    for (const i of picks) out.push({ x: xs[i], y: ys[i] });
  }
  return out;
}

/**
 * Scatter charts: one point per occupied cell of a `width` × `height` grid over the data's
 * range, so dense clouds cost what the canvas can show. Returns [{x, y}].
 */
export function gridSample(xs, ys, n, width, height) {
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    const y = ys[i];
    if (Number.isNaN(x) || Number.isNaN(y)) continue;
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  const out = [];
  if (xmin > xmax) return out;
  const w = Math.max(1, width | 0);
  const h = Math.max(1, height | 0);
  const sx = xmax > xmin ? (w - 1) / (xmax - xmin) : 0;
  const sy = ymax > ymin ? (h - 1) / (ymax - ymin) : 0;
  const seen = new Uint8Array(w * h);
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    const y = ys[i];
    if (Number.isNaN(x) || Number.isNaN(y)) continue;
    const cell = Math.round((y - ymin) * sy) * w + Math.round((x - xmin) * sx);
    if (seen[cell]) continue;
    seen[cell] = 1;
    out.push({ x, y });
  }
  return out;
}

/**
 * Bar charts over a category column: the sum of y per label, the `top` largest first;
 * the rest are folded into one "(other)" bar. Returns {labels, values}.
 */
export function sumByLabel(labels, ys, n, top = 50) {
  const sums = new Map();
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (Number.isNaN(y)) continue;
    const key = labels[i] ?? '(null)';
    sums.set(key, (sums.get(key) ?? 0) + y);
  }
  const entries = [...sums.entries()].sort((a, b) => b[1] - a[1]);
  const head = entries.slice(0, top);
  const rest = entries.slice(top).reduce((acc, [, v]) => acc + v, 0);
  if (entries.length > top) head.push(['(other)', rest]);
  return { labels: head.map(([k]) => k), values: head.map(([, v]) => v) };
}

/**
 * The mean of x and y over `buckets` runs of consecutive rows: the trend line drawn over
 * an M4 envelope, where a million noisy rows would otherwise fill the plot. NaN skipped.
 */
export function bucketMeans(xs, ys, n, buckets) {
  const out = [];
  if (n === 0 || buckets <= 0) return out;
  const per = n / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * per);
    const end = Math.min(n, Math.floor((b + 1) * per));
    let sx = 0;
    let sy = 0;
    let count = 0;
    for (let i = start; i < end; i++) {
      if (Number.isNaN(xs[i]) || Number.isNaN(ys[i])) continue;
      sx += xs[i];
      sy += ys[i];
      count += 1;
    }
    if (count) out.push({ x: sx / count, y: sy / count });
  }
  return out;
}
