// Shared by the native readers (each .c file is its own WebAssembly module): fixed-size types,
// the result block a call leaves for its caller, and where the caller's allocations may start.
#ifndef NATIVE_COMMON_H
#define NATIVE_COMMON_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;

// Results a call leaves for the caller to read (at result_ptr()).
struct result {
  i32 n0, n1, n2, n3;  // counts of the outputs, per function
  i32 pos;             // where reading stopped
};
struct result result;

__attribute__((export_name("result_ptr")))
struct result *result_ptr(void) { return &result; }

// Where the caller's allocations may start (set by the linker after the stack and data).
extern u8 __heap_base;
__attribute__((export_name("heap_base")))
u32 heap_base(void) { return (u32)(unsigned long)&__heap_base; }

#endif
