import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeProfiles, encodeProfiles } from './profiles.js';

/** Decodes OTLP ProfilesData with the generated schema and encodes it again. */
export function roundTrip(bytes: Uint8Array): Uint8Array {
  return encodeProfiles(decodeProfiles(bytes));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads ProfilesData on stdin and writes the re-encoded bytes to stdout (used by test/roundtrip). */
export async function main(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  const out = roundTrip(await readAll(input));
  await new Promise<void>((resolve, reject) => output.write(out, (e) => (e ? reject(e) : resolve())));
}

/* v8 ignore next 4 -- entry point when run as a script */
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.stdin, process.stdout).catch((e: unknown) => {
    process.stderr.write(`roundtrip: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
