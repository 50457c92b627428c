import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregator } from '../aggregate/setup.js';
import { normalizeOptions } from '../aggregate/options.js';
import { makeProfiles, type SampleSpec } from '../aggregate/testutil/gen.js';
import { Counters } from '../counters.js';
import { FlameStore, TRUNCATED_FRAME } from './store.js';
import { decodeProfiles } from '../otlp/profiles.js';
import { longNameStacks } from '../testutil/payloads.js';
import { requireTool } from '../testutil/ci.js';

// Function indices into FUNCS: 0 ebpf_otel_leaf, 1 ebpf_otel_middle, 2 main, 3 __libc_start_call_main, 4 compute, 5 parse.
const spec = (frames: number[], v: bigint, pid = 42): SampleSpec => ({ pid, type: 0, frames: frames.map((f, i) => [f, 10 + i, i] as [number, number, number]), thread: 0, link: 0, values: [v], timestamps: [] });
const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '..', 'test-artifacts');

function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => { if (!handler(req, res)) { res.writeHead(404); res.end(); } });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => {
    const a = server.address() as AddressInfo;
    r({ url: `http://127.0.0.1:${a.port}`, close: () => new Promise<void>((c) => { server.closeAllConnections(); server.close(() => c()); }) });
  }));
}

describe('flame graph store and handler', () => {
  it('counts exactly the windows it holds while many are dropped, and still evicts the oldest held', () => {
    const data = (pid: number, v: bigint): ReturnType<typeof makeProfiles> => makeProfiles([spec([0, 1, 2], v, pid), spec([5, 2], 1n, pid)]);
    // keep 1: every window of a key drops the one before it (hundreds dropped, the order list compacted many times).
    const s = new FlameStore({ keep: 1 });
    for (let i = 0; i < 400; i++) s.add({ data: data(i % 7, BigInt(i + 1)), closedAt: i });
    const last = new FlameStore({ keep: 1 });
    for (let i = 393; i < 400; i++) last.add({ data: data(i % 7, BigInt(i + 1)), closedAt: i });
    expect(s.bytes).toBe(last.bytes);
    expect(s.tree('prog0-0', 'cpu')?.root.v).toBe(last.tree('prog0-0', 'cpu')?.root.v);
    // Now over a byte budget: the oldest held windows go first, the newest stay.
    const one = last.bytes / 7;
    const tight = new FlameStore({ keep: 1, maxBytes: Math.ceil(one * 3.5) });
    for (let i = 0; i < 400; i++) tight.add({ data: data(i % 7, BigInt(i + 1)), closedAt: i });
    expect(tight.bytes).toBeLessThanOrEqual(Math.ceil(one * 3.5));
    expect(tight.tree('prog0-0', 'cpu')).toBeDefined(); // pid 399 % 7 = 0, the newest window
    expect(tight.stats.evictedWindows).toBeGreaterThan(300);
  });

  it('keeps the latest windows per target and type and merges them into a tree', () => {
    const s = new FlameStore({ keep: 2, maxKeys: 2 });
    const agg = createAggregator().store;
    const opts = normalizeOptions({});
    for (let i = 1; i <= 3; i++) {
      const r = agg.aggregate('', makeProfiles([spec([0, 1, 2], BigInt(i)), spec([5, 2], 1n)]), opts);
      s.add({ data: r.data!, closedAt: i * 1000 });
    }
    const t = s.tree('prog0-42', 'cpu', 5)!;
    expect(t.windows).toBe(2);
    expect(t.root.v).toBe(2 + 3 + 2);
    expect(t.root.c[0]!.n).toBe('main');
    expect(t.root.c[0]!.c.map((c) => c.n)).toEqual(['ebpf_otel_middle', 'parse']);
    expect(s.tree('prog0-42', 'cpu')!.root.v).toBe(4);
    expect(s.tree('nope', 'cpu')).toBeUndefined();
    s.add({ data: agg.aggregate('', makeProfiles([spec([0], 1n, 1)]), opts).data!, closedAt: 1 });
    s.add({ data: agg.aggregate('', makeProfiles([spec([0], 1n, 2)]), opts).data!, closedAt: 2 });
    expect(s.targets().map((x) => x.target)).toEqual(['prog1-1', 'prog2-2']);
    s.add({ data: { ...agg.aggregate('', makeProfiles([spec([0], 1n, 2)]), opts).data!, dictionary: undefined }, closedAt: 3 });
  });

  it('holds the long-name attack in megabytes: names once, stacks as frame ids', () => {
    const s = new FlameStore();
    const data = decodeProfiles(longNameStacks(1000, 1000, 5000));
    const before = process.memoryUsage().heapUsed;
    s.add({ data, closedAt: 1 });
    // 1,000 stacks × 1,000 frames × 4 bytes, one name of 1,025 characters.
    expect(s.bytes).toBeLessThan(5 * 1024 * 1024);
    expect(s.stats).toEqual({ evictedWindows: 0, truncatedStacks: 0, cutNames: 1 });
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    const t = s.tree('pid-4242', 'cpu')!;
    expect(t.root.v).toBe(1000);
    // One name at every depth: the tree is one path, cut to 1,024 characters and an ellipsis.
    expect(t.root.c).toHaveLength(1);
    expect(t.root.c[0]!.n).toHaveLength(1025);
    expect(t.truncated).toBe(false);
  });

  it('evicts the oldest windows to stay within its bytes, and counts them', () => {
    const s = new FlameStore({ maxBytes: 2 * 1024 * 1024 });
    for (let i = 0; i < 20; i++) {
      s.add({ data: decodeProfiles(longNameStacks(100, 1000, 10)), closedAt: i });
      expect(s.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    }
    expect(s.stats.evictedWindows).toBeGreaterThan(10);
    // The newest windows stay.
    expect(s.tree('pid-4242', 'cpu', 100)!.to).toBe(19);
  });

  it('folds what one window has no room for into [truncated], keeping the total', () => {
    const s = new FlameStore({ maxBytes: 400 * 1024 });
    s.add({ data: decodeProfiles(longNameStacks(1000, 100, 10)), closedAt: 1 });
    expect(s.stats.truncatedStacks).toBeGreaterThan(500);
    expect(s.bytes).toBeLessThanOrEqual(100 * 1024 + 1024);
    const t = s.tree('pid-4242', 'cpu')!;
    expect(t.root.v).toBe(1000);
    const trunc = t.root.c.find((c) => c.n === TRUNCATED_FRAME)!;
    expect(trunc.v).toBe(s.stats.truncatedStacks);
  });

  it('answers at most maxNodes nodes, deeper values staying with their parents', () => {
    const s = new FlameStore({ maxNodes: 50 });
    // Distinct names per depth and stack: the full tree would have 100 × 100 nodes.
    s.add({ data: decodeProfiles(longNameStacks(100, 100, 5)), closedAt: 1 });
    const t = s.tree('pid-4242', 'cpu')!;
    let nodes = 0;
    const walk = (n: { c: unknown[] }): void => { nodes++; (n.c as Array<{ c: unknown[] }>).forEach(walk); };
    walk(t.root);
    expect(nodes).toBeLessThanOrEqual(50);
    expect(t.root.v).toBe(100);
  });

  it('serves the page, assets and JSON on its prefix only', async () => {
    const a = createAggregator({ counters: new Counters(), pprofDir: mkdtempSync(join(tmpdir(), 'fg-pprof-')) });
    a.store.aggregate('x', makeProfiles([spec([0, 1, 2], 5n)]), normalizeOptions({}));
    const srv = await serve(a.http);
    try {
      const get = async (p: string, init?: RequestInit): Promise<[number, string, string]> => {
        const r = await fetch(srv.url + p, { redirect: 'manual', ...init });
        return [r.status, r.headers.get('content-type') ?? '', await r.text()];
      };
      expect((await get('/flamegraph/'))[2]).toContain('<script src="app.js">');
      expect((await get('/flamegraph/app.js'))[1]).toMatch(/javascript/);
      expect((await get('/flamegraph/app.css'))[1]).toMatch(/css/);
      expect(JSON.parse((await get('/flamegraph/api/targets'))[2])).toEqual([{ target: 'prog0-42', types: ['cpu'] }]);
      const tree = JSON.parse((await get('/flamegraph/api/tree?target=prog0-42&type=cpu&windows=3'))[2]) as { root: { v: number } };
      expect(tree.root.v).toBe(5);
      expect((await get('/flamegraph/api/tree?target=x&type=cpu'))[0]).toBe(404);
      expect((await get('/flamegraph'))[0]).toBe(301);
      expect((await get('/flamegraph/nope'))[0]).toBe(404);
      expect((await get('/flamegraph/', { method: 'POST' }))[0]).toBe(405);
      expect((await get('/other'))[0]).toBe(404);
    } finally {
      await srv.close();
    }
  });
});

describe.skipIf(!requireTool('chromium', existsSync('/usr/bin/chromium'), 'no /usr/bin/chromium'))('flame graph page in headless Chromium', () => {
  let srv: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    const a = createAggregator();
    const opts = normalizeOptions({ windowMs: 0 });
    a.store.aggregate('p', makeProfiles([
      spec([0, 1, 2, 3], 700n), spec([1, 2, 3], 100n), spec([4, 2, 3], 150n), spec([5, 4, 2, 3], 50n),
    ]), opts);
    a.store.aggregate('p', makeProfiles([spec([0, 1, 2, 3], 300n, 7)]), opts);
    srv = await serve(a.http);
  });
  afterAll(async () => { await srv?.close(); });

  it('loads, draws the function names, zooms and searches; saves a screenshot', async () => {
    // A fresh profile directory per run.
    const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-')), {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 420 },
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`${srv.url}/flamegraph/`);
      await page.waitForSelector('.frame[data-name="ebpf_otel_leaf"]');
      await page.selectOption('#target', 'prog0-42');
      await page.waitForFunction("document.querySelector('#status')?.textContent?.includes('total 1000')");
      for (const name of ['main', 'ebpf_otel_middle', 'ebpf_otel_leaf', 'compute', 'parse', '__libc_start_call_main']) {
        expect(await page.locator(`.frame[data-name="${name}"]`).count()).toBeGreaterThan(0);
      }
      expect(await page.locator('.frame[data-name="ebpf_otel_leaf"]').first().textContent()).toBe('ebpf_otel_leaf');
      const width = async (name: string): Promise<number> => (await page.locator(`.frame[data-name="${name}"]`).first().boundingBox())!.width;
      const full = await width('all');
      expect(await width('compute')).toBeLessThan(full * 0.3);
      // zoom into compute: it spans the whole width, its sibling is gone
      await page.locator('.frame[data-name="compute"]').first().click();
      expect(await width('compute')).toBeGreaterThan(full * 0.95);
      expect(await page.locator('.frame[data-name="ebpf_otel_leaf"]').count()).toBe(0);
      expect(await page.locator('#crumbs').textContent()).toContain('compute');
      await page.click('#reset');
      expect(await page.locator('.frame[data-name="ebpf_otel_leaf"]').count()).toBeGreaterThan(0);
      // search
      await page.fill('#search', 'leaf');
      expect(await page.locator('.frame.match').count()).toBeGreaterThan(0);
      expect(await page.locator('.frame.match').first().getAttribute('data-name')).toBe('ebpf_otel_leaf');
      expect(await page.locator('#details').textContent()).toContain('70.00%');
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'flamegraph.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(1000);
      // everything came from the sidecar itself
      expect(requests.every((u) => u.startsWith(srv.url))).toBe(true);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
