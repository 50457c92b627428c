import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { makeProfiles, type SampleSpec } from '../aggregate/testutil/gen.js';
import { emptyLocations, longNameStacks, manyStrings } from '../testutil/payloads.js';
import { checkProfilesLimits, decodeRequestProfiles, DEFAULT_REQUEST_LIMITS, RequestLimitError, type RequestLimits } from './limits.js';
import { decodeProfiles, encodeProfiles, MalformedProfilesError } from './profiles.js';

const spec = (pid: number, frames: number[]): SampleSpec => ({ pid, type: 0, frames: frames.map((f, i) => [f, 10 + i, i] as [number, number, number]), thread: 1, link: 0, values: [1n], timestamps: [] });

/** What a decoder finds in bytes: the counts the scanner must agree with. */
function decodedCounts(bytes: Uint8Array): RequestLimits {
  const data = decodeProfiles(bytes);
  const d = data.dictionary!;
  let samples = 0;
  for (const rp of data.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) samples += p.samples.length;
  return {
    resources: data.resourceProfiles.length,
    samples,
    locations: d.locationTable.length,
    lines: d.locationTable.reduce((n, l) => n + l.lines.length, 0),
    functions: d.functionTable.length,
    mappings: d.mappingTable.length,
    strings: d.stringTable.length,
    stacks: d.stackTable.length,
    stackFrames: d.stackTable.reduce((n, s) => n + s.locationIndices.length, 0),
    attributes: d.attributeTable.length,
  };
}

describe('request limits on the wire', () => {
  it('counts exactly what the decoder finds: passes at each count, fails one below', () => {
    const bytes = encodeProfiles(makeProfiles([spec(1, [0, 1, 2]), spec(2, [5, 2]), spec(2, [4, 3, 2, 1])]));
    const counts = decodedCounts(bytes);
    for (const v of Object.values(counts)) expect(v).toBeGreaterThan(0);
    checkProfilesLimits(bytes, counts);
    for (const k of Object.keys(counts) as Array<keyof RequestLimits>) {
      expect(() => checkProfilesLimits(bytes, { ...counts, [k]: counts[k] - 1 }), k).toThrow(RequestLimitError);
    }
  });

  it('counts stacks written unpacked too', () => {
    const w = new BinaryWriter();
    w.tag(2, 2).fork();
    for (let s = 0; s < 3; s++) w.tag(7, 2).fork().tag(1, 0).int32(1).tag(1, 0).int32(2).join();
    w.join();
    const bytes = w.finish();
    expect(decodedCounts(bytes).stackFrames).toBe(6);
    checkProfilesLimits(bytes, { ...DEFAULT_REQUEST_LIMITS, stackFrames: 6 });
    expect(() => checkProfilesLimits(bytes, { ...DEFAULT_REQUEST_LIMITS, stackFrames: 5 })).toThrow(RequestLimitError);
  });

  it('refuses the memory attacks before decoding, naming the element', () => {
    expect(() => decodeRequestProfiles(emptyLocations(1_000_000))).toThrow(/more than 262144 locations/);
    expect(() => decodeRequestProfiles(manyStrings(600_000))).toThrow(/more than 524288 strings/);
    // The flame store attack is within the counts: the store bounds it (store tests).
    const counts = decodedCounts(longNameStacks(100, 100, 50));
    expect(counts.stacks).toBe(101);
    expect(counts.stackFrames).toBe(100 * 100);
    checkProfilesLimits(longNameStacks());
  });

  it('refuses framing a decoder refuses', () => {
    for (const bad of [Uint8Array.of(0x12), Uint8Array.of(0x12, 0x05, 0x00), Uint8Array.of(0x0b), Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), Uint8Array.of(0x09, 1, 2)]) {
      expect(() => checkProfilesLimits(bad)).toThrow(MalformedProfilesError);
    }
    // Fixed-width and unknown fields are skipped, as a decoder skips them.
    checkProfilesLimits(Uint8Array.of(0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4, 0x28, 0x01));
  });
});
