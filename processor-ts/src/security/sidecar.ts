// The sidecar as `npm start` (scripts/start.sh) starts it, for the security tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIDECAR_BIN = join(pkg, 'bin', 'ebpf-otel-sidecar.js');
export const SIDECAR_BUILT = existsSync(join(pkg, 'dist', 'main.js'));

/**
 * scripts/start.sh's figure for `name` (its `${EBPF_OTEL_SIDECAR_<name>:-N}` default), so the tests
 * start the sidecar with exactly npm start's memory budget.
 */
function startFigure(name: string): number {
  const script = readFileSync(join(pkg, '..', 'scripts', 'start.sh'), 'utf8');
  const m = new RegExp(`EBPF_OTEL_SIDECAR_${name}:-(\\d+)`).exec(script);
  if (!m) throw new Error(`scripts/start.sh has no default for EBPF_OTEL_SIDECAR_${name}`);
  return Number(m[1]);
}

/** scripts/start.sh's memory budget: V8's generations, the parsed-file cache and the flame graph store. */
export const NPM_START_OLD_SPACE_MIB = startFigure('OLD_SPACE_MIB');
export const NPM_START_SEMI_SPACE_MIB = startFigure('SEMI_SPACE_MIB');
export const NPM_START_CACHE_BYTES = startFigure('CACHE_BYTES');
export const NPM_START_FLAMEGRAPH_BYTES = startFigure('FLAMEGRAPH_BYTES');

/** The environment scripts/start.sh gives the sidecar (glibc's allocator settings). */
export const NPM_START_ENV: Readonly<Record<string, string>> = (() => {
  const script = readFileSync(join(pkg, '..', 'scripts', 'start.sh'), 'utf8');
  const m = /^SIDECAR_MALLOC=\(([^)]*)\)$/m.exec(script);
  if (!m) throw new Error('scripts/start.sh has no SIDECAR_MALLOC=(...) line');
  return Object.fromEntries(m[1]!.trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
})();

/** node's flags as scripts/start.sh gives them. */
export const NPM_START_NODE_FLAGS = [
  `--max-old-space-size=${NPM_START_OLD_SPACE_MIB}`,
  `--min-semi-space-size=${NPM_START_SEMI_SPACE_MIB}`,
  `--max-semi-space-size=${NPM_START_SEMI_SPACE_MIB}`,
  '--no-allocation-site-pretenuring',
  '--max-opt=2',
];

export interface Sidecar {
  child: ChildProcess;
  sock: string;
  /** The loopback port of the page, /metrics and health. */
  port: Promise<number>;
  /** What it logged so far (for failure messages). */
  log: () => string;
}

/** Starts the sidecar with npm start's flags, on a unix socket in a fresh 0700 directory. */
export function startAsNpmStart(): Sidecar {
  const runDir = mkdtempSync(join(tmpdir(), 'sec-run-'));
  chmodSync(runDir, 0o700);
  const outDir = mkdtempSync(join(tmpdir(), 'sec-out-'));
  const sock = join(runDir, 'sidecar.sock');
  const child = spawn(process.execPath, [...NPM_START_NODE_FLAGS, SIDECAR_BIN, 'serve', '--listen', '127.0.0.1:0', '--unix', sock,
    '--cache-bytes', String(NPM_START_CACHE_BYTES), '--flamegraph-bytes', String(NPM_START_FLAMEGRAPH_BYTES), '--pprof-dir', join(outDir, 'pprof')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...NPM_START_ENV } });
  let log = '';
  const port = new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)\/flamegraph\/"/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`sidecar exited (${code}): ${log}`)));
  });
  return { child, sock, port, log: () => log };
}
