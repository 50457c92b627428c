import { Reader } from '../reader.js';
import { DW_FORM_implicit_const } from './constants.js';
import { DwarfError } from '../types.js';

export interface Abbrev {
  readonly tag: number;
  readonly hasChildren: boolean;
  readonly attrs: Uint32Array;
  readonly forms: Uint32Array;
  /** Values of DW_FORM_implicit_const attributes (same index as attrs). */
  readonly consts: Float64Array | undefined;
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
    const r = new Reader(buf, offset);
    const attrs: number[] = [];
    const forms: number[] = [];
    const consts: number[] = [];
    for (;;) {
      const code = r.uleb();
      if (code === 0) break;
      const tag = r.uleb();
      const hasChildren = r.u8() !== 0;
      attrs.length = forms.length = consts.length = 0;
      let anyConst = false;
      for (;;) {
        const at = r.uleb();
        const form = r.uleb();
        if (at === 0 && form === 0) break;
        attrs.push(at);
        forms.push(form);
        if (form === DW_FORM_implicit_const) {
          consts.push(r.sleb());
          anyConst = true;
        } else consts.push(0);
      }
      const a: Abbrev = {
        tag,
        hasChildren,
        attrs: Uint32Array.from(attrs),
        forms: Uint32Array.from(forms),
        consts: anyConst ? Float64Array.from(consts) : undefined,
      };
      if (code < 100000) t.dense[code] = a;
      else t.sparse.set(code, a);
    }
    return t;
  }
}
