// Each attack of issue 13, run by an unprivileged user (setpriv to nobody) against the real
// sidecar started with the flags `npm start` (scripts/start.sh) gives it.
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Health } from '../gen/sidecar/grpc/health/v1/health_pb.js';
import { requireTool } from '../testutil/ci.js';
import { SIDECAR_BIN, SIDECAR_BUILT, startAsNpmStart } from './sidecar.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.getuid?.() === 0;
const setpriv = spawnSync('setpriv', ['--version']).status === 0;
const run = requireTool('root, setpriv and the built sidecar (npm run build)', root && setpriv && SIDECAR_BUILT, `root=${root} setpriv=${setpriv} built=${SIDECAR_BUILT}`);

/** Slow connections the attacker opens: more than the 256 a listener accepts. */
const SLOW = 300;
/** The default header deadline (10 s) plus scheduling slack on a loaded machine. */
const SLOW_BOUND_MS = 14_000;

interface Report {
  unix: string;
  symbolize: { status: number; body: string };
  aggregate: { status: number; body: string };
  rebindHost: { status: number };
  rebindOrigin: { status: number };
  slowloris: { connections: number; longestMs: number; droppedAtOnce: number };
}

describe.runIf(run)('attacks by an unprivileged local user', () => {
  const { child, sock, port } = startAsNpmStart();
  afterAll(() => { child.kill('SIGTERM'); });

  it('gets nothing but the page: no RPC, no rebinding, and slow connections are cut', async () => {
    const p = await port;
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    // The attacker's script must be readable by nobody.
    const dir = mkdtempSync(join(tmpdir(), 'sec-attacker-'));
    chmodSync(dir, 0o755);
    copyFileSync(join(here, 'attacker.mjs'), join(dir, 'attacker.mjs'));
    chmodSync(join(dir, 'attacker.mjs'), 0o644);
    const attacker = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, join(dir, 'attacker.mjs'), String(p), sock, String(SLOW)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    attacker.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    attacker.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const done = new Promise<number | null>((r) => attacker.once('exit', r));
    // While the attack runs, the collector (on the unix socket) is still served.
    const health = createClient(Health, createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(sock) } }));
    let checks = 0;
    let exited = false;
    void done.then(() => { exited = true; });
    while (!exited) {
      expect((await health.check({ service: '' }, { timeoutMs: 5000 })).status).toBe(1);
      checks++;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await done, stderr).toBe(0);
    const r = JSON.parse(stdout) as Report;
    expect(checks).toBeGreaterThan(0);
    expect(r.unix).toBe('EACCES');
    for (const call of [r.symbolize, r.aggregate]) {
      expect(call.status).toBe(403);
      expect(call.body).toMatch(/RPCs are served on the unix socket only/);
      expect(call.body).not.toMatch(/root:|_text|startup_64/);
    }
    expect(r.rebindHost.status).toBe(421);
    expect(r.rebindOrigin.status).toBe(403);
    expect(r.slowloris.connections).toBe(SLOW);
    expect(r.slowloris.longestMs).toBeLessThan(SLOW_BOUND_MS);
    // Beyond the per-listener cap (256) connections are dropped at once.
    expect(r.slowloris.droppedAtOnce).toBeGreaterThanOrEqual(SLOW - 256);
  }, 120_000);

  it('refuses a listen address beyond loopback', () => {
    const res = spawnSync(process.execPath, [SIDECAR_BIN, 'serve', '--listen', '0.0.0.0:0', '--unix', join(dirname(sock), 'x.sock')], { encoding: 'utf8', timeout: 30_000 });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/not a loopback address/);
  });
});

