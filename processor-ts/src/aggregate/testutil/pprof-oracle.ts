// The previous pprof conversion (pprof-format's object model), kept as the oracle the direct
// encoder in ../pprof.ts is compared with byte for byte (tests) and timed against (bench).
import { Function as PFunction, Label, Line as PLine, Location as PLocation, Mapping as PMapping, Profile as PProfile, Sample as PSample, StringTable, ValueType } from 'pprof-format';
import type { Profile, ProfilesData, ProfilesDictionary } from '../../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { resolveValue } from '../dict.js';
import { sampleWeight } from '../merge.js';
import { profileTypeKey, resourceKeyValues, type ScalarKeyValue } from '../pprof.js';

/** toPprof as it was: one pprof-format Profile per profile type. */
export function toPprofObjects(data: ProfilesData): Array<{ type: string; profile: PProfile }> {
  const d = data.dictionary;
  if (!d) return [];
  const byType = new Map<string, PprofBuilder>();
  for (const rp of data.resourceProfiles) {
    const resource = resourceKeyValues(rp.resource, d.stringTable);
    for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
      const { type, key } = profileTypeKey(d, p);
      let b = byType.get(key);
      if (!b) byType.set(key, (b = new PprofBuilder(type, d, p)));
      b.add(p, resource);
    }
  }
  return [...byType.values()].map((b) => ({ type: b.type, profile: b.build() }));
}

/** Builds one pprof profile out of OTLP profiles sharing a dictionary and a type. */
class PprofBuilder {
  private readonly st = new StringTable();
  private readonly mappings = new Map<number, PMapping>();
  private readonly functions = new Map<number, PFunction>();
  private readonly locations = new Map<number, PLocation>();
  private readonly samples: PSample[] = [];
  private readonly sampleType: ValueType;
  private readonly periodType: ValueType | undefined;
  private readonly period: number | bigint;
  private start: bigint | undefined;
  private end = 0n;

  constructor(readonly type: string, private readonly d: ProfilesDictionary, first: Profile) {
    this.sampleType = new ValueType({ type: this.s(first.sampleType?.typeStrindex ?? 0), unit: this.s(first.sampleType?.unitStrindex ?? 0) });
    this.periodType = first.periodType ? new ValueType({ type: this.s(first.periodType.typeStrindex), unit: this.s(first.periodType.unitStrindex) }) : undefined;
    this.period = first.period;
  }

  private s(i: number): number { return this.st.dedup(this.d.stringTable[i] ?? ''); }

  private buildIdOf(attrs: readonly number[]): number {
    for (const i of attrs) {
      const kv = this.d.attributeTable[i];
      if (!kv || !(this.d.stringTable[kv.keyStrindex] ?? '').startsWith('process.executable.build_id')) continue;
      const v = resolveValue(kv.value, this.d.stringTable)?.value;
      if (v?.case === 'stringValue') return this.st.dedup(v.value);
    }
    return 0;
  }

  private mapping(i: number): number {
    if (i <= 0) return 0;
    if (!this.mappings.has(i)) {
      const m = this.d.mappingTable[i]!;
      this.mappings.set(i, new PMapping({ id: i, memoryStart: m.memoryStart, memoryLimit: m.memoryLimit, fileOffset: m.fileOffset, filename: this.s(m.filenameStrindex), buildId: this.buildIdOf(m.attributeIndices) }));
    }
    return i;
  }

  private fn(i: number): number {
    if (!this.functions.has(i)) {
      const f = this.d.functionTable[i]!;
      this.functions.set(i, new PFunction({ id: i, name: this.s(f.nameStrindex), systemName: this.s(f.systemNameStrindex), filename: this.s(f.filenameStrindex), startLine: f.startLine }));
    }
    return i;
  }

  private location(i: number): number {
    if (!this.locations.has(i)) {
      const l = this.d.locationTable[i]!;
      const line = l.lines.filter((ln) => ln.functionIndex > 0).map((ln) => new PLine({ functionId: this.fn(ln.functionIndex), line: ln.line }));
      const mappingId = this.mapping(l.mappingIndex);
      if (line.length > 0 && mappingId > 0) this.mappings.get(mappingId)!.hasFunctions = true;
      this.locations.set(i, new PLocation({ id: i, mappingId, address: l.address, line }));
    }
    return i;
  }

  add(p: Profile, resource: readonly ScalarKeyValue[]): void {
    const d = this.d;
    if (this.start === undefined || p.timeUnixNano < this.start) this.start = p.timeUnixNano;
    if (p.timeUnixNano + p.durationNano > this.end) this.end = p.timeUnixNano + p.durationNano;
    const resourceLabels = resource.map((kv) => new Label(kv.num !== undefined ? { key: this.st.dedup(kv.key), num: kv.num } : { key: this.st.dedup(kv.key), str: this.st.dedup(kv.str ?? '') }));
    for (const x of p.samples) {
      const locationId = (d.stackTable[x.stackIndex]?.locationIndices ?? []).filter((li) => li > 0).map((li) => this.location(li));
      const label: Label[] = [...resourceLabels];
      for (const ai of x.attributeIndices) {
        const kv = d.attributeTable[ai];
        if (!kv) continue;
        const v = resolveValue(kv.value, d.stringTable)?.value;
        if (v?.case === 'stringValue') label.push(new Label({ key: this.s(kv.keyStrindex), str: this.st.dedup(v.value) }));
        else if (v?.case === 'intValue') label.push(new Label({ key: this.s(kv.keyStrindex), num: v.value, numUnit: this.s(kv.unitStrindex) }));
        else if (v?.case === 'boolValue' || v?.case === 'doubleValue') label.push(new Label({ key: this.s(kv.keyStrindex), str: this.st.dedup(String(v.value)) }));
      }
      this.samples.push(new PSample({ locationId, value: [sampleWeight(x)], label }));
    }
  }

  build(): PProfile {
    const start = this.start ?? 0n;
    return new PProfile({
      sampleType: [this.sampleType],
      sample: this.samples,
      mapping: [...this.mappings.values()],
      location: [...this.locations.values()],
      function: [...this.functions.values()],
      stringTable: this.st,
      timeNanos: start,
      durationNanos: this.end > start ? this.end - start : 0n,
      ...(this.periodType ? { periodType: this.periodType } : {}),
      period: this.period,
    });
  }
}

