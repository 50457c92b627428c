import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { AnyValueSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { KeyValueAndUnitSchema, ProfilesDictionarySchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { asPid, dictAttribute, listAttribute, nonEmptyString, resolveKey, resolveScalar } from './attrs.js';

const strings = ['', 'process.pid', '4242', 'k', 'v'];
const strRef = (i: number) => create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: i } });

describe('attributes through the string table', () => {
  it('resolves keys and string values pdata moved into the string table', () => {
    const attrs = [
      create(KeyValueSchema, { keyStrindex: 3, value: strRef(4) }),
      create(KeyValueSchema, { keyStrindex: 1, value: create(AnyValueSchema, { value: { case: 'intValue', value: 7n } }) }),
    ];
    expect(resolveKey(attrs[0]!, strings)).toBe('k');
    expect(resolveKey(create(KeyValueSchema, { key: 'plain', keyStrindex: 3 }), strings)).toBe('plain');
    expect(resolveKey(create(KeyValueSchema, { keyStrindex: 99 }), strings)).toBe('');
    expect(listAttribute(attrs, strings, 'k')).toBe('v');
    expect(listAttribute(attrs, strings, 'process.pid')).toBe(7n);
    expect(listAttribute(attrs, strings, 'missing')).toBeUndefined();
    expect(resolveScalar(strRef(99), strings)).toBeUndefined();
    expect(resolveScalar(create(AnyValueSchema, { value: { case: 'boolValue', value: true } }), strings)).toBe(true);
  });

  it('reads dictionary attributes with either kind of string value', () => {
    const d = create(ProfilesDictionarySchema, {
      stringTable: strings,
      attributeTable: [create(KeyValueAndUnitSchema), create(KeyValueAndUnitSchema, { keyStrindex: 1, value: strRef(2) })],
    });
    expect(dictAttribute(d, [0, 1], 'process.pid')).toBe('4242');
    expect(asPid(dictAttribute(d, [1], 'process.pid'))).toBe(4242);
  });

  it('takes only positive integer process ids and non-empty strings', () => {
    expect(asPid(12n)).toBe(12);
    expect(asPid(12)).toBe(12);
    expect(asPid('12')).toBe(12);
    for (const bad of ['12x', '-1', '', 0n, -3n, 1.5, true, undefined]) expect(asPid(bad)).toBeUndefined();
    expect(nonEmptyString('a')).toBe('a');
    expect(nonEmptyString('')).toBeUndefined();
    expect(nonEmptyString(5n)).toBeUndefined();
  });
});
