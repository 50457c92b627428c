import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { EventEmitter } from 'node:events';
import { mkdtempSync, statSync, writeFileSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SymbolizerService } from './gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { Health } from './gen/sidecar/grpc/health/v1/health_pb.js';
import { ProfilesDataSchema, ProfilesDictionarySchema } from './gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { createLogger, nullLogger } from './log.js';
import { encodeProfiles } from './otlp/profiles.js';
import { DEFAULT_LISTEN, parseServeArgs, runServe, startServer, type RunningServer } from './server.js';

const running: RunningServer[] = [];
afterEach(async () => { await Promise.all(running.splice(0).map((s) => s.close())); });

async function start(opts: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const s = await startServer({ log: nullLogger, ...opts });
  running.push(s);
  return s;
}

function httpGet(opts: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(opts, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const empty = encodeProfiles(create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: [''] }) }));

describe('server', () => {
  it('serves Connect, gRPC and gRPC-Web over TCP, and /metrics over HTTP/1.1', async () => {
    const s = await start({ listen: '127.0.0.1:0' });
    const baseUrl = `http://127.0.0.1:${s.tcp!.port}`;
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: '2' }),
      createConnectTransport({ baseUrl, httpVersion: '1.1' }),
      createGrpcTransport({ baseUrl }),
      createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }),
    ]) {
      const res = await createClient(SymbolizerService, transport).symbolize({ profilesData: empty });
      expect(res.stats?.locationsTotal).toBe(0n);
    }
    const metrics = await httpGet({ host: '127.0.0.1', port: s.tcp!.port, path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('ebpf_otel_sidecar_requests_total{code="ok",procedure="ebpfotel.sidecar.v1.SymbolizerService/Symbolize"} 4');
    expect((await httpGet({ host: '127.0.0.1', port: s.tcp!.port, path: '/other' })).status).toBe(404);
    expect(s.counters.get('ebpf_otel_sidecar_requests_in_flight')).toBe(0);
  });

  it('listens on a private unix socket and removes it at shutdown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sock-'));
    const sock = join(dir, 's.sock');
    const stale = net.createServer().listen(sock);
    await new Promise((r) => stale.once('listening', r));
    stale.close(); // leaves nothing, but a leftover socket file is handled too
    const s = await start({ unix: sock });
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    const transport = createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(sock) } });
    const res = await createClient(Health, transport).check({ service: '' });
    expect(res.status).toBe(1);
    expect((await httpGet({ socketPath: sock, path: '/metrics' })).body).toContain('requests_total');
    await s.close();
    await s.close(); // idempotent
    expect(existsSync(sock)).toBe(false);
  });

  it('refuses oversize messages with ResourceExhausted', async () => {
    const s = await start({ listen: '127.0.0.1:0', readMaxBytes: 1024 });
    const client = createClient(SymbolizerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.tcp!.port}` }));
    const e = await client.symbolize({ profilesData: new Uint8Array(4096) }).catch((x: unknown) => x);
    expect(ConnectError.from(e).code).toBe(Code.ResourceExhausted);
  });

  it('survives calls whose deadline expires first (nothing left open at shutdown)', async () => {
    const s = await start({ listen: '127.0.0.1:0', maxConcurrent: 1, maxQueued: 4 });
    const client = createClient(SymbolizerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.tcp!.port}` }));
    const e = await client.symbolize({ profilesData: empty }, { timeoutMs: 1 }).catch((x: unknown) => x);
    // Either the server or the client notices first; both report the deadline.
    if (e instanceof Error) expect(ConnectError.from(e).code).toBe(Code.DeadlineExceeded);
  });

  it('refuses a path that is not a socket, and an address in use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sock-'));
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    await expect(startServer({ unix: file, log: nullLogger })).rejects.toThrow(/not a socket/);
    const s = await start({ listen: '127.0.0.1:0' });
    await expect(startServer({ listen: `127.0.0.1:${s.tcp!.port}`, log: nullLogger })).rejects.toThrow(/EADDRINUSE/);
  });

  it('cuts connections that outlive the grace period', async () => {
    const s = await startServer({ listen: '127.0.0.1:0', log: nullLogger, shutdownGraceMs: 50 });
    const sock = net.connect(s.tcp!.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // never finished
    await new Promise((r) => setTimeout(r, 30));
    const closed = new Promise((r) => sock.once('close', r));
    await s.close();
    await closed;
  });
});

describe('serve command', () => {
  it('parses flags', () => {
    expect(parseServeArgs([])).toMatchObject({ listen: DEFAULT_LISTEN, logLevel: 'info' });
    expect(parseServeArgs(['--no-tcp', '--unix', '/s', '--read-max-bytes', '10', '--cache-bytes', '20', '--max-concurrent', '3', '--kallsyms', '/k', '--log-level', 'debug', '--listen', '[::1]:5'])).toMatchObject({
      listen: '[::1]:5', unix: '/s', readMaxBytes: 10, cacheBytes: 20, maxConcurrent: 3, kallsymsPath: '/k', logLevel: 'debug',
    });
    expect(parseServeArgs(['--max-streams', '7'])).toMatchObject({ maxStreams: 7 });
    expect(() => parseServeArgs(['--no-tcp'])).toThrow(/needs --unix/);
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
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(sock)).toBe(true);
    signals.emit('SIGTERM');
    await expect(done).resolves.toBe(0);
    expect(existsSync(sock)).toBe(false);

    const int = new EventEmitter();
    const d2 = runServe(['--listen', '127.0.0.1:0', '--log-level', 'error'], { error: () => {} }, int);
    await new Promise((r) => setTimeout(r, 50));
    int.emit('SIGINT');
    await expect(d2).resolves.toBe(0);

    expect(await runServe(['--bogus'], { error: (s) => errors.push(s) })).toBe(2);
    expect(errors.join('')).toMatch(/usage: ebpf-otel-sidecar serve/);
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(await runServe(['--no-tcp', '--unix', file, '--log-level', 'error'], { error: () => {} })).toBe(1);
    expect(createLogger).toBeTypeOf('function');
  });
});
