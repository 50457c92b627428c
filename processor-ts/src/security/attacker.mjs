// Run as an unprivileged user against a sidecar started as `npm start` starts it. Node
// built-ins only. Prints one JSON object: what each attack got back.
import * as net from 'node:net';

const [port, sock] = [Number(process.argv[2]), process.argv[3]];
const out = {};

function raw(request, { host = '127.0.0.1', waitMs = 3000 } = {}) {
  return new Promise((resolve) => {
    const c = net.connect(port, host, () => c.write(request));
    let buf = '';
    c.on('data', (d) => { buf += d.toString('latin1'); });
    c.on('error', (e) => resolve({ status: 0, error: e.code, body: buf }));
    c.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0), body: buf }));
    setTimeout(() => c.destroy(), waitMs).unref();
  });
}

// 1. The RPC socket: 0600, owned by the collector's user.
out.unix = await new Promise((resolve) => {
  const c = net.connect(sock);
  c.on('connect', () => { c.destroy(); resolve('connected'); });
  c.on('error', (e) => resolve(e.code));
});

// 2. The RPCs over TCP: a symbolize request naming the kernel mapping and a root-only file.
const body = Buffer.from('[kernel.kallsyms] /etc/shadow /root/secret');
const rpc = (path) => raw(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/proto\r\nconnect-protocol-version: 1\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString('latin1')}`);
out.symbolize = await rpc('/ebpfotel.sidecar.v1.SymbolizerService/Symbolize');
out.aggregate = await rpc('/ebpfotel.sidecar.v1.AggregatorService/Aggregate');

// 3. DNS rebinding: a page on another origin reaching the loopback port.
out.rebindHost = await raw(`GET /flamegraph/api/targets HTTP/1.1\r\nHost: attacker.example:${port}\r\nconnection: close\r\n\r\n`);
out.rebindOrigin = await raw(`GET /flamegraph/api/targets HTTP/1.1\r\nHost: localhost:${port}\r\nOrigin: http://attacker.example\r\nconnection: close\r\n\r\n`);

// 4. Slowloris and fd exhaustion: many connections trickling headers a byte at a time.
const N = Number(process.argv[4] ?? 300);
const t0 = Date.now();
const conns = [];
for (let i = 0; i < N; i++) {
  conns.push(new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let opened = 0;
    c.on('connect', () => { opened = Date.now(); c.write(`GET /metrics HTTP/1.1\r\nHost: localhost:${port}\r\n`); });
    const feed = setInterval(() => { if (!c.destroyed) c.write('X'); }, 500);
    c.on('error', () => {});
    c.resume();
    c.on('close', () => { clearInterval(feed); resolve(opened ? Date.now() - opened : 0); });
  }));
}
const lifetimes = await Promise.all(conns);
out.slowloris = { connections: N, longestMs: Math.max(...lifetimes), totalMs: Date.now() - t0, droppedAtOnce: lifetimes.filter((l) => l < 1000).length };

process.stdout.write(JSON.stringify(out));
