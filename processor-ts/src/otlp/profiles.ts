import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  FunctionSchema,
  ProfilesDataSchema,
  ProfilesDictionarySchema,
  type Function as OtlpFunction,
  type Line,
  type ProfilesData,
  type ProfilesDictionary,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { decodeProfilesFast } from './decode.js';
import { encodeProfilesFast } from './encode.js';

export type { ProfilesData, ProfilesDictionary, Line, OtlpFunction };

/** Thrown when bytes are not a decodable OTLP ProfilesData message. */
export class MalformedProfilesError extends Error {
  override readonly name = 'MalformedProfilesError';
}

/** Decodes OTLP ProfilesData as pdata's ProtoMarshaler writes it. Unknown fields are kept. */
export function decodeProfiles(bytes: Uint8Array): ProfilesData {
  const fast = decodeProfilesFast(bytes);
  if (fast) return fast;
  try {
    return fromBinary(ProfilesDataSchema, bytes);
  } catch (e) {
    throw new MalformedProfilesError(`malformed ProfilesData: ${(e as Error).message}`, { cause: e });
  }
}

/** Encodes OTLP ProfilesData (unknown fields are written back). */
export function encodeProfiles(data: ProfilesData): Uint8Array {
  return encodeProfilesFast(data) ?? toBinary(ProfilesDataSchema, data);
}

/** Returns the dictionary, creating it (with the zero rows OTLP requires) when absent. */
export function ensureDictionary(data: ProfilesData): ProfilesDictionary {
  data.dictionary ??= create(ProfilesDictionarySchema);
  const d = data.dictionary;
  if (d.stringTable.length === 0) d.stringTable.push('');
  if (d.functionTable.length === 0) d.functionTable.push(create(FunctionSchema));
  return d;
}

/**
 * Appends to a dictionary without duplicating strings or functions that are already there.
 * Indexes existing entries lazily, on first use.
 */
export class DictionaryWriter {
  private strings: Map<string, number> | undefined;
  private functions: Map<string, number> | undefined;

  constructor(readonly dict: ProfilesDictionary) {}

  /** Index of `s` in the string table, appending it if new. */
  string(s: string): number {
    if (!this.strings) {
      this.strings = new Map();
      this.dict.stringTable.forEach((v, i) => { if (!this.strings!.has(v)) this.strings!.set(v, i); });
    }
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.dict.stringTable.push(s) - 1;
      this.strings.set(s, i);
    }
    return i;
  }

  /** Index of the function with these fields, appending it if new. */
  function(name: string, systemName: string, filename: string, startLine = 0n): number {
    const n = this.string(name);
    const sys = this.string(systemName);
    const file = this.string(filename);
    if (!this.functions) {
      this.functions = new Map();
      this.dict.functionTable.forEach((g, i) => {
        const k = functionKey(g.nameStrindex, g.systemNameStrindex, g.filenameStrindex, g.startLine);
        if (i > 0 && !this.functions!.has(k)) this.functions!.set(k, i);
      });
    }
    const key = functionKey(n, sys, file, startLine);
    let i = this.functions.get(key);
    if (i === undefined) {
      i = this.dict.functionTable.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Function', nameStrindex: n, systemNameStrindex: sys, filenameStrindex: file, startLine }) - 1;
      this.functions.set(key, i);
    }
    return i;
  }
}

function functionKey(name: number, system: number, file: number, start: bigint): string {
  return `${name}:${system}:${file}:${start}`;
}

/** A Line for the function at `functionIndex`. */
export function newLine(functionIndex: number, line: number, column: number): Line {
  // A literal of the generated shape (as decode.ts writes them): create() is reflective, and every symbolized frame of every batch makes one.
  return { $typeName: 'opentelemetry.proto.profiles.v1development.Line', functionIndex, line: BigInt(line), column: BigInt(column) };
}
