// The WebAssembly build of dwarf.c (abbreviation tables, skip programs, line-number programs)
// and the linear memory it works in. Every entry point returns undefined when the module is not
// available (disabled, or it failed to load): the callers then run their TypeScript twin, which
// gives the same results. Parse errors are thrown as DwarfError, as the TypeScript path throws.
import { DwarfError } from '../types.js';
import { WASM_BASE64 } from '../../gen/wasm/dwarf-wasm.js';
import { instantiate, nativeEnabled, setNativeEnabled, type WasmMemory } from './wasm.js';

interface Exports {
  readonly memory: WasmMemory;
  result_ptr(): number;
  heap_base(): number;
  abbrev_parse(sec: number, len: number, off: number, data: number, dataCap: number, dense: number, denseCap: number,
    sparse: number, sparseCap: number, consts: number, constsCap: number): number;
  skip_programs(data: number, n: number, version: number, addrSize: number, offsetSize: number,
    sibTags: number, nsib: number, ops: number, opsCap: number, start: number): number;
  line_program(sec: number, len: number, pos: number, end: number, params: number, addr: number, file: number, line: number,
    column: number, cap: number, seqLo: number, seqHi: number, seqFirst: number, seqLast: number): number;
  walk_unit(sec: number, len: number, unit: number, data: number, n: number, consts: number, dense: number, ndense: number,
    hasSparse: number, ops: number, nops: number, start: number, sibTags: number, nsib: number,
    recs: number, recCap: number, stack: number, stackCap: number): number;
}

const OK = 0, OVERFLOW = -1, DECLINE = -2;
const MESSAGES = new Map<number, string>([
  [-10, 'truncated LEB128'], [-11, 'truncated abbreviation table'], [-12, 'read past end'], [-13, 'unsupported size'],
  [-14, 'unknown form'], [-15, 'attribute past end of unit'], [-16, 'unterminated string'], [-17, 'unknown abbreviation code'],
]);
/** Bytes of dwarf.c's struct record: four doubles (DIE offset, low, high, ranges), then eight int32. */
const RECORD = 64;
const DENSE_MAX = 100000;
/**
 * Section copies may fill the linear memory up to this many bytes; the next copy past it starts
 * the arena over (every copy is made again on its next use). WebAssembly memory never shrinks:
 * this bounds it, with the largest single call's scratch on top. A section larger than a
 * quarter of it is left to the TypeScript path.
 */
const ARENA_BYTES = 128 << 20;
const PAGE = 65536;

function fail(status: number): never {
  throw new DwarfError(MESSAGES.get(status) ?? `native reader status ${status}`);
}

export class NativeDwarf {
  private readonly x: Exports;
  private readonly arenaBytes: number;
  private readonly base: number;
  private readonly result: number;
  private top: number;
  /** Bumped when the arena starts over: copies of an older generation are gone. */
  private gen = 0;
  private readonly copies = new WeakMap<Uint8Array, { gen: number; ptr: number }>();
  private abbrevCap = 16384;
  private recCap = 4096;
  private stackCap = 256;

  constructor(x: Exports, arenaBytes: number) {
    this.x = x;
    this.arenaBytes = arenaBytes;
    this.base = this.top = align(x.heap_base());
    this.result = x.result_ptr();
  }

  /** Reserves `n` bytes (8-aligned) at the top of the arena, growing the memory as needed. */
  private alloc(n: number): number {
    const p = this.top;
    const end = align(p + n);
    const have = this.x.memory.buffer.byteLength;
    if (end > have) this.x.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return p;
  }

  /** Address of `buf`'s copy in linear memory (copied on first use), or undefined if too large. */
  private section(buf: Uint8Array): number | undefined {
    const c = this.copies.get(buf);
    if (c && c.gen === this.gen) return c.ptr;
    if (buf.length > this.arenaBytes / 4) return undefined;
    if (this.top + buf.length > this.base + this.arenaBytes) { this.top = this.base; this.gen++; }
    const ptr = this.alloc(buf.length);
    new Uint8Array(this.x.memory.buffer, ptr, buf.length).set(buf);
    this.copies.set(buf, { gen: this.gen, ptr });
    return ptr;
  }

  private counts(): Int32Array {
    return new Int32Array(this.x.memory.buffer, this.result, 5);
  }

  abbrevs(buf: Uint8Array, offset: number): NativeAbbrevs | undefined {
    const sec = this.section(buf);
    if (sec === undefined) return undefined;
    const mark = this.top;
    try {
      for (;;) {
        const cap = this.abbrevCap, half = cap >>> 1;
        const data = this.alloc(4 * cap), dense = this.alloc(4 * DENSE_MAX), sparse = this.alloc(16 * half), consts = this.alloc(16 * half);
        const st = this.x.abbrev_parse(sec, buf.length, offset, data, cap, dense, DENSE_MAX, sparse, half, consts, half);
        if (st === OVERFLOW) { this.abbrevCap *= 2; this.top = mark; continue; }
        if (st !== OK) fail(st);
        const [n, nd, ns, nc] = this.counts();
        const mem = this.x.memory.buffer;
        const out: NativeAbbrevs = {
          data: new Int32Array(mem, data, n).slice(),
          dense: new Int32Array(mem, dense, nd).slice(),
          sparse: undefined, consts: undefined,
        };
        if (ns! > 0) {
          const s = new Float64Array(mem, sparse, 2 * ns!);
          out.sparse = new Map();
          for (let i = 0; i < ns!; i++) out.sparse.set(s[2 * i]!, s[2 * i + 1]!);
        }
        if (nc! > 0) {
          const c = new Float64Array(mem, consts, 2 * nc!);
          out.consts = new Float64Array(n!);
          for (let i = 0; i < nc!; i++) out.consts[c[2 * i]!] = c[2 * i + 1]!;
        }
        return out;
      }
    } finally {
      this.top = mark;
    }
  }

  skipPrograms(data: Int32Array, version: number, addrSize: number, offsetSize: number, sibTags: Int32Array): { ops: Int32Array; start: Int32Array } {
    const mark = this.top;
    try {
      const n = data.length;
      const d = this.alloc(4 * n), tags = this.alloc(4 * sibTags.length), ops = this.alloc(4 * (n + 2)), start = this.alloc(4 * n);
      const mem = this.x.memory.buffer;
      new Int32Array(mem, d, n).set(data);
      new Int32Array(mem, tags, sibTags.length).set(sibTags);
      const st = this.x.skip_programs(d, n, version, addrSize, offsetSize, tags, sibTags.length, ops, n + 2, start);
      if (st !== OK) fail(st);
      const no = this.counts()[0]!;
      return { ops: new Int32Array(mem, ops, no).slice(), start: new Int32Array(mem, start, n).slice() };
    } finally {
      this.top = mark;
    }
  }

  /**
   * Runs a line-number program; the rows are views of linear memory, valid until the next call
   * into this module. 'decline' when the program defines files (DW_LNE_define_file).
   */
  lineProgram(buf: Uint8Array, pos: number, end: number, p: LineParams): LineRows | 'decline' | undefined {
    const sec = this.section(buf);
    if (sec === undefined) return undefined;
    const mark = this.top;
    try {
      const cap = Math.max(end - pos + 1, 1);
      const params = this.alloc(20 + 256);
      const addr = this.alloc(8 * cap), file = this.alloc(4 * cap), line = this.alloc(4 * cap), column = this.alloc(4 * cap);
      const seqLo = this.alloc(8 * cap), seqHi = this.alloc(8 * cap), seqFirst = this.alloc(4 * cap), seqLast = this.alloc(4 * cap);
      const mem = this.x.memory.buffer;
      const head = new Int32Array(mem, params, 5);
      head[0] = p.version; head[1] = p.minInst; head[2] = p.lineBase; head[3] = p.lineRange; head[4] = p.opcodeBase;
      const lens = new Uint8Array(mem, params + 20, 256);
      lens.fill(0); lens.set(p.stdLens.subarray(0, 256));
      const st = this.x.line_program(sec, buf.length, pos, end, params, addr, file, line, column, cap, seqLo, seqHi, seqFirst, seqLast);
      if (st === DECLINE) return 'decline';
      if (st !== OK) fail(st);
      const [n, q] = this.counts();
      return {
        n: n!, addr: new Float64Array(mem, addr, n), file: new Uint32Array(mem, file, n), line: new Uint32Array(mem, line, n),
        column: new Uint32Array(mem, column, n), q: q!, seqLo: new Float64Array(mem, seqLo, q), seqHi: new Float64Array(mem, seqHi, q),
        seqFirst: new Uint32Array(mem, seqFirst, q), seqLast: new Uint32Array(mem, seqLast, q),
      };
    } finally {
      this.top = mark;
    }
  }

  /**
   * Walks the DIEs of one unit: subprogram and inlined-subroutine records, unresolved (see
   * WalkRecords), as views of linear memory valid until the next call; 'decline' when the unit
   * uses an abbreviation code only the table's sparse map holds.
   */
  walkUnit(buf: Uint8Array, u: WalkUnit, t: WalkTable, ops: Int32Array, start: Int32Array, sibTags: Int32Array): WalkRecords | 'decline' | undefined {
    const sec = this.section(buf);
    if (sec === undefined) return undefined;
    const mark = this.top;
    try {
      const n = t.data.length;
      const unit = this.alloc(32), data = this.alloc(4 * n), consts = t.consts ? this.alloc(8 * n) : 0;
      const dense = this.alloc(4 * t.dense.length), o = this.alloc(4 * ops.length), st = this.alloc(4 * n), tags = this.alloc(4 * sibTags.length);
      const base = this.top;
      for (;;) {
        const recs = this.alloc(RECORD * this.recCap), stack = this.alloc(4 * this.stackCap);
        let mem = this.x.memory.buffer;
        const head = new Int32Array(mem, unit, 8);
        head[0] = u.version; head[1] = u.addrSize; head[2] = u.offsetSize; head[3] = u.dieStart; head[4] = u.end;
        new Float64Array(mem, unit + 24, 1)[0] = u.offset;
        new Int32Array(mem, data, n).set(t.data);
        if (t.consts) new Float64Array(mem, consts, n).set(t.consts);
        new Int32Array(mem, dense, t.dense.length).set(t.dense);
        new Int32Array(mem, o, ops.length).set(ops);
        new Int32Array(mem, st, n).set(start);
        new Int32Array(mem, tags, sibTags.length).set(sibTags);
        const status = this.x.walk_unit(sec, buf.length, unit, data, n, consts, dense, t.dense.length, t.hasSparse ? 1 : 0,
          o, ops.length, st, tags, sibTags.length, recs, this.recCap, stack, this.stackCap);
        if (status === OVERFLOW) {
          // Records or nesting did not fit: the one that ran out doubles (both: cheap either way).
          this.recCap *= 2; this.stackCap *= 2; this.top = base;
          continue;
        }
        if (status === DECLINE) return 'decline';
        if (status !== OK) fail(status);
        const count = this.counts()[0]!;
        mem = this.x.memory.buffer;
        return { n: count, f64: new Float64Array(mem, recs, 8 * count), i32: new Int32Array(mem, recs, 16 * count) };
      }
    } finally {
      this.top = mark;
    }
  }
}

function align(n: number): number { return (n + 7) & ~7; }

/** The unit shape walk_unit needs. */
export interface WalkUnit {
  readonly offset: number;
  readonly version: number;
  readonly addrSize: number;
  readonly offsetSize: number;
  readonly dieStart: number;
  readonly end: number;
}

/** An abbreviation table as walk_unit reads it. */
export interface WalkTable {
  readonly data: Int32Array;
  readonly consts: Float64Array | undefined;
  readonly dense: Int32Array;
  readonly hasSparse: boolean;
}

/**
 * Records of a walk, 64 bytes each: f64[8i..8i+3] = DIE offset, low, high, ranges value;
 * i32[16i+8..16i+14] = parent record, call file, call line, call column, low_pc form,
 * high_pc form, ranges form.
 */
export interface WalkRecords {
  n: number;
  f64: Float64Array;
  i32: Int32Array;
}

export interface NativeAbbrevs {
  data: Int32Array;
  dense: Int32Array;
  sparse: Map<number, number> | undefined;
  consts: Float64Array | undefined;
}

/** Header fields the line-number state machine needs. */
export interface LineParams {
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

/** Compiles and instantiates `bytes` (dwarf.wasm); throws when they are not that module. */
export function createNativeDwarf(bytes: Uint8Array, arenaBytes = ARENA_BYTES): NativeDwarf {
  return new NativeDwarf(instantiate<Exports>(bytes, ['result_ptr', 'heap_base', 'abbrev_parse', 'skip_programs', 'line_program', 'walk_unit']), arenaBytes);
}

let instance: NativeDwarf | null | undefined;
let source: Uint8Array | undefined;
/** Why the module did not load (undefined: it did, or was not tried). */
export let loadError: string | undefined;

/** The native reader, loaded on first use; undefined when disabled or when it cannot load. */
export function nativeDwarf(): NativeDwarf | undefined {
  if (!nativeEnabled()) return undefined;
  if (instance === undefined) {
    try {
      instance = createNativeDwarf(source ?? Buffer.from(WASM_BASE64, 'base64'));
      loadError = undefined;
    } catch (e) {
      loadError = e instanceof Error ? e.message : String(e);
      instance = null;
    }
  }
  return instance ?? undefined;
}

/**
 * Turns the native reader on or off (EBPF_OTEL_SYMBOLIZE_WASM=1 starts it on). Tests run both
 * paths, and give other module bytes to see the fallback when the module cannot load.
 */
export function setNativeDwarf(on: boolean, bytes?: Uint8Array): void {
  setNativeEnabled(on);
  if (bytes !== source) { source = bytes; instance = undefined; }
}
