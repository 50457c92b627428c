import { create } from '@bufbuild/protobuf';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnyValueSchema, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { KeyValueAndUnitSchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { DEFAULT_OPTIONS, ProfilesSymbolizer } from './profiles-symbolizer.js';
import { buildProgram, lineNames, makeBatch, runtimeAddr, textMapping } from './testutil/batch.js';

/** Another producer's conventions on one of makeBatch's batches. */
function frameTypes(data: ReturnType<typeof makeBatch>, types: Array<string | undefined>): void {
  const d = data.dictionary!;
  const key = d.stringTable.push('profile.frame.type') - 1;
  types.forEach((t, i) => {
    if (t === undefined) return;
    const v = d.stringTable.push(t) - 1;
    d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: key, value: create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: v } }) }));
    d.locationTable[i + 1]!.attributeIndices.push(d.attributeTable.length - 1);
  });
}

describe('other producers', () => {
  it('symbolizes only native frames and counts the others by type', async () => {
    const p = buildProgram();
    const m = textMapping(p, p.syms.work!);
    const data = makeBatch({
      mappings: [{ file: p.exe, ...m }],
      locations: [1, 1, 1, 1].map((mapping) => ({ mapping, address: runtimeAddr(p, p.syms.work!) })),
    });
    frameTypes(data, ['native', undefined, 'v8js', 'kernel']);
    const r = await new ProfilesSymbolizer().symbolize(data, DEFAULT_OPTIONS);
    expect(lineNames(data).map((l) => l.at(-1))).toEqual(['work', 'work', undefined, undefined]);
    expect(Object.fromEntries(r.skippedFrameTypes)).toEqual({ v8js: 1, kernel: 1 });
    expect(Object.fromEntries(r.lookup.found)).toEqual({ path: 1 });
  });

  it('reads process.pid from resource keys in the string table and from sample attributes', async () => {
    const p = buildProgram();
    const m = textMapping(p, p.syms.work!);
    // A file only the process's root holds: /hidden-<n>/prog does not exist in ours.
    const procRoot = mkdtempSync(join(tmpdir(), 'ebpf-otel-proc-'));
    const hidden = `/hidden-${basename(procRoot)}/prog`;
    mkdirSync(join(procRoot, '4242', 'root', dirname(hidden)), { recursive: true });
    copyFileSync(p.exe, join(procRoot, '4242', 'root', hidden));
    for (const where of ['resource', 'sample'] as const) {
      // A path only the pid makes reachable: the procRoot has nothing but our own process.
      const data = makeBatch({ mappings: [{ file: hidden, ...m }], locations: [{ mapping: 1, address: runtimeAddr(p, p.syms.work!) }] });
      const d = data.dictionary!;
      const key = d.stringTable.push('process.pid') - 1;
      if (where === 'resource') {
        data.resourceProfiles[0]!.resource!.attributes.push(create(KeyValueSchema, { keyStrindex: key, value: create(AnyValueSchema, { value: { case: 'intValue', value: 4242n } }) }));
      } else {
        d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: key, value: create(AnyValueSchema, { value: { case: 'intValue', value: 4242n } }) }));
        data.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!.samples[0]!.attributeIndices.push(d.attributeTable.length - 1);
      }
      const r = await new ProfilesSymbolizer({ procRoot }).symbolize(data, DEFAULT_OPTIONS);
      expect(lineNames(data)[0]!.at(-1), where).toBe('work');
      expect(Object.fromEntries(r.lookup.found)).toEqual({ path: 1 });
    }
  });
});
