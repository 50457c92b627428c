import { describe, expect, it } from 'vitest';
import { demangle, demanglerReady, initDemangler, isMangled } from './demangle.js';

describe('demangle', () => {
  it('returns names unchanged before init and for C names', async () => {
    expect(isMangled('main')).toBe(false);
    expect(demangle('main')).toBe('main');
    await initDemangler();
    await initDemangler();
    expect(demanglerReady()).toBe(true);
    expect(demangle('main')).toBe('main');
  });

  it('demangles Itanium C++, Rust legacy and Rust v0', async () => {
    await initDemangler();
    expect(demangle('_ZN3geo4RectC2Edd')).toBe('geo::Rect::Rect(double, double)');
    // gecko-profiler-demangle configures cpp_demangle without return types.
    expect(demangle('_ZN3foo3barIiEEvT_')).toBe('foo::bar<int>(int)');
    expect(demangle('_ZN4core3fmt5write17h0123456789abcdefE')).toBe('core::fmt::write');
    expect(demangle('_RNvCs1234_7mycrate3foo')).toBe('mycrate::foo');
    expect(demangle('_ZN3geo4RectC2Edd')).toBe('geo::Rect::Rect(double, double)'); // cached
    expect(demangle('_Znot really mangled')).toBe('_Znot really mangled');
  });
});
