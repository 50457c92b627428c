import { timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { isIP } from 'node:net';
import type { Handler } from './listeners.js';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/** RPC services only the trusted caller may use (the unix socket, or a bearer token over TCP). */
const PRIVATE_RPC_PREFIX = '/ebpfotel.sidecar.';
/** Read-only paths every TCP client may use. */
const PUBLIC_PREFIXES = ['/flamegraph', '/metrics', '/grpc.health.v1.Health/'];

export interface TcpPolicy {
  /** Accepted Host (or :authority) values, lowercased "host:port"; anything else is refused (DNS rebinding). */
  readonly allowedHosts: ReadonlySet<string>;
  /** The bearer token that opens the RPCs over TCP; undefined: RPCs are never served over TCP. */
  readonly token?: Buffer | undefined;
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** The Host values a browser or client uses to reach `host:port` (names of loopback included). */
export function hostsFor(host: string, port: number, extra: readonly string[] = []): Set<string> {
  const names = isLoopback(host) ? ['localhost', '127.0.0.1', '[::1]'] : [isIP(host) === 6 ? `[${host}]` : host];
  const out = new Set<string>();
  for (const n of [...names, ...extra]) out.add(`${n.toLowerCase()}:${port}`);
  return out;
}

function refuse(res: Res, status: number, message: string): void {
  // Both response types have these; their overloads just do not unify.
  const r = res as http.ServerResponse;
  r.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  r.end(`${message}\n`);
}

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function tokenMatches(req: Req, token: Buffer): boolean {
  const auth = header(req, 'authorization') ?? '';
  if (!auth.toLowerCase().startsWith('bearer ')) return false;
  const given = Buffer.from(auth.slice(7).trim());
  return given.length === token.length && timingSafeEqual(given, token);
}

/**
 * Wraps the sidecar's handler for TCP: the Host (and any Origin) must be one of the allowed
 * names, so a page on another site cannot reach us through DNS rebinding; the flame graph page,
 * /metrics and health are served to anyone who passes that check; the symbolizer and aggregator
 * RPCs only with the bearer token, and not at all when there is none.
 */
export function guardTcp(next: Handler, policy: TcpPolicy): Handler {
  return (req, res) => {
    const host = (header(req, ':authority') ?? header(req, 'host') ?? '').toLowerCase();
    if (!policy.allowedHosts.has(host)) {
      refuse(res, 421, `host "${host}" is not served here`);
      return;
    }
    const origin = header(req, 'origin');
    if (origin !== undefined && !policy.allowedHosts.has(origin.toLowerCase().replace(/^https?:\/\//, ''))) {
      refuse(res, 403, 'cross-origin requests are refused');
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (PUBLIC_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`) || path === `${p}/`)) {
      next(req, res);
      return;
    }
    if (path.startsWith(PRIVATE_RPC_PREFIX)) {
      if (policy.token === undefined) {
        refuse(res, 403, 'RPCs are served on the unix socket only');
        return;
      }
      if (!tokenMatches(req, policy.token)) {
        refuse(res, 401, 'a valid bearer token is required');
        return;
      }
      next(req, res);
      return;
    }
    refuse(res, 404, 'not found');
  };
}
