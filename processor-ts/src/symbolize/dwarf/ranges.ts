import { Reader } from '../reader.js';
import { DW_FORM_rnglistx } from './constants.js';
import { resolveAddress } from './forms.js';
import type { DwarfSections } from './sections.js';
import type { Unit } from './unit.js';

export type RangeSink = (lo: number, hi: number) => void;

/**
 * Decodes the DW_AT_ranges value of a DIE in unit `u` (DWARF 4 .debug_ranges or DWARF 5
 * .debug_rnglists) and reports each non-empty [lo, hi) to `sink`.
 */
export function readRanges(u: Unit, sec: DwarfSections, form: number, value: number, sink: RangeSink): void {
  if (u.version >= 5) readRnglist(u, sec, form, value, sink);
  else readDebugRanges(u, sec, value, sink);
}

function readDebugRanges(u: Unit, sec: DwarfSections, off: number, sink: RangeSink): void {
  const buf = sec.ranges;
  if (off >= buf.length) return;
  const r = new Reader(buf, off);
  const max = u.addrSize === 8 ? 2 ** 64 - 1 : 0xffffffff;
  let base = u.lowPc;
  while (r.pos + 2 * u.addrSize <= buf.length) {
    const a = r.uN(u.addrSize);
    const b = r.uN(u.addrSize);
    if (a === 0 && b === 0) return;
    if (a === max || (u.addrSize === 8 && a >= 2 ** 64 - 2048)) { base = b; continue; }
    if (b > a) sink(base + a, base + b);
  }
}

function readRnglist(u: Unit, sec: DwarfSections, form: number, value: number, sink: RangeSink): void {
  const buf = sec.rnglists;
  let off = value;
  if (form === DW_FORM_rnglistx) {
    const p = u.rnglistsBase + value * u.offsetSize;
    if (p + u.offsetSize > buf.length) return;
    const r = new Reader(buf, p);
    off = u.rnglistsBase + r.uN(u.offsetSize);
  }
  if (off >= buf.length) return;
  const r = new Reader(buf, off);
  let base = u.lowPc;
  const addrx = (i: number) => resolveAddress(0x1b, i, u, sec);
  for (;;) {
    const kind = r.u8();
    switch (kind) {
      case 0: return; // end_of_list
      case 1: base = addrx(r.uleb()); break; // base_addressx
      case 2: { const a = addrx(r.uleb()); const b = addrx(r.uleb()); if (b > a) sink(a, b); break; }
      case 3: { const a = addrx(r.uleb()); const l = r.uleb(); if (l > 0) sink(a, a + l); break; }
      case 4: { const a = r.uleb(); const b = r.uleb(); if (b > a) sink(base + a, base + b); break; }
      case 5: base = r.uN(u.addrSize); break;
      case 6: { const a = r.uN(u.addrSize); const b = r.uN(u.addrSize); if (b > a) sink(a, b); break; }
      case 7: { const a = r.uN(u.addrSize); const l = r.uleb(); if (l > 0) sink(a, a + l); break; }
      default: return; // unknown entry kind: stop decoding this list
    }
  }
}
