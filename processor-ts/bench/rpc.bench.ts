// RPC time per batch: the real sidecar process (dist-bench/src/main.js serve), called over gRPC
// (h2c on its unix socket, where the sidecar serves RPCs; --host-paths since the batch names no process) with OTLP ProfilesData of 1k, 10k and 100k locations over libc's mapping
// (symbolized through its separate debug file). For each size a fresh sidecar: the first call is
// cold (libc and its debug file read and parsed), the next ones warm (cached). The sidecar's
// resident memory (VmRSS, and the peak VmHWM) is read from /proc after each call.
// Run: npm run bench -w processor-ts
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { SymbolizerService } from '../src/gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { encodeProfiles } from '../src/otlp/profiles.js';
import { makeBatch } from '../src/engine/testutil/batch.js';
import { ElfFile } from '../src/symbolize/elf/elf.js';
import { sampleAddresses } from '../src/symbolize/testutil/oracle.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = join(HERE, '..', 'src', 'main.js');
const SIZES = (process.env['BENCH_RPC_SIZES'] ?? '1000,10000,100000').split(',').map(Number);
const WARM_CALLS = 3;
const MiB = 1024 * 1024;

interface Sidecar { child: ChildProcess; sock: string }

async function startSidecar(): Promise<Sidecar> {
  const sock = join(mkdtempSync(join(tmpdir(), 'bench-rpc-')), 'sidecar.sock');
  const child = spawn(process.execPath, [MAIN, 'serve', '--no-tcp', '--unix', sock, '--host-paths', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err += s;
      if (err.includes('"msg":"sidecar listening"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sidecar exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`sidecar did not start in 20 s: ${err}`)), 20_000).unref();
  });
  return { child, sock };
}

async function stopSidecar(s: Sidecar): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function rssOf(pid: number): { rss: number; hwm: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** libc's executable PT_LOAD as a process would map it, and sampled code addresses inside it. */
function libcBatch(n: number): Uint8Array {
  const path = realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
  const elf = new ElfFile(readFileSync(path));
  const text = elf.programHeaders.find((h) => h.type === 1 && (h.flags & 1) !== 0)!;
  const base = 0x7f0000000000n;
  const start = base + BigInt(text.vaddr);
  const vaddrs = sampleAddresses(path, n).filter((a) => a >= text.vaddr && a < text.vaddr + text.filesz);
  const addrs: bigint[] = [];
  for (let i = 0; addrs.length < n; i++) addrs.push(base + BigInt(vaddrs[i % vaddrs.length]!) + BigInt(Math.floor(i / vaddrs.length)));
  const data = makeBatch({
    mappings: [{ file: path, start, limit: start + BigInt(text.filesz), offset: BigInt(text.offset), buildId: elf.buildId()! }],
    locations: addrs.map((address) => ({ mapping: 1, address })),
  });
  return encodeProfiles(data);
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run through npm run bench (tsc -p tsconfig.bench.json)`);
  console.log('\nRPC: SymbolizerService.Symbolize over gRPC (h2c, unix socket) to a real sidecar process; libc mapping, debug file by build ID');
  console.log('cold: first call of a fresh sidecar (libc + debug file parsed); warm: best of the next calls (cached)\n');
  const widths = [10, 9, 9, 9, 12, 12, 12, 12];
  const line = (cells: string[]) => console.log(cells.map((s, i) => s.padStart(widths[i]!)).join(' | '));
  line(['locations', 'req KiB', 'cold ms', 'warm ms', 'warm loc/s', 'RSS idle', 'RSS cold', 'RSS warm/peak']);
  line(widths.map((w) => '-'.repeat(w)));
  for (const n of SIZES) {
    const payload = libcBatch(n);
    const s = await startSidecar();
    try {
      const client = createClient(SymbolizerService, createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(s.sock) }, readMaxBytes: 1 << 30, writeMaxBytes: 1 << 30 }));
      const idle = rssOf(s.child.pid!);
      const call = async () => {
        const t0 = process.hrtime.bigint();
        const res = await client.symbolize({ profilesData: payload }, { timeoutMs: 600_000 });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.stats!.locationsTotal !== BigInt(n)) throw new Error(`expected ${n} locations, the sidecar saw ${res.stats!.locationsTotal}`);
        return { ms, symbolized: Number(res.stats!.locationsSymbolized) };
      };
      const cold = await call();
      const afterCold = rssOf(s.child.pid!);
      let warm = Infinity;
      for (let i = 0; i < WARM_CALLS; i++) warm = Math.min(warm, (await call()).ms);
      const afterWarm = rssOf(s.child.pid!);
      if (cold.symbolized < n * 0.99) console.log(`  note: only ${cold.symbolized} of ${n} locations symbolized`);
      line([
        n.toLocaleString('en-US'), (payload.length / 1024).toFixed(0), cold.ms.toFixed(1), warm.toFixed(1), Math.round(n / (warm / 1000)).toLocaleString('en-US'),
        `${(idle.rss / MiB).toFixed(0)} MiB`, `${(afterCold.rss / MiB).toFixed(0)} MiB`, `${(afterWarm.rss / MiB).toFixed(0)}/${(afterWarm.hwm / MiB).toFixed(0)} MiB`,
      ]);
    } finally {
      await stopSidecar(s);
    }
  }
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
