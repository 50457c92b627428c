import { Reader } from '../reader.js';
import type { DwarfErrors } from './errors.js';
import { F64Builder, I32Builder } from './growable.js';
import { readRanges } from './ranges.js';
import type { DwarfSections } from './sections.js';
import type { Unit } from './unit.js';

/** Sorted, non-overlapping address ranges → compile unit index (like LLVM's DWARFDebugAranges). */
export class CuIndex {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly unit: Int32Array;

  constructor(units: readonly Unit[], sec: DwarfSections, ensureRoot: (u: Unit) => void, errors: DwarfErrors) {
    const eLo = new F64Builder(), eHi = new F64Builder(), eU = new I32Builder();
    const covered = new Uint8Array(units.length);
    const byOffset = new Map<number, number>();
    for (const u of units) byOffset.set(u.offset, u.index);
    // 1. .debug_aranges (optional, malformed sets are ignored).
    try {
      readAranges(sec.aranges, (cuOff, lo, hi) => {
        const idx = byOffset.get(cuOff);
        if (idx === undefined || !units[idx]!.isCompile) return;
        covered[idx] = 1;
        eLo.push(lo); eHi.push(hi); eU.push(idx);
      });
    } catch (e) { errors.record('aranges', e); /* fall back to unit DIE ranges below */ }
    // 2. Units not described by .debug_aranges: ranges of the unit DIE.
    for (const u of units) {
      if (covered[u.index] || !u.isCompile) continue;
      ensureRoot(u);
      if (!u.isCompile) continue;
      const sink = (lo: number, hi: number) => { if (hi > lo) { eLo.push(lo); eHi.push(hi); eU.push(u.index); } };
      if (u.highPc !== undefined) sink(u.lowPc, u.highPc);
      else if (u.rangesOffset !== undefined) {
        try { readRanges(u, sec, u.rangesForm, u.rangesOffset, sink); } catch (e) { errors.record('ranges', e); }
      }
    }
    [this.lo, this.hi, this.unit] = sweep(eLo.finish(), eHi.finish(), eU.finish());
  }

  find(addr: number): number {
    const l = this.lo;
    let a = 0, b = l.length;
    while (a < b) { const m = (a + b) >>> 1; if (l[m]! <= addr) a = m + 1; else b = m; }
    if (a === 0 || addr >= this.hi[a - 1]!) return -1;
    return this.unit[a - 1]!;
  }
}

function readAranges(buf: Buffer, emit: (cuOff: number, lo: number, hi: number) => void): void {
  const r = new Reader(buf);
  while (r.pos + 12 <= buf.length) {
    const start = r.pos;
    const { length, offsetSize } = r.initialLength();
    const end = r.pos + length;
    if (end > buf.length) return;
    r.u16();
    const cuOff = r.uN(offsetSize);
    const addrSize = r.u8();
    r.u8();
    const tuple = 2 * addrSize;
    r.pos = start + Math.ceil((r.pos - start) / tuple) * tuple;
    while (r.pos + tuple <= end) {
      const a = r.uN(addrSize);
      const l = r.uN(addrSize);
      if (a === 0 && l === 0) break;
      if (l > 0) emit(cuOff, a, a + l);
    }
    r.pos = end;
  }
}

/** Splits overlapping ranges; each piece goes to the lowest-index unit covering it. */
function sweep(lo: Float64Array, hi: Float64Array, unit: Int32Array): [Float64Array, Float64Array, Int32Array] {
  const n = lo.length;
  const ev = new Float64Array(2 * n);
  const idx = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) { ev[2 * i] = lo[i]!; ev[2 * i + 1] = hi[i]!; }
  sortEvents(ev, idx);
  const oLo = new F64Builder(), oHi = new F64Builder(), oU = new I32Builder();
  const active: number[] = [];
  let prev = 0;
  for (let k = 0; k < idx.length; k++) {
    const e = idx[k]!;
    const at = ev[e]!;
    if (prev < at && active.length > 0) {
      let best = active[0]!;
      for (const u of active) if (u < best) best = u;
      if (oU.n > 0 && oHi.a[oHi.n - 1] === prev && oU.a[oU.n - 1] === best) oHi.a[oHi.n - 1] = at;
      else { oLo.push(prev); oHi.push(at); oU.push(best); }
    }
    const u = unit[e >> 1]!;
    if ((e & 1) === 0) active.push(u);
    else { const p = active.indexOf(u); if (p >= 0) active.splice(p, 1); }
    prev = at;
  }
  return [oLo.finish(), oHi.finish(), oU.finish()];
}


const TWO20 = 1 << 20;

/**
 * Fills `idx` with the event indices ordered by (address, start before end, index). When
 * addresses fit 32 bits and there are fewer than 2^20 events (every object but the kernel's),
 * the whole order packs exactly into one double per event and a plain numeric sort does it:
 * a comparator sort boxed a heap number per comparison (MiBs for libc's ~2,000 ranges).
 */
export function sortEvents(ev: Float64Array, idx: Uint32Array): void {
  const m = ev.length;
  let max = 0;
  for (let i = 0; i < m; i++) if (ev[i]! > max) max = ev[i]!;
  if (max >= 4294967296 || m >= TWO20) {
    for (let i = 0; i < m; i++) idx[i] = i;
    idx.sort((a, b) => ev[a]! - ev[b]! || (a & 1) - (b & 1) || a - b);
    return;
  }
  const keys = new Float64Array(m);
  for (let i = 0; i < m; i++) keys[i] = (ev[i]! * 2 + (i & 1)) * TWO20 + i;
  keys.sort();
  for (let i = 0; i < m; i++) idx[i] = keys[i]! % TWO20;
}
