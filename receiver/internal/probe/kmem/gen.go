// Package kmem is the kernel memory probe set: the kmem:mm_page_alloc and
// kmem:kmalloc tracepoints count pages and bytes the kernel allocates per
// process, in the kernel; Collect turns them into cumulative metrics.
package kmem

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type kmem_key -type kmem_val -type kmem_stat kmem ../../../../bpf/kmem.bpf.c -- -I../../../../bpf
