import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeProfilesPdata } from './encode-pdata.js';
import { decodeProfiles, encodeProfiles } from './profiles.js';

/** Decodes OTLP ProfilesData with the generated schema and encodes it again (in pdata's layout with `pdata`, as Symbolize answers). */
export function roundTrip(bytes: Uint8Array, pdata = false): Uint8Array {
  const data = decodeProfiles(bytes);
  return (pdata ? encodeProfilesPdata(data) : undefined) ?? encodeProfiles(data);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads ProfilesData on stdin and writes the re-encoded bytes to stdout (used by test/roundtrip; `--pdata`: in pdata's layout). */
export async function main(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, pdata = false): Promise<void> {
  const out = roundTrip(await readAll(input), pdata);
  await new Promise<void>((resolve, reject) => output.write(out, (e) => (e ? reject(e) : resolve())));
}

/* v8 ignore next 4 -- entry point when run as a script */
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.stdin, process.stdout, process.argv.includes('--pdata')).catch((e: unknown) => {
    process.stderr.write(`roundtrip: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
