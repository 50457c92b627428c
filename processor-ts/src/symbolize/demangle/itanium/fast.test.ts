import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requireTool as requireCiTool } from '../../../testutil/ci.js';
import { CXXFILT, llvmDemangle, NM, READELF, requireTool, symbolNames } from '../testdata/oracle.js';
import { demangleFast, PRIMERS } from './fast.js';
import { demangleItanium, demangleTree } from './index.js';

const LIBSTDCXX = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';

/** A node binary with a .symtab (Debian's, else the one running the tests). */
function nodeBinary(): string | undefined {
  if (!READELF) return undefined;
  for (const p of ['/usr/bin/node', process.execPath]) {
    if (!existsSync(p)) continue;
    const sections = execFileSync(READELF, ['-SW', p], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (/\s\.symtab\s/.test(sections)) return p;
  }
  return undefined;
}

describe('demangleFast', () => {
  // Expected strings are llvm-cxxfilt 14's.
  it.each([
    ['_ZNK2v88internal3Foo3barERKS1_', 'v8::internal::Foo::bar(v8::internal::Foo const&) const'],
    ['_ZN4node7FPrintFIJRNS_9Utf8ValueES2_S2_EEEvP8_IO_FILEPKcDpOT_',
      'void node::FPrintF<node::Utf8Value&, node::Utf8Value&, node::Utf8Value&>(_IO_FILE*, char const*, node::Utf8Value&, node::Utf8Value&, node::Utf8Value&)'],
    // An empty pack expansion leaves no parameter and no comma.
    ['_ZN4node11SPrintFImplIPKcJEEENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEES2_OT_DpOT0_',
      'std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > node::SPrintFImpl<char const*>(char const*, char const*&&)'],
    ['_Z1fIJidEEvDpRKT_', 'void f<int, double>(int const&, double const&)'],
    ['_Z1fIJRiOdEEvDpOT_', 'void f<int&, double&&>(int&, double&&)'],
    ['_Z1fIJRiOdEEvDpRT_', 'void f<int&, double&&>(int&, double&)'],
    ['_Z1fIJPiEEvDpKT_', 'void f<int*>(int* const)'],
    ['_Z1fPFvPvE', 'f(void (*)(void*))'],
    ['_Z1fRFivE', 'f(int (&)())'],
    ['_Z1fOFivRE', 'f(int (&&)() &)'],
    ['_Z1fIPFvvEEvT_', 'void f<void (*)()>(void (*)())'],
    ['_ZNSt8functionIFviEEC2Ev', 'std::function<void (int)>::function()'],
    ['_ZN3FooILc97ELNS_1EE2EE1fEv', 'Foo<(char)97, (Foo::E)2>::f()'],
    ['_Z3fooIiLb1EEvv', 'void foo<int, true>()'],
    ['_ZN3FooIJEE1fEv', 'Foo<>::f()'],
    ['_ZN3FooIiED0Ev', 'Foo<int>::~Foo()'],
    ['_ZN3FooIiEC1ERKS0_', 'Foo<int>::Foo(Foo<int> const&)'],
    ['_ZN3FooC2IiEET_', 'Foo::Foo<int>(int)'],
    ['_ZN3FooplERKS_', 'Foo::operator+(Foo const&)'],
    ['_ZN3FoonwEm', 'Foo::operator new(unsigned long)'],
    ['_ZN12_GLOBAL__N_13FooEv', '(anonymous namespace)::Foo()'],
    ['_ZNVKO3Foo3barEv', 'Foo::bar() const volatile &&'],
    ['_ZNrR3Foo3barEv', 'Foo::bar() restrict &'],
    ['_ZNSt6vectorIiSaIiEE9push_backEOi', 'std::vector<int, std::allocator<int> >::push_back(int&&)'],
    ['_Z1fIiEvT_PKT_', 'void f<int>(int, int const*)'],
    ['_Z1fPKVrPc', 'f(char* restrict volatile const*)'],
    ['_ZN3Foo3barEv.cold.1', 'Foo::bar() (.cold.1)'],
    ['_Z1fIN3FooIiEEEvT_', 'void f<Foo<int> >(Foo<int>)'],
    ['_ZNSs4_Rep10_M_destroyERKSaIcE', 'std::string::_Rep::_M_destroy(std::allocator<char> const&)'],
    ['_Z1fDn', 'f(std::nullptr_t)'],
    ['_ZN2v88internal6FLAG_xE', 'v8::internal::FLAG_x'],
    ['_ZZ4mainENKUliE_clEi', "main::'lambda'(int)::operator()(int) const"],
    ['_ZZ4mainENKUlvE0_clEv', "main::'lambda0'()::operator()() const"],
    ['_ZZN3ada17url_search_params10initializeESt17basic_string_viewIcSt11char_traitsIcEEENKUlS4_E_clES4_',
      "ada::url_search_params::initialize(std::basic_string_view<char, std::char_traits<char> >)::'lambda'(std::basic_string_view<char, std::char_traits<char> >)::operator()(std::basic_string_view<char, std::char_traits<char> >) const"],
    ['_ZZ1fIiEvvE1x', 'void f<int>()::x'],
    ['_ZZ1fvEs', 'f()::string literal'],
    ['_ZZ1fvE1x_0', 'f()::x'],
    ['_ZZ1fvE1x__12_', 'f()::x'],
    ['_Z1fZ1gvE1S', 'f(g()::S)'],
    ['_ZN3FooUt_E', "Foo::'unnamed'"],
    ['_ZN3FooUt3_E', "Foo::'unnamed3'"],
    ['_ZNSt8ios_base7failureB5cxx11C1EPKc', 'std::ios_base::failure[abi:cxx11]::(char const*)'],
    ['_ZNK3ada3url10get_originB5cxx11Ev', 'ada::url::get_origin[abi:cxx11]() const'],
    ['_ZN1AB3fooC2Ev', 'A[abi:foo]::()'],
    ['_ZNSsB5cxx11C1Ev', 'std::string[abi:cxx11]::()'],
    ['_Z1fSsB3abc', 'f(std::string[abi:abc])'],
    ['_ZThn16_N4node9JSUDPWrapD0Ev', 'non-virtual thunk to node::JSUDPWrap::~JSUDPWrap()'],
    ['_ZTv0_n24_N3FooD1Ev', 'virtual thunk to Foo::~Foo()'],
    // References: only a reference directly over a reference collapses.
    ['_Z1fRRi', 'f(int&)'],
    ['_Z1fIRiEvRT_', 'void f<int&>(int&)'],
    ['_Z1fIOiEvOT_', 'void f<int&&>(int&&)'],
    ['_Z1fIJOiEEvDpRT_', 'void f<int&&>(int&)'],
    ['_Z1fPRi', 'f(int&*)'],
    ['_Z1fIRiEvKT_', 'void f<int&>(int& const)'],
    ['_Z1fIOiEvRKT_', 'void f<int&&>(int&& const&)'],
    ['_Z1fIJRiEEvDpKT_', 'void f<int&>(int& const)'],
    ['_Z1fIJRiEEvDpPT_', 'void f<int&>(int&*)'],
    ['_ZSt4moveIRiEONSt16remove_referenceIT_E4typeEOS2_', 'std::remove_reference<int&>::type&& std::move<int&>(int&)'],
    // A function's address and an entity as template arguments (their encodings have their own scope).
    ['_Z1fIXadL_ZN1A1gEiEEEvv', 'void f<&(A::g(int))>()'],
    ['_Z1fILZ1gvEEvv', 'void f<g()>()'],
    // Arrays, alone and under a pointer or reference; null-pointer literals; member pointers.
    ['_Z1fA3_i', 'f(int [3])'],
    ['_Z1fRA3_i', 'f(int (&) [3])'],
    ['_Z1fPA_i', 'f(int (*) [])'],
    ['_Z1fRA3_iS_', 'f(int (&) [3], int [3])'],
    ['_Z1fRA3_iS0_', 'f(int (&) [3], int (&) [3])'],
    ['_Z1fPFvRA3_iE', 'f(void (*)(int (&) [3]))'],
    ['_ZN4node11SPrintFImplIRA24_KcJEEENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEPS1_OT_DpOT0_',
      'std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > node::SPrintFImpl<char const (&) [24]>(char const*, char const (&) [24])'],
    ['_Z1fIA3_iEvRT_', 'void f<int [3]>(int (&) [3])'],
    // References over references to arrays collapse (& wins), as over any reference.
    ['_Z1fIRA3_iEvOT_', 'void f<int (&) [3]>(int (&) [3])'],
    ['_Z1fIOA3_iEvOT_', 'void f<int (&&) [3]>(int (&&) [3])'],
    ['_Z1fIOA3_iEvRT_', 'void f<int (&&) [3]>(int (&) [3])'],
    ['_Z1fIRA3_iEvRT_S1_', 'void f<int (&) [3]>(int (&) [3], int (&) [3])'],
    ['_Z1fIJRA3_iEEvDpOT_', 'void f<int (&) [3]>(int (&) [3])'],
    ['_Z1fIJRA3_iRA4_cEEvDpOT_', 'void f<int (&) [3], char (&) [4]>(int (&) [3], char (&) [4])'],
    ['_Z1fIJOA3_iEEvDpOT_', 'void f<int (&&) [3]>(int (&&) [3])'],
    ['_Z1fIJOA3_iEEvDpRT_', 'void f<int (&&) [3]>(int (&) [3])'],
    ['_Z1fIPvLPv0EEvv', 'void f<void*, (void*)0>()'],
    // A member of a dependent type as a template argument; the parameter is a substitution.
    ['_Z1fIiEN1AIXsrT_1xEE4typeEv', 'A<int::x>::type f<int>()'],
    ['_Z1fIN1C1BEEvN1AIXsrT_1xEEE', 'void f<C::B>(A<C::B::x>)'],
    ['_Z1fI1BEvN1AIXsrT_1xEEES2_', 'void f<B>(A<B::x>, B)'],
    ['_Z1fI1BEvN1AIXsrT_1xEEES1_', 'void f<B>(A<B::x>, A)'],
    ['_Z1fM1Ai', 'f(int A::*)'],
    ['_Z1fM1AiS0_', 'f(int A::*, int A::*)'],
    ['_Z1fM1AFivE', 'f(int (A::*)())'],
    ['_Z1fM1AFivRE', 'f(int (A::*)() &)'],
    ['_Z1fIM1AFvvEEvT_', 'void f<void (A::*)()>(void (A::*)())'],
  ])('%s', (mangled, want) => {
    expect(demangleFast(mangled)).toBe(want);
    expect(demangleTree(mangled)).toBe(want);
  });

  it.each([
    ['special names other than thunks', '_ZTV3Foo'],
    ['generic lambdas', '_ZZ4mainENKUlTyT_E_clIiEEDaS_'],
    ['default-argument scopes', '_ZZ1fvEd_1x'],
    ['constructors of an expanded special substitution', '_ZNSsC1Ev'],
    ['expressions', '_Z1fIiEDTplfp_fp_ET_'],
    ['other expressions as template arguments', '_ZN1AIiE1fIXgtLi1ELi2EEEEvv'],
    ['expansion of a parameter that is not a pack', '_Z1fIiEvDpT_'],
    ['a pack outside an expansion', '_Z1fIJiEEvPT_'],
    ['arrays of arrays', '_Z1fPA2_A3_i'],
    ['arrays of function pointers', '_Z1fRA3_PFvvE'],
    ['pointers to references to arrays', '_Z1fIRA3_iEvPT_'],
    ['expansions of references to arrays under a pointer or qualifier', '_Z1fIJRA3_iEEvDpPT_'],
    ['expansions of references to arrays under a qualifier', '_Z1fIJRA3_iEEvDpKT_'],
    ['array dimensions given by an expression', '_Z1fIiEvRAplT_Li1E_i'],
    ['pointers to const member functions', '_Z1fM1AKFvvE'],
    ['pointers to member pointers', '_Z1fPM1Ai'],
    ['dependent members with template arguments', '_Z1fI1BEvN1AIXsrT_1xIiEEEE'],
    ['dependent members of a parameter with template arguments', '_Z1fI1BEvN1AIXsrT_IiE1xEEE'],
    ['qualified function types', '_Z1fKFvvE'],
    ['pointers to a function-pointer-returning function', '_Z1fPFPFvvEvE'],
    ['a function type parameter under a pointer', '_Z1fIFvvEEvPT_'],
    ['a qualified function pointer', '_Z1fKPFvvE'],
    ['conversion operators', '_ZN3FoocviEv'],
    ['truncated input', '_ZN3Foo'],
    ['trailing garbage', '_Z1fv!'],
    ['substitutions out of range', '_Z1fS0_'],
    ['not a mangled name', 'main'],
  ])('leaves %s to the tree parser', (_what, mangled) => {
    expect(demangleFast(mangled)).toBeUndefined();
  });

  it('primes its rare branches with names of its subset', () => {
    // Each primer must take the fast path to the end, or its branches get no type feedback.
    for (const p of PRIMERS) {
      expect(demangleFast(p)).toBeDefined();
      expect(demangleFast(p)).toBe(demangleTree(p));
    }
  });

  it('gives up on output past the budget, as the tree parser does', () => {
    // Each parameter is B<previous, previous>: the text doubles with every one.
    let s = '_Z1f1A1BIS_S_E';
    for (let i = 1; i < 30; i++) s += `S0_IS${i.toString(36).toUpperCase()}_S${i.toString(36).toUpperCase()}_E`;
    expect(demangleFast(s)).toBeUndefined();
    const short = s.slice(0, 36); // A, B<A, A>, B<B<A, A>, B<A, A> >, ...: within the budget
    expect(demangleTree(short)).toBeDefined();
    expect(demangleFast(short)).toBe(demangleTree(short));
    expect(demangleItanium(s)).toBe(demangleTree(s));
    expect(demangleFast(`_Z1f${'P'.repeat(300)}i`)).toBeUndefined();
  });
});

describe('demangleFast on real symbol tables', () => {
  const ready = requireTool(NM, 'nm') && requireTool(READELF, 'readelf');
  const node = ready ? nodeBinary() : undefined;

  /** Every name the fast path answers is answered exactly as by the tree parser; most are answered. */
  function agree(names: readonly string[], minShare: number): void {
    let fast = 0;
    const diff: string[] = [];
    for (const n of names) {
      const f = demangleFast(n);
      if (f === undefined) continue;
      fast++;
      if (f !== demangleTree(n)) diff.push(n);
    }
    console.log(`fast path: ${fast}/${names.length} names`);
    expect(diff).toEqual([]);
    expect(fast / names.length).toBeGreaterThan(minShare);
  }

  it.runIf(ready && requireCiTool('a node binary with a .symtab', node !== undefined))('node .symtab: identical to the tree parser and to llvm-cxxfilt', () => {
    const names = symbolNames(node!, { prefix: '_Z' });
    expect(names.length).toBeGreaterThan(10_000);
    agree(names, 0.75);
    if (!requireTool(CXXFILT, 'llvm-cxxfilt')) return;
    // The demangler as a whole: what it demangles, it demangles as LLVM does.
    const theirs = llvmDemangle(names);
    const wrong = names.filter((n, i) => { const o = demangleItanium(n); return o !== undefined && o !== theirs[i]; });
    expect(wrong).toEqual([]);
  }, 60_000);

  it.runIf(ready && existsSync(LIBSTDCXX))('libstdc++ exports: identical to the tree parser', () => {
    agree(symbolNames(LIBSTDCXX, { dynamic: true, prefix: '_Z' }), 0.75);
  });
});
