import type { Reader } from '../reader.js';
import { F64Builder, U32Builder } from './growable.js';

/** Header fields the line-number state machine needs. */
export interface ProgramParams {
  readonly version: number;
  readonly minInst: number;
  readonly lineBase: number;
  readonly lineRange: number;
  readonly opcodeBase: number;
  /** Operand counts of the standard opcodes, indexed by opcode. */
  readonly stdLens: Uint8Array;
}

/** Decoded rows and sequences (rows [seqFirst, seqLast) cover [seqLo, seqHi)), in program order. */
export interface LineRows {
  n: number;
  addr: Float64Array;
  file: Uint32Array;
  line: Uint32Array;
  column: Uint32Array;
  q: number;
  seqLo: Float64Array;
  seqHi: Float64Array;
  seqFirst: Uint32Array;
  seqLast: Uint32Array;
}

/**
 * Runs the line-number program from `r.pos` to `end` (decodeRows). The rows are scratch (`out`),
 * valid until the next call.
 */
export function decodeProgram(r: Reader, end: number, p: ProgramParams, defineFile: (name: string, dir: number) => void): LineRows {
  decodeRows(r, end, p, defineFile);
  const rows = JS_ROWS;
  rows.n = out.rows; rows.addr = out.addr; rows.file = out.file; rows.line = out.line; rows.column = out.column;
  rows.q = out.seqLo.n; rows.seqLo = out.seqLo.a; rows.seqHi = out.seqHi.a; rows.seqFirst = out.seqFirst.a; rows.seqLast = out.seqLast.a;
  return rows;
}

/**
 * Decoded rows, in module scratch reused by every table (decoding is synchronous and not
 * re-entrant); valid until the next decodeProgram call. Sequences: rows [first, last) with
 * addresses [lo, hi), in program order.
 */
export const out = {
  rows: 0,
  addr: new Float64Array(32768), file: new Uint32Array(32768), line: new Uint32Array(32768), column: new Uint32Array(32768),
  seqLo: new F64Builder(64), seqHi: new F64Builder(64), seqFirst: new U32Builder(64), seqLast: new U32Builder(64),
};

const JS_ROWS: LineRows = {
  n: 0, addr: out.addr, file: out.file, line: out.line, column: out.column,
  q: 0, seqLo: out.seqLo.a, seqHi: out.seqHi.a, seqFirst: out.seqFirst.a, seqLast: out.seqLast.a,
};

function grow(): void {
  const n = out.addr.length * 2;
  const a = new Float64Array(n); a.set(out.addr); out.addr = a;
  const f = new Uint32Array(n); f.set(out.file); out.file = f;
  const l = new Uint32Array(n); l.set(out.line); out.line = l;
  const c = new Uint32Array(n); c.set(out.column); out.column = c;
}

/**
 * Runs the line-number program from `r.pos` to `end` into `out`. Kept apart from header parsing
 * and free of closures and object property traffic in the loop: a cold run spends much of its
 * time before and between TurboFan compilations of this loop, and a small function compiles
 * sooner (and deoptimises less) than the whole table constructor did.
 * `defineFile` receives DW_LNE_define_file entries (DWARF < 5).
 */
function decodeRows(r: Reader, end: number, p: ProgramParams, defineFile: (name: string, dir: number) => void): void {
  const { version, minInst, lineBase, lineRange, opcodeBase, stdLens } = p;
  const buf = r.buf;
  const constAddPc = Math.floor((255 - opcodeBase) / lineRange) * minInst;
  let A = out.addr, F = out.file, L = out.line, Col = out.column;
  let n = 0;
  out.seqLo.reset(); out.seqHi.reset(); out.seqFirst.reset(); out.seqLast.reset();
  let address = 0, file = 1, line = 1, column = 0, seqStart = -1;
  let pos = r.pos;
  while (pos < end) {
    const op = buf[pos++]!;
    let emitRow = false;
    if (op >= opcodeBase) {
      const adj = op - opcodeBase;
      address += Math.floor(adj / lineRange) * minInst;
      line += lineBase + (adj % lineRange);
      emitRow = true;
    } else if (op === 1) {
      emitRow = true;
    } else if (op === 0) {
      r.pos = pos;
      const len = r.uleb();
      const next = r.pos + len;
      if (len === 0) { pos = r.pos; continue; }
      const sub = r.u8();
      if (sub === 1) { // end_sequence
        if (seqStart < 0) seqStart = n;
        if (n === A.length) { grow(); A = out.addr; F = out.file; L = out.line; Col = out.column; }
        A[n] = address; F[n] = file; L[n] = line; Col[n] = column; n++;
        const lo = A[seqStart]!;
        if (lo < address) { out.seqLo.push(lo); out.seqHi.push(address); out.seqFirst.push(seqStart); out.seqLast.push(n); }
        else n = seqStart; // drop empty/invalid sequence
        address = 0; file = 1; line = 1; column = 0; seqStart = -1;
      } else if (sub === 2) {
        address = r.uN(len - 1);
      } else if (sub === 3 && version < 5) {
        const name = r.cstr(); const dir = r.uleb();
        defineFile(name, dir);
      }
      pos = next;
    } else if (op === 2 || op === 4 || op === 5) {
      // Operands are almost always one-byte ULEB128s.
      let v = pos < end ? buf[pos]! : 0x80;
      if (v < 0x80) pos++;
      else { r.pos = pos; v = r.uleb(); pos = r.pos; }
      if (op === 2) address += v * minInst;
      else if (op === 4) file = v;
      else column = v;
    } else if (op === 3) {
      r.pos = pos; line += r.sleb(); pos = r.pos;
    } else if (op === 8) {
      address += constAddPc;
    } else if (op === 9) {
      r.pos = pos; address += r.u16(); pos = r.pos;
    } else if (op !== 6 && op !== 7 && op !== 10 && op !== 11) {
      r.pos = pos;
      for (let i = 0; i < stdLens[op]!; i++) r.skipUleb();
      pos = r.pos;
    }
    if (emitRow) {
      if (seqStart < 0) seqStart = n;
      if (n === A.length) { grow(); A = out.addr; F = out.file; L = out.line; Col = out.column; }
      A[n] = address; F[n] = file; L[n] = line; Col[n] = column; n++;
    }
  }
  r.pos = pos;
  out.rows = n;
}
