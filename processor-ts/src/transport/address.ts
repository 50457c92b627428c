import { promises as fsp } from 'node:fs';

/** Parses "host:port" ("[::1]:port" for IPv6). Throws naming the flag. */
export function parseListen(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`--listen: "${s}" is not host:port`);
  const host = s.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535 || s.slice(i + 1) === '') throw new Error(`--listen: "${s}" is not host:port`);
  return { host: host || '127.0.0.1', port };
}

/** Removes a socket file left by an earlier run; refuses to touch anything else. */
export async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await fsp.lstat(path);
    if (!st.isSocket()) throw new Error(`--unix: ${path} exists and is not a socket; remove it or choose another path`);
    await fsp.unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
