// OTLP ProfilesData written in the layout of the collector's pdata (pprofile.ProtoMarshaler):
// fields in descending field-number order (pdata writes its buffer back to front), the
// dictionary before the resources, the messages pdata always holds (a resource, a scope, an
// attribute's value, a profile's value types) written even when empty, and profile, trace and
// span ids written as a tag with no bytes when they are all zeros. Decoded, it is the same
// message as encode.ts's bytes; the difference is that when the collector reads these bytes
// into pdata and marshals them again (the aggregator processor does, right after the
// symbolizer), it writes the same bytes back: the sidecar then recognises its own Symbolize
// answer in the Aggregate request that follows and skips decoding it (answer-cache.ts).
// It writes only what decodes back to exactly `data`: anything pdata would write differently
// (unknown fields, entity refs, ids of another length
// or all zeros, strings that are not well-formed UTF-16) and any message pdata always writes but
// `data` lacks make it give up, and the caller uses encode.ts.
import type { AnyValue, InstrumentationScope, KeyValue } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import type { Profile, ProfilesData, ProfilesDictionary, Sample, ValueType } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import type { Resource } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import { ProtoWriter } from './proto-writer.js';

const GIVE_UP = new Error('not in pdata layout');

function plain(m: { $unknown?: unknown[] }): void {
  if (m.$unknown !== undefined && m.$unknown.length > 0) throw GIVE_UP;
}

let shared = new ProtoWriter(256 * 1024);
const KEEP_BYTES = 4 * 1024 * 1024;
const f64 = new DataView(new ArrayBuffer(8));

/** Encodes `data` as pdata's ProtoMarshaler would; undefined when pdata would not read it back to the same bytes. */
export function encodeProfilesPdata(data: ProfilesData): Uint8Array | undefined {
  const w = shared.reset();
  try {
    plain(data);
    if (!data.dictionary) throw GIVE_UP;
    dictionary(w, data.dictionary);
    // Indexed loops: Maglev (`--max-opt=2`) allocates an iterator result per for-of step.
    const rps = data.resourceProfiles;
    for (let i = 0; i < rps.length; i++) {
      const rp = rps[i]!;
      plain(rp);
      w.begin(0x0a);
      if (rp.schemaUrl !== '') str(w.byte(0x1a), rp.schemaUrl);
      const sps = rp.scopeProfiles;
      for (let j = 0; j < sps.length; j++) {
        const sp = sps[j]!;
        plain(sp);
        w.begin(0x12);
        if (sp.schemaUrl !== '') str(w.byte(0x1a), sp.schemaUrl);
        for (let k = 0; k < sp.profiles.length; k++) profile(w, sp.profiles[k]!);
        scope(w, sp.scope);
        w.end();
      }
      resource(w, rp.resource);
      w.end();
    }
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  } finally {
    if (w.capacity > KEEP_BYTES) shared = new ProtoWriter(256 * 1024);
  }
  return w.view().slice();
}

/** String.prototype.isWellFormed (Node 20+; the project's lib predates it). */
type WellFormed = { isWellFormed(): boolean };

/** A string, when it encodes to UTF-8 and back unchanged (no lone surrogates). */
function str(w: ProtoWriter, s: string): void {
  if (!(s as unknown as WellFormed).isWellFormed()) throw GIVE_UP;
  w.str(s);
}

/** Messages pdata always writes: one `data` lacks would come back present, so not the same message. */
function present<T>(m: T | undefined): T {
  if (m === undefined) throw GIVE_UP;
  return m;
}

function resource(w: ProtoWriter, r: Resource | undefined): void {
  r = present(r);
  plain(r);
  if (r.entityRefs.length > 0) throw GIVE_UP;
  w.begin(0x0a).uintField(0x10, r.droppedAttributesCount);
  keyValues(w, 0x0a, r.attributes);
  w.end();
}

function scope(w: ProtoWriter, s: InstrumentationScope | undefined): void {
  s = present(s);
  plain(s);
  w.begin(0x0a).uintField(0x20, s.droppedAttributesCount);
  keyValues(w, 0x1a, s.attributes);
  if (s.version !== '') str(w.byte(0x12), s.version);
  if (s.name !== '') str(w.byte(0x0a), s.name);
  w.end();
}

function keyValues(w: ProtoWriter, tag: number, kvs: readonly KeyValue[]): void {
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]!;
    plain(kv);
    w.begin(tag).uintField(0x18, kv.keyStrindex);
    anyValue(w, 0x12, kv.value);
    if (kv.key !== '') str(w.byte(0x0a), kv.key);
    w.end();
  }
}

/** An attribute's value (field 2 of KeyValue and KeyValueAndUnit, or an array's element), always written, as pdata does. */
function anyValue(w: ProtoWriter, tag: number, v: AnyValue | undefined): void {
  v = present(v);
  plain(v);
  w.begin(tag);
  const x = v.value;
  switch (x.case) {
    case undefined: break;
    case 'stringValue': str(w.byte(0x0a), x.value); break;
    case 'boolValue': w.byte(0x10).byte(x.value ? 1 : 0); break;
    case 'intValue': w.byte(0x18).big(x.value); break;
    case 'doubleValue': f64.setFloat64(0, x.value, true); w.byte(0x21).raw(new Uint8Array(f64.buffer)); break;
    case 'bytesValue': w.byte(0x3a).lenBytes(x.value); break;
    case 'stringValueStrindex': w.byte(0x40).uint(x.value); break;
    case 'arrayValue':
      plain(x.value);
      w.begin(0x2a);
      for (let i = 0; i < x.value.values.length; i++) anyValue(w, 0x0a, x.value.values[i]);
      w.end();
      break;
    case 'kvlistValue':
      plain(x.value);
      w.begin(0x32);
      keyValues(w, 0x0a, x.value.values);
      w.end();
      break;
    default: throw GIVE_UP;
  }
  w.end();
}

function ints(w: ProtoWriter, tag: number, xs: readonly number[]): void {
  if (xs.length === 0) return;
  w.begin(tag);
  for (let i = 0; i < xs.length; i++) w.uint(xs[i]!);
  w.end();
}

/**
 * A trace, span or profile id: pdata holds it in a fixed array, always writes its tag, and writes
 * an all-zero one as no bytes (which decodes as empty, not as the zeros: given up).
 */
function id(w: ProtoWriter, tag: number, b: Uint8Array, size: number): void {
  if (b.length === 0) { w.byte(tag).byte(0); return; }
  if (b.length !== size) throw GIVE_UP;
  let zero = true;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) { zero = false; break; }
  if (zero) throw GIVE_UP;
  w.byte(tag).lenBytes(b);
}

function valueType(w: ProtoWriter, tag: number, v: ValueType | undefined): void {
  v = present(v);
  plain(v);
  w.begin(tag).uintField(0x10, v.unitStrindex).uintField(0x08, v.typeStrindex).end();
}

function profile(w: ProtoWriter, p: Profile): void {
  plain(p);
  w.begin(0x12);
  ints(w, 0x5a, p.attributeIndices);
  if (p.originalPayload.length > 0) w.byte(0x52).lenBytes(p.originalPayload);
  if (p.originalPayloadFormat !== '') str(w.byte(0x4a), p.originalPayloadFormat);
  w.uintField(0x40, p.droppedAttributesCount);
  id(w, 0x3a, p.profileId, 16);
  w.bigField(0x30, p.period);
  valueType(w, 0x2a, p.periodType);
  w.bigField(0x20, p.durationNano);
  if (p.timeUnixNano !== 0n) w.byte(0x19).fixed64(p.timeUnixNano);
  const samples = p.samples;
  for (let i = 0; i < samples.length; i++) sample(w, samples[i]!);
  valueType(w, 0x0a, p.sampleType);
  w.end();
}

function sample(w: ProtoWriter, s: Sample): void {
  plain(s);
  w.begin(0x12);
  if (s.timestampsUnixNano.length > 0) {
    w.begin(0x2a);
    for (let i = 0; i < s.timestampsUnixNano.length; i++) w.fixed64(s.timestampsUnixNano[i]!);
    w.end();
  }
  if (s.values.length > 0) {
    w.begin(0x22);
    for (let i = 0; i < s.values.length; i++) w.big(s.values[i]!);
    w.end();
  }
  w.uintField(0x18, s.linkIndex);
  ints(w, 0x12, s.attributeIndices);
  w.uintField(0x08, s.stackIndex).end();
}

function dictionary(w: ProtoWriter, d: ProfilesDictionary): void {
  plain(d);
  w.begin(0x12);
  const stacks = d.stackTable;
  for (let i = 0; i < stacks.length; i++) {
    const s = stacks[i]!;
    plain(s);
    w.begin(0x3a);
    ints(w, 0x0a, s.locationIndices);
    w.end();
  }
  const attributes = d.attributeTable;
  for (let i = 0; i < attributes.length; i++) {
    const a = attributes[i]!;
    plain(a);
    w.begin(0x32).uintField(0x18, a.unitStrindex);
    anyValue(w, 0x12, a.value);
    w.uintField(0x08, a.keyStrindex).end();
  }
  const strings = d.stringTable;
  for (let i = 0; i < strings.length; i++) str(w.byte(0x2a), strings[i]!);
  for (let i = 0; i < d.linkTable.length; i++) {
    const l = d.linkTable[i]!;
    plain(l);
    w.begin(0x22);
    id(w, 0x12, l.spanId, 8);
    id(w, 0x0a, l.traceId, 16);
    w.end();
  }
  const functions = d.functionTable;
  for (let i = 0; i < functions.length; i++) {
    const f = functions[i]!;
    plain(f);
    w.begin(0x1a).bigField(0x20, f.startLine).uintField(0x18, f.filenameStrindex).uintField(0x10, f.systemNameStrindex).uintField(0x08, f.nameStrindex).end();
  }
  const locations = d.locationTable;
  for (let i = 0; i < locations.length; i++) {
    const l = locations[i]!;
    plain(l);
    w.begin(0x12);
    ints(w, 0x22, l.attributeIndices);
    for (let k = 0; k < l.lines.length; k++) {
      const ln = l.lines[k]!;
      plain(ln);
      w.begin(0x1a).bigField(0x18, ln.column).bigField(0x10, ln.line).uintField(0x08, ln.functionIndex).end();
    }
    w.bigField(0x10, l.address).uintField(0x08, l.mappingIndex).end();
  }
  const mappings = d.mappingTable;
  for (let i = 0; i < mappings.length; i++) {
    const m = mappings[i]!;
    plain(m);
    w.begin(0x0a);
    ints(w, 0x2a, m.attributeIndices);
    w.uintField(0x20, m.filenameStrindex).bigField(0x18, m.fileOffset).bigField(0x10, m.memoryLimit).bigField(0x08, m.memoryStart).end();
  }
  w.end();
}
