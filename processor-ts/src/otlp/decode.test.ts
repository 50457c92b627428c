import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AnyValue, AnyValueSchema, ArrayValueSchema, EntityRefSchema, type KeyValue, KeyValueListSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { ResourceSchema } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import {
  FunctionSchema, KeyValueAndUnitSchema, LineSchema, LinkSchema, LocationSchema, MappingSchema, ProfileSchema, ProfilesDataSchema,
  ProfilesDictionarySchema, ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema, StackSchema, ValueTypeSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { batch, makeProfiles, timedSampleSpec } from '../aggregate/testutil/gen.js';
import { decodeProfilesFast } from './decode.js';
import { encodeProfilesFast } from './encode.js';
import { decodeProfiles, encodeProfiles, MalformedProfilesError, type ProfilesData } from './profiles.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const idx = fc.array(i32, { maxLength: 4 });
const bytes = fc.uint8Array({ maxLength: 17 });
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));

/** Every field of the profiles schema, with values across each type's whole range. */
const anyProfilesData = fc.record({
  strings: fc.array(text, { maxLength: 6 }),
  mappings: fc.array(fc.record({ memoryStart: u64, memoryLimit: u64, fileOffset: u64, filenameStrindex: i32, attributeIndices: idx }), { maxLength: 3 }),
  locations: fc.array(fc.record({ mappingIndex: i32, address: u64, attributeIndices: idx, lines: fc.array(fc.record({ functionIndex: i32, line: i64, column: i64 }), { maxLength: 3 }) }), { maxLength: 4 }),
  functions: fc.array(fc.record({ nameStrindex: i32, systemNameStrindex: i32, filenameStrindex: i32, startLine: i64 }), { maxLength: 3 }),
  links: fc.array(fc.record({ traceId: bytes, spanId: bytes }), { maxLength: 2 }),
  attributes: fc.array(fc.record({ keyStrindex: i32, unitStrindex: i32, value: fc.option(fc.oneof(text.map((v) => ({ case: 'stringValue' as const, value: v })), i64.map((v) => ({ case: 'intValue' as const, value: v }))), { nil: undefined }) }), { maxLength: 3 }),
  stacks: fc.array(idx, { maxLength: 3 }),
  profiles: fc.array(fc.record({
    samples: fc.array(fc.record({ stackIndex: i32, attributeIndices: idx, linkIndex: i32, values: fc.array(i64, { maxLength: 3 }), timestampsUnixNano: fc.array(u64, { maxLength: 3 }) }), { maxLength: 3 }),
    timeUnixNano: u64, durationNano: u64, period: i64, profileId: bytes, droppedAttributesCount: fc.nat(), originalPayloadFormat: text, originalPayload: bytes, attributeIndices: idx,
    sampleType: fc.option(fc.record({ typeStrindex: i32, unitStrindex: i32 }), { nil: undefined }),
    periodType: fc.option(fc.record({ typeStrindex: i32, unitStrindex: i32 }), { nil: undefined }),
  }), { maxLength: 3 }),
  schemaUrl: text,
  resource: fc.boolean(),
  arrayValue: fc.boolean(),
  boolValue: fc.boolean(),
  dictionary: fc.boolean(),
}).map((g) => create(ProfilesDataSchema, {
  resourceProfiles: [create(ResourceProfilesSchema, {
    schemaUrl: g.schemaUrl,
    ...(g.resource ? { resource: { attributes: [create(KeyValueSchema, { key: 'process.pid', value: create(AnyValueSchema, { value: { case: 'intValue', value: 7n } }) })] } } : {}),
    scopeProfiles: [create(ScopeProfilesSchema, {
      scope: { name: 'ebpf-otel', version: '1' },
      schemaUrl: g.schemaUrl,
      profiles: g.profiles.map((p) => create(ProfileSchema, {
        ...p,
        samples: p.samples.map((s) => create(SampleSchema, s)),
        ...(p.sampleType ? { sampleType: create(ValueTypeSchema, p.sampleType) } : {}),
        ...(p.periodType ? { periodType: create(ValueTypeSchema, p.periodType) } : {}),
      })),
    })],
  })],
  ...(g.dictionary ? {
    dictionary: create(ProfilesDictionarySchema, {
      stringTable: g.strings,
      mappingTable: g.mappings.map((m) => create(MappingSchema, m)),
      locationTable: g.locations.map((l) => create(LocationSchema, { ...l, lines: l.lines.map((x) => create(LineSchema, x)) })),
      functionTable: g.functions.map((f) => create(FunctionSchema, f)),
      linkTable: g.links.map((l) => create(LinkSchema, l)),
      attributeTable: [
        ...g.attributes.map((a) => create(KeyValueAndUnitSchema, { keyStrindex: a.keyStrindex, unitStrindex: a.unitStrindex, ...(a.value ? { value: create(AnyValueSchema, { value: a.value }) } : {}) })),
        ...(g.arrayValue ? [create(KeyValueAndUnitSchema, { keyStrindex: 1, value: create(AnyValueSchema, { value: { case: 'arrayValue', value: { values: [create(AnyValueSchema, { value: { case: 'doubleValue', value: 1.5 } })] } } }) })] : []),
        create(KeyValueAndUnitSchema, { keyStrindex: 2, value: create(AnyValueSchema, { value: { case: 'boolValue', value: g.boolValue } }) }),
        create(KeyValueAndUnitSchema, { keyStrindex: 3, value: create(AnyValueSchema, { value: { case: 'bytesValue', value: new Uint8Array(g.boolValue ? [1, 2] : []) } }) }),
        create(KeyValueAndUnitSchema, { keyStrindex: 4, value: create(AnyValueSchema) }),
      ],
      stackTable: g.stacks.map((s) => create(StackSchema, { locationIndices: s })),
    }),
  } : {}),
}));

const slow = (b: Uint8Array): unknown => fromBinary(ProfilesDataSchema, b);

describe('decodeProfilesFast', () => {
  it('gives what fromBinary gives for every field of the schema', () => {
    fc.assert(fc.property(anyProfilesData, (d) => {
      const b = toBinary(ProfilesDataSchema, d);
      const fast = decodeProfilesFast(b);
      expect(fast).toBeDefined();
      expect(fast).toEqual(slow(b));
      expect(encodeProfiles(fast!)).toEqual(b);
    }), { numRuns: 300 });
  });

  it('gives what fromBinary gives for the profiles the aggregator tests use', () => {
    fc.assert(fc.property(batch, (d) => {
      const b = encodeProfiles(d);
      expect(decodeProfilesFast(b)).toEqual(slow(b));
    }), { numRuns: 100 });
    fc.assert(fc.property(fc.array(timedSampleSpec, { maxLength: 10 }), (xs) => {
      const b = encodeProfiles(makeProfiles(xs, { strindexAttrs: true }));
      expect(decodeProfilesFast(b)).toEqual(slow(b));
    }), { numRuns: 100 });
  });

  it('reads unpacked repeated fields, and fields given twice, as fromBinary does', () => {
    // Sample (field 2 of Profile): stack_index 3 twice (the last wins), values unpacked, timestamps unpacked.
    const sample = [0x08, 0x01, 0x08, 0x03, 0x20, 0x05, 0x20, 0x7f, 0x29, 1, 0, 0, 0, 0, 0, 0, 0, 0x29, 2, 0, 0, 0, 0, 0, 0, 0x80];
    const prof = [0x12, sample.length, ...sample];
    const scope = [0x12, prof.length, ...prof];
    const rp = [0x12, scope.length, ...scope];
    const b = new Uint8Array([0x0a, rp.length, ...rp]);
    const fast = decodeProfilesFast(b);
    expect(fast).toEqual(slow(b));
    expect(fast!.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!.samples[0]!.values).toEqual([5n, 127n]);
  });

  it('leaves unknown fields, unexpected wire types, twice-given messages and bad UTF-8 to fromBinary', () => {
    const d = create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', 'x'] }) });
    const b = toBinary(ProfilesDataSchema, d);
    const unknown = new Uint8Array([...b, 0x98, 0x06, 0x01]); // field 99, varint
    expect(decodeProfilesFast(unknown)).toBeUndefined();
    const decoded = decodeProfiles(unknown);
    expect(decoded).toEqual(slow(unknown));
    expect(encodeProfiles(decoded)).toEqual(unknown);
    expect(decodeProfilesFast(new Uint8Array([0x11, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined(); // field 2 as fixed64
    expect(decodeProfilesFast(new Uint8Array([...b, ...b]))).toBeUndefined(); // the dictionary twice: merged by fromBinary
    expect(decodeProfiles(new Uint8Array([...b, ...b]))).toEqual(slow(new Uint8Array([...b, ...b])));
    const badUtf8 = new Uint8Array([0x12, 0x03, 0x2a, 0x01, 0xff]); // dictionary { string_table: [0xff] }
    expect(decodeProfilesFast(badUtf8)).toBeUndefined();
    expect(() => decodeProfiles(badUtf8)).toThrow(MalformedProfilesError);
  });

  it('reads resources directly, and leaves a resource with other fields than attributes to fromBinary, as fromBinary gives it', () => {
    const kv = (key: string, value: AnyValue['value'], keyStrindex = 0): KeyValue => create(KeyValueSchema, { key, keyStrindex, value: create(AnyValueSchema, { value }) });
    const attrs = fc.array(fc.oneof(
      text.map((v) => kv('process.executable.name', { case: 'stringValue', value: v })),
      i64.map((v) => kv('process.pid', { case: 'intValue', value: v })),
      i32.map((v) => kv('', { case: 'stringValueStrindex', value: v }, 3)),
      fc.constant(kv('list', { case: 'arrayValue', value: create(ArrayValueSchema, { values: [create(AnyValueSchema, { value: { case: 'doubleValue', value: 2.5 } })] }) })),
      fc.constant(create(KeyValueSchema, { key: 'no value' })),
    ), { maxLength: 5 });
    const resource = fc.record({ attributes: attrs, droppedAttributesCount: fc.oneof(fc.constant(0), fc.nat()), entityRefs: fc.boolean() }).map((r) => create(ResourceSchema, {
      attributes: r.attributes, droppedAttributesCount: r.droppedAttributesCount,
      entityRefs: r.entityRefs ? [create(EntityRefSchema, { type: 'service', idKeys: ['service.name'] })] : [],
    }));
    fc.assert(fc.property(fc.array(resource, { minLength: 1, maxLength: 3 }), (rs) => {
      const b = toBinary(ProfilesDataSchema, create(ProfilesDataSchema, { resourceProfiles: rs.map((resource) => create(ResourceProfilesSchema, { resource })) }));
      const fast = decodeProfilesFast(b);
      expect(fast).toBeDefined();
      expect(fast).toEqual(slow(b));
      expect(encodeProfiles(fast!)).toEqual(b);
    }), { numRuns: 200 });
    // A KeyValue's value given twice: merged by fromBinary, for that resource alone.
    const value = [0x12, 0x02, 0x18, 0x07];
    const pair = [0x0a, 0x01, 0x78, ...value, ...value];
    const res = [0x0a, pair.length, ...pair];
    const b = new Uint8Array([0x0a, res.length + 2, 0x0a, res.length, ...res]);
    expect(decodeProfilesFast(b)).toEqual(slow(b));
  });

  it('reads and writes any resource as fromBinary and toBinary do: nested values, negative indices, unknown fields, damage', () => {
    // Unknown fields at a resource's three levels (Resource, KeyValue, AnyValue): kept and written back.
    const unknown = [{ no: 99, wireType: 0 as const, data: Uint8Array.of(5) }];
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' },
        fc.constant(create(AnyValueSchema)),
        text.map((v) => create(AnyValueSchema, { value: { case: 'stringValue', value: v } })),
        fc.boolean().map((v) => create(AnyValueSchema, { value: { case: 'boolValue', value: v } })),
        i64.map((v) => create(AnyValueSchema, { value: { case: 'intValue', value: v } })),
        fc.double().map((v) => create(AnyValueSchema, { value: { case: 'doubleValue', value: v } })),
        bytes.map((v) => create(AnyValueSchema, { value: { case: 'bytesValue', value: v } })),
        i32.map((v) => create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: v } })),
        i32.map((v) => create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: v }, $unknown: unknown })),
        fc.array(tie('value') as fc.Arbitrary<AnyValue>, { maxLength: 3 }).map((values) => create(AnyValueSchema, { value: { case: 'arrayValue', value: create(ArrayValueSchema, { values }) } })),
        fc.array(tie('kv') as fc.Arbitrary<KeyValue>, { maxLength: 3 }).map((values) => create(AnyValueSchema, { value: { case: 'kvlistValue', value: create(KeyValueListSchema, { values }) } })),
      ),
      kv: fc.record({ key: text, keyStrindex: i32, value: fc.option(tie('value') as fc.Arbitrary<AnyValue>, { nil: undefined }), unknown: fc.boolean() })
        .map((r) => create(KeyValueSchema, { key: r.key, keyStrindex: r.keyStrindex, ...(r.value ? { value: r.value } : {}), ...(r.unknown ? { $unknown: unknown } : {}) })),
    }));
    const kvs = fc.array(fc.record({ key: text, keyStrindex: i32, value: fc.option(value, { nil: undefined }) })
      .map((r) => create(KeyValueSchema, { key: r.key, keyStrindex: r.keyStrindex, ...(r.value ? { value: r.value } : {}) })), { maxLength: 4 });
    const resource = fc.record({ attributes: kvs, droppedAttributesCount: fc.oneof(fc.constant(0), fc.nat()), entityRefs: fc.boolean(), unknown: fc.boolean() }).map((r) => create(ResourceSchema, {
      attributes: r.attributes, droppedAttributesCount: r.droppedAttributesCount,
      entityRefs: r.entityRefs ? [create(EntityRefSchema, { type: 'service', idKeys: ['service.name'] })] : [],
      ...(r.unknown ? { $unknown: unknown } : {}),
    }));
    const message = fc.array(fc.option(resource, { nil: undefined }), { minLength: 1, maxLength: 3 })
      .map((rs) => toBinary(ProfilesDataSchema, create(ProfilesDataSchema, { resourceProfiles: rs.map((r) => create(ResourceProfilesSchema, r ? { resource: r } : {})) })));
    fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (b, at, byte) => {
      const d = decodeProfiles(b);
      expect(d).toEqual(slow(b));
      expect(encodeProfiles(d)).toEqual(b);
      const flipped = b.slice();
      flipped[at % b.length] = byte;
      for (const x of [b.subarray(0, at % b.length), flipped]) {
        let want: unknown;
        try { want = slow(x); } catch (e) {
          expect(() => decodeProfiles(x)).toThrow((e as Error).message);
          continue;
        }
        const got = decodeProfiles(x);
        expect(got).toEqual(want);
        expect(encodeProfiles(got)).toEqual(toBinary(ProfilesDataSchema, want as ProfilesData));
      }
    }), { numRuns: 1500 });
  });

  it('throws what fromBinary throws on any damaged message, never a different result', () => {
    fc.assert(fc.property(anyProfilesData, fc.nat(), fc.integer({ min: 0, max: 255 }), (d, at, byte) => {
      const b = toBinary(ProfilesDataSchema, d);
      if (b.length === 0) return;
      const cut = b.subarray(0, at % b.length);
      const flipped = b.slice();
      flipped[at % b.length] = byte;
      for (const x of [cut, flipped]) {
        let want: unknown;
        let wantErr: string | undefined;
        try { want = slow(x); } catch (e) { wantErr = (e as Error).message; }
        if (wantErr !== undefined) {
          expect(() => decodeProfiles(x)).toThrow(MalformedProfilesError);
          expect(() => decodeProfiles(x)).toThrow(wantErr);
        } else {
          expect(decodeProfiles(x)).toEqual(want);
        }
      }
    }), { numRuns: 400 });
  });
});

describe('encodeProfilesFast', () => {
  it('writes the bytes toBinary writes, for every field of the schema', () => {
    fc.assert(fc.property(anyProfilesData, (d) => {
      const fast = encodeProfilesFast(d);
      expect(fast).toBeDefined();
      expect(Buffer.from(fast!).equals(Buffer.from(toBinary(ProfilesDataSchema, d)))).toBe(true);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(timedSampleSpec, { maxLength: 10 }), (xs) => {
      const d = makeProfiles(xs, { strindexAttrs: true });
      expect(Buffer.from(encodeProfilesFast(d)!).equals(Buffer.from(toBinary(ProfilesDataSchema, d)))).toBe(true);
    }), { numRuns: 100 });
  });

  it('leaves messages with unknown fields to toBinary, which writes them back', () => {
    const d = create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', 'x'] }) });
    const withUnknown = new Uint8Array([...toBinary(ProfilesDataSchema, d), 0x98, 0x06, 0x01]);
    const decoded = decodeProfiles(withUnknown);
    expect(encodeProfilesFast(decoded)).toBeUndefined();
    expect(encodeProfiles(decoded)).toEqual(withUnknown);
  });
});
