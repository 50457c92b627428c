/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by kmem.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_KMEM_H
#define __EBPF_OTEL_KMEM_H

/* One program image, as in cpu_key: a process start (start_boottime, ns)
 * tells a reused pid apart, self_exec_id an exec in the same pid. */
struct kmem_key {
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u32 pad;
};

/* Kernel memory allocated on behalf of one program image, since the
 * probes were attached. */
struct kmem_val {
	__u64 page_allocs;    /* mm_page_alloc events */
	__u64 page_bytes;     /* PAGE_SIZE << order per event */
	__u64 kmalloc_calls;  /* kmalloc events */
	__u64 kmalloc_bytes;  /* bytes_alloc per event */
};

enum kmem_stat {
	KMEM_STAT_PAGE_EVENTS = 0, /* page allocations counted */
	KMEM_STAT_KMALLOC_EVENTS,  /* kmallocs counted */
	KMEM_STAT_FULL,            /* counts map full: event lost */
	KMEM_STAT_MAX,
};

#endif /* __EBPF_OTEL_KMEM_H */
