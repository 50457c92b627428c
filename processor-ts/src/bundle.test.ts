import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE, buildSnapshot, bundleServe, bundleSymbolize, SERVE_BUNDLE, SNAPSHOT_BLOB, SNAPSHOT_DIR, SNAPSHOT_NODE } from './bundle.js';
import { ElfFile } from './symbolize/elf/elf.js';
import { buildFixtures } from './symbolize/testutil/fixtures.js';
import { LLVM_SYMBOLIZER } from './symbolize/testutil/oracle.js';
import { requireTool } from './testutil/ci.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bin = join(root, 'bin', 'ebpf-otel-sidecar.js');
const launcher = join(root, 'bin', 'ebpf-otel-sidecar');
// The launcher runs the `node` on PATH: the one running these tests.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
// The bundle runs from dist/ (its one outside import, the wasm demangler's glue, resolves from
// there): the test's own bundle gets a name of its own.
const own = join(dist, `symbolize.bundle.test-${process.pid}.js`);
const ownServe = join(dist, `serve.bundle.test-${process.pid}.js`);
const built = requireTool('the built sidecar (npm run build)', existsSync(join(dist, 'symbolize-main.js')) && existsSync(join(dist, BUNDLE)) && existsSync(join(dist, SERVE_BUNDLE)));

afterAll(() => { rmSync(own, { force: true }); rmSync(ownServe, { force: true }); });

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
    expect(ours).toBe(run(join(dist, 'symbolize-main.js')));
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

describe.runIf(built)('the symbolize command as a process', () => {
  const fx = buildFixtures();
  it('stops quietly when the reader of its output goes away (| head -1)', async () => {
    const input = textAddresses(fx.exe).repeat(50);
    const child = spawn(process.execPath, [bin, 'symbolize', '--obj', fx.exe], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdin.on('error', () => { /* it may exit before reading all of it */ });
    child.stdout.once('data', () => child.stdout.destroy());
    child.stdin.end(input);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
  });
});

describe.runIf(built)('the serve command bundled in one module', () => {
  it('serves the RPCs, and the build wrote the same bytes', async () => {
    await bundleServe(dist, ownServe);
    expect(readFileSync(ownServe, 'utf8')).not.toMatch(/^import .* from "\.{1,2}\//m); // nothing of ours left outside
    const run = mkdtempSync(join(tmpdir(), 'ebpf-otel-serve-bundle-'));
    const sock = join(run, 'sidecar.sock');
    const child = spawn(process.execPath, [ownServe, 'serve', '--no-tcp', '--unix', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
    try {
      await new Promise<void>((resolve, reject) => {
        const poll = setInterval(() => { if (log.includes('sidecar listening')) { clearInterval(poll); resolve(); } }, 50);
        child.once('exit', (code) => { clearInterval(poll); reject(new Error(`the bundled sidecar exited (${code}): ${log}`)); });
      });
      // The health RPC over the socket, asked by the unbundled CLI.
      expect(execFileSync(process.execPath, [join(dist, 'main.js'), 'health', '--unix', sock], { encoding: 'utf8' })).toContain('SERVING');
    } finally {
      child.kill('SIGTERM');
      rmSync(run, { recursive: true, force: true });
    }
    if (statSync(join(dist, SERVE_BUNDLE)).mtimeMs >= statSync(join(dist, '.tsbuildinfo')).mtimeMs) {
      expect(readFileSync(ownServe).equals(readFileSync(join(dist, SERVE_BUNDLE)))).toBe(true);
    }
  });
});

describe.runIf(built)('dist/main.js', () => {
  // Its choice of entry, on a layout of its own: the built main.js beside stand-ins for the
  // entries and bundles that say which of them ran.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-main-'));
  const say = (what: string): string => `process.stdout.write('${what} ' + process.argv.slice(2).join(' '));\n`;
  const entries = [['symbolize-main.js', BUNDLE], ['serve-main.js', SERVE_BUNDLE]] as const;
  copyFileSync(join(dist, 'main.js'), join(dir, 'main.js'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const [entry] of entries) writeFileSync(join(dir, entry), say(entry));
  writeFileSync(join(dir, '.tsbuildinfo'), '{}');
  const ran = (...args: string[]): string => execFileSync(process.execPath, [join(dir, 'main.js'), ...args], { encoding: 'utf8' });
  const age = (file: string, seconds: number): void => { const t = new Date(Date.now() - seconds * 1000); utimesSync(file, t, t); };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs each command from its bundle only when it is newer than the last tsc build', () => {
    expect(ran('serve', '--no-tcp')).toBe('serve-main.js serve --no-tcp');
    expect(ran('symbolize', '--obj', 'x')).toBe('symbolize-main.js symbolize --obj x');
    for (const [, bundle] of entries) writeFileSync(join(dir, bundle), say(bundle));
    age(join(dir, '.tsbuildinfo'), 60);
    expect(ran('serve', '--no-tcp')).toBe(`${SERVE_BUNDLE} serve --no-tcp`);
    expect(ran('symbolize', '--obj', 'x')).toBe(`${BUNDLE} symbolize --obj x`);
    age(join(dir, SERVE_BUNDLE), 120);
    expect(ran('serve', '--no-tcp')).toBe('serve-main.js serve --no-tcp');
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

describe.runIf(built && requireTool('the symbolize command\'s startup snapshot (npm run build)', existsSync(join(dist, SNAPSHOT_DIR, SNAPSHOT_BLOB))))('the symbolize command started from its snapshot', () => {
  const fx = buildFixtures();
  const input = textAddresses(fx.exe);

  it('prints what the bundled command prints, through bin/ebpf-otel-sidecar', () => {
    // Traced, to see that the launcher did start Node from the snapshot.
    const traced = spawnSync('sh', ['-x', launcher, 'symbolize', '--obj', fx.exe], { input, encoding: 'utf8', env });
    expect(traced.stderr).toMatch(/exec \S*node (--\S+ )*--snapshot-blob \S*symbolize\.blob symbolize --obj/);
    const viaLauncher = traced.stdout;
    expect(traced.status).toBe(0);
    expect(viaLauncher).toBe(execFileSync(process.execPath, [bin, 'symbolize', '--obj', fx.exe], { input, encoding: 'utf8' }));
  });

  const libstdcxx = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
  it.runIf(existsSync(libstdcxx))('loads the wasm demangler for names ours rejects (the snapshot builder has no WebAssembly)', () => {
    // A transaction-safe clone (GTt): LLVM 14 has no rule for it, the wasm fallback has.
    const sym = execFileSync('nm', ['-D', libstdcxx], { encoding: 'utf8' }).split('\n').find((l) => l.includes(' _ZGTtNKSt11logic_error4whatEv'));
    if (!sym) return;
    const addr = `0x${(parseInt(sym.split(' ')[0]!, 16) + 4).toString(16)}\n`;
    const out = execFileSync(launcher, ['symbolize', '--obj', libstdcxx], { input: addr, encoding: 'utf8', env });
    expect(out).toBe('transaction clone for std::logic_error::what() const\n??:0:0\n\n');
  });
});

describe('bin/ebpf-otel-sidecar, the launcher', () => {
  // A layout of its own: the launcher, a stand-in for bin/ebpf-otel-sidecar.js, and a snapshot
  // built by buildSnapshot from a stand-in entry; each says which of them ran.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-launcher-'));
  const ldist = join(dir, 'dist');
  const snap = join(ldist, SNAPSHOT_DIR);
  mkdirSync(join(dir, 'bin'));
  mkdirSync(ldist);
  copyFileSync(launcher, join(dir, 'bin', 'ebpf-otel-sidecar'));
  writeFileSync(join(dir, 'bin', 'ebpf-otel-sidecar.js'), "process.stdout.write('js ' + process.argv.slice(2).join(' '));\n");
  writeFileSync(join(ldist, 'snapshot-main.js'),
    "import { startupSnapshot } from 'node:v8';\nstartupSnapshot.setDeserializeMainFunction(() => process.stdout.write('snapshot ' + process.argv.slice(1).join(' ')));\n");
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const tsbuild = join(ldist, '.tsbuildinfo');
  writeFileSync(tsbuild, '{}');
  const ran = (...args: string[]): string => execFileSync(join(dir, 'bin', 'ebpf-otel-sidecar'), args, { encoding: 'utf8', env });
  const age = (file: string, seconds: number): void => { const t = new Date(Date.now() - seconds * 1000); utimesSync(file, t, t); };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs symbolize through bin/ebpf-otel-sidecar.js while there is no snapshot', () => {
    expect(ran('symbolize', '--obj', 'x')).toBe('js symbolize --obj x');
  });

  it('starts symbolize from a snapshot built after the last tsc build, every other command from the script', async () => {
    age(tsbuild, 60);
    await buildSnapshot(ldist);
    expect(statSync(snap).mode & 0o777).toBe(0o700);
    expect(ran('symbolize', '--obj', 'x y')).toBe('snapshot symbolize --obj x y');
    expect(ran('serve', '--help')).toBe('js serve --help');
    expect(ran()).toBe('js ');
    // Through a symbolic link, as npm installs package commands.
    symlinkSync(join(dir, 'bin', 'ebpf-otel-sidecar'), join(dir, 'link'));
    expect(execFileSync(join(dir, 'link'), ['symbolize'], { encoding: 'utf8', env })).toBe('snapshot symbolize');
  });

  it('does not use a snapshot older than the last tsc build, built by another Node.js, or in a directory others may write', () => {
    age(tsbuild, 0);
    expect(ran('symbolize')).toBe('js symbolize');
    age(tsbuild, 120);
    expect(ran('symbolize')).toBe('snapshot symbolize');
    const identity = readFileSync(join(snap, SNAPSHOT_NODE), 'utf8');
    writeFileSync(join(snap, SNAPSHOT_NODE), `1${identity}`);
    expect(ran('symbolize')).toBe('js symbolize');
    writeFileSync(join(snap, SNAPSHOT_NODE), identity);
    chmodSync(snap, 0o770);
    expect(ran('symbolize')).toBe('js symbolize');
    chmodSync(snap, 0o700);
    expect(ran('symbolize')).toBe('snapshot symbolize');
  });

  it('does not use a snapshot built in another place (the blob resolves the wasm demangler from where it was built)', async () => {
    const moved = `${dir}-moved`;
    renameSync(dir, moved);
    try {
      const runMoved = (): string => execFileSync(join(moved, 'bin', 'ebpf-otel-sidecar'), ['symbolize'], { encoding: 'utf8', env });
      expect(runMoved()).toBe('js symbolize');
      await buildSnapshot(join(moved, 'dist'));
      expect(runMoved()).toBe('snapshot symbolize');
    } finally {
      renameSync(moved, dir);
    }
    await buildSnapshot(ldist);
  });

  it.runIf(process.getuid?.() === 0)('refuses to build into a directory of another user', async () => {
    const other = join(dir, 'other');
    mkdirSync(other, { mode: 0o700 });
    chownSync(other, 65534, 65534);
    await expect(buildSnapshot(ldist, other)).rejects.toThrow(/not a directory of this user/);
  });

  it('leaves no blob when the build fails', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'snapshot-main.js'), "throw new Error('entry fails');\n");
    await expect(buildSnapshot(bad)).rejects.toThrow();
    expect(existsSync(join(bad, SNAPSHOT_DIR, SNAPSHOT_BLOB))).toBe(false);
  });
});
