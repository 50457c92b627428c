import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { removeStaleSocket } from './address.js';
import { type Protocol, sniff } from './sniff.js';

/** A request handler both HTTP/1.1 and HTTP/2 servers accept (connect-node's adapter is one). */
export type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** Limits of one set of listeners; every one bounds what an idle or slow client can hold. */
export interface ListenerLimits {
  /** A connection must complete a request's headers this long after it opens or after its previous response (default 10 s). */
  headersTimeoutMs?: number;
  /** A request's body must have arrived this long after its headers (default 30 s). */
  requestTimeoutMs?: number;
  /** An HTTP/2 session with no frames for this long is closed (default 60 s). */
  h2IdleMs?: number;
  /** Open connections per listener; more are refused at accept (default 256). */
  maxConnections?: number;
}

export const DEFAULT_LIMITS: Required<ListenerLimits> = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, h2IdleMs: 60_000, maxConnections: 256 };

/**
 * One HTTP/1.1 server and one HTTP/2 (h2c) server behind any number of TCP and unix
 * listeners: each connection is sniffed and handed to the server of its protocol. Tracks
 * connections so that `close` can drain them. Not safe to reuse after `close`.
 */
export class HttpListeners {
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly listeners: net.Server[] = [];
  private readonly sessions = new Map<http2.ServerHttp2Session, { open: number; lastActive: number }>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly sockets = new Set<net.Socket>();
  private readonly routed = new Map<net.Socket, Protocol>();
  /** HTTP/1.1 sockets with a request in progress (the others are idle keep-alive connections). */
  private readonly busy = new Set<net.Socket>();

  private readonly limits: Required<ListenerLimits>;
  /** Per HTTP/1.1 socket: the timer that cuts it when the client is too slow. */
  private readonly deadlines = new Map<net.Socket, NodeJS.Timeout>();

  constructor(handler: Handler, limits: ListenerLimits = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    // Node's own header and request timeouts do not cover sockets handed over with
    // emit('connection'); the deadlines below do.
    this.h1 = http.createServer(handler);
    this.h2 = http2.createServer({}, handler);
    this.h2.on('session', (s) => {
      const state = { open: 0, lastActive: Date.now() };
      this.sessions.set(s, state);
      s.once('close', () => this.sessions.delete(s));
      s.on('stream', (stream: http2.ServerHttp2Stream) => {
        state.open++;
        stream.once('close', () => { state.open--; state.lastActive = Date.now(); });
      });
    });
    // An HTTP/2 session without a request for h2IdleMs is closed (PINGs and SETTINGS do not
    // count: they cost us a socket but bring no work). Checked a few times per period.
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [s, st] of this.sessions) if (st.open === 0 && now - st.lastActive >= this.limits.h2IdleMs) s.destroy();
    }, Math.max(10, this.limits.h2IdleMs / 4));
    this.sweeper.unref();
    this.h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const sock = req.socket;
      this.busy.add(sock);
      this.deadline(sock, this.limits.requestTimeoutMs);
      if (req.complete) this.clearDeadline(sock);
      else req.once('end', () => this.clearDeadline(sock));
      res.once('close', () => {
        this.busy.delete(sock);
        if (!sock.destroyed) this.deadline(sock, this.limits.headersTimeoutMs);
      });
    });
  }

  private deadline(sock: net.Socket, ms: number): void {
    this.clearDeadline(sock);
    const t = setTimeout(() => sock.destroy(), ms);
    t.unref();
    this.deadlines.set(sock, t);
  }

  private clearDeadline(sock: net.Socket): void {
    const t = this.deadlines.get(sock);
    if (t) clearTimeout(t);
    this.deadlines.delete(sock);
  }

  private newListener(): net.Server {
    const l = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.once('close', () => { this.sockets.delete(sock); this.routed.delete(sock); this.busy.delete(sock); this.clearDeadline(sock); });
      sniff(sock, this.h1, this.h2, (p) => {
        this.routed.set(sock, p);
        if (p === 'h1') this.deadline(sock, this.limits.headersTimeoutMs);
      }, this.limits.headersTimeoutMs);
    });
    l.maxConnections = this.limits.maxConnections;
    this.listeners.push(l);
    return l;
  }

  /** Listens on TCP; returns the bound address. */
  async listenTcp(host: string, port: number): Promise<net.AddressInfo> {
    const l = this.newListener();
    await new Promise<void>((resolve, reject) => { l.once('error', reject); l.listen(port, host, () => { l.off('error', reject); resolve(); }); });
    return l.address() as net.AddressInfo;
  }

  /**
   * Listens on a unix socket created with mode 0600 (a stale socket file is replaced). A
   * missing directory is made 0700; an existing one is left as its owner set it.
   */
  async listenUnix(path: string): Promise<void> {
    await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(path);
    const l = this.newListener();
    // The socket must never exist with a wider mode, not even between listen and chmod.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => { l.once('error', reject); l.listen(path, () => { l.off('error', reject); resolve(); }); });
    } finally {
      process.umask(old);
    }
    await fsp.chmod(path, 0o600);
  }

  /** Stops accepting new connections. */
  async stopListening(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
  }

  /**
   * Stops accepting, closes idle connections and waits for in-flight requests for up to
   * `graceMs`; returns 'timeout' when some were still running (the caller aborts them, then
   * calls `destroyAll`).
   */
  async drain(graceMs: number): Promise<'drained' | 'timeout'> {
    const stopped = this.stopListening();
    for (const s of this.sessions.keys()) s.close();
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    const drained = new Promise<'drained'>((r) => {
      const check = (): void => {
        // Connections that never sent a request, or finished theirs, go now.
        for (const s of this.sockets) {
          const kind = this.routed.get(s);
          if (kind === undefined || (kind === 'h1' && !this.busy.has(s))) s.destroy();
        }
        if (this.sockets.size === 0) r('drained');
        else setTimeout(check, 20).unref();
      };
      check();
    });
    const result = await Promise.race([drained, timer]);
    if (result === 'drained') await stopped;
    return result;
  }

  /** Cuts every connection and waits for the listeners to close. */
  async destroyAll(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await this.stopListening();
  }
}
