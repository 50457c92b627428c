import { create, equals, fromBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AnyValueSchema, ArrayValueSchema, KeyValueListSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema, KeyValueAndUnitSchema, LineSchema, LinkSchema, LocationSchema, MappingSchema, ProfileSchema, ProfilesDataSchema,
  ProfilesDictionarySchema, ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema, StackSchema, ValueTypeSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { encodeProfilesPdata } from './encode-pdata.js';
import { decodeProfiles, type ProfilesData } from './profiles.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const idx = fc.array(i32, { maxLength: 4 });
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
const nonZeroId = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).filter((b) => b.some((x) => x !== 0));
const id = (n: number) => fc.oneof(fc.constant(new Uint8Array()), nonZeroId(n));
const value = fc.oneof(
  text.map((v) => ({ case: 'stringValue' as const, value: v })),
  i64.map((v) => ({ case: 'intValue' as const, value: v })),
  fc.boolean().map((v) => ({ case: 'boolValue' as const, value: v })),
  fc.double().map((v) => ({ case: 'doubleValue' as const, value: v })),
  fc.uint8Array({ maxLength: 4 }).map((v) => ({ case: 'bytesValue' as const, value: v })),
  i32.map((v) => ({ case: 'stringValueStrindex' as const, value: v })),
  fc.constant({ case: undefined }),
);
const nested = fc.oneof(
  value,
  fc.array(value, { maxLength: 3 }).map((vs) => ({ case: 'arrayValue' as const, value: create(ArrayValueSchema, { values: vs.map((v) => create(AnyValueSchema, { value: v })) }) })),
  fc.array(fc.record({ key: text, value }), { maxLength: 2 }).map((kvs) => ({ case: 'kvlistValue' as const, value: create(KeyValueListSchema, { values: kvs.map((kv) => create(KeyValueSchema, { key: kv.key, value: create(AnyValueSchema, { value: kv.value }) })) }) })),
);
const valueType = fc.record({ typeStrindex: i32, unitStrindex: i32 }).map((v) => create(ValueTypeSchema, v));

/** Messages as pdata holds them: every message pdata always writes is present. */
const pdataShaped = fc.record({
  strings: fc.array(text, { maxLength: 6 }),
  mappings: fc.array(fc.record({ memoryStart: u64, memoryLimit: u64, fileOffset: u64, filenameStrindex: i32, attributeIndices: idx }), { maxLength: 3 }),
  locations: fc.array(fc.record({ mappingIndex: i32, address: u64, attributeIndices: idx, lines: fc.array(fc.record({ functionIndex: i32, line: i64, column: i64 }), { maxLength: 3 }) }), { maxLength: 4 }),
  functions: fc.array(fc.record({ nameStrindex: i32, systemNameStrindex: i32, filenameStrindex: i32, startLine: i64 }), { maxLength: 3 }),
  links: fc.array(fc.record({ traceId: id(16), spanId: id(8) }), { maxLength: 2 }),
  attributes: fc.array(fc.record({ keyStrindex: i32, unitStrindex: i32, value: nested }), { maxLength: 4 }),
  stacks: fc.array(idx, { maxLength: 3 }),
  resourceAttrs: fc.array(fc.record({ key: text, keyStrindex: i32, value }), { maxLength: 3 }),
  scope: fc.record({ name: text, version: text, droppedAttributesCount: fc.nat(), attributes: fc.array(fc.record({ key: text, value }), { maxLength: 2 }) }),
  dropped: fc.nat(),
  profiles: fc.array(fc.record({
    samples: fc.array(fc.record({ stackIndex: i32, attributeIndices: idx, linkIndex: i32, values: fc.array(i64, { maxLength: 3 }), timestampsUnixNano: fc.array(u64, { maxLength: 3 }) }), { maxLength: 3 }),
    timeUnixNano: u64, durationNano: u64, period: i64, profileId: id(16), droppedAttributesCount: fc.nat(), originalPayloadFormat: text,
    originalPayload: fc.uint8Array({ maxLength: 5 }), attributeIndices: idx, sampleType: valueType, periodType: valueType,
  }), { maxLength: 3 }),
  schemaUrl: text,
}).map((g) => create(ProfilesDataSchema, {
  resourceProfiles: [create(ResourceProfilesSchema, {
    schemaUrl: g.schemaUrl,
    resource: { droppedAttributesCount: g.dropped, attributes: g.resourceAttrs.map((a) => create(KeyValueSchema, { key: a.key, keyStrindex: a.keyStrindex, value: create(AnyValueSchema, { value: a.value }) })) },
    scopeProfiles: [create(ScopeProfilesSchema, {
      scope: { ...g.scope, attributes: g.scope.attributes.map((a) => create(KeyValueSchema, { key: a.key, value: create(AnyValueSchema, { value: a.value }) })) },
      schemaUrl: g.schemaUrl,
      profiles: g.profiles.map((p) => create(ProfileSchema, { ...p, samples: p.samples.map((s) => create(SampleSchema, s)) })),
    })],
  })],
  dictionary: create(ProfilesDictionarySchema, {
    stringTable: g.strings,
    mappingTable: g.mappings.map((m) => create(MappingSchema, m)),
    locationTable: g.locations.map((l) => create(LocationSchema, { ...l, lines: l.lines.map((x) => create(LineSchema, x)) })),
    functionTable: g.functions.map((f) => create(FunctionSchema, f)),
    linkTable: g.links.map((l) => create(LinkSchema, l)),
    attributeTable: g.attributes.map((a) => create(KeyValueAndUnitSchema, { keyStrindex: a.keyStrindex, unitStrindex: a.unitStrindex, value: create(AnyValueSchema, { value: a.value }) })),
    stackTable: g.stacks.map((s) => create(StackSchema, { locationIndices: s })),
  }),
}));

function small(): ProfilesData {
  return create(ProfilesDataSchema, {
    dictionary: create(ProfilesDictionarySchema, { stringTable: ['', 'cpu'] }),
    resourceProfiles: [create(ResourceProfilesSchema, {
      resource: { attributes: [create(KeyValueSchema, { key: 'process.pid', value: create(AnyValueSchema, { value: { case: 'intValue', value: 7n } }) })] },
      scopeProfiles: [create(ScopeProfilesSchema, { scope: {}, profiles: [create(ProfileSchema, { sampleType: create(ValueTypeSchema), periodType: create(ValueTypeSchema), samples: [create(SampleSchema, { values: [1n] })] })] })],
    })],
  });
}

describe('encodeProfilesPdata', () => {
  it('writes bytes that decode to exactly the message given, the dictionary and then each field in descending order', () => {
    fc.assert(fc.property(pdataShaped, (d) => {
      const b = encodeProfilesPdata(d);
      expect(b).toBeDefined();
      expect(b![0]).toBe(0x12);
      expect(equals(ProfilesDataSchema, fromBinary(ProfilesDataSchema, b!), d)).toBe(true);
      expect(equals(ProfilesDataSchema, decodeProfiles(b!), d)).toBe(true);
    }), { numRuns: 300 });
  });

  it('writes what pdata always writes: an empty id as its tag alone', () => {
    const b = encodeProfilesPdata(small())!;
    // The profile: sample type last (field 1), the empty profile id as 3a 00 before the period type.
    expect(Buffer.from(b).includes(Buffer.from([0x3a, 0x00, 0x2a, 0x00]))).toBe(true);
  });

  it('gives up on what pdata would not give back as the same message', () => {
    const cases: Array<[string, (d: ProfilesData) => void]> = [
      ['no dictionary', (d) => { delete d.dictionary; }],
      ['no resource', (d) => { delete d.resourceProfiles[0]!.resource; }],
      ['no scope', (d) => { delete d.resourceProfiles[0]!.scopeProfiles[0]!.scope; }],
      ['no sample type', (d) => { delete d.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!.sampleType; }],
      ['an attribute without a value', (d) => { delete d.resourceProfiles[0]!.resource!.attributes[0]!.value; }],
      ['an array value without a value in it', (d) => { d.resourceProfiles[0]!.resource!.attributes[0]!.value!.value = { case: 'arrayValue', value: { $typeName: 'opentelemetry.proto.common.v1.ArrayValue', values: [undefined as never] } }; }],
      ['entity refs', (d) => { d.resourceProfiles[0]!.resource!.entityRefs.push({ $typeName: 'opentelemetry.proto.common.v1.EntityRef', schemaUrl: '', type: 'x', idKeys: [], descriptionKeys: [] }); }],
      ['an all-zero profile id', (d) => { d.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!.profileId = new Uint8Array(16); }],
      ['a profile id of 8 bytes', (d) => { d.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!.profileId = new Uint8Array(8).fill(1); }],
      ['a lone surrogate', (d) => { d.dictionary!.stringTable.push('a\ud800'); }],
      ['unknown fields', (d) => { d.dictionary!.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }]; }],
    ];
    expect(encodeProfilesPdata(small())).toBeDefined();
    for (const [name, spoil] of cases) {
      const d = small();
      spoil(d);
      expect(encodeProfilesPdata(d), name).toBeUndefined();
    }
  });
});
