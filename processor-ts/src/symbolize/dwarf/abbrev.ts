import { Reader } from '../reader.js';
import { DW_FORM_implicit_const } from './constants.js';
import { DwarfError } from '../types.js';
import { I32Builder } from './growable.js';

/**
 * Abbreviation table packed into one Int32Array: at each abbreviation's header index h,
 * data[h] = tag, data[h + 1] = has-children flag, data[h + 2] = attribute count n, then n
 * (attribute, form) pairs. Flat storage because libc's debug file has ~1,600 tables and ~55,000
 * abbreviations: one object plus two arrays each made parsing and GC a large share of cold time.
 */
export class AbbrevTable {
  readonly data: Int32Array;
  /** DW_FORM_implicit_const values, indexed like `data` at the pair's attribute slot (only if any). */
  readonly consts: Float64Array | undefined;
  /** Code → header index + 1 (0: no such code), for codes below DENSE_MAX. */
  private readonly denseIndex: Int32Array;
  private readonly sparse: Map<number, number> | undefined;

  private constructor(data: Int32Array, consts: Float64Array | undefined, dense: Int32Array, sparse: Map<number, number> | undefined) {
    this.data = data;
    this.consts = consts;
    this.denseIndex = dense;
    this.sparse = sparse;
  }

  /** Header index of abbreviation `code` in `data`. */
  find(code: number): number {
    const h = code < this.denseIndex.length ? this.denseIndex[code]! - 1 : (this.sparse?.get(code) ?? -1);
    if (h < 0) throw new DwarfError(`unknown abbreviation code ${code}`);
    return h;
  }

  static parse(buf: Buffer, offset: number): AbbrevTable {
    // One cursor, no closure: a LEB128 reader closing over a mutable position kept that position
    // in a heap context, read and written per value.
    const r = new Reader(buf, offset);
    const data = SCRATCH_DATA.reset(), dense = SCRATCH_DENSE.reset();
    let sparse: Map<number, number> | undefined;
    let consts: Map<number, number> | undefined;
    for (;;) {
      const code = r.uleb();
      if (code === 0) break;
      const tag = r.uleb();
      if (r.pos >= buf.length) throw new DwarfError('truncated abbreviation table');
      const h = data.n;
      data.push(tag > 0x7fffffff ? -1 : tag); data.push(buf[r.pos++] !== 0 ? 1 : 0); data.push(0);
      let n = 0;
      for (;;) {
        const at = r.uleb();
        const form = r.uleb();
        if (at === 0 && form === 0) break;
        const k = data.n;
        // Values past int32 name no known attribute or form: -1 keeps them unknown (skipForm rejects the form).
        data.push(at > 0x7fffffff ? -1 : at); data.push(form > 0x7fffffff ? -1 : form); n++;
        if (form === DW_FORM_implicit_const) {
          consts ??= new Map();
          consts.set(k, r.sleb());
        }
      }
      data.a[h + 2] = n;
      if (code < DENSE_MAX) {
        // A duplicated code keeps its last definition, as before.
        while (dense.n <= code) dense.push(0);
        dense.a[code] = h + 1;
      } else (sparse ??= new Map()).set(code, h);
    }
    const out = data.finish();
    let c: Float64Array | undefined;
    if (consts) { c = new Float64Array(out.length); for (const [k, v] of consts) c[k] = v; }
    return new AbbrevTable(out, c, dense.finish(), sparse);
  }
}

const DENSE_MAX = 100000;
/** Scratch for parsing (synchronous, not re-entrant). */
const SCRATCH_DATA = new I32Builder(4096);
const SCRATCH_DENSE = new I32Builder(1024);
