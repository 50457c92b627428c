import type { Line, ProfilesDictionary } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { hashInts, Interner, line, resolveValue, sameInts, valueKey } from './dict.js';
import type { Granularity } from './options.js';

const UNSET = -1;
const EMPTY: readonly number[] = Object.freeze([]);

/**
 * Translates indices of one source dictionary into an Interner, row by row and only for rows
 * that are used (memoized per source index), coarsening locations to the granularity.
 * One Importer serves one source dictionary.
 */
export class Importer {
  private readonly str: Int32Array;
  private readonly fn: Int32Array;
  private readonly map: Int32Array;
  private readonly loc: Int32Array;
  private readonly stk: Int32Array;
  private readonly attr: Int32Array;
  private readonly lnk: Int32Array;

  constructor(private readonly src: ProfilesDictionary, readonly to: Interner, private readonly granularity: Granularity = 'address') {
    this.str = new Int32Array(src.stringTable.length).fill(UNSET);
    this.fn = new Int32Array(src.functionTable.length).fill(UNSET);
    this.map = new Int32Array(src.mappingTable.length).fill(UNSET);
    this.loc = new Int32Array(src.locationTable.length).fill(UNSET);
    this.stk = new Int32Array(src.stackTable.length).fill(UNSET);
    this.attr = new Int32Array(src.attributeTable.length).fill(UNSET);
    this.lnk = new Int32Array(src.linkTable.length).fill(UNSET);
  }

  string(i: number): number {
    if (i <= 0 || i >= this.str.length) return 0;
    let o = this.str[i]!;
    if (o === UNSET) this.str[i] = o = this.to.string(this.src.stringTable[i]!);
    return o;
  }

  function(i: number): number {
    if (i <= 0 || i >= this.fn.length) return 0;
    let o = this.fn[i]!;
    if (o === UNSET) {
      const f = this.src.functionTable[i]!;
      this.fn[i] = o = this.to.function(this.string(f.nameStrindex), this.string(f.systemNameStrindex), this.string(f.filenameStrindex), f.startLine);
    }
    return o;
  }

  /** Sorted, de-duplicated target attribute indices (the zero attribute left out). */
  attributes(idx: readonly number[]): number[] {
    return remapAttributes(idx, this.attributeOf);
  }

  private readonly attributeOf = (i: number): number => this.attribute(i);
  /** sampleAttributes' answers by hashInts of the source indices. */
  private readonly sampleAttrs = new Map<number, Array<{ src: readonly number[]; out: readonly number[] }>>();

  /**
   * attributes() for a sample's list, shared by every sample with the same source indices (a
   * thread's samples): read-only, the caller copies it before handing it out. A new list per
   * sample was most of what merging allocated besides the output.
   */
  sampleAttributes(idx: readonly number[]): readonly number[] {
    if (idx.length === 0) return EMPTY;
    const h = hashInts(idx);
    let same = this.sampleAttrs.get(h);
    if (same === undefined) this.sampleAttrs.set(h, (same = []));
    for (let k = 0; k < same.length; k++) if (sameInts(same[k]!.src, idx)) return same[k]!.out;
    const out = this.attributes(idx);
    same.push({ src: idx, out });
    return out;
  }

  attribute(i: number): number {
    if (i <= 0 || i >= this.attr.length) return 0;
    let o = this.attr[i]!;
    if (o === UNSET) {
      const kv = this.src.attributeTable[i]!;
      const v = resolveValue(kv.value, this.src.stringTable);
      this.attr[i] = o = this.to.attribute(this.string(kv.keyStrindex), this.string(kv.unitStrindex), v, valueKey(v));
    }
    return o;
  }

  mapping(i: number): number {
    if (i <= 0 || i >= this.map.length) return 0;
    let o = this.map[i]!;
    if (o === UNSET) {
      const m = this.src.mappingTable[i]!;
      this.map[i] = o = this.to.mapping(m.memoryStart, m.memoryLimit, m.fileOffset, this.string(m.filenameStrindex), this.attributes(m.attributeIndices));
    }
    return o;
  }

  location(i: number): number {
    if (i <= 0 || i >= this.loc.length) return 0;
    let o = this.loc[i]!;
    if (o === UNSET) {
      const l = this.src.locationTable[i]!;
      const coarse = this.granularity !== 'address' && l.lines.length > 0;
      const byFunction = this.granularity === 'function';
      const lines = new Array<Line>(l.lines.length);
      for (let n = 0; n < lines.length; n++) {
        const ln = l.lines[n]!;
        lines[n] = line(this.function(ln.functionIndex), byFunction ? 0n : ln.line, coarse ? 0n : ln.column);
      }
      this.loc[i] = o = this.to.location(this.mapping(l.mappingIndex), coarse ? 0n : l.address, lines, this.attributes(l.attributeIndices));
    }
    return o;
  }

  stack(i: number): number {
    if (i <= 0 || i >= this.stk.length) return 0;
    let o = this.stk[i]!;
    if (o === UNSET) {
      const s = this.src.stackTable[i]!;
      const locs = new Array<number>(s.locationIndices.length);
      for (let k = 0; k < locs.length; k++) locs[k] = this.location(s.locationIndices[k]!);
      this.stk[i] = o = this.to.stack(locs);
    }
    return o;
  }

  link(i: number): number {
    if (i <= 0 || i >= this.lnk.length) return 0;
    let o = this.lnk[i]!;
    if (o === UNSET) {
      const l = this.src.linkTable[i]!;
      this.lnk[i] = o = this.to.link(l.traceId, l.spanId);
    }
    return o;
  }
}

/** Attribute lists up to this long are sorted in place by insertion; longer ones (rare, bounded by the request limits) by Array.prototype.sort. */
const SORT_IN_PLACE = 16;

/**
 * Maps attribute indices through `attribute` and returns the results sorted
 * and de-duplicated, the zero attribute left out: the order OTLP readers
 * compare attribute lists in, so equal sets merge.
 */
export function remapAttributes(idx: readonly number[], attribute: (i: number) => number): number[] {
  if (idx.length === 0) return [];
  const out: number[] = [];
  for (let k = 0; k < idx.length; k++) {
    const a = attribute(idx[k]!);
    if (a !== 0) out.push(a);
  }
  if (out.length > SORT_IN_PLACE) out.sort((a, b) => a - b);
  else if (out.length > 1) {
    // Insertion sort: lists are a few attributes long, and Array.prototype.sort allocates a
    // working copy per call (a megabyte a batch over every sample's attributes).
    for (let r = 1; r < out.length; r++) {
      const v = out[r]!;
      let j = r - 1;
      while (j >= 0 && out[j]! > v) {
        out[j + 1] = out[j]!;
        j--;
      }
      out[j + 1] = v;
    }
  }
  if (out.length > 1) {
    let w = 1;
    for (let r = 1; r < out.length; r++) if (out[r] !== out[w - 1]) out[w++] = out[r]!;
    out.length = w;
  }
  return out;
}
