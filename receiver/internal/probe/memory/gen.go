// Package memory is the allocation profiler probe set: uprobes and
// uretprobes on an allocator's entry points (libc's malloc family and mmap
// by default, or jemalloc, tcmalloc, ... by path and symbol names), sampled
// by bytes as tcmalloc samples, counted in the kernel per process, thread
// and user stack, with live sampled blocks tracked by address for in-use
// profiles.
package memory

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target amd64 -type alloc_key -type alloc_val -type live_key -type live_val -type mem_stat -type alloc_fn memory ../../../../bpf/memory.bpf.c -- -I../../../../bpf
