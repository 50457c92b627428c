import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as lookup from './debug/lookup.js';
import { ObjectSymbolizer } from './symbolizer.js';
import { buildFixtures } from './testutil/fixtures.js';
import { makeTempDir } from './testutil/oracle.js';

vi.mock('./debug/lookup.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./debug/lookup.js')>();
  return { ...orig, readElfFile: vi.fn(orig.readElfFile) };
});

const fx = buildFixtures();

describe('Symbolizer file reads', () => {
  it('reads an object file once; later loads of the same file only stat it', async () => {
    const read = vi.mocked(lookup.readElfFile);
    const f = join(makeTempDir('ebpf-otel-spy-'), 'lib.so');
    copyFileSync(fx.lib, f);
    const s = new ObjectSymbolizer({ separateDebug: false });
    read.mockClear();
    const a = await s.load(f);
    expect(read).toHaveBeenCalledTimes(1);
    expect(await s.load(f)).toBe(a);
    expect(await s.load(f)).toBe(a);
    expect(read).toHaveBeenCalledTimes(1);
  });
});
