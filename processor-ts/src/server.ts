import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { createAggregator } from './aggregate/setup.js';
import { DEFAULT_MAX_STREAMS } from './aggregate/window.js';
import { Counters, METRIC } from './counters.js';
import { Limiter } from './errors.js';
import { createLogger, isLogLevel, type Logger } from './log.js';
import { routes, SERVICE_NAMES } from './routes.js';
import { HealthState } from './services/health.js';
import { KallsymsSource } from './services/kallsyms.js';
import { SymbolizeEngine } from './services/symbolize.js';

export const DEFAULT_LISTEN = '127.0.0.1:4319';
export const DEFAULT_READ_MAX_BYTES = 64 * 1024 * 1024;

export interface ServerOptions {
  /** "host:port" on loopback (port 0 picks one); undefined: no TCP listener. */
  listen?: string | undefined;
  /** Unix socket path (created with mode 0600); undefined: none. */
  unix?: string | undefined;
  readMaxBytes?: number;
  cacheBytes?: number;
  maxConcurrent?: number;
  maxQueued?: number;
  kallsymsPath?: string;
  procRoot?: string;
  log?: Logger;
  /** Time given to in-flight requests at shutdown before connections are cut. */
  shutdownGraceMs?: number;
  /** Write every closed aggregation window as gzipped pprof files here. */
  pprofDir?: string | undefined;
  /** Size cap of pprofDir; the oldest files are rotated out. */
  pprofMaxBytes?: number | undefined;
  /** Aggregation streams holding data at once (default 256). */
  maxStreams?: number | undefined;
}

export interface RunningServer {
  /** The bound TCP address, if listening on TCP. */
  readonly tcp: net.AddressInfo | undefined;
  readonly unix: string | undefined;
  readonly counters: Counters;
  /** Stops accepting, lets in-flight RPCs finish (up to the grace period) and closes. Idempotent. */
  close(): Promise<void>;
}

/** Counts every RPC by procedure and result code. */
function countingInterceptor(counters: Counters): Interceptor {
  return (next) => async (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      counters.inc(METRIC.requests, { procedure, code: 'ok' });
      return res;
    } catch (e) {
      counters.inc(METRIC.requests, { procedure, code: codeToString(ConnectError.from(e).code) });
      throw e;
    }
  };
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/**
 * Serves one socket: HTTP/2 with prior knowledge (h2c, what gRPC and connect-go use) when it
 * opens with the HTTP/2 preface, HTTP/1.1 otherwise (Connect, gRPC-Web, GET /metrics).
 */
function sniff(sock: net.Socket, h1: http.Server, h2: http2.Http2Server, routed: Map<net.Socket, 'h1' | 'h2'>): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && seen.length < H2_PREFACE.length) return;
    sock.off('data', onData);
    sock.setTimeout(0);
    routed.set(sock, isH2 ? 'h2' : 'h1');
    sock.pause();
    sock.unshift(seen);
    // The HTTP/2 session takes the socket over and reads what was unshifted itself;
    // the HTTP/1 server reads in JS and needs the stream flowing again.
    if (isH2) {
      h2.emit('connection', sock);
    } else {
      h1.emit('connection', sock);
      sock.resume();
    }
  };
  sock.on('data', onData);
  sock.on('error', () => sock.destroy());
  // A connection that says nothing is not kept forever.
  sock.setTimeout(SILENT_CONNECTION_MS, () => { if (!routed.has(sock)) sock.destroy(); });
}

const SILENT_CONNECTION_MS = 30_000;

function parseListen(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`--listen: "${s}" is not host:port`);
  const host = i >= 0 ? s.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(i >= 0 ? s.slice(i + 1) : s);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--listen: "${s}" is not host:port`);
  return { host: host || '127.0.0.1', port };
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await fsp.lstat(path);
    if (!st.isSocket()) throw new Error(`--unix: ${path} exists and is not a socket; remove it or choose another path`);
    await fsp.unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Starts the sidecar's listeners. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? createLogger();
  const counters = new Counters();
  const kallsyms = new KallsymsSource(opts.kallsymsPath ?? '/proc/kallsyms');
  const engine = new SymbolizeEngine({ cacheBytes: opts.cacheBytes, procRoot: opts.procRoot, kallsyms });
  const limiter = new Limiter(opts.maxConcurrent ?? 4, opts.maxQueued ?? 64);
  const health = new HealthState(SERVICE_NAMES);
  const shutdown = new AbortController();
  counters.gauge(METRIC.inFlight, 'RPCs being served.', () => limiter.inFlight);
  counters.gauge(METRIC.cachedObjects, 'Parsed object files held in the cache.', () => engine.cachedObjects);
  counters.gauge(METRIC.cachedBytes, 'Approximate bytes held by the parsed-file cache.', () => engine.cachedBytes);

  const aggregator = createAggregator({ counters, log, limiter, pprofDir: opts.pprofDir, pprofMaxBytes: opts.pprofMaxBytes, maxStreams: opts.maxStreams });
  const handler = connectNodeAdapter({
    routes: routes({ engine, limiter, counters, log, health, aggregator }),
    readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
    interceptors: [countingInterceptor(counters)],
    fallback: (req, res) => {
      if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(counters.render());
        return;
      }
      if (aggregator.http(req, res)) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    },
  });
  const h1 = http.createServer(handler);
  const h2 = http2.createServer({}, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => { sessions.add(s); s.once('close', () => sessions.delete(s)); });
  const sockets = new Set<net.Socket>();
  const routed = new Map<net.Socket, 'h1' | 'h2'>();
  // HTTP/1.1 sockets with a request in progress (the others are idle keep-alive connections).
  const busy = new Set<net.Socket>();
  h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    busy.add(req.socket);
    res.once('close', () => busy.delete(req.socket));
  });
  const listeners: net.Server[] = [];
  const newListener = (): net.Server => {
    const l = net.createServer((sock) => {
      sockets.add(sock);
      sock.once('close', () => { sockets.delete(sock); routed.delete(sock); busy.delete(sock); });
      sniff(sock, h1, h2, routed);
    });
    listeners.push(l);
    return l;
  };

  let tcp: net.AddressInfo | undefined;
  let unix: string | undefined;
  const closeListeners = async (): Promise<void> => {
    await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
  };
  try {
    if (opts.listen !== undefined) {
      const { host, port } = parseListen(opts.listen);
      const l = newListener();
      await new Promise<void>((resolve, reject) => { l.once('error', reject); l.listen(port, host, () => { l.off('error', reject); resolve(); }); });
      tcp = l.address() as net.AddressInfo;
    }
    if (opts.unix !== undefined) {
      await removeStaleSocket(opts.unix);
      const l = newListener();
      const old = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => { l.once('error', reject); l.listen(opts.unix, () => { l.off('error', reject); resolve(); }); });
      } finally {
        process.umask(old);
      }
      await fsp.chmod(opts.unix, 0o600);
      unix = opts.unix;
    }
  } catch (e) {
    await closeListeners();
    throw e;
  }
  log.info('sidecar listening', { tcp: tcp ? `${tcp.address}:${tcp.port}` : undefined, unix, readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES });
  if (tcp) log.info('flame graph page', { url: `http://${tcp.family === 'IPv6' ? `[${tcp.address}]` : tcp.address}:${tcp.port}/flamegraph/` });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      health.shutdown();
      const stopped = closeListeners();
      for (const s of sessions) s.close();
      const grace = opts.shutdownGraceMs ?? 10_000;
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), grace).unref());
      const drained = new Promise<'drained'>((r) => {
        const check = (): void => {
          // Connections that never sent a request, or finished theirs, go now.
          for (const s of sockets) {
            const kind = routed.get(s);
            if (kind === undefined || (kind === 'h1' && !busy.has(s))) s.destroy();
          }
          if (sockets.size === 0) r('drained');
          else setTimeout(check, 20).unref();
        };
        check();
      });
      if ((await Promise.race([drained, timer])) === 'timeout') {
        shutdown.abort(new ConnectError('sidecar shutting down', Code.Unavailable));
        for (const s of sockets) s.destroy();
      }
      await stopped;
      if (unix) await fsp.rm(unix, { force: true });
      log.info('sidecar stopped');
    })();
    return closing;
  };
  return { tcp, unix, counters, close };
}

export const SERVE_USAGE =
  'usage: ebpf-otel-sidecar serve [--listen HOST:PORT | --no-tcp] [--unix PATH] [--read-max-bytes N]\n' +
  '                               [--cache-bytes N] [--max-concurrent N] [--log-level debug|info|warn|error]\n' +
  `  --listen          loopback TCP address (default ${DEFAULT_LISTEN}; port 0 picks a free port)\n` +
  '  --no-tcp          do not listen on TCP (use with --unix)\n' +
  '  --unix            also listen on this unix socket, mode 0600\n' +
  `  --read-max-bytes  largest request accepted (default ${DEFAULT_READ_MAX_BYTES})\n` +
  '  --cache-bytes     parsed-file cache budget (default 268435456)\n' +
  '  --max-concurrent  requests symbolized at once (default 4; 64 more may wait)\n' +
  '  --pprof-dir       write each flushed aggregation window as gzipped pprof files here\n' +
  '  --pprof-max-bytes size cap of --pprof-dir (default 268435456); the oldest files go first\n' +
  `  --max-streams     aggregation streams holding data at once (default ${DEFAULT_MAX_STREAMS}); new ones beyond are refused\n`;

/** Parses `serve` flags into server options. Throws with a message naming the flag. */
export function parseServeArgs(argv: readonly string[]): ServerOptions & { logLevel: string } {
  const o: ServerOptions & { logLevel: string } = { listen: DEFAULT_LISTEN, logLevel: 'info' };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag}: "${v ?? ''}" is not a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string | undefined => argv[++i];
    switch (a) {
      case '--listen': o.listen = v(); if (!o.listen) throw new Error('--listen: needs HOST:PORT'); break;
      case '--no-tcp': o.listen = undefined; break;
      case '--unix': o.unix = v(); if (!o.unix) throw new Error('--unix: needs a path'); break;
      case '--read-max-bytes': o.readMaxBytes = num(a, v()); break;
      case '--cache-bytes': o.cacheBytes = num(a, v()); break;
      case '--max-concurrent': o.maxConcurrent = num(a, v()); break;
      case '--kallsyms': o.kallsymsPath = v(); break;
      case '--pprof-dir': o.pprofDir = v(); if (!o.pprofDir) throw new Error('--pprof-dir: needs a directory'); break;
      case '--pprof-max-bytes': o.pprofMaxBytes = num(a, v()); break;
      case '--max-streams': o.maxStreams = num(a, v()); break;
      case '--log-level': {
        const l = v() ?? '';
        if (!isLogLevel(l)) throw new Error(`--log-level: "${l}" is not one of debug, info, warn, error`);
        o.logLevel = l;
        break;
      }
      default: throw new Error(`unknown flag "${a}"`);
    }
  }
  if (o.listen === undefined && o.unix === undefined) throw new Error('--no-tcp needs --unix: the sidecar must listen somewhere');
  return o;
}

/** `ebpf-otel-sidecar serve`: runs until SIGINT or SIGTERM, then shuts down gracefully. */
export async function runServe(argv: readonly string[], io: { error: (s: string) => void }, signals: NodeJS.EventEmitter = process): Promise<number> {
  let opts: ReturnType<typeof parseServeArgs>;
  try {
    opts = parseServeArgs(argv);
  } catch (e) {
    io.error(`serve: ${(e as Error).message}\n${SERVE_USAGE}`);
    return 2;
  }
  const log = createLogger({ level: isLogLevel(opts.logLevel) ? opts.logLevel : 'info', fields: { component: 'ebpf-otel-sidecar' } });
  let server: RunningServer;
  try {
    server = await startServer({ ...opts, log });
  } catch (e) {
    log.error('cannot start', { error: e });
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info('shutting down', { signal: sig });
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
      resolve();
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    signals.on('SIGINT', onInt);
    signals.on('SIGTERM', onTerm);
  });
  await server.close();
  return 0;
}
