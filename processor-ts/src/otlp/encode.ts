// A direct encoder of OTLP ProfilesData, the counterpart of decode.ts: it writes the fields the
// profiles schema has in protobuf-es's order and rules (declaration order; proto3 scalars only
// when not zero; repeated scalars packed; a oneof member always), so its bytes are toBinary's.
// A message carrying unknown fields, or anything else it does not expect, is left to toBinary.
import { toBinary } from '@bufbuild/protobuf';
import { type AnyValue, AnyValueSchema, InstrumentationScopeSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import type {
  Profile,
  ProfilesData,
  ProfilesDictionary,
  Sample,
  ValueType,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { type Resource, ResourceSchema } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import { ProtoWriter } from './proto-writer.js';

const GIVE_UP = new Error('not for the fast path');

/** Fields protobuf-es keeps when it reads fields its schema does not have. */
function plain(m: { $unknown?: unknown[] }): void {
  if (m.$unknown !== undefined && m.$unknown.length > 0) throw GIVE_UP;
}

/**
 * One writer for every call (encoding is synchronous): its buffer grows to the largest answer
 * once instead of doubling from small for each; past KEEP_BYTES it is let go after the call.
 */
let shared = new ProtoWriter(256 * 1024);
const KEEP_BYTES = 4 * 1024 * 1024;

/** Encodes as toBinary(ProfilesDataSchema, data) does; undefined when toBinary should (unknown fields). */
export function encodeProfilesFast(data: ProfilesData): Uint8Array | undefined {
  const w = shared.reset();
  try {
    plain(data);
    // Indexed loops throughout: V8's top tier here (Maglev, `--max-opt=2`) allocates an iterator
    // result per for-of step, megabytes a batch.
    const rps = data.resourceProfiles;
    for (let i = 0; i < rps.length; i++) {
      const rp = rps[i]!;
      plain(rp);
      w.begin(0x0a);
      if (rp.resource) resource(w, rp.resource);
      const sps = rp.scopeProfiles;
      for (let j = 0; j < sps.length; j++) {
        const sp = sps[j]!;
        plain(sp);
        w.begin(0x12);
        if (sp.scope) w.byte(0x0a).lenBytes(toBinary(InstrumentationScopeSchema, sp.scope));
        for (let k = 0; k < sp.profiles.length; k++) profile(w, sp.profiles[k]!);
        if (sp.schemaUrl !== '') w.byte(0x1a).str(sp.schemaUrl);
        w.end();
      }
      if (rp.schemaUrl !== '') w.byte(0x1a).str(rp.schemaUrl);
      w.end();
    }
    if (data.dictionary) dictionary(w, data.dictionary);
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  } finally {
    if (w.capacity > KEEP_BYTES) shared = new ProtoWriter(256 * 1024);
  }
  return w.view().slice();
}

/** A Resource of attributes (as every producer's) written directly; one with entity refs by toBinary. */
function resource(w: ProtoWriter, r: Resource): void {
  plain(r);
  if (r.entityRefs.length > 0) {
    w.byte(0x0a).lenBytes(toBinary(ResourceSchema, r));
    return;
  }
  w.begin(0x0a);
  const attrs = r.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const kv = attrs[i]!;
    plain(kv);
    w.begin(0x0a);
    if (kv.key !== '') w.byte(0x0a).str(kv.key);
    if (kv.value) anyValue(w, kv.value);
    w.uintField(0x18, kv.keyStrindex).end();
  }
  w.uintField(0x10, r.droppedAttributesCount);
  w.end();
}

function ints(w: ProtoWriter, tag: number, xs: readonly number[]): void {
  if (xs.length === 0) return;
  w.begin(tag);
  for (let i = 0; i < xs.length; i++) w.uint(xs[i]!);
  w.end();
}

function valueType(w: ProtoWriter, tag: number, v: ValueType): void {
  plain(v);
  w.begin(tag).uintField(0x08, v.typeStrindex).uintField(0x10, v.unitStrindex).end();
}

function profile(w: ProtoWriter, p: Profile): void {
  plain(p);
  w.begin(0x12);
  if (p.sampleType) valueType(w, 0x0a, p.sampleType);
  const samples = p.samples;
  for (let i = 0; i < samples.length; i++) sample(w, samples[i]!);
  if (p.timeUnixNano !== 0n) w.byte(0x19).fixed64(p.timeUnixNano);
  w.bigField(0x20, p.durationNano);
  if (p.periodType) valueType(w, 0x2a, p.periodType);
  w.bigField(0x30, p.period);
  if (p.profileId.length > 0) w.byte(0x3a).lenBytes(p.profileId);
  w.uintField(0x40, p.droppedAttributesCount);
  if (p.originalPayloadFormat !== '') w.byte(0x4a).str(p.originalPayloadFormat);
  if (p.originalPayload.length > 0) w.byte(0x52).lenBytes(p.originalPayload);
  ints(w, 0x5a, p.attributeIndices);
  w.end();
}

function sample(w: ProtoWriter, s: Sample): void {
  plain(s);
  w.begin(0x12).uintField(0x08, s.stackIndex);
  ints(w, 0x12, s.attributeIndices);
  w.uintField(0x18, s.linkIndex);
  if (s.values.length > 0) {
    w.begin(0x22);
    for (let i = 0; i < s.values.length; i++) w.big(s.values[i]!);
    w.end();
  }
  if (s.timestampsUnixNano.length > 0) {
    w.begin(0x2a);
    for (let i = 0; i < s.timestampsUnixNano.length; i++) w.fixed64(s.timestampsUnixNano[i]!);
    w.end();
  }
  w.end();
}

function dictionary(w: ProtoWriter, d: ProfilesDictionary): void {
  plain(d);
  w.begin(0x12);
  const mappings = d.mappingTable;
  for (let i = 0; i < mappings.length; i++) {
    const m = mappings[i]!;
    plain(m);
    w.begin(0x0a).bigField(0x08, m.memoryStart).bigField(0x10, m.memoryLimit).bigField(0x18, m.fileOffset).uintField(0x20, m.filenameStrindex);
    ints(w, 0x2a, m.attributeIndices);
    w.end();
  }
  const locations = d.locationTable;
  for (let i = 0; i < locations.length; i++) {
    const l = locations[i]!;
    plain(l);
    w.begin(0x12).uintField(0x08, l.mappingIndex).bigField(0x10, l.address);
    for (let k = 0; k < l.lines.length; k++) {
      const ln = l.lines[k]!;
      plain(ln);
      w.begin(0x1a).uintField(0x08, ln.functionIndex).bigField(0x10, ln.line).bigField(0x18, ln.column).end();
    }
    ints(w, 0x22, l.attributeIndices);
    w.end();
  }
  const functions = d.functionTable;
  for (let i = 0; i < functions.length; i++) {
    const f = functions[i]!;
    plain(f);
    w.begin(0x1a).uintField(0x08, f.nameStrindex).uintField(0x10, f.systemNameStrindex).uintField(0x18, f.filenameStrindex).bigField(0x20, f.startLine).end();
  }
  for (const l of d.linkTable) {
    plain(l);
    w.begin(0x22);
    if (l.traceId.length > 0) w.byte(0x0a).lenBytes(l.traceId);
    if (l.spanId.length > 0) w.byte(0x12).lenBytes(l.spanId);
    w.end();
  }
  const strings = d.stringTable;
  for (let i = 0; i < strings.length; i++) w.byte(0x2a).str(strings[i]!);
  const attributes = d.attributeTable;
  for (let i = 0; i < attributes.length; i++) {
    const a = attributes[i]!;
    plain(a);
    w.begin(0x32).uintField(0x08, a.keyStrindex);
    if (a.value) anyValue(w, a.value);
    w.uintField(0x18, a.unitStrindex).end();
  }
  const stacks = d.stackTable;
  for (let i = 0; i < stacks.length; i++) {
    const s = stacks[i]!;
    plain(s);
    w.begin(0x3a);
    ints(w, 0x0a, s.locationIndices);
    w.end();
  }
  w.end();
}

/** KeyValueAndUnit.value (field 2): scalars written directly, the rest by toBinary. */
function anyValue(w: ProtoWriter, v: AnyValue): void {
  plain(v);
  const x = v.value;
  w.begin(0x12);
  switch (x.case) {
    case undefined: break;
    case 'stringValue': w.byte(0x0a).str(x.value); break;
    case 'boolValue': w.byte(0x10).byte(x.value ? 1 : 0); break;
    case 'intValue': w.byte(0x18).big(x.value); break;
    case 'bytesValue': w.byte(0x3a).lenBytes(x.value); break;
    case 'stringValueStrindex': w.byte(0x40).uint(x.value); break;
    default: w.raw(toBinary(AnyValueSchema, v));
  }
  w.end();
}
