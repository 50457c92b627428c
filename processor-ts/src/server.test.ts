import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { mkdtempSync, statSync, writeFileSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SymbolizerService } from './gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { Health } from './gen/sidecar/grpc/health/v1/health_pb.js';
import { ProfilesDataSchema, ProfilesDictionarySchema } from './gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { nullLogger } from './log.js';
import { encodeProfiles } from './otlp/profiles.js';
import { Limiter } from './limiter.js';
import { startServer, type RunningServer } from './server.js';

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
    for (const g of ['resident_memory_bytes', 'heap_used_bytes', 'external_memory_bytes']) expect(metrics.body).toMatch(new RegExp(`\\nebpf_otel_sidecar_${g} [1-9]\\d{5,}\\n`));
    expect((await httpGet({ host: '127.0.0.1', port: s.tcp!.port, path: '/other' })).status).toBe(404);
    expect(s.counters.get('ebpf_otel_sidecar_requests_in_flight')).toBe(0);
  });

  it('answers uncompressed even to a client that accepts gzip (a local socket gains nothing)', async () => {
    const s = await start({ listen: '127.0.0.1:0' });
    const baseUrl = `http://127.0.0.1:${s.tcp!.port}`;
    // A dictionary large enough that the answer is well over connect's 1 KiB compression floor.
    const big = encodeProfiles(create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', ...Array.from({ length: 500 }, (_, i) => `string-${i}`)] }) }));
    const encodings: Array<string | null> = [];
    const transport = createGrpcTransport({
      baseUrl,
      acceptCompression: [compressionGzip],
      interceptors: [(next) => async (req) => {
        const res = await next(req);
        encodings.push(res.header.get('grpc-encoding'));
        return res;
      }],
    });
    const res = await createClient(SymbolizerService, transport).symbolize({ profilesData: big });
    expect(res.profilesData.length).toBeGreaterThan(4096);
    expect(encodings).toEqual([null]);
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

  it('answers DeadlineExceeded to a call whose deadline passes while queued, and still serves', async () => {
    const limiter = new Limiter(1, 4);
    let release!: () => void;
    // The only slot is taken, so the call waits in the queue until its deadline passes.
    const blocker = limiter.run(() => new Promise<void>((r) => { release = r; }));
    const s = await start({ listen: '127.0.0.1:0', limiter });
    const client = createClient(SymbolizerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.tcp!.port}` }));
    const e = await client.symbolize({ profilesData: empty }, { timeoutMs: 100 }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(ConnectError.from(e).code).toBe(Code.DeadlineExceeded);
    release();
    await blocker;
    // The queued call may still have been handed the slot before its deadline fired server-side.
    await vi.waitFor(() => expect(limiter.inFlight).toBe(0));
    const res = await client.symbolize({ profilesData: empty });
    expect(res.stats?.locationsTotal).toBe(0n);
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
