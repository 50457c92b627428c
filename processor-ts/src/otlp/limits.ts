// Per-request bounds on OTLP ProfilesData, checked on the wire bytes before anything is
// decoded: a request's memory once decoded grows with its element counts (an empty Location
// is 2 bytes on the wire and hundreds once decoded), so the counts are bounded, not only the
// request's size.
import { decodeProfiles, MalformedProfilesError, type ProfilesData } from './profiles.js';

/** How many of each element one request may carry. */
export interface RequestLimits {
  /** resource_profiles entries. */
  resources: number;
  /** Samples over all profiles. */
  samples: number;
  locations: number;
  /** Lines over all locations. */
  lines: number;
  functions: number;
  mappings: number;
  strings: number;
  stacks: number;
  /** Location indices over all stacks. */
  stackFrames: number;
  attributes: number;
}

/**
 * Far above what a node's collector sends per batch (a busy machine's 10-second batch holds
 * tens of thousands of locations), far below what exhausts the sidecar's memory.
 */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  resources: 65_536,
  samples: 1_048_576,
  locations: 262_144,
  lines: 1_048_576,
  functions: 262_144,
  mappings: 65_536,
  strings: 524_288,
  stacks: 262_144,
  stackFrames: 4_194_304,
  attributes: 262_144,
};

/** A request carries more of some element than the limits allow. */
export class RequestLimitError extends Error {
  override readonly name = 'RequestLimitError';
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/**
 * A cursor over protobuf wire bytes that reads tags and skips values without copying. The last
 * tag read is left in `field`/`wireType` and the last LEN value's extent in `start`/`stop`, so a
 * scan allocates nothing per field (tuples did: tens of MiB per batch, all garbage).
 */
class Wire {
  pos = 0;
  end = 0;
  field = 0;
  wireType = 0;
  start = 0;
  stop = 0;
  constructor(private readonly b: Uint8Array) {}

  /** Points the cursor at the message in [start, end). */
  at(start: number, end: number): this {
    this.pos = start;
    this.end = end;
    return this;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const byte = this.b[this.pos++]!;
      if (i < 7) v += (byte & 0x7f) * mul; // lengths and tags fit in 49 bits
      mul *= 128;
      if (byte < 0x80) return v;
    }
    throw malformed('varint longer than 10 bytes');
  }

  /** Reads a tag into `field` and `wireType`. */
  tag(): void {
    const t = this.varint();
    this.field = Math.floor(t / 8);
    this.wireType = t & 7;
  }

  /** Reads a LEN value's extent into `start`/`stop` and moves past it. */
  len(): void {
    const n = this.varint();
    const start = this.pos;
    if (n > this.end - start) throw malformed('length past the end of the message');
    this.pos += n;
    this.start = start;
    this.stop = start + n;
  }

  skip(wt: number): void {
    switch (wt) {
      case VARINT: this.varint(); return;
      case I64: this.advance(8); return;
      case LEN: this.len(); return;
      case I32: this.advance(4); return;
      default: throw malformed(`wire type ${wt}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw malformed('value past the end of the message');
    this.pos += n;
  }

  /** Counts the varints of a packed field's extent. */
  countVarints(start: number, end: number): number {
    let n = 0;
    for (let i = start; i < end; i++) if (this.b[i]! < 0x80) n++;
    return n;
  }
}

function malformed(what: string): MalformedProfilesError {
  return new MalformedProfilesError(`malformed ProfilesData: ${what}`);
}

type Counts = { -readonly [K in keyof RequestLimits]: number };

/**
 * Counts the elements of an encoded ProfilesData and throws RequestLimitError naming the first
 * one over its limit (MalformedProfilesError for framing a decoder would refuse too). Reads
 * tags and lengths only, with one cursor per nesting level: nothing allocated per element.
 */
export function checkProfilesLimits(bytes: Uint8Array, limits: Readonly<RequestLimits> = DEFAULT_REQUEST_LIMITS): void {
  const c: Counts = { resources: 0, samples: 0, locations: 0, lines: 0, functions: 0, mappings: 0, strings: 0, stacks: 0, stackFrames: 0, attributes: 0 };
  const over = (k: keyof RequestLimits): void => {
    if (c[k] > limits[k]) {
      throw new RequestLimitError(`request carries more than ${limits[k]} ${NAMES[k]}; send smaller batches (per-request limit of the sidecar)`);
    }
  };
  const w = new Wire(bytes).at(0, bytes.length);
  // ResourceProfiles (1) → ScopeProfiles (2) → Profile (2) → Sample (2): samples are counted.
  const levels = [new Wire(bytes), new Wire(bytes), new Wire(bytes)];
  const samples = (depth: number, start: number, end: number): void => {
    const m = levels[depth]!.at(start, end);
    while (m.pos < m.end) {
      m.tag();
      if (m.field === 2 && m.wireType === LEN) {
        m.len();
        if (depth === 2) { c.samples++; over('samples'); } else samples(depth + 1, m.start, m.stop);
      } else m.skip(m.wireType);
    }
  };
  const inner = [new Wire(bytes), new Wire(bytes)];
  while (w.pos < w.end) {
    w.tag();
    if (w.wireType !== LEN) { w.skip(w.wireType); continue; }
    w.len();
    if (w.field === 1) {
      c.resources++;
      over('resources');
      samples(0, w.start, w.stop);
    } else if (w.field === 2) {
      dictionary(inner[0]!.at(w.start, w.stop), inner[1]!, c, over);
    }
  }
}

const NAMES: Record<keyof RequestLimits, string> = {
  resources: 'resource_profiles', samples: 'samples', locations: 'locations (location_table)',
  lines: 'lines over all locations', functions: 'functions (function_table)', mappings: 'mappings (mapping_table)',
  strings: 'strings (string_table)', stacks: 'stacks (stack_table)', stackFrames: 'location indices over all stacks',
  attributes: 'attributes (attribute_table)',
};

const TABLE: Partial<Record<number, keyof RequestLimits>> = { 1: 'mappings', 2: 'locations', 3: 'functions', 5: 'strings', 6: 'attributes', 7: 'stacks' };

function dictionary(w: Wire, m: Wire, c: Counts, over: (k: keyof RequestLimits) => void): void {
  while (w.pos < w.end) {
    w.tag();
    const k = TABLE[w.field];
    if (k === undefined || w.wireType !== LEN) { w.skip(w.wireType); continue; }
    w.len();
    c[k]++;
    over(k);
    if (k === 'locations') {
      // Location.lines (3) are messages.
      m.at(w.start, w.stop);
      while (m.pos < m.end) {
        m.tag();
        if (m.field === 3 && m.wireType === LEN) { m.len(); c.lines++; } else m.skip(m.wireType);
      }
      over('lines');
    } else if (k === 'stacks') {
      // Stack.location_indices (1): packed, or one varint each.
      m.at(w.start, w.stop);
      while (m.pos < m.end) {
        m.tag();
        if (m.field === 1 && m.wireType === LEN) {
          m.len();
          c.stackFrames += m.countVarints(m.start, m.stop);
        } else {
          if (m.field === 1 && m.wireType === VARINT) c.stackFrames++;
          m.skip(m.wireType);
        }
      }
      over('stackFrames');
    }
  }
}

/** Decodes a request's ProfilesData once its element counts are within the limits. */
export function decodeRequestProfiles(bytes: Uint8Array, limits: Readonly<RequestLimits> = DEFAULT_REQUEST_LIMITS): ProfilesData {
  checkProfilesLimits(bytes, limits);
  return decodeProfiles(bytes);
}
