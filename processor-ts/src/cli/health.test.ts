import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../log.js';
import { startServer } from '../server.js';
import { runCli } from './app.js';

function io(): { out: string[]; err: string[]; write: (s: string) => void; error: (s: string) => void; input: NodeJS.ReadableStream } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, write: (s) => out.push(s), error: (s) => err.push(s), input: process.stdin };
}

describe('health command', () => {
  it('exits 0 against a serving sidecar, 1 once it is gone', async () => {
    const sock = join(mkdtempSync(join(tmpdir(), 'health-')), 's.sock');
    const server = await startServer({ unix: sock, log: nullLogger });
    const ok = io();
    await expect(runCli(['health', '--unix', sock], ok)).resolves.toBe(0);
    expect(ok.out.join('')).toBe('SERVING\n');
    const unknown = io();
    await expect(runCli(['health', '--unix', sock, '--service', 'no.such.Service'], unknown)).resolves.toBe(1);
    expect(unknown.err.join('')).toMatch(/^health: /);
    await server.close();
    const gone = io();
    await expect(runCli(['health', '--unix', sock, '--timeout-ms', '500'], gone)).resolves.toBe(1);
    expect(gone.err.join('')).toContain(sock);
  });

  it('rejects bad flags with exit 2', async () => {
    for (const args of [[], ['--unix'], ['--unix', '/s', '--timeout-ms', '0'], ['--bogus']]) {
      const e = io();
      await expect(runCli(['health', ...args], e)).resolves.toBe(2);
      expect(e.err.join('')).toContain('usage: ebpf-otel-sidecar health');
    }
  });
});
