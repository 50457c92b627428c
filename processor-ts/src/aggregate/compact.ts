import { create } from '@bufbuild/protobuf';
import {
  type ProfilesData,
  type ProfilesDictionary,
  ProfileSchema,
  ProfilesDataSchema,
  ResourceProfilesSchema,
  SampleSchema,
  ScopeProfilesSchema,
  ValueTypeSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { Interner, resolveKeyValues } from './dict.js';
import { Importer, remapAttributes } from './importer.js';

/**
 * Rebuilds the dictionary of `data` from what its profiles reference: no duplicate rows in
 * any table, no rows nothing refers to, index 0 the zero value of every table. Samples are
 * kept one for one (use merge to sum equal ones). Resource and scope attributes that refer
 * to the string table are resolved to plain strings. Returns a new message; `data` is not
 * changed.
 */
export function compact(data: ProfilesData): ProfilesData {
  const it = new Interner();
  const src = data.dictionary;
  const strings = src?.stringTable ?? [];
  const imp = src ? new Importer(src, it) : undefined;
  const out = create(ProfilesDataSchema, { dictionary: it.dict });
  for (const rp of data.resourceProfiles) {
    const orp = create(ResourceProfilesSchema, { schemaUrl: rp.schemaUrl });
    if (rp.resource) orp.resource = { ...rp.resource, attributes: resolveKeyValues(rp.resource.attributes, strings) };
    for (const sp of rp.scopeProfiles) {
      const osp = create(ScopeProfilesSchema, { schemaUrl: sp.schemaUrl });
      if (sp.scope) osp.scope = { ...sp.scope, attributes: resolveKeyValues(sp.scope.attributes, strings) };
      for (const p of sp.profiles) {
        const op = create(ProfileSchema, { ...p, samples: [], attributeIndices: imp?.attributes(p.attributeIndices) ?? [] });
        op.sampleType = create(ValueTypeSchema, { typeStrindex: imp?.string(p.sampleType?.typeStrindex ?? 0) ?? 0, unitStrindex: imp?.string(p.sampleType?.unitStrindex ?? 0) ?? 0 });
        if (p.periodType) op.periodType = create(ValueTypeSchema, { typeStrindex: imp?.string(p.periodType.typeStrindex) ?? 0, unitStrindex: imp?.string(p.periodType.unitStrindex) ?? 0 });
        for (const s of p.samples) {
          op.samples.push(create(SampleSchema, {
            stackIndex: imp?.stack(s.stackIndex) ?? 0,
            attributeIndices: imp?.attributes(s.attributeIndices) ?? [],
            linkIndex: imp?.link(s.linkIndex) ?? 0,
            values: s.values,
            timestampsUnixNano: s.timestampsUnixNano,
          }));
        }
        osp.profiles.push(op);
      }
      orp.scopeProfiles.push(osp);
    }
    out.resourceProfiles.push(orp);
  }
  return out;
}

const UNSET = -1;

/**
 * compact() for a message whose dictionary rows are already distinct, as an Interner builds
 * them (a drained window): rows are only renumbered, in the order compact() would give them,
 * and rows nothing refers to (trimmed stacks) are dropped. No row is keyed or copied: `data`
 * and its rows are changed in place and returned. The result equals compact(data); it costs a
 * fraction of it (the window's merge interned every row once already).
 */
export function compactDistinct(data: ProfilesData): ProfilesData {
  const d = data.dictionary;
  if (!d) return compact(data);
  const r = new Renumber(d);
  for (const rp of data.resourceProfiles) {
    for (const sp of rp.scopeProfiles) {
      for (const p of sp.profiles) {
        p.attributeIndices = r.attributes(p.attributeIndices);
        if (p.sampleType) {
          p.sampleType.typeStrindex = r.string(p.sampleType.typeStrindex);
          p.sampleType.unitStrindex = r.string(p.sampleType.unitStrindex);
        } else {
          p.sampleType = create(ValueTypeSchema);
        }
        if (p.periodType) {
          p.periodType.typeStrindex = r.string(p.periodType.typeStrindex);
          p.periodType.unitStrindex = r.string(p.periodType.unitStrindex);
        }
        for (const s of p.samples) {
          s.stackIndex = r.stack(s.stackIndex);
          s.attributeIndices = r.attributes(s.attributeIndices);
          s.linkIndex = r.link(s.linkIndex);
        }
      }
    }
  }
  r.finish();
  return data;
}

/** New indices of one dictionary's rows, given in order of first reference (as Importer gives them). */
class Renumber {
  private readonly str: Int32Array;
  private readonly fn: Int32Array;
  private readonly map: Int32Array;
  private readonly loc: Int32Array;
  private readonly stk: Int32Array;
  private readonly attr: Int32Array;
  private readonly lnk: Int32Array;
  private readonly strings: string[];
  private readonly functions: ProfilesDictionary['functionTable'];
  private readonly mappings: ProfilesDictionary['mappingTable'];
  private readonly locations: ProfilesDictionary['locationTable'];
  private readonly stacks: ProfilesDictionary['stackTable'];
  private readonly attributeRows: ProfilesDictionary['attributeTable'];
  private readonly links: ProfilesDictionary['linkTable'];

  constructor(private readonly d: ProfilesDictionary) {
    const table = <T>(rows: T[], map: Int32Array): T[] => {
      map.fill(UNSET);
      if (rows.length > 0) map[0] = 0;
      return rows.length > 0 ? [rows[0]!] : [];
    };
    this.str = new Int32Array(d.stringTable.length);
    this.fn = new Int32Array(d.functionTable.length);
    this.map = new Int32Array(d.mappingTable.length);
    this.loc = new Int32Array(d.locationTable.length);
    this.stk = new Int32Array(d.stackTable.length);
    this.attr = new Int32Array(d.attributeTable.length);
    this.lnk = new Int32Array(d.linkTable.length);
    this.strings = table(d.stringTable, this.str);
    this.functions = table(d.functionTable, this.fn);
    this.mappings = table(d.mappingTable, this.map);
    this.locations = table(d.locationTable, this.loc);
    this.stacks = table(d.stackTable, this.stk);
    this.attributeRows = table(d.attributeTable, this.attr);
    this.links = table(d.linkTable, this.lnk);
  }

  string(i: number): number {
    if (i <= 0 || i >= this.str.length) return 0;
    let o = this.str[i]!;
    if (o === UNSET) this.str[i] = o = this.strings.push(this.d.stringTable[i]!) - 1;
    return o;
  }

  function(i: number): number {
    if (i <= 0 || i >= this.fn.length) return 0;
    let o = this.fn[i]!;
    if (o === UNSET) {
      const f = this.d.functionTable[i]!;
      f.nameStrindex = this.string(f.nameStrindex);
      f.systemNameStrindex = this.string(f.systemNameStrindex);
      f.filenameStrindex = this.string(f.filenameStrindex);
      this.fn[i] = o = this.functions.push(f) - 1;
    }
    return o;
  }

  /** Sorted new indices (as Importer.attributes gives them; rows are distinct, so no duplicates arise). */
  attributes(idx: readonly number[]): number[] {
    return remapAttributes(idx, (i) => this.attribute(i));
  }

  attribute(i: number): number {
    if (i <= 0 || i >= this.attr.length) return 0;
    let o = this.attr[i]!;
    if (o === UNSET) {
      const kv = this.d.attributeTable[i]!;
      kv.keyStrindex = this.string(kv.keyStrindex);
      kv.unitStrindex = this.string(kv.unitStrindex);
      this.attr[i] = o = this.attributeRows.push(kv) - 1;
    }
    return o;
  }

  mapping(i: number): number {
    if (i <= 0 || i >= this.map.length) return 0;
    let o = this.map[i]!;
    if (o === UNSET) {
      const m = this.d.mappingTable[i]!;
      m.filenameStrindex = this.string(m.filenameStrindex);
      m.attributeIndices = this.attributes(m.attributeIndices);
      this.map[i] = o = this.mappings.push(m) - 1;
    }
    return o;
  }

  location(i: number): number {
    if (i <= 0 || i >= this.loc.length) return 0;
    let o = this.loc[i]!;
    if (o === UNSET) {
      const l = this.d.locationTable[i]!;
      for (const ln of l.lines) ln.functionIndex = this.function(ln.functionIndex);
      l.mappingIndex = this.mapping(l.mappingIndex);
      l.attributeIndices = this.attributes(l.attributeIndices);
      this.loc[i] = o = this.locations.push(l) - 1;
    }
    return o;
  }

  stack(i: number): number {
    if (i <= 0 || i >= this.stk.length) return 0;
    let o = this.stk[i]!;
    if (o === UNSET) {
      const s = this.d.stackTable[i]!;
      const idx = s.locationIndices;
      for (let k = 0; k < idx.length; k++) idx[k] = this.location(idx[k]!);
      this.stk[i] = o = this.stacks.push(s) - 1;
    }
    return o;
  }

  link(i: number): number {
    if (i <= 0 || i >= this.lnk.length) return 0;
    let o = this.lnk[i]!;
    if (o === UNSET) this.lnk[i] = o = this.links.push(this.d.linkTable[i]!) - 1;
    return o;
  }

  /** Puts the renumbered tables in place. */
  finish(): void {
    const d = this.d;
    d.stringTable = this.strings;
    d.functionTable = this.functions;
    d.mappingTable = this.mappings;
    d.locationTable = this.locations;
    d.stackTable = this.stacks;
    d.attributeTable = this.attributeRows;
    d.linkTable = this.links;
  }
}
