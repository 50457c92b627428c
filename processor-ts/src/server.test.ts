import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

function tempSock(): string {
  return join(mkdtempSync(join(tmpdir(), 'sock-')), 's.sock');
}

/** Transports that reach the server over its unix socket. */
function unixTransports(sock: string) {
  const nodeOptions = { createConnection: () => net.connect(sock) };
  const baseUrl = 'http://localhost';
  return [
    createConnectTransport({ baseUrl, httpVersion: '2', nodeOptions }),
    createConnectTransport({ baseUrl, httpVersion: '1.1', nodeOptions }),
    createGrpcTransport({ baseUrl, nodeOptions }),
    createGrpcWebTransport({ baseUrl, httpVersion: '1.1', nodeOptions }),
  ];
}

const empty = encodeProfiles(create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: [''] }) }));

describe('server', () => {
  it('serves Connect, gRPC and gRPC-Web on the unix socket, and /metrics over TCP', async () => {
    const sock = tempSock();
    const s = await start({ listen: '127.0.0.1:0', unix: sock });
    for (const transport of unixTransports(sock)) {
      const res = await createClient(SymbolizerService, transport).symbolize({ profilesData: empty });
      expect(res.stats?.locationsTotal).toBe(0n);
    }
    const metrics = await httpGet({ host: '127.0.0.1', port: s.tcp!.port, path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('ebpf_otel_sidecar_requests_total{code="ok",procedure="ebpfotel.sidecar.v1.SymbolizerService/Symbolize"} 4');
    for (const g of ['resident_memory_bytes', 'heap_used_bytes', 'external_memory_bytes']) expect(metrics.body).toMatch(new RegExp(`\\nebpf_otel_sidecar_${g} [1-9]\\d{5,}\\n`));
    expect(metrics.body).toMatch(/# TYPE ebpf_otel_sidecar_files_read_total counter\nebpf_otel_sidecar_files_read_total \d+\n/);
    expect((await httpGet({ host: '127.0.0.1', port: s.tcp!.port, path: '/other' })).status).toBe(404);
    expect(s.counters.get('ebpf_otel_sidecar_requests_in_flight')).toBe(0);
  });

  it('answers uncompressed even to a client that accepts gzip (a local socket gains nothing)', async () => {
    const sock = tempSock();
    await start({ unix: sock });
    // A dictionary large enough that the answer is well over connect's 1 KiB compression floor.
    const big = encodeProfiles(create(ProfilesDataSchema, { dictionary: create(ProfilesDictionarySchema, { stringTable: ['', ...Array.from({ length: 500 }, (_, i) => `string-${i}`)] }) }));
    const encodings: Array<string | null> = [];
    const transport = createGrpcTransport({
      baseUrl: 'http://localhost',
      nodeOptions: { createConnection: () => net.connect(sock) },
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
    // A missing directory is made private; an existing one keeps its mode.
    const made = join(dir, 'run', 'ebpf-otel', 's.sock');
    const t = await start({ unix: made });
    expect(statSync(dirname(made)).mode & 0o777).toBe(0o700);
    await t.close();
  });

  it('refuses oversize messages with ResourceExhausted', async () => {
    const sock = tempSock();
    await start({ unix: sock, readMaxBytes: 1024 });
    const client = createClient(SymbolizerService, unixTransports(sock)[2]!);
    const e = await client.symbolize({ profilesData: new Uint8Array(4096) }).catch((x: unknown) => x);
    expect(ConnectError.from(e).code).toBe(Code.ResourceExhausted);
  });

  it('answers a request wrapper that does not parse with InvalidArgument (400), not Internal (500)', async () => {
    const sock = tempSock();
    await start({ unix: sock });
    // Field 1 with wire type 4 (an end-group without a start): no protobuf decoder accepts it.
    const garbage = Buffer.from([0x0c, 0xff, 0xff]);
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: sock, method: 'POST', path: '/ebpfotel.sidecar.v1.AggregatorService/Aggregate', headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(garbage);
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^parse binary:/) as unknown });
    // gRPC: status 3 in the trailer.
    const grpc = await new Promise<string | undefined>((resolve, reject) => {
      const c = http2.connect('http://localhost', { createConnection: () => net.connect(sock) });
      const st = c.request({ ':method': 'POST', ':path': '/ebpfotel.sidecar.v1.SymbolizerService/Symbolize', 'content-type': 'application/grpc', te: 'trailers' });
      let status: string | undefined;
      st.on('response', (h) => { status ??= h['grpc-status'] as string | undefined; });
      st.on('trailers', (t) => { status = t['grpc-status'] as string | undefined; });
      st.on('close', () => { c.close(); resolve(status); });
      st.on('error', reject);
      st.resume();
      const frame = Buffer.alloc(5 + garbage.length);
      frame.writeUInt32BE(garbage.length, 1);
      garbage.copy(frame, 5);
      st.end(frame);
    });
    expect(grpc).toBe('3');
  });

  it('answers DeadlineExceeded to a call whose deadline passes while queued, and still serves', async () => {
    const limiter = new Limiter(1, 4);
    let release!: () => void;
    // The only slot is taken, so the call waits in the queue until its deadline passes.
    const blocker = limiter.run(() => new Promise<void>((r) => { release = r; }));
    const sock = tempSock();
    await start({ unix: sock, limiter });
    const client = createClient(SymbolizerService, unixTransports(sock)[2]!);
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

/** A raw HTTP/1.1 exchange over TCP: the status line's code, or 0 when the connection closed first. */
function rawStatus(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(request));
    let buf = '';
    c.on('data', (d: Buffer) => { buf += d.toString(); });
    c.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0)));
    c.on('error', reject);
  });
}

function tokenFile(mode: number, token = 'a-token-of-some-length-0123456789'): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tok-')), 'token');
  writeFileSync(f, `${token}\n`, { mode });
  chmodSync(f, mode);
  return f;
}

describe('TCP listener', () => {
  it('serves the page, /metrics and health, never the RPCs without the token', async () => {
    const s = await start({ listen: '127.0.0.1:0', unix: tempSock() });
    const port = s.tcp!.port;
    const baseUrl = `http://127.0.0.1:${port}`;
    expect((await httpGet({ host: '127.0.0.1', port, path: '/flamegraph/' })).status).toBe(200);
    expect((await httpGet({ host: '127.0.0.1', port, path: '/metrics' })).status).toBe(200);
    expect((await createClient(Health, createGrpcTransport({ baseUrl })).check({ service: '' })).status).toBe(1);
    for (const transport of [createGrpcTransport({ baseUrl }), createConnectTransport({ baseUrl, httpVersion: '1.1' })]) {
      const e = await createClient(SymbolizerService, transport).symbolize({ profilesData: empty }).then(() => undefined, (x: unknown) => x);
      expect(ConnectError.from(e).code).toBe(Code.PermissionDenied);
    }
    expect((await httpGet({ host: '127.0.0.1', port, path: '/other' })).status).toBe(404);
    expect(s.counters.get('ebpf_otel_sidecar_requests_total', { code: 'ok', procedure: 'ebpfotel.sidecar.v1.SymbolizerService/Symbolize' })).toBe(0);
  });

  it('refuses other Host names and foreign origins (DNS rebinding)', async () => {
    const s = await start({ listen: '127.0.0.1:0', unix: tempSock(), allowHosts: ['flame.internal'] });
    const port = s.tcp!.port;
    const get = (host: string, extra = '') => rawStatus(port, `GET /flamegraph/ HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
    expect(await get(`localhost:${port}`)).toBe(200);
    expect(await get(`[::1]:${port}`)).toBe(200);
    expect(await get(`flame.internal:${port}`)).toBe(200);
    expect(await get(`attacker.example:${port}`)).toBe(421);
    expect(await get('localhost')).toBe(421);
    expect(await get(`localhost:${port}`, 'Origin: http://attacker.example\r\n')).toBe(403);
    expect(await get(`localhost:${port}`, `Origin: http://localhost:${port}\r\n`)).toBe(200);
  });

  it('opens the RPCs to a valid bearer token only', async () => {
    const s = await start({ listen: '127.0.0.1:0', unix: tempSock(), tokenFile: tokenFile(0o600) });
    const baseUrl = `http://127.0.0.1:${s.tcp!.port}`;
    const call = (auth?: string) => createClient(SymbolizerService, createGrpcTransport({ baseUrl }))
      .symbolize({ profilesData: empty }, auth ? { headers: { authorization: auth } } : {}).then(() => Code[0], (x: unknown) => Code[ConnectError.from(x).code]);
    expect(await call('Bearer a-token-of-some-length-0123456789')).toBe(Code[0]);
    expect(await call('Bearer a-token-of-some-length-012345678X')).toBe('Unauthenticated');
    expect(await call()).toBe('Unauthenticated');
  });

  it('refuses addresses beyond loopback unless told, and then only with a private token file', async () => {
    await expect(startServer({ listen: '0.0.0.0:0', log: nullLogger })).rejects.toThrow(/0\.0\.0\.0 is not a loopback address.*--insecure-listen/);
    await expect(startServer({ listen: '0.0.0.0:0', insecureListen: true, log: nullLogger })).rejects.toThrow(/needs --token-file/);
    await expect(startServer({ listen: '0.0.0.0:0', insecureListen: true, tokenFile: tokenFile(0o644), log: nullLogger })).rejects.toThrow(/chmod 600/);
    await expect(startServer({ listen: '0.0.0.0:0', insecureListen: true, tokenFile: tokenFile(0o600, 'short'), log: nullLogger })).rejects.toThrow(/at least 16/);
    const s = await start({ listen: '0.0.0.0:0', insecureListen: true, tokenFile: tokenFile(0o600), unix: tempSock() });
    expect(s.tcp!.address).toBe('0.0.0.0');
  });

  it('closes slow, idle and surplus connections', async () => {
    const limits = { headersTimeoutMs: 300, requestTimeoutMs: 300, h2IdleMs: 300, maxConnections: 2 };
    const s = await start({ listen: '127.0.0.1:0', unix: tempSock(), limits });
    const port = s.tcp!.port;
    const closedAfter = async (c: net.Socket, feed?: () => void): Promise<number> => {
      const t0 = Date.now();
      c.on('error', () => {});
      c.resume(); // a paused socket would not report the close
      const timer = feed ? setInterval(feed, 100) : undefined;
      await new Promise((r) => c.once('close', r));
      clearInterval(timer);
      return Date.now() - t0;
    };
    // Slowloris: headers trickled a byte at a time never finish; the deadline does not move.
    const slow = net.connect(port, '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    slow.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n');
    expect(await closedAfter(slow, () => slow.write('X'))).toBeLessThan(2000);
    // An idle HTTP/2 session.
    const h2 = net.connect(port, '127.0.0.1');
    await new Promise((r) => h2.once('connect', r));
    h2.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(await closedAfter(h2)).toBeLessThan(2000);
    // A silent connection that never says which protocol it speaks.
    const silent = net.connect(port, '127.0.0.1');
    expect(await closedAfter(silent)).toBeLessThan(2000);
    // Beyond the cap, a connection is dropped at once while the others stay.
    const held = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    await Promise.all(held.map((c) => new Promise((r) => c.once('connect', r))));
    await new Promise((r) => setTimeout(r, 50));
    const extra = net.connect(port, '127.0.0.1');
    extra.on('error', () => {});
    expect(await closedAfter(extra)).toBeLessThan(250);
    expect(held.every((c) => !c.destroyed)).toBe(true);
    held.forEach((c) => c.destroy());
  });
});
