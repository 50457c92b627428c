import { promises as fsp } from 'node:fs';

/** Shortest token accepted: guessing must be out of reach. */
const MIN_TOKEN_BYTES = 16;

/**
 * Reads a bearer token file (like the Collector's bearertokenauth `filename`): the first line,
 * trimmed. Refuses a file others may read or write, and a token too short to be secret.
 */
export async function readTokenFile(path: string): Promise<Buffer> {
  const st = await fsp.stat(path);
  if (!st.isFile()) throw new Error(`--token-file: ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) throw new Error(`--token-file: ${path} is accessible to others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const token = (await fsp.readFile(path, 'utf8')).split('\n')[0]?.trim() ?? '';
  if (token.length < MIN_TOKEN_BYTES) throw new Error(`--token-file: ${path} holds a token of ${token.length} characters; use at least ${MIN_TOKEN_BYTES}`);
  return Buffer.from(token);
}
