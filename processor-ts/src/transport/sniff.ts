import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as net from 'node:net';

/** Which HTTP server a connection was handed to. */
export type Protocol = 'h1' | 'h2';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/** How long a connection may stay silent before it says which protocol it speaks. */
export const SILENT_CONNECTION_MS = 30_000;

/**
 * Serves one socket: HTTP/2 with prior knowledge (h2c, what gRPC and connect-go use) when it
 * opens with the HTTP/2 preface, HTTP/1.1 otherwise (Connect, gRPC-Web, GET /metrics).
 * `routed` is called once the protocol is known.
 */
export function sniff(sock: net.Socket, h1: http.Server, h2: http2.Http2Server, routed: (p: Protocol) => void, silentMs = SILENT_CONNECTION_MS): void {
  let seen = Buffer.alloc(0);
  let decided = false;
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && seen.length < H2_PREFACE.length) return;
    sock.off('data', onData);
    sock.setTimeout(0);
    decided = true;
    routed(isH2 ? 'h2' : 'h1');
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
  sock.setTimeout(silentMs, () => { if (!decided) sock.destroy(); });
}
