import { describe, expect, it } from 'vitest';
import { demangle, demangleStats, demanglerReady, initDemangler } from '../symbolize/demangle/demangle.js';
import { buildFixtures } from '../symbolize/testutil/fixtures.js';
import { warmUp, warmUpObjects } from './warm-up.js';

describe('the snapshot warm-up', () => {
  it('names Node.js and the C library it runs on', () => {
    const objects = warmUpObjects();
    expect(objects[0]).toBe(process.execPath);
    expect(objects.slice(1).some((o) => /\/libc[.-].*so/.test(o))).toBe(true);
  });

  it('runs the command on each object it can read, skips the rest, and leaves the demangler as a fresh process has it', async () => {
    const fx = buildFixtures();
    await initDemangler();
    demangle('_ZN3geo4RectC2Edd');
    expect(await warmUp([fx.lib, '/nonexistent/object', fx.exe], 50)).toEqual([fx.lib, fx.exe]);
    expect(demangleStats()).toEqual({ ours: 0, fallback: 0, failed: 0 });
    expect(demanglerReady()).toBe(false);
    expect(demangle('_ZN3geo4RectC2Edd')).toBe('geo::Rect::Rect(double, double)');
  });
});
