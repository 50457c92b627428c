import type { ConnectRouter } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerResponse } from '@connectrpc/connect/protocol';

// connect-es answers a request message it cannot parse with Internal (HTTP 500, gRPC status
// 13, "parse binary: ..."), as if the server had failed. The fault is the caller's: the
// request wrapper is malformed. These rewrite that one answer to InvalidArgument (HTTP 400,
// gRPC status 3), leaving the message as it was.

const PARSE = 'parse binary:';
const GRPC_INTERNAL = '13';
const GRPC_INVALID_ARGUMENT = '3';

/** Rewrites every handler of the router (call after the services are registered). */
export function parseFailuresAreInvalid(router: ConnectRouter): void {
  const handlers = router.handlers;
  for (let i = 0; i < handlers.length; i++) {
    const h = handlers[i]!;
    handlers[i] = Object.assign(async (req: Parameters<UniversalHandler>[0]) => rewrite(await h(req)), h);
  }
}

async function rewrite(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const { body, trailer } = res;
  if (body === undefined) return res;
  // Connect unary: the error is the small JSON body of a 500.
  if (res.status === 500) {
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    const same = { ...res, body: once(bytes) };
    try {
      const e = JSON.parse(bytes.toString('utf8')) as { code?: unknown; message?: unknown };
      if (e.code === 'internal' && typeof e.message === 'string' && e.message.startsWith(PARSE)) {
        const out = Buffer.from(JSON.stringify({ ...e, code: 'invalid_argument' }));
        if (res.header?.has('content-length')) res.header.set('content-length', String(out.length));
        return { ...res, status: 400, body: once(out) };
      }
    } catch {
      // Not a Connect error body: left alone.
    }
    return same;
  }
  // gRPC: the status is written in the trailer once the body is done.
  if (!trailer) return res;
  return {
    ...res,
    body: (async function* () {
      yield* body;
      if (trailer.get('grpc-status') === GRPC_INTERNAL && decodeURIComponent(trailer.get('grpc-message') ?? '').startsWith(PARSE)) {
        trailer.set('grpc-status', GRPC_INVALID_ARGUMENT);
      }
    })(),
  };
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b;
}
