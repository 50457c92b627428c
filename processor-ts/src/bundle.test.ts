import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE, bundleSymbolize } from './bundle.js';
import { ElfFile } from './symbolize/elf/elf.js';
import { buildFixtures } from './symbolize/testutil/fixtures.js';
import { LLVM_SYMBOLIZER } from './symbolize/testutil/oracle.js';
import { requireTool } from './testutil/ci.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bin = join(root, 'bin', 'ebpf-otel-sidecar.js');
// The bundle runs from dist/ (its one outside import, the wasm demangler's glue, resolves from
// there): the test's own bundle gets a name of its own.
const own = join(dist, `symbolize.bundle.test-${process.pid}.js`);
const built = requireTool('the built sidecar (npm run build)', existsSync(join(dist, 'symbolize-main.js')) && existsSync(join(dist, BUNDLE)));

afterAll(() => rmSync(own, { force: true }));

function textAddresses(obj: string): string {
  const text = new ElfFile(readFileSync(obj)).section('.text')!;
  const addrs = ['0x1'];
  for (let a = text.addr; a < text.addr + text.size; a += 3) addrs.push('0x' + a.toString(16));
  return addrs.join('\n') + '\n';
}

describe.runIf(built)('the symbolize command bundled in one module', () => {
  const fx = buildFixtures();
  const input = textAddresses(fx.exe);
  const run = (script: string): string => execFileSync(process.execPath, [script, 'symbolize', '--obj', fx.exe], { input, encoding: 'utf8' });

  it('prints what the unbundled command and llvm-symbolizer print', async () => {
    await bundleSymbolize(dist, own);
    expect(readFileSync(own, 'utf8')).not.toMatch(/^import .* from "\.{1,2}\//m); // nothing of ours left outside
    const ours = run(own);
    expect(ours).toBe(run(join(dist, 'main.js')));
    if (LLVM_SYMBOLIZER) expect(ours).toBe(execFileSync(LLVM_SYMBOLIZER, ['--inlining', '--demangle', `--obj=${fx.exe}`], { input, encoding: 'utf8' }));
    // A write that fails leaves neither the bundle nor its temporary file.
    const blocked = join(dist, `symbolize.bundle.test-${process.pid}.dir`);
    writeFileSync(blocked, '');
    try {
      await expect(bundleSymbolize(dist, join(blocked, 'x.js'))).rejects.toThrow();
      expect(existsSync(join(blocked, 'x.js'))).toBe(false);
    } finally {
      rmSync(blocked, { force: true });
    }
    // Reproducible: the build's bundle of the same dist/ is the same bytes.
    if (statSync(join(dist, BUNDLE)).mtimeMs >= statSync(join(dist, '.tsbuildinfo')).mtimeMs) {
      expect(readFileSync(own).equals(readFileSync(join(dist, BUNDLE)))).toBe(true);
    }
  });
});

describe('bin/ebpf-otel-sidecar.js', () => {
  // The command's choice, on a layout of its own: stand-ins for dist/main.js and the bundle
  // that say which of them ran.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-bin-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  copyFileSync(bin, join(dir, 'bin', 'ebpf-otel-sidecar.js'));
  writeFileSync(join(dir, 'dist', 'main.js'), "process.stdout.write('main ' + process.argv.slice(2).join(' '));\n");
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const tsbuild = join(dir, 'dist', '.tsbuildinfo');
  const bundle = join(dir, 'dist', BUNDLE);
  writeFileSync(tsbuild, '{}');
  const ran = (...args: string[]): string => execFileSync(process.execPath, [join(dir, 'bin', 'ebpf-otel-sidecar.js'), ...args], { encoding: 'utf8' });
  const age = (file: string, seconds: number): void => { const t = new Date(Date.now() - seconds * 1000); utimesSync(file, t, t); };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs symbolize from dist/main.js while there is no bundle', () => {
    expect(ran('symbolize', '--obj', 'x')).toBe('main symbolize --obj x');
  });

  it('runs symbolize from the bundle written after the last tsc build, every other command from dist/main.js', () => {
    writeFileSync(bundle, "process.stdout.write('bundle ' + process.argv.slice(2).join(' '));\n");
    age(tsbuild, 60);
    age(bundle, 30);
    expect(ran('symbolize', '--obj', 'x')).toBe('bundle symbolize --obj x');
    expect(ran('serve', '--help')).toBe('main serve --help');
    expect(ran()).toBe('main ');
  });

  it('does not run a bundle older than the last tsc build (stale code)', () => {
    age(tsbuild, 10);
    age(bundle, 30);
    expect(ran('symbolize', '--obj', 'x')).toBe('main symbolize --obj x');
  });
});
