import type { ProfilesData, ProfilesDictionary } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { keyValuesKey, resolveKeyValues, resolveValue, valueKey } from './dict.js';
import { sampleWeight } from './merge.js';

/** A frame's display name: the function name, else the mapping file and address. */
export function frameNames(d: ProfilesDictionary, locationIndex: number): string[] {
  const loc = d.locationTable[locationIndex];
  if (!loc) return ['?'];
  if (loc.lines.length === 0) {
    const file = d.stringTable[d.mappingTable[loc.mappingIndex]?.filenameStrindex ?? 0] ?? '';
    const base = file.slice(file.lastIndexOf('/') + 1);
    return [`${base ? `${base}+` : ''}0x${loc.address.toString(16)}`];
  }
  return loc.lines.map((l) => d.stringTable[d.functionTable[l.functionIndex]?.nameStrindex ?? 0] || '?');
}

/** The stack's frames, leaf first, inlined frames included (innermost first). */
export function stackFrames(d: ProfilesDictionary, stackIndex: number): string[] {
  const out: string[] = [];
  for (const li of d.stackTable[stackIndex]?.locationIndices ?? []) out.push(...frameNames(d, li));
  return out;
}

/** A full-content description of a stack (addresses, lines, mappings), leaf first. */
export function stackContent(d: ProfilesDictionary, stackIndex: number, granular = true): string {
  return (d.stackTable[stackIndex]?.locationIndices ?? []).map((li) => {
    const l = d.locationTable[li];
    if (!l) return '?';
    const m = d.mappingTable[l.mappingIndex];
    const lines = l.lines.map((ln) => {
      const f = d.functionTable[ln.functionIndex];
      return `${d.stringTable[f?.nameStrindex ?? 0]}/${d.stringTable[f?.systemNameStrindex ?? 0]}/${d.stringTable[f?.filenameStrindex ?? 0]}/${f?.startLine ?? 0n}:${ln.line}:${ln.column}`;
    }).join('>');
    const mk = m ? `${m.memoryStart}-${m.memoryLimit}@${m.fileOffset}:${d.stringTable[m.filenameStrindex]}` : '';
    return granular ? `${mk}#${l.address}[${lines}]` : `[${lines}]`;
  }).join(';');
}

/**
 * Every sample as a flat string (resource, scope, profile type, stack content, attribute set,
 * link) with its weight, summed per string: the content of a profile independent of how its
 * dictionary is laid out and of how samples are split.
 */
export function flatWeights(data: ProfilesData): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const d = data.dictionary;
  if (!d) return out;
  const attrs = (idx: readonly number[]): string => [...new Set(idx.filter((i) => i > 0).map((i) => {
    const kv = d.attributeTable[i]!;
    return `${d.stringTable[kv.keyStrindex]}=${valueKey(resolveValue(kv.value, d.stringTable))}`;
  }))].sort().join(',');
  for (const rp of data.resourceProfiles) {
    const rk = keyValuesKey(resolveKeyValues(rp.resource?.attributes ?? [], d.stringTable));
    for (const sp of rp.scopeProfiles) {
      for (const p of sp.profiles) {
        const pk = `${d.stringTable[p.sampleType?.typeStrindex ?? 0]}/${d.stringTable[p.sampleType?.unitStrindex ?? 0]}|${attrs(p.attributeIndices)}`;
        for (const s of p.samples) {
          const link = d.linkTable[s.linkIndex];
          const k = `${rk}|${sp.scope?.name ?? ''}|${pk}|${stackContent(d, s.stackIndex)}|${attrs(s.attributeIndices)}|${link ? Buffer.from(link.traceId).toString('hex') + Buffer.from(link.spanId).toString('hex') : ''}`;
          out.set(k, (out.get(k) ?? 0n) + sampleWeight(s));
        }
      }
    }
  }
  return out;
}

/** Sum of sample weights per profile type ("type/unit"). */
export function totals(data: ProfilesData): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const d = data.dictionary;
  for (const rp of data.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
    const k = `${d?.stringTable[p.sampleType?.typeStrindex ?? 0]}/${d?.stringTable[p.sampleType?.unitStrindex ?? 0]}`;
    for (const s of p.samples) out.set(k, (out.get(k) ?? 0n) + sampleWeight(s));
  }
  return out;
}
