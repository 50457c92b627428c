import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './assets.js';
import type { FlameStore } from './store.js';

export const FLAMEGRAPH_PREFIX = '/flamegraph';

/** What the handler reads of a request: node:http, node:http2 and connect-node's fallback all fit. */
interface Req {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
}

/** What the handler writes to a response. */
interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'",
  'cache-control': 'no-store',
};

function send(res: Res, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS });
  res.end(body);
}

/**
 * Serves the flame graph page under /flamegraph/: the page, app.js, app.css, and the JSON
 * api/targets and api/tree?target=&type=&windows=. Returns false for other paths, so it can
 * sit in front of another fallback. GET only.
 */
export function flamegraphHandler(store: FlameStore, prefix = FLAMEGRAPH_PREFIX): (req: Req, res: Res) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n');
      return true;
    }
    const sub = url.pathname.slice(prefix.length);
    switch (sub) {
      case '':
        res.writeHead(301, { location: `${prefix}/` });
        res.end('');
        return true;
      case '/':
      case '/index.html':
        send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
        return true;
      case '/app.js':
        send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS);
        return true;
      case '/app.css':
        send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
        return true;
      case '/api/targets':
        send(res, 200, 'application/json', JSON.stringify(store.targets()));
        return true;
      case '/api/tree': {
        const target = url.searchParams.get('target') ?? '';
        const type = url.searchParams.get('type') ?? '';
        const windows = Math.min(100, Math.max(1, Number(url.searchParams.get('windows') ?? '1') || 1));
        const t = store.tree(target, type, windows);
        if (!t) send(res, 404, 'application/json', JSON.stringify({ error: `no windows for ${target} / ${type}` }));
        else send(res, 200, 'application/json', JSON.stringify(t));
        return true;
      }
      default:
        send(res, 404, 'text/plain', 'not found\n');
        return true;
    }
  };
}
