// The sidecar as `npm start` (scripts/start.sh) starts it, for the security tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIDECAR_BIN = join(pkg, 'bin', 'ebpf-otel-sidecar.js');
export const SIDECAR_BUILT = existsSync(join(pkg, 'dist', 'main.js'));

/** scripts/start.sh's memory budget: V8's old generation and the parsed-file cache. */
export const NPM_START_OLD_SPACE_MIB = 128;
export const NPM_START_CACHE_BYTES = 134_217_728;

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
  const child = spawn(process.execPath, [`--max-old-space-size=${NPM_START_OLD_SPACE_MIB}`, SIDECAR_BIN, 'serve', '--listen', '127.0.0.1:0', '--unix', sock,
    '--cache-bytes', String(NPM_START_CACHE_BYTES), '--pprof-dir', join(outDir, 'pprof')], { stdio: ['ignore', 'ignore', 'pipe'] });
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
