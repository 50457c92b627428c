/**
 * Go pc-value tables: pairs of (value delta, pc delta) varints. The value delta is zig-zag
 * encoded, the pc delta is scaled by the instruction quantum; the value starts at -1 and the pc
 * at the function entry, and a zero value delta after the first pair ends the table.
 */

/** Returned by `pcValue` when the table does not cover the pc (or is malformed). */
export const PC_NOT_FOUND = -0x80000000;

/**
 * The value in effect at `target`, decoding the table at `off` in `buf` (never allocates).
 * `entry` is the function's first pc.
 */
export function pcValue(buf: Buffer, off: number, entry: number, target: number, quantum: number): number {
  const end = buf.length;
  let p = off;
  let val = -1;
  let pc = entry;
  let first = true;
  for (;;) {
    // uvarint: value delta
    let uv = 0, mul = 1, b: number;
    do {
      if (p >= end || mul > 2 ** 35) return PC_NOT_FOUND;
      b = buf[p++]!;
      uv += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (uv === 0 && !first) return PC_NOT_FOUND;
    first = false;
    const half = Math.floor(uv / 2);
    val = (val + (uv % 2 === 1 ? -half - 1 : half)) | 0;
    // uvarint: pc delta
    let pcd = 0;
    mul = 1;
    do {
      if (p >= end || mul > 2 ** 35) return PC_NOT_FOUND;
      b = buf[p++]!;
      pcd += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    pc += pcd * quantum;
    if (target < pc) return val;
  }
}

const MAX_DECODED_PAIRS = 8192;

/** A decoded pc-value table: value `vals[i]` holds below `ends[i]` (pcs relative to the entry). */
export interface PcTable { readonly ends: Float64Array; readonly vals: Int32Array }

/**
 * Every pair of the table at `off`, decoded once: pcValue(buf, off, entry, target, q) is
 * vals[i] for the first i with target - entry < ends[i], PC_NOT_FOUND when there is none.
 * Null for tables longer than MAX_DECODED_PAIRS (corrupt files: decode those per lookup instead).
 */
export function decodePcTable(buf: Buffer, off: number, quantum: number): PcTable | null {
  const end = buf.length;
  const ends: number[] = [];
  const vals: number[] = [];
  let p = off;
  let val = -1;
  let pc = 0;
  let first = true;
  for (;;) {
    let uv = 0, mul = 1, b: number;
    let bad = false;
    do {
      if (p >= end || mul > 2 ** 35) { bad = true; break; }
      b = buf[p++]!;
      uv += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (bad || (uv === 0 && !first)) break;
    first = false;
    const half = Math.floor(uv / 2);
    val = (val + (uv % 2 === 1 ? -half - 1 : half)) | 0;
    let pcd = 0;
    mul = 1;
    do {
      if (p >= end || mul > 2 ** 35) { bad = true; break; }
      b = buf[p++]!;
      pcd += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (bad) break;
    pc += pcd * quantum;
    ends.push(pc); vals.push(val);
    if (ends.length > MAX_DECODED_PAIRS) return null;
  }
  return { ends: Float64Array.from(ends), vals: Int32Array.from(vals) };
}

/**
 * Whether the table at `off` ends inside `buf` (its terminating zero value delta is there):
 * callers reading a table from a file a window at a time read a larger window when it does not.
 */
export function pcTableEnds(buf: Buffer, off: number): boolean {
  const end = buf.length;
  let p = off;
  for (let first = true; ; first = false) {
    let uv = 0, mul = 1, b: number;
    do {
      if (p >= end) return false;
      if (mul > 2 ** 35) return true; // malformed: the decoder stops here too
      b = buf[p++]!;
      uv += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (uv === 0 && !first) return true;
    mul = 1;
    do {
      if (p >= end) return false;
      if (mul > 2 ** 35) return true;
      b = buf[p++]!;
      mul *= 128;
    } while (b & 0x80);
  }
}
