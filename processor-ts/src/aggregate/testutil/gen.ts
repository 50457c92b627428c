import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { AnyValueSchema, KeyValueSchema } from '../../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema,
  KeyValueAndUnitSchema,
  LineSchema,
  LinkSchema,
  LocationSchema,
  MappingSchema,
  type ProfilesData,
  ProfileSchema,
  ProfilesDataSchema,
  ProfilesDictionarySchema,
  ResourceProfilesSchema,
  SampleSchema,
  ScopeProfilesSchema,
  StackSchema,
  ValueTypeSchema,
} from '../../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';

/** A sample described by content; `makeProfiles` lays it out with deliberately duplicated rows. */
export interface SampleSpec {
  /** Resource: process id (1..). */
  pid: number;
  /** Profile type: 0 cpu samples, 1 off-cpu nanoseconds. */
  type: number;
  /** Frames leaf first: [function index into FUNCS, line, address]. */
  frames: Array<[number, number, number]>;
  thread: number;
  link: number;
  values: bigint[];
  timestamps: bigint[];
}

export const FUNCS = ['ebpf_otel_leaf', 'ebpf_otel_middle', 'main', '__libc_start_call_main', 'compute', 'parse', 'write'];
const TYPES: Array<[string, string, string, string]> = [['samples', 'count', 'cpu', 'nanoseconds'], ['off_cpu', 'nanoseconds', 'events', 'count']];

/** Builds OTLP ProfilesData from specs: one resource per pid, duplicates in every dictionary table. */
export function makeProfiles(specs: readonly SampleSpec[], opts: { strindexAttrs?: boolean } = {}): ProfilesData {
  const d = create(ProfilesDictionarySchema);
  d.stringTable.push('');
  d.functionTable.push(create(FunctionSchema));
  d.mappingTable.push(create(MappingSchema));
  d.locationTable.push(create(LocationSchema));
  d.stackTable.push(create(StackSchema));
  d.attributeTable.push(create(KeyValueAndUnitSchema));
  d.linkTable.push(create(LinkSchema));
  // No interning on purpose: every reference gets its own (duplicate) row and string.
  const str = (s: string): number => d.stringTable.push(s) - 1;
  const data = create(ProfilesDataSchema, { dictionary: d });
  const byPid = new Map<number, Map<number, ReturnType<typeof create<typeof ProfileSchema>>>>();
  for (const s of specs) {
    let profiles = byPid.get(s.pid);
    if (!profiles) {
      profiles = new Map();
      byPid.set(s.pid, profiles);
      const pidKey = opts.strindexAttrs ? create(KeyValueSchema, { keyStrindex: str('process.pid'), value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(s.pid) } }) })
        : create(KeyValueSchema, { key: 'process.pid', value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(s.pid) } }) });
      const name = opts.strindexAttrs ? create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: str(`prog${s.pid % 3}`) } })
        : create(AnyValueSchema, { value: { case: 'stringValue', value: `prog${s.pid % 3}` } });
      const rp = create(ResourceProfilesSchema, {
        resource: { attributes: [pidKey, create(KeyValueSchema, { key: 'process.executable.name', value: name })] },
        scopeProfiles: [create(ScopeProfilesSchema, { scope: { name: 'ebpf-otel', version: '1' } })],
      });
      data.resourceProfiles.push(rp);
    }
    let p = profiles.get(s.type);
    if (!p) {
      const [st, su, pt, pu] = TYPES[s.type]!;
      p = create(ProfileSchema, {
        sampleType: create(ValueTypeSchema, { typeStrindex: str(st), unitStrindex: str(su) }),
        periodType: create(ValueTypeSchema, { typeStrindex: str(pt), unitStrindex: str(pu) }),
        period: 1000n,
        timeUnixNano: 1_000_000n + BigInt(s.pid),
        durationNano: 5000n,
      });
      profiles.set(s.type, p);
      data.resourceProfiles.find((rp) => rp.resource?.attributes[0]?.value?.value.value === BigInt(s.pid))!.scopeProfiles[0]!.profiles.push(p);
    }
    const mapping = d.mappingTable.push(create(MappingSchema, { memoryStart: 0x400000n, memoryLimit: 0x500000n, filenameStrindex: str(`/bin/prog${s.pid % 3}`) })) - 1;
    const locs = s.frames.map(([f, line, addr]) => {
      const fn = d.functionTable.push(create(FunctionSchema, { nameStrindex: str(FUNCS[f]!), filenameStrindex: str('prog.c') })) - 1;
      return d.locationTable.push(create(LocationSchema, { mappingIndex: mapping, address: BigInt(0x401000 + addr), lines: f < 0 ? [] : [create(LineSchema, { functionIndex: fn, line: BigInt(line) })] })) - 1;
    });
    const stack = d.stackTable.push(create(StackSchema, { locationIndices: locs })) - 1;
    const attrs = s.thread === 0 ? [] : [d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: str('thread.id'), value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(s.thread) } }) })) - 1];
    if (s.thread > 1) attrs.push(d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: str('thread.name'), value: create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: str(`t${s.thread}`) } }) })) - 1);
    const link = s.link === 0 ? 0 : d.linkTable.push(create(LinkSchema, { traceId: new Uint8Array(16).fill(s.link), spanId: new Uint8Array(8).fill(s.link) })) - 1;
    p.samples.push(create(SampleSchema, { stackIndex: stack, attributeIndices: attrs, linkIndex: link, values: s.values, timestampsUnixNano: s.timestamps }));
  }
  return data;
}

/** Samples over a small universe, so that identities repeat. */
export const sampleSpec: fc.Arbitrary<SampleSpec> = fc.record({
  pid: fc.integer({ min: 1, max: 3 }),
  type: fc.integer({ min: 0, max: 1 }),
  frames: fc.array(fc.tuple(fc.integer({ min: 0, max: FUNCS.length - 1 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 }),
  thread: fc.integer({ min: 0, max: 2 }),
  link: fc.integer({ min: 0, max: 1 }),
  values: fc.array(fc.bigInt({ min: 1n, max: 1000n }), { minLength: 1, maxLength: 1 }),
  timestamps: fc.constant([] as bigint[]),
});

/** Samples with timestamps: either paired values or timestamps alone. */
export const timedSampleSpec: fc.Arbitrary<SampleSpec> = fc.tuple(sampleSpec, fc.array(fc.bigInt({ min: 1n, max: 1_000_000n }), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([s, ts, paired]) => ({ ...s, timestamps: ts, values: paired ? ts.map((t) => (t % 7n) + 1n) : [] }));

export const batch = fc.array(sampleSpec, { maxLength: 25 }).map((xs) => makeProfiles(xs));
