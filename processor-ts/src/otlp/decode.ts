// A direct decoder of OTLP ProfilesData into the generated message types. protobuf-es's
// fromBinary walks every field through reflection (a wrapper object per message, a closure per
// field read): on a collector's batches that was a tenth of the sidecar's main thread and much of
// its garbage. This one reads the fields the profiles schema has straight into object literals of
// the generated shapes. Anything it does not expect (an unknown field, a wire type that does not
// match, a singular message given twice, invalid UTF-8, truncation) makes it give up, and
// fromBinary decodes the message instead: the result, unknown fields and errors included, is
// always what fromBinary gives.
import { fromBinary } from '@bufbuild/protobuf';
import { type AnyValue, AnyValueSchema, InstrumentationScopeSchema, type KeyValue } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import type {
  Function as OtlpFunction,
  KeyValueAndUnit,
  Line,
  Link,
  Location,
  Mapping,
  Profile,
  ProfilesData,
  ProfilesDictionary,
  ResourceProfiles,
  Sample,
  ScopeProfiles,
  Stack,
  ValueType,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { type Resource, ResourceSchema } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const EMPTY = new Uint8Array(0);

/** Thrown inside the fast path only (one instance, no stack trace per use): decode with fromBinary instead. */
const GIVE_UP = new Error('not for the fast path');

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  /** The last tag's field number and wire type. */
  field = 0;
  wire = 0;
  /** The last varint's low and high 32 bits. */
  lo = 0;
  hi = 0;

  /** The same bytes as a Buffer: its latin1 slice makes an ASCII string in one allocation. */
  private readonly text: Buffer;

  constructor(readonly buf: Uint8Array) {
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Reads a varint into lo/hi (as protobuf's 64-bit varints: at most 10 bytes). */
  varint(end: number): void {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let byte = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= end) throw GIVE_UP;
      byte = b[p++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) { this.pos = p; this.lo = lo >>> 0; this.hi = 0; return; }
    }
    if (p >= end) throw GIVE_UP;
    byte = b[p++]!;
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31 || p >= end) throw GIVE_UP;
        byte = b[p++]!;
        hi |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** Reads a tag; false at the end of the message. */
  tag(end: number): boolean {
    if (this.pos >= end) return false;
    this.varint(end);
    if (this.hi !== 0) throw GIVE_UP;
    this.field = this.lo >>> 3;
    this.wire = this.lo & 7;
    return true;
  }

  int32(end: number): number {
    this.varint(end);
    return this.lo | 0;
  }

  uint32(end: number): number {
    this.varint(end);
    return this.lo;
  }

  uint64(end: number): bigint {
    this.varint(end);
    return this.hi === 0 ? BigInt(this.lo) : this.hi < 0x200000 ? BigInt(this.hi * 4294967296 + this.lo) : (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  int64(end: number): bigint {
    this.varint(end);
    if ((this.hi & 0x80000000) === 0) return this.hi === 0 ? BigInt(this.lo) : this.hi < 0x200000 ? BigInt(this.hi * 4294967296 + this.lo) : (BigInt(this.hi) << 32n) | BigInt(this.lo);
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  fixed64(end: number): bigint {
    if (this.pos + 8 > end) throw GIVE_UP;
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    this.pos = p + 8;
    return hi === 0 ? BigInt(lo) : hi < 0x200000 ? BigInt(hi * 4294967296 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Reads a length; returns the end of the value. */
  len(end: number): number {
    if (this.wire !== LEN) throw GIVE_UP;
    this.varint(end);
    const stop = this.pos + this.lo;
    if (this.hi !== 0 || stop > end) throw GIVE_UP;
    return stop;
  }

  bytes(end: number): Uint8Array {
    const stop = this.len(end);
    const v = this.buf.subarray(this.pos, stop);
    this.pos = stop;
    return v;
  }

  string(end: number): string {
    const stop = this.len(end);
    const b = this.buf;
    let s = '';
    let ascii = true;
    for (let i = this.pos; i < stop; i++) if (b[i]! > 0x7f) { ascii = false; break; }
    if (ascii) {
      s = this.text.toString('latin1', this.pos, stop);
    } else {
      try {
        s = utf8.decode(b.subarray(this.pos, stop));
      } catch {
        throw GIVE_UP;
      }
    }
    this.pos = stop;
    return s;
  }

  /** Appends a repeated int32 field's values (packed or one per tag). */
  int32s(end: number, out: number[]): void {
    if (this.wire === VARINT) { out.push(this.int32(end)); return; }
    const stop = this.len(end);
    while (this.pos < stop) out.push(this.int32(stop));
  }

  int64s(end: number, out: bigint[]): void {
    if (this.wire === VARINT) { out.push(this.int64(end)); return; }
    const stop = this.len(end);
    while (this.pos < stop) out.push(this.int64(stop));
  }

  fixed64s(end: number, out: bigint[]): void {
    if (this.wire === I64) { out.push(this.fixed64(end)); return; }
    const stop = this.len(end);
    while (this.pos < stop) out.push(this.fixed64(stop));
  }

  expect(wire: number): void {
    if (this.wire !== wire) throw GIVE_UP;
  }
}

/**
 * Decodes OTLP ProfilesData as fromBinary(ProfilesDataSchema) does, without reflection when the
 * message holds only the fields the schema has; returns undefined when it should be decoded by
 * fromBinary (unknown fields, anything unexpected or malformed).
 */
export function decodeProfilesFast(bytes: Uint8Array): ProfilesData | undefined {
  try {
    return profilesData(new Reader(bytes), bytes.length);
  } catch {
    // GIVE_UP, or a nested fromBinary's error: fromBinary of the whole message says what is wrong.
    return undefined;
  }
}

function profilesData(r: Reader, end: number): ProfilesData {
  const m: ProfilesData = { $typeName: 'opentelemetry.proto.profiles.v1development.ProfilesData', resourceProfiles: [] };
  while (r.tag(end)) {
    if (r.field === 1) m.resourceProfiles.push(resourceProfiles(r, r.len(end)));
    else if (r.field === 2) { if (m.dictionary) throw GIVE_UP; m.dictionary = dictionary(r, r.len(end)); }
    else throw GIVE_UP;
  }
  return m;
}

function resourceProfiles(r: Reader, end: number): ResourceProfiles {
  const m: ResourceProfiles = { $typeName: 'opentelemetry.proto.profiles.v1development.ResourceProfiles', scopeProfiles: [], schemaUrl: '' };
  while (r.tag(end)) {
    if (r.field === 1) { if (m.resource) throw GIVE_UP; m.resource = resource(r, r.len(end)); }
    else if (r.field === 2) m.scopeProfiles.push(scopeProfiles(r, r.len(end)));
    else if (r.field === 3) m.schemaUrl = r.string(end);
    else throw GIVE_UP;
  }
  return m;
}

/**
 * A Resource whose fields are attributes only (as every producer's): read directly, a KeyValue
 * at a time; anything else (entity refs, dropped counts, an unexpected wire type) by fromBinary
 * of this resource alone. fromBinary here allocated a tuple per tag read, a megabyte a batch.
 */
function resource(r: Reader, end: number): Resource {
  const start = r.pos;
  try {
    const m: Resource = { $typeName: 'opentelemetry.proto.resource.v1.Resource', attributes: [], droppedAttributesCount: 0, entityRefs: [] };
    while (r.tag(end)) {
      if (r.field === 1) m.attributes.push(keyValue(r, r.len(end)));
      else throw GIVE_UP;
    }
    return m;
  } catch (e) {
    if (e !== GIVE_UP) throw e;
    r.pos = end;
    return fromBinary(ResourceSchema, r.buf.subarray(start, end));
  }
}

function keyValue(r: Reader, end: number): KeyValue {
  const m: KeyValue = { $typeName: 'opentelemetry.proto.common.v1.KeyValue', key: '', keyStrindex: 0 };
  while (r.tag(end)) {
    if (r.field === 1) m.key = r.string(end);
    else if (r.field === 2) { if (m.value) throw GIVE_UP; m.value = anyValue(r, r.len(end)); }
    else if (r.field === 3) { r.expect(VARINT); m.keyStrindex = r.int32(end); }
    else throw GIVE_UP;
  }
  return m;
}

function scopeProfiles(r: Reader, end: number): ScopeProfiles {
  const m: ScopeProfiles = { $typeName: 'opentelemetry.proto.profiles.v1development.ScopeProfiles', profiles: [], schemaUrl: '' };
  while (r.tag(end)) {
    if (r.field === 1) { if (m.scope) throw GIVE_UP; m.scope = fromBinary(InstrumentationScopeSchema, r.bytes(end)); }
    else if (r.field === 2) m.profiles.push(profile(r, r.len(end)));
    else if (r.field === 3) m.schemaUrl = r.string(end);
    else throw GIVE_UP;
  }
  return m;
}

function profile(r: Reader, end: number): Profile {
  const m: Profile = {
    $typeName: 'opentelemetry.proto.profiles.v1development.Profile', samples: [], timeUnixNano: 0n, durationNano: 0n, period: 0n, profileId: EMPTY,
    droppedAttributesCount: 0, originalPayloadFormat: '', originalPayload: EMPTY, attributeIndices: [],
  };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: if (m.sampleType) throw GIVE_UP; m.sampleType = valueType(r, r.len(end)); break;
      case 2: m.samples.push(sample(r, r.len(end))); break;
      case 3: r.expect(I64); m.timeUnixNano = r.fixed64(end); break;
      case 4: r.expect(VARINT); m.durationNano = r.uint64(end); break;
      case 5: if (m.periodType) throw GIVE_UP; m.periodType = valueType(r, r.len(end)); break;
      case 6: r.expect(VARINT); m.period = r.int64(end); break;
      case 7: m.profileId = r.bytes(end); break;
      case 8: r.expect(VARINT); m.droppedAttributesCount = r.uint32(end); break;
      case 9: m.originalPayloadFormat = r.string(end); break;
      case 10: m.originalPayload = r.bytes(end); break;
      case 11: r.int32s(end, m.attributeIndices); break;
      default: throw GIVE_UP;
    }
  }
  return m;
}

function valueType(r: Reader, end: number): ValueType {
  const m: ValueType = { $typeName: 'opentelemetry.proto.profiles.v1development.ValueType', typeStrindex: 0, unitStrindex: 0 };
  while (r.tag(end)) {
    r.expect(VARINT);
    if (r.field === 1) m.typeStrindex = r.int32(end);
    else if (r.field === 2) m.unitStrindex = r.int32(end);
    else throw GIVE_UP;
  }
  return m;
}

function sample(r: Reader, end: number): Sample {
  const m: Sample = { $typeName: 'opentelemetry.proto.profiles.v1development.Sample', stackIndex: 0, attributeIndices: [], linkIndex: 0, values: [], timestampsUnixNano: [] };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: r.expect(VARINT); m.stackIndex = r.int32(end); break;
      case 2: r.int32s(end, m.attributeIndices); break;
      case 3: r.expect(VARINT); m.linkIndex = r.int32(end); break;
      case 4: r.int64s(end, m.values); break;
      case 5: r.fixed64s(end, m.timestampsUnixNano); break;
      default: throw GIVE_UP;
    }
  }
  return m;
}

function dictionary(r: Reader, end: number): ProfilesDictionary {
  const m: ProfilesDictionary = {
    $typeName: 'opentelemetry.proto.profiles.v1development.ProfilesDictionary', mappingTable: [], locationTable: [], functionTable: [], linkTable: [], stringTable: [], attributeTable: [], stackTable: [],
  };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: m.mappingTable.push(mapping(r, r.len(end))); break;
      case 2: m.locationTable.push(location(r, r.len(end))); break;
      case 3: m.functionTable.push(fn(r, r.len(end))); break;
      case 4: m.linkTable.push(link(r, r.len(end))); break;
      case 5: m.stringTable.push(r.string(end)); break;
      case 6: m.attributeTable.push(keyValueAndUnit(r, r.len(end))); break;
      case 7: m.stackTable.push(stack(r, r.len(end))); break;
      default: throw GIVE_UP;
    }
  }
  return m;
}

function mapping(r: Reader, end: number): Mapping {
  const m: Mapping = { $typeName: 'opentelemetry.proto.profiles.v1development.Mapping', memoryStart: 0n, memoryLimit: 0n, fileOffset: 0n, filenameStrindex: 0, attributeIndices: [] };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: r.expect(VARINT); m.memoryStart = r.uint64(end); break;
      case 2: r.expect(VARINT); m.memoryLimit = r.uint64(end); break;
      case 3: r.expect(VARINT); m.fileOffset = r.uint64(end); break;
      case 4: r.expect(VARINT); m.filenameStrindex = r.int32(end); break;
      case 5: r.int32s(end, m.attributeIndices); break;
      default: throw GIVE_UP;
    }
  }
  return m;
}

function location(r: Reader, end: number): Location {
  const m: Location = { $typeName: 'opentelemetry.proto.profiles.v1development.Location', mappingIndex: 0, address: 0n, lines: [], attributeIndices: [] };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: r.expect(VARINT); m.mappingIndex = r.int32(end); break;
      case 2: r.expect(VARINT); m.address = r.uint64(end); break;
      case 3: m.lines.push(line(r, r.len(end))); break;
      case 4: r.int32s(end, m.attributeIndices); break;
      default: throw GIVE_UP;
    }
  }
  return m;
}

function line(r: Reader, end: number): Line {
  const m: Line = { $typeName: 'opentelemetry.proto.profiles.v1development.Line', functionIndex: 0, line: 0n, column: 0n };
  while (r.tag(end)) {
    r.expect(VARINT);
    if (r.field === 1) m.functionIndex = r.int32(end);
    else if (r.field === 2) m.line = r.int64(end);
    else if (r.field === 3) m.column = r.int64(end);
    else throw GIVE_UP;
  }
  return m;
}

function fn(r: Reader, end: number): OtlpFunction {
  const m: OtlpFunction = { $typeName: 'opentelemetry.proto.profiles.v1development.Function', nameStrindex: 0, systemNameStrindex: 0, filenameStrindex: 0, startLine: 0n };
  while (r.tag(end)) {
    r.expect(VARINT);
    if (r.field === 1) m.nameStrindex = r.int32(end);
    else if (r.field === 2) m.systemNameStrindex = r.int32(end);
    else if (r.field === 3) m.filenameStrindex = r.int32(end);
    else if (r.field === 4) m.startLine = r.int64(end);
    else throw GIVE_UP;
  }
  return m;
}

function link(r: Reader, end: number): Link {
  const m: Link = { $typeName: 'opentelemetry.proto.profiles.v1development.Link', traceId: EMPTY, spanId: EMPTY };
  while (r.tag(end)) {
    if (r.field === 1) m.traceId = r.bytes(end);
    else if (r.field === 2) m.spanId = r.bytes(end);
    else throw GIVE_UP;
  }
  return m;
}

function keyValueAndUnit(r: Reader, end: number): KeyValueAndUnit {
  const m: KeyValueAndUnit = { $typeName: 'opentelemetry.proto.profiles.v1development.KeyValueAndUnit', keyStrindex: 0, unitStrindex: 0 };
  while (r.tag(end)) {
    if (r.field === 1) { r.expect(VARINT); m.keyStrindex = r.int32(end); }
    else if (r.field === 2) { if (m.value) throw GIVE_UP; m.value = anyValue(r, r.len(end)); }
    else if (r.field === 3) { r.expect(VARINT); m.unitStrindex = r.int32(end); }
    else throw GIVE_UP;
  }
  return m;
}

function stack(r: Reader, end: number): Stack {
  const m: Stack = { $typeName: 'opentelemetry.proto.profiles.v1development.Stack', locationIndices: [] };
  while (r.tag(end)) {
    if (r.field === 1) r.int32s(end, m.locationIndices);
    else throw GIVE_UP;
  }
  return m;
}

/** A scalar AnyValue read directly (attribute values are scalars); arrays and key-value lists by fromBinary. */
function anyValue(r: Reader, end: number): AnyValue {
  const start = r.pos;
  let m: AnyValue = { $typeName: 'opentelemetry.proto.common.v1.AnyValue', value: { case: undefined } };
  while (r.tag(end)) {
    switch (r.field) {
      case 1: m.value = { case: 'stringValue', value: r.string(end) }; break;
      case 2: r.expect(VARINT); r.varint(end); m.value = { case: 'boolValue', value: r.lo !== 0 || r.hi !== 0 }; break;
      case 3: r.expect(VARINT); m.value = { case: 'intValue', value: r.int64(end) }; break;
      case 7: m.value = { case: 'bytesValue', value: r.bytes(end) }; break;
      case 8: r.expect(VARINT); m.value = { case: 'stringValueStrindex', value: r.int32(end) }; break;
      default:
        m = fromBinary(AnyValueSchema, r.buf.subarray(start, end));
        r.pos = end;
        return m;
    }
  }
  return m;
}
