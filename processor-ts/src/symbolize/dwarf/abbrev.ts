import { Reader } from '../reader.js';
import { DW_FORM_implicit_const } from './constants.js';
import { DwarfError } from '../types.js';

export interface Abbrev {
  readonly tag: number;
  readonly hasChildren: boolean;
  readonly attrs: readonly number[];
  readonly forms: readonly number[];
  /** Values of DW_FORM_implicit_const attributes (same index as attrs). */
  readonly consts: readonly number[] | undefined;
}

/** Abbreviation table indexed by code (dense array; sparse codes go to a Map). */
export class AbbrevTable {
  private readonly dense: Array<Abbrev | undefined> = [];
  private readonly sparse = new Map<number, Abbrev>();

  get(code: number): Abbrev {
    const a = code < this.dense.length ? this.dense[code] : this.sparse.get(code);
    if (!a) throw new DwarfError(`unknown abbreviation code ${code}`);
    return a;
  }

  static parse(buf: Buffer, offset: number): AbbrevTable {
    const t = new AbbrevTable();
    const len = buf.length;
    let p = offset;
    // Hot loop over small ULEB128s: read with a local cursor, fall back to Reader for long ones.
    const r = new Reader(buf, offset);
    const uleb = (): number => {
      if (p < len) { const b = buf[p]!; if (b < 0x80) { p++; return b; } }
      r.pos = p;
      const v = r.uleb();
      p = r.pos;
      return v;
    };
    for (;;) {
      const code = uleb();
      if (code === 0) break;
      const tag = uleb();
      if (p >= len) throw new DwarfError('truncated abbreviation table');
      const hasChildren = buf[p++] !== 0;
      const attrs: number[] = [];
      const forms: number[] = [];
      let consts: number[] | undefined;
      for (;;) {
        const at = uleb();
        const form = uleb();
        if (at === 0 && form === 0) break;
        attrs.push(at);
        forms.push(form);
        if (form === DW_FORM_implicit_const) {
          consts ??= [];
          r.pos = p;
          consts[attrs.length - 1] = r.sleb();
          p = r.pos;
        }
      }
      const a: Abbrev = { tag, hasChildren, attrs, forms, consts };
      if (code < 100000) t.dense[code] = a;
      else t.sparse.set(code, a);
    }
    return t;
  }
}
