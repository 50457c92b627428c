import { create } from '@bufbuild/protobuf';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AnyValueSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema,
  KeyValueAndUnitSchema,
  ProfilesDataSchema,
  ProfilesDictionarySchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import {
  DictionaryWriter,
  MalformedProfilesError,
  decodeProfiles,
  encodeProfiles,
  ensureDictionary,
  newLine,
} from './profiles.js';
import { main, roundTrip } from './roundtrip.js';
import { dictAttribute, resolveScalar } from './attrs.js';

describe('OTLP profiles', () => {
  it('decodes what it encodes, unknown fields included', () => {
    const data = create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', 'a'] }) });
    const bytes = encodeProfiles(data);
    // Append an unknown field (number 99, varint 1): it must survive the round trip.
    const withUnknown = new Uint8Array([...bytes, 0x98, 0x06, 0x01]);
    const back = roundTrip(withUnknown);
    expect(Buffer.from(back).equals(Buffer.from(withUnknown))).toBe(true);
    expect(decodeProfiles(bytes).dictionary?.stringTable).toEqual(['', 'a']);
  });

  it('rejects garbage as MalformedProfilesError', () => {
    expect(() => decodeProfiles(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(MalformedProfilesError);
    expect(() => decodeProfiles(new Uint8Array([0]))).toThrow(/malformed ProfilesData/);
  });

  it('creates the dictionary with its zero rows', () => {
    const data = create(ProfilesDataSchema);
    const d = ensureDictionary(data);
    expect(d.stringTable).toEqual(['']);
    expect(d.functionTable).toHaveLength(1);
    expect(ensureDictionary(data)).toBe(d);
  });

  it('reads scalar attributes from the dictionary', () => {
    const d = create(ProfilesDictionarySchema, {
      stringTable: ['', 'k', 'other'],
      attributeTable: [
        create(KeyValueAndUnitSchema),
        create(KeyValueAndUnitSchema, { keyStrindex: 2, value: create(AnyValueSchema, { value: { case: 'boolValue', value: true } }) }),
        create(KeyValueAndUnitSchema, { keyStrindex: 1, value: create(AnyValueSchema, { value: { case: 'stringValue', value: 'v' } }) }),
      ],
    });
    expect(dictAttribute(d, [1, 2], 'k')).toBe('v');
    expect(dictAttribute(d, [1], 'k')).toBeUndefined();
    expect(dictAttribute(d, [9], 'k')).toBeUndefined();
    expect(resolveScalar(create(AnyValueSchema, { value: { case: 'intValue', value: 5n } }), [])).toBe(5n);
    expect(resolveScalar(create(AnyValueSchema, { value: { case: 'doubleValue', value: 0.5 } }), [])).toBe(0.5);
    expect(resolveScalar(create(AnyValueSchema, { value: { case: 'bytesValue', value: new Uint8Array() } }), [])).toBeUndefined();
    expect(resolveScalar(undefined, [])).toBeUndefined();
    expect(create(KeyValueSchema).key).toBe('');
  });

  it('appends strings and functions without duplicates', () => {
    const d = create(ProfilesDictionarySchema, {
      stringTable: ['', 'main', 'a.c', 'main'],
      functionTable: [create(FunctionSchema), create(FunctionSchema, { nameStrindex: 1, systemNameStrindex: 1, filenameStrindex: 2 })],
    });
    const w = new DictionaryWriter(d);
    expect(w.string('main')).toBe(1);
    expect(w.string('new')).toBe(4);
    expect(w.string('new')).toBe(4);
    expect(w.function('main', 'main', 'a.c')).toBe(1);
    expect(w.function('f', 'f', 'a.c')).toBe(2);
    expect(w.function('f', 'f', 'a.c')).toBe(2);
    expect(w.function('f', 'f', 'a.c', 3n)).toBe(3);
    expect(d.stringTable).toEqual(['', 'main', 'a.c', 'main', 'new', 'f']);
    const l = newLine(2, 10, 4);
    expect([l.functionIndex, l.line, l.column]).toEqual([2, 10n, 4n]);
  });

  it('round-trips stdin to stdout as a script', async () => {
    const bytes = encodeProfiles(create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', 'x'] }) }));
    const input = new PassThrough();
    const output = new PassThrough();
    const chunks: Buffer[] = [];
    output.on('data', (c: Buffer) => chunks.push(c));
    input.end(Buffer.from(bytes));
    await main(input, output);
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
  });
});
