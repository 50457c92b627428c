import type { AnyValue, KeyValue } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import type { ProfilesDictionary } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';

/** A scalar attribute value: strings, integers (bigint), doubles, booleans. */
export type Scalar = string | bigint | number | boolean;

/**
 * Scalar view of an AnyValue with string-table references resolved: pdata's ProtoMarshaler moves
 * string values into the dictionary's string table (`string_value_strindex`), so a reader that
 * only looks at `string_value` misses them. Undefined for arrays, maps, bytes and bad indices.
 */
export function resolveScalar(v: AnyValue | undefined, strings: readonly string[]): Scalar | undefined {
  const val = v?.value;
  switch (val?.case) {
    case 'stringValue':
    case 'intValue':
    case 'doubleValue':
    case 'boolValue':
      return val.value;
    case 'stringValueStrindex':
      return strings[val.value];
    default:
      return undefined;
  }
}

/**
 * The key of a KeyValue: `key`, or the string-table entry `key_strindex` names (pdata's
 * ProtoMarshaler writes resource attribute keys that way).
 */
export function resolveKey(kv: KeyValue, strings: readonly string[]): string {
  return kv.key !== '' ? kv.key : (strings[kv.keyStrindex] ?? '');
}

/** The value of the attribute `key` in a KeyValue list (resource or scope attributes). */
export function listAttribute(attrs: readonly KeyValue[], strings: readonly string[], key: string): Scalar | undefined {
  for (let k = 0; k < attrs.length; k++) if (resolveKey(attrs[k]!, strings) === key) return resolveScalar(attrs[k]!.value, strings);
  return undefined;
}

/** The value of the dictionary attribute `key` among `indices` (mapping, location, sample, profile). */
export function dictAttribute(d: ProfilesDictionary, indices: readonly number[], key: string): Scalar | undefined {
  for (let k = 0; k < indices.length; k++) {
    const kv = d.attributeTable[indices[k]!];
    if (kv && d.stringTable[kv.keyStrindex] === key) return resolveScalar(kv.value, d.stringTable);
  }
  return undefined;
}

/** A string attribute as a non-empty string, or undefined (other types and '' are ignored). */
export function nonEmptyString(v: Scalar | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A process id from an int or decimal-string attribute; undefined unless a positive safe integer. */
export function asPid(v: Scalar | undefined): number | undefined {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : NaN) : typeof v === 'number' ? v : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
