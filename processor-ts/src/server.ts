import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { promises as fsp } from 'node:fs';
import type * as net from 'node:net';
import { createAggregator } from './aggregate/setup.js';
import { Counters, METRIC } from './counters.js';
import { KallsymsSource } from './engine/kallsyms.js';
import { DEFAULT_POLICY, type SymbolizePolicy } from './engine/policy.js';
import { ProfilesSymbolizer } from './engine/profiles-symbolizer.js';
import { BuildIdIndex } from './engine/locate/index.js';
import { Limiter } from './limiter.js';
import { AnswerCache } from './otlp/answer-cache.js';
import { createLogger, type Logger } from './log.js';
import { routes, SERVICE_NAMES } from './routes.js';
import { HealthState } from './services/health.js';
import { parseListen } from './transport/address.js';
import { guardTcp, hostsFor, isLoopback } from './transport/guard.js';
import { parseFailuresAreInvalid } from './transport/invalid.js';
import { HttpListeners, type ListenerLimits } from './transport/listeners.js';
import { readTokenFile } from './transport/token.js';

export const DEFAULT_LISTEN = '127.0.0.1:4319';
/** Where the RPCs are served by default (the collector's processors' default endpoint). */
export const DEFAULT_UNIX = '/run/ebpf-otel/sidecar.sock';
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
  /** Admission of RPCs; built from maxConcurrent/maxQueued when not given. */
  limiter?: Limiter;
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
  /** Memory the flame graph page's store may hold (default 16 MiB); the oldest windows go first. */
  flamegraphBytes?: number | undefined;
  /** Directories of the build-ID index (objects found by build ID when producers give no usable path). */
  buildIdDirs?: readonly string[] | undefined;
  /** Allow a TCP address other than loopback (needs `tokenFile`; kernel symbols are then never answered). */
  insecureListen?: boolean | undefined;
  /** File holding the bearer token that opens the RPCs over TCP (mode 0600 or stricter). */
  tokenFile?: string | undefined;
  /** More Host names the TCP listener answers to ("name" or "name:port" without the port is given the bound port). */
  allowHosts?: readonly string[] | undefined;
  /** What the symbolizer may read on a caller's behalf (flags of `serve`); requests may only narrow it. */
  policy?: Partial<SymbolizePolicy> | undefined;
  /** Timeouts and the connection cap of every listener. */
  limits?: ListenerLimits | undefined;
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

/** Starts the sidecar: wires the engine, the services and the HTTP fallbacks, then listens. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? createLogger();
  const counters = new Counters();
  // A sidecar that serves callers beyond this machine never answers kernel addresses (KASLR).
  const kallsyms = opts.insecureListen ? undefined : new KallsymsSource(opts.kallsymsPath ?? '/proc/kallsyms');
  const tcpAddr = opts.listen !== undefined ? parseListen(opts.listen) : undefined;
  if (tcpAddr && !isLoopback(tcpAddr.host) && !opts.insecureListen) {
    throw new Error(`--listen: ${tcpAddr.host} is not a loopback address; the sidecar serves TCP on loopback only (give --insecure-listen and --token-file to serve beyond this machine)`);
  }
  if (opts.insecureListen && opts.tokenFile === undefined) throw new Error('--insecure-listen needs --token-file: RPCs beyond this machine need a bearer token');
  const token = opts.tokenFile !== undefined ? await readTokenFile(opts.tokenFile) : undefined;
  const buildIdIndex = opts.buildIdDirs?.length ? new BuildIdIndex({ dirs: opts.buildIdDirs }) : undefined;
  const engine = new ProfilesSymbolizer({ cacheBytes: opts.cacheBytes, procRoot: opts.procRoot, kallsyms, buildIdIndex });
  const limiter = opts.limiter ?? new Limiter(opts.maxConcurrent ?? 4, opts.maxQueued ?? 64);
  const health = new HealthState(SERVICE_NAMES);
  const shutdown = new AbortController();
  counters.gauge(METRIC.inFlight, 'RPCs being served.', () => limiter.inFlight);
  counters.gauge(METRIC.cachedObjects, 'Parsed object files held in the cache.', () => engine.cachedObjects);
  counters.gauge(METRIC.cachedBytes, 'Approximate bytes held by the parsed-file cache.', () => engine.cachedBytes);
  // Parses: in a steady state this stops growing; a file parsed again and again did not fit the cache.
  counters.gauge(METRIC.filesRead, 'Object files read and parsed (cached files are not read again).', () => engine.fileReads, 'counter');
  // Where the memory budget goes (docs/deployment.md): all of it, V8's heap, and buffers
  // outside it (file bytes of the cache, request bodies).
  counters.gauge(METRIC.residentBytes, 'Resident memory of the sidecar process.', () => process.memoryUsage.rss());
  counters.gauge(METRIC.heapBytes, "V8 heap in use (bounded by node's --max-old-space-size plus the young generation).", () => process.memoryUsage().heapUsed);
  counters.gauge(METRIC.externalBytes, 'Memory of buffers outside the V8 heap (file bytes, request bodies).', () => process.memoryUsage().external);

  // Symbolize answers kept for the Aggregate request that brings each back (otlp/answer-cache.ts).
  const answers = new AnswerCache();
  counters.gauge(METRIC.answerReuses, 'Aggregate requests that were a recent Symbolize answer and were not decoded again.', () => answers.hits, 'counter');
  counters.gauge(METRIC.answerDecodes, 'Aggregate requests decoded (not a recent Symbolize answer).', () => answers.misses, 'counter');
  const aggregator = createAggregator({ answers, counters, log, limiter, pprofDir: opts.pprofDir, pprofMaxBytes: opts.pprofMaxBytes, maxStreams: opts.maxStreams, flamegraphBytes: opts.flamegraphBytes });
  const handler = connectNodeAdapter({
    routes: (router) => {
      routes({ engine, limiter, counters, log, health, aggregator, answers, policy: { ...DEFAULT_POLICY, ...opts.policy } })(router);
      // A request wrapper that does not parse is the caller's fault: 400, not 500.
      parseFailuresAreInvalid(router);
    },
    // No compression: the RPC runs over a local socket, where gzip only costs CPU on both
    // ends (connect-node otherwise gzips every answer over 1 KiB for a client that accepts
    // it, as connect-go's does by default); and readMaxBytes then bounds what is processed.
    acceptCompression: [],
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
  // RPCs on the unix socket (its mode is the access control); TCP serves the page, /metrics and
  // health to clients with an allowed Host, and the RPCs only to holders of the token.
  const listeners = new HttpListeners(handler, opts.limits);
  const allowedHosts = new Set<string>();
  const page = new HttpListeners(guardTcp(handler, { allowedHosts, token }), opts.limits);

  let tcp: net.AddressInfo | undefined;
  try {
    if (tcpAddr) {
      tcp = await page.listenTcp(tcpAddr.host, tcpAddr.port);
      for (const h of hostsFor(tcpAddr.host, tcp.port, opts.allowHosts)) allowedHosts.add(h);
    }
    if (opts.unix !== undefined) await listeners.listenUnix(opts.unix);
  } catch (e) {
    await Promise.all([listeners.stopListening(), page.stopListening()]);
    throw e;
  }
  const unix = opts.unix;
  log.info('sidecar listening', { tcp: tcp ? `${tcp.address}:${tcp.port}` : undefined, unix, readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES });
  if (tcp) log.info('flame graph page', { url: `http://${tcp.family === 'IPv6' ? `[${tcp.address}]` : tcp.address}:${tcp.port}/flamegraph/` });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      health.shutdown();
      const grace = opts.shutdownGraceMs ?? 10_000;
      const drained = await Promise.all([listeners.drain(grace), page.drain(grace)]);
      if (drained.includes('timeout')) {
        shutdown.abort(new ConnectError('sidecar shutting down', Code.Unavailable));
        await Promise.all([listeners.destroyAll(), page.destroyAll()]);
      }
      if (unix) await fsp.rm(unix, { force: true });
      log.info('sidecar stopped');
    })();
    return closing;
  };
  return { tcp, unix, counters, close };
}
