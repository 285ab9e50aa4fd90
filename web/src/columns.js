// Arrow columns as plain numbers for charting: reads the typed arrays under a Vector
// directly (no per-value getter calls), timestamps and dates as epoch milliseconds,
// nulls as NaN. No DOM.

import { DataType, TimeUnit } from 'apache-arrow';

/** How a field can be charted: 'time', 'number', 'category' or null (not chartable). */
export function axisKind(type) {
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return 'time';
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDecimal(type) || DataType.isBool(type)) {
    return 'number';
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isDictionary(type)) return 'category';
  return null;
}

const MS_PER_UNIT = {
  [TimeUnit.SECOND]: 1000,
  [TimeUnit.MILLISECOND]: 1,
  [TimeUnit.MICROSECOND]: 1e-3,
  [TimeUnit.NANOSECOND]: 1e-6,
};

function isValid(data, i) {
  if (!data.nullCount || !data.nullBitmap || data.nullBitmap.length === 0) return true;
  const bit = data.offset + i;
  return (data.nullBitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
}

/** Writes the numeric value of each row of `vector` into `out` from `at`; returns rows written. */
export function writeNumbers(vector, out, at) {
  let k = at;
  for (const data of vector.data) {
    const { type, length } = data;
    const values = data.values;
    const hasNulls = data.nullCount > 0;
    if (DataType.isTimestamp(type) || (DataType.isDate(type) && type.unit !== 0 /* DAY */)) {
      const scale = DataType.isTimestamp(type) ? MS_PER_UNIT[type.unit] : 1;
      for (let i = 0; i < length; i++) {
        out[k++] = hasNulls && !isValid(data, i) ? NaN : Number(values[i]) * scale;
      }
    } else if (DataType.isDate(type)) {
      for (let i = 0; i < length; i++) out[k++] = hasNulls && !isValid(data, i) ? NaN : values[i] * 86_400_000;
    } else if (DataType.isInt(type) && type.bitWidth === 64) {
      for (let i = 0; i < length; i++) out[k++] = hasNulls && !isValid(data, i) ? NaN : Number(values[i]);
    } else if (DataType.isInt(type) || (DataType.isFloat(type) && type.precision !== 0)) {
      for (let i = 0; i < length; i++) out[k++] = hasNulls && !isValid(data, i) ? NaN : values[i];
    } else {
      // half floats, decimals, booleans: through apache-arrow's own getters
      for (let i = 0; i < length; i++) {
        const v = vector.get(k - at);
        out[k++] = v == null ? NaN : Number(v);
      }
    }
  }
  return k - at;
}

/** Category labels of each row (strings, dictionary values), nulls as null. */
export function writeLabels(vector, out) {
  for (let i = 0; i < vector.length; i++) {
    const v = vector.get(i);
    out.push(v == null ? null : String(v));
  }
}

/** A growing Float64Array: appends without reallocating on every batch. */
export class NumberColumn {
  constructor(capacity = 1 << 16) {
    this.values = new Float64Array(capacity);
    this.length = 0;
  }

  reserve(extra) {
    const need = this.length + extra;
    if (need <= this.values.length) return;
    let size = this.values.length;
    while (size < need) size *= 2;
    const grown = new Float64Array(size);
    grown.set(this.values.subarray(0, this.length));
    this.values = grown;
  }

  appendVector(vector) {
    this.reserve(vector.length);
    this.length += writeNumbers(vector, this.values, this.length);
  }

  appendIndex(count) {
    this.reserve(count);
    for (let i = 0; i < count; i++) this.values[this.length + i] = this.length + i;
    this.length += count;
  }

  view() {
    return this.values.subarray(0, this.length);
  }
}
