import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../log.js';
import { DEFAULT_LISTEN, startServer } from '../server.js';
import { parseServeArgs, runServe } from './serve.js';

describe('serve command', () => {
  it('parses flags', () => {
    expect(parseServeArgs([])).toMatchObject({ listen: DEFAULT_LISTEN, unix: '/run/ebpf-otel/sidecar.sock', logLevel: 'info' });
    expect(parseServeArgs(['--no-unix', '--token-file', '/t']).unix).toBeUndefined();
    expect(parseServeArgs(['--no-tcp', '--unix', '/s', '--read-max-bytes', '10', '--cache-bytes', '20', '--max-concurrent', '3', '--kallsyms', '/k', '--log-level', 'debug', '--listen', '[::1]:5'])).toMatchObject({
      listen: '[::1]:5', unix: '/s', readMaxBytes: 10, cacheBytes: 20, maxConcurrent: 3, kallsymsPath: '/k', logLevel: 'debug',
    });
    expect(parseServeArgs(['--max-streams', '7'])).toMatchObject({ maxStreams: 7 });
    expect(parseServeArgs(['--flamegraph-bytes', '4096'])).toMatchObject({ flamegraphBytes: 4096 });
    expect(() => parseServeArgs(['--flamegraph-bytes', '0'])).toThrow(/--flamegraph-bytes: "0" is not a positive integer/);
    expect(parseServeArgs(['--root', '/opt', '--root', '/srv', '--debug-dir', '/dbg', '--max-file-bytes', '99', '--host-paths'])).toMatchObject({
      policy: { roots: ['/opt', '/srv'], debugDirs: ['/dbg'], maxFileBytes: 99, hostPaths: true },
    });
    expect(parseServeArgs(['--insecure-listen', '--token-file', '/t', '--allow-host', 'a', '--allow-host', 'b'])).toMatchObject({ insecureListen: true, tokenFile: '/t', allowHosts: ['a', 'b'] });
    expect(() => parseServeArgs(['--root', 'rel'])).toThrow(/--root: "rel" is not an absolute directory/);
    expect(() => parseServeArgs(['--debug-dir'])).toThrow(/--debug-dir/);
    expect(() => parseServeArgs(['--allow-host'])).toThrow(/--allow-host: needs a name/);
    expect(() => parseServeArgs(['--token-file'])).toThrow(/--token-file: needs a file/);
    expect(parseServeArgs(['--build-id-dirs', '/usr/lib,/usr/bin', '--build-id-dirs', '/opt'])).toMatchObject({ buildIdDirs: ['/usr/lib', '/usr/bin', '/opt'] });
    expect(() => parseServeArgs(['--build-id-dirs', 'usr/lib'])).toThrow(/--build-id-dirs: "usr\/lib" is not an absolute directory/);
    expect(() => parseServeArgs(['--build-id-dirs', ','])).toThrow(/--build-id-dirs: needs DIR/);
    expect(() => parseServeArgs(['--no-tcp', '--no-unix'])).toThrow(/must listen somewhere/);
    expect(() => parseServeArgs(['--read-max-bytes', '-1'])).toThrow(/positive integer/);
    expect(() => parseServeArgs(['--log-level', 'loud'])).toThrow(/log-level/);
    expect(() => parseServeArgs(['--bogus'])).toThrow(/unknown flag/);
    expect(() => parseServeArgs(['--listen'])).toThrow(/HOST:PORT/);
    expect(() => parseServeArgs(['--unix'])).toThrow(/path/);
  });

  it('rejects a bad --listen value when starting', async () => {
    await expect(startServer({ listen: 'host:notaport', log: nullLogger })).rejects.toThrow(/host:port/);
    await expect(startServer({ listen: '', log: nullLogger })).rejects.toThrow(/host:port/);
  });

  it('runs until SIGTERM, then exits 0; usage errors exit 2; start errors exit 1', async () => {
    const signals = new EventEmitter();
    const errors: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'serve-'));
    const sock = join(dir, 's.sock');
    const done = runServe(['--no-tcp', '--unix', sock, '--log-level', 'warn'], { error: (s) => errors.push(s) }, signals);
    // Signals are handled once the server is up (slow on a loaded machine): wait for the handler.
    const handling = async (e: EventEmitter, sig: string): Promise<void> => {
      for (let i = 0; i < 3000 && e.listenerCount(sig) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await handling(signals, 'SIGTERM');
    expect(existsSync(sock)).toBe(true);
    signals.emit('SIGTERM');
    await expect(done).resolves.toBe(0);
    expect(existsSync(sock)).toBe(false);

    const int = new EventEmitter();
    const d2 = runServe(['--listen', '127.0.0.1:0', '--log-level', 'error'], { error: () => {} }, int);
    await handling(int, 'SIGINT');
    int.emit('SIGINT');
    await expect(d2).resolves.toBe(0);

    expect(await runServe(['--bogus'], { error: (s) => errors.push(s) })).toBe(2);
    expect(errors.join('')).toMatch(/usage: ebpf-otel-sidecar serve/);
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(await runServe(['--no-tcp', '--unix', file, '--log-level', 'error'], { error: () => {} })).toBe(1);
  });
});
