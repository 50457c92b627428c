// The symbol index's build (../elf/symbols.ts: SymbolIndex), built to WebAssembly by
// scripts/gen-wasm.sh: filter a .symtab/.dynsym, order it by address (stable), keep one symbol
// per address. The TypeScript twin runs when this module cannot load; results are identical
// (tests compare both). Freestanding, no allocator: the caller passes every buffer. The table
// comes from a file we do not trust: only whole entries inside [tab, tab + len) are read.

#include "common.h"

#define STT_NOTYPE 0
#define STT_OBJECT 1
#define STT_FUNC 2
#define STT_FILE 4
#define STT_GNU_IFUNC 10
#define STB_LOCAL 0
#define SHN_UNDEF 0
#define SHN_LORESERVE 0xff00

static u32 w32(const u8 *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((u32)p[3] << 24); }

// An address as the TypeScript computes it (hi * 2^32 + lo in doubles), and the bits of that
// double: for non-negative doubles, ordering the bits as integers orders the values.
static double value_of(u32 lo, u32 hi) { return (double)hi * 4294967296.0 + (double)lo; }
static u64 bits_of(double d) { u64 b; __builtin_memcpy(&b, &d, 8); return b; }

// Builds the index of the `len`-byte table at `tab` (64-bit entries when is64). Scratch: `key`
// (u64, n entries), `idx` and `idx2` (u32, n each), `count` (u32, 65536);
// `addr`, `size`, `name` (per filtered symbol), `file`, `rank`: n each. Outputs, in
// address order with one entry per address: out_addr, out_size (double), out_name (u32),
// out_file (i32, -1 or the number of the STT_FILE symbol before it). file_names gets the
// name offsets of the STT_FILE symbols in table order (n1 of them). result.n0 = count.
__attribute__((export_name("symbol_index")))
i32 symbol_index(const u8 *tab, u32 len, i32 is64,
                 u64 *key, u32 *idx, u32 *idx2, u32 *count,
                 double *addr, double *size, u32 *name, i32 *file, u8 *rank,
                 double *out_addr, double *out_size, u32 *out_name, i32 *out_file, u32 *file_names) {
  const u32 entsize = is64 ? 24 : 16;
  const u32 n = len / entsize;
  u32 m = 0, nfiles = 0;
  i32 cur_file = -1;
  for (u32 i = 1; i < n; i++) {
    const u8 *e = tab + i * entsize;
    u32 name_off = w32(e), info, shndx;
    double value, sz;
    if (is64) {
      u32 x = w32(e + 4);
      info = x & 0xff;
      shndx = x >> 16;
      value = value_of(w32(e + 8), w32(e + 12));
      sz = value_of(w32(e + 16), w32(e + 20));
    } else {
      value = w32(e + 4);
      sz = w32(e + 8);
      u32 x = w32(e + 12);
      info = x & 0xff;
      shndx = x >> 16;
    }
    u32 type = info & 0xf, bind = info >> 4;
    if (type == STT_FILE) {
      file_names[nfiles] = name_off;
      cur_file = (i32)nfiles++;
      continue;
    }
    if (shndx == SHN_UNDEF || shndx >= SHN_LORESERVE) continue;
    if (type != STT_NOTYPE && type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC) continue;
    addr[m] = value;
    size[m] = sz;
    name[m] = name_off;
    file[m] = bind == STB_LOCAL ? cur_file : -1;
    rank[m] = type == STT_FUNC || type == STT_GNU_IFUNC ? 1 : 0;
    m++;
  }
  // Stable least-significant-digit radix sort of 0..m-1 by the address bits, 16 bits a pass;
  // passes whose digit is the same for every key are skipped.
  u64 all_or = 0, all_and = ~0ull;
  for (u32 i = 0; i < m; i++) {
    key[i] = bits_of(addr[i]);
    idx[i] = i;
    all_or |= key[i];
    all_and &= key[i];
  }
  u32 *src = idx, *dst = idx2;
  for (u32 shift = 0; shift < 64; shift += 16) {
    if ((((all_or ^ all_and) >> shift) & 0xffff) == 0) continue;
    for (u32 d = 0; d < 65536; d++) count[d] = 0;
    for (u32 j = 0; j < m; j++) count[(key[src[j]] >> shift) & 0xffff]++;
    for (u32 d = 0, s = 0; d < 65536; d++) { u32 c = count[d]; count[d] = s; s += c; }
    for (u32 j = 0; j < m; j++) { u32 i = src[j]; dst[count[(key[i] >> shift) & 0xffff]++] = i; }
    u32 *t = src; src = dst; dst = t;
  }
  // One symbol per address: largest size, then FUNC over data/untyped, then the later entry.
  u32 k = 0;
  for (u32 j = 0; j < m;) {
    u32 best = src[j];
    double a = addr[best];
    u32 g = j + 1;
    for (; g < m && addr[src[g]] == a; g++) {
      u32 i = src[g];
      if (size[i] > size[best] || (size[i] == size[best] && rank[i] >= rank[best])) best = i;
    }
    j = g;
    out_addr[k] = a;
    out_size[k] = size[best];
    out_name[k] = name[best];
    out_file[k] = file[best];
    k++;
  }
  result.n0 = (i32)k;
  result.n1 = (i32)nfiles;
  return 0;
}
