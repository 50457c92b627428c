// The memory attacks of issue 13 against the real sidecar as `npm start` runs it, with the
// peak resident memory of the sidecar read from /proc/PID/status (VmHWM, reset before each
// attack). The RPCs are served on the collector's unix socket only, so the requests come
// from its owner (root here), the one caller the transport allows; the flame graph page is
// also asked for by nobody, as any local user may.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AggregatorService } from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { SymbolizerService } from '../gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { Health } from '../gen/sidecar/grpc/health/v1/health_pb.js';
import { requireTool } from '../testutil/ci.js';
import { emptyLocations, longNameStacks, manyStrings, mappingOf } from '../testutil/payloads.js';
import { NPM_START_FLAMEGRAPH_BYTES, SIDECAR_BUILT, startAsNpmStart } from './sidecar.js';

const root = process.getuid?.() === 0;
const setpriv = spawnSync('setpriv', ['--version']).status === 0;
const run = requireTool('root, setpriv and the built sidecar (npm run build)', root && setpriv && SIDECAR_BUILT, `root=${root} setpriv=${setpriv} built=${SIDECAR_BUILT}`);

/**
 * The peak resident memory allowed during each attack (docs/security.md): npm start's budget
 * (V8's generations, the parsed-file cache and the flame graph store) plus one request's working set.
 */
export const ATTACK_RSS_BOUND_MIB = 400;

const MIB = 1024 * 1024;

describe.runIf(run)('memory attacks on the sidecar as npm start runs it', () => {
  const sc = startAsNpmStart();
  afterAll(() => { sc.child.kill('SIGTERM'); });
  afterEach((ctx) => { if (ctx.task.result?.state === 'fail') console.error(`sidecar log:\n${sc.log().slice(-4000)}`); });
  const transport = createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(sc.sock) } });
  const symbolizer = createClient(SymbolizerService, transport);
  const aggregator = createClient(AggregatorService, transport);
  const health = createClient(Health, transport);

  const status = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${sc.child.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  /** Runs an attack and returns the sidecar's peak RSS during it; the sidecar must still serve. */
  const peakDuring = async (attack: () => Promise<void>): Promise<number> => {
    await sc.port;
    writeFileSync(`/proc/${sc.child.pid}/clear_refs`, '5'); // VmHWM := VmRSS
    console.log(`sidecar RSS before the attack: ${(status('VmRSS') / MIB).toFixed(0)} MiB`);
    await attack();
    const peak = status('VmHWM');
    expect((await health.check({ service: '' }, { timeoutMs: 10_000 })).status).toBe(1);
    return peak;
  };
  const code = async (p: Promise<unknown>): Promise<Code | 'ok'> => p.then(() => 'ok' as const, (e: unknown) => ConnectError.from(e).code);

  it('long names in deep stacks: 1,000 stacks × 1,000 frames × 5,000 characters, three windows, and the page', async () => {
    const payload = longNameStacks(1000, 1000, 5000);
    expect(payload.length).toBeLessThan(4 * MIB);
    const peak = await peakDuring(async () => {
      for (let i = 0; i < 3; i++) await aggregator.aggregate({ stream: `attack-${i}`, profilesData: payload, options: { windowMs: 0n } }, { timeoutMs: 120_000 });
      // Any local user may ask for the merged tree of the three windows.
      const port = await sc.port;
      const page = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e',
        `fetch('http://127.0.0.1:${port}/flamegraph/api/tree?target=pid-4242&type=cpu&windows=10').then(async (r) => console.log(r.status, (await r.text()).length))`], { encoding: 'utf8', timeout: 60_000 });
      expect(page.stdout).toMatch(/^200 \d+/);
    });
    const metrics = await fetch(`http://127.0.0.1:${await sc.port}/metrics`).then((r) => r.text());
    expect(Number(/^ebpf_otel_sidecar_flamegraph_bytes (\d+)/m.exec(metrics)?.[1])).toBeLessThanOrEqual(NPM_START_FLAMEGRAPH_BYTES);
    console.log(`long-name attack: peak RSS ${(peak / MIB).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(ATTACK_RSS_BOUND_MIB * MIB);
  }, 300_000);

  it('a million empty locations, two million strings: refused before decoding', async () => {
    const locs = emptyLocations(1_000_000);
    const strs = manyStrings(2_000_000);
    const peak = await peakDuring(async () => {
      for (const profilesData of [locs, strs]) {
        expect(await code(symbolizer.symbolize({ profilesData }, { timeoutMs: 60_000 }))).toBe(Code.ResourceExhausted);
        expect(await code(aggregator.aggregate({ profilesData, options: { windowMs: 0n } }, { timeoutMs: 60_000 }))).toBe(Code.ResourceExhausted);
      }
    });
    console.log(`element-count attacks: peak RSS ${(peak / MIB).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(ATTACK_RSS_BOUND_MIB * MIB);
  }, 300_000);

  it('1 GiB sparse files named by four requests at once: never read whole', async () => {
    // Under /tmp, which the test process's mount namespace shares: reached as /proc/PID/root/tmp/...
    const dir = mkdtempSync(join(tmpdir(), 'sec-big-'));
    const text = join(dir, 'big.so');
    writeFileSync(text, 'x');
    truncateSync(text, 1024 ** 3);
    const elfMagic = join(dir, 'zeros.so');
    writeFileSync(elfMagic, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]));
    truncateSync(elfMagic, 1024 ** 3);
    try {
      const peak = await peakDuring(async () => {
        for (const path of [text, elfMagic]) {
          const answers = await Promise.all([0, 1, 2, 3].map(() => symbolizer.symbolize({ profilesData: mappingOf(path, process.pid) }, { timeoutMs: 120_000 })));
          for (const a of answers) expect(a.stats?.locationsSymbolized).toBe(0n);
        }
      });
      console.log(`1 GiB file attack: peak RSS ${(peak / MIB).toFixed(0)} MiB`);
      expect(peak).toBeLessThan(ATTACK_RSS_BOUND_MIB * MIB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
