import { afterEach, describe, expect, it, vi } from 'vitest';
import { inCI, requireTool } from './ci.js';

describe('requireTool', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('passes when the tool is present', () => {
    expect(requireTool('go', true, undefined, { CI: 'true' })).toBe(true);
  });

  it('fails in CI when the tool is missing', () => {
    expect(() => requireTool('chromium', false, 'no /usr/bin/chromium', { CI: 'true' })).toThrow(/chromium is required in CI.*no \/usr\/bin\/chromium/);
  });

  it('warns and skips locally', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(requireTool('go', false, undefined, {})).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/SKIPPED.*go/));
  });

  it('reads CI like most tools do', () => {
    expect(inCI({ CI: 'true' })).toBe(true);
    expect(inCI({ CI: '1' })).toBe(true);
    for (const v of [undefined, '', '0', 'false', 'FALSE']) expect(inCI({ CI: v })).toBe(false);
  });
});
