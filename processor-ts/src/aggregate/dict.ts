import { create } from '@bufbuild/protobuf';
import { type AnyValue, AnyValueSchema, ArrayValueSchema, type KeyValue, KeyValueListSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema,
  type KeyValueAndUnit,
  KeyValueAndUnitSchema,
  type Line,
  LinkSchema,
  LocationSchema,
  MappingSchema,
  type ProfilesDictionary,
  ProfilesDictionarySchema,
  StackSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';

/** Whether two integer lists are equal element by element. */
export function sameInts(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameLines(a: readonly Line[], b: readonly Line[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.functionIndex !== y.functionIndex || x.line !== y.line || x.column !== y.column) return false;
  }
  return true;
}

/** FNV-1a over 32-bit integers. */
export function hashInts(xs: readonly number[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < xs.length; i++) h = Math.imul(h ^ (xs[i]! | 0), 0x01000193);
  return h | 0;
}

/** FNV-1a over a location's fields (numbers read from the bigints: no allocation). */
function locationHash(mapping: number, address: bigint, lines: readonly Line[], attrs: readonly number[]): number {
  const a = Number(address);
  let h = Math.imul(0x811c9dc5 ^ mapping, 0x01000193);
  h = Math.imul(h ^ (a % 0x100000000 | 0), 0x01000193);
  h = Math.imul(h ^ ((a / 0x100000000) | 0), 0x01000193);
  for (let i = 0; i < lines.length; i++) {
    const ln = lines[i]!;
    h = Math.imul(h ^ ln.functionIndex, 0x01000193);
    h = Math.imul(h ^ (Number(ln.line) | 0), 0x01000193);
    h = Math.imul(h ^ (Number(ln.column) | 0), 0x01000193);
  }
  for (let i = 0; i < attrs.length; i++) h = Math.imul(h ^ attrs[i]!, 0x01000193);
  return h | 0;
}

/**
 * Builds an OTLP profiles dictionary without duplicates: every table starts with its zero
 * value at index 0 and each distinct row is stored once. Rows are given by content (strings
 * already interned here), so equal rows always get the same index. Not safe to share between
 * concurrent builders; the sidecar is single-threaded.
 */
// Rows are object literals of the generated shapes (as decode.ts writes them), not create():
// create() initialises each field through reflection, and the Interner makes a row for every
// distinct location, line and stack of every batch.
export class Interner {
  readonly dict: ProfilesDictionary = create(ProfilesDictionarySchema);
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly functions = new Map<string, number>([['0|0|0|0', 0]]);
  private readonly mappings = new Map<string, number>([['0|0|0|0|', 0]]);
  /** Location indices by locationHash (a list: a hash may collide), compared field by field. */
  private readonly locations = new Map<number, number[]>([[locationHash(0, 0n, [], []), [0]]]);
  /** Stack indices by hashInts of their location indices. */
  private readonly stacks = new Map<number, number[]>([[hashInts([]), [0]]]);
  private readonly attributes = new Map<string, number>([['0|0|', 0]]);
  private readonly links = new Map<string, number>([['|', 0]]);

  constructor() {
    const d = this.dict;
    d.stringTable.push('');
    d.functionTable.push(create(FunctionSchema));
    d.mappingTable.push(create(MappingSchema));
    d.locationTable.push(create(LocationSchema));
    d.stackTable.push(create(StackSchema));
    d.attributeTable.push(create(KeyValueAndUnitSchema));
    d.linkTable.push(create(LinkSchema));
  }

  /** Number of stacks held (the zero stack included). */
  get stackCount(): number { return this.dict.stackTable.length; }

  string(s: string): number {
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.dict.stringTable.push(s) - 1;
      this.strings.set(s, i);
    }
    return i;
  }

  function(name: number, systemName: number, filename: number, startLine: bigint): number {
    const k = `${name}|${systemName}|${filename}|${startLine}`;
    let i = this.functions.get(k);
    if (i === undefined) {
      i = this.dict.functionTable.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Function', nameStrindex: name, systemNameStrindex: systemName, filenameStrindex: filename, startLine }) - 1;
      this.functions.set(k, i);
    }
    return i;
  }

  mapping(start: bigint, limit: bigint, offset: bigint, filename: number, attrs: number[]): number {
    const k = `${start}|${limit}|${offset}|${filename}|${attrs.join(',')}`;
    let i = this.mappings.get(k);
    if (i === undefined) {
      i = this.dict.mappingTable.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Mapping', memoryStart: start, memoryLimit: limit, fileOffset: offset, filenameStrindex: filename, attributeIndices: attrs }) - 1;
      this.mappings.set(k, i);
    }
    return i;
  }

  /** `lines` refer to this Interner's functions (a new location keeps them); attrs sorted. */
  location(mapping: number, address: bigint, lines: Line[], attrs: number[]): number {
    // Found by a hash of all its fields, then compared field by field: a string key per location
    // (its address and lines printed) was most of what interning a batch allocated. The hash
    // covers the lines, not only mapping and address: at line or function granularity every
    // symbolized location of a mapping has address 0, and a list per address was scanned whole.
    const h = locationHash(mapping, address, lines, attrs);
    const same = this.locations.get(h);
    const table = this.dict.locationTable;
    if (same !== undefined) {
      for (let n = 0; n < same.length; n++) {
        const l = table[same[n]!]!;
        if (l.mappingIndex === mapping && l.address === address && sameLines(l.lines, lines) && sameInts(l.attributeIndices, attrs)) return same[n]!;
      }
    }
    const i = table.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Location', mappingIndex: mapping, address, lines, attributeIndices: attrs }) - 1;
    if (same === undefined) this.locations.set(h, [i]);
    else same.push(i);
    return i;
  }

  stack(locations: number[]): number {
    // By a hash of the indices, then compared: no joined string per stack.
    const h = hashInts(locations);
    const same = this.stacks.get(h);
    const table = this.dict.stackTable;
    if (same !== undefined) {
      for (let n = 0; n < same.length; n++) if (sameInts(table[same[n]!]!.locationIndices, locations)) return same[n]!;
    }
    const i = table.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Stack', locationIndices: locations }) - 1;
    if (same === undefined) this.stacks.set(h, [i]);
    else same.push(i);
    return i;
  }

  /** `value` has its strings resolved (no strindex references); `valueKey` is valueKey(value). */
  attribute(key: number, unit: number, value: AnyValue | undefined, valueKey: string): number {
    const k = `${key}|${unit}|${valueKey}`;
    let i = this.attributes.get(k);
    if (i === undefined) {
      const kv: KeyValueAndUnit = { $typeName: 'opentelemetry.proto.profiles.v1development.KeyValueAndUnit', keyStrindex: key, unitStrindex: unit };
      if (value !== undefined) kv.value = value;
      i = this.dict.attributeTable.push(kv) - 1;
      this.attributes.set(k, i);
    }
    return i;
  }

  link(traceId: Uint8Array, spanId: Uint8Array): number {
    const k = `${hex(traceId)}|${hex(spanId)}`;
    let i = this.links.get(k);
    if (i === undefined) {
      i = this.dict.linkTable.push(create(LinkSchema, { traceId, spanId })) - 1;
      this.links.set(k, i);
    }
    return i;
  }

  /** The stack key of stack i (its location indices), used for deterministic ordering. */
  stackKey(i: number): string { return this.dict.stackTable[i]?.locationIndices.join(',') ?? ''; }
}

/** A Line of the generated shape (a literal, as decode.ts writes them). */
export function line(functionIndex: number, ln: bigint, column: bigint): Line {
  return { $typeName: 'opentelemetry.proto.profiles.v1development.Line', functionIndex, line: ln, column };
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A canonical text key of a resolved AnyValue (type-tagged, so 1 and "1" differ). */
export function valueKey(v: AnyValue | undefined): string {
  const val = v?.value;
  switch (val?.case) {
    case undefined: return '';
    case 'stringValue': return `s${JSON.stringify(val.value)}`;
    case 'boolValue': return `b${val.value ? 1 : 0}`;
    case 'intValue': return `i${val.value}`;
    case 'doubleValue': return `d${val.value}`;
    case 'bytesValue': return `x${hex(val.value)}`;
    case 'arrayValue': return `a[${val.value.values.map(valueKey).join(',')}]`;
    case 'kvlistValue': return `k{${val.value.values.map((kv) => `${JSON.stringify(kv.key)}=${valueKey(kv.value)}`).join(',')}}`;
    /* v8 ignore next 2 -- resolveValue removes strindex references first */
    case 'stringValueStrindex': return `S${val.value}`;
  }
}

/**
 * Copies an AnyValue, replacing string-table references (string_value_strindex, key_strindex,
 * which pdata's marshaler writes) by the strings themselves.
 */
export function resolveValue(v: AnyValue | undefined, strings: readonly string[]): AnyValue | undefined {
  const val = v?.value;
  switch (val?.case) {
    case undefined: return v === undefined ? undefined : create(AnyValueSchema);
    case 'stringValueStrindex': return create(AnyValueSchema, { value: { case: 'stringValue', value: strings[val.value] ?? '' } });
    case 'arrayValue': return create(AnyValueSchema, { value: { case: 'arrayValue', value: create(ArrayValueSchema, { values: val.value.values.map((x) => resolveValue(x, strings) ?? create(AnyValueSchema)) }) } });
    case 'kvlistValue': return create(AnyValueSchema, { value: { case: 'kvlistValue', value: create(KeyValueListSchema, { values: resolveKeyValues(val.value.values, strings) }) } });
    default: return v;
  }
}

/** Resolves key_strindex/string_value_strindex in a KeyValue list (resource and scope attributes). */
export function resolveKeyValues(kvs: readonly KeyValue[], strings: readonly string[]): KeyValue[] {
  return kvs.map((kv) => {
    const out = create(KeyValueSchema, { key: kv.key !== '' ? kv.key : (strings[kv.keyStrindex] ?? '') });
    const value = resolveValue(kv.value, strings);
    if (value !== undefined) out.value = value;
    return out;
  });
}

/** A canonical key of a KeyValue list, independent of order. */
export function keyValuesKey(kvs: readonly KeyValue[]): string {
  return kvs.map((kv) => `${JSON.stringify(kv.key)}=${valueKey(kv.value)}`).sort().join(',');
}
