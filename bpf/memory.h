/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by memory.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_MEMORY_H
#define __EBPF_OTEL_MEMORY_H

#define MEM_COMM_LEN 16
/* Deepest user stack bpf_get_stackid records. */
#define MEM_MAX_STACK_DEPTH 127

/* Sampled allocations counted per program image, thread and user stack. */
struct alloc_key {
	/* The program image, as in cpu_key: a process start (start_boottime,
	 * ns) tells a reused pid apart, self_exec_id an exec in the same pid. */
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u32 tid;
	__s32 stack_id; /* -1 when the stack could not be read */
	char comm[MEM_COMM_LEN];
	/* With the CFI unwinder: the user stack's key in ustacks (0: none);
	 * stack_id is then -1. */
	__u64 user_hash;
};

struct alloc_val {
	__u64 samples;      /* sampled allocations (raw) */
	__u64 bytes;        /* their sizes (raw) */
	__u64 count_q16;    /* estimated allocations, 16.16 fixed point */
	__u64 space;        /* estimated bytes */
};

/* A live sampled allocation, keyed by process and address. */
struct live_key {
	__u32 pid;
	__u32 pad;
	__u64 addr;
};

struct live_val {
	__u64 start_time; /* the allocating image, as in alloc_key */
	__u64 exec_id;
	__u64 size;
	__u64 weight_q16;   /* allocations this sample stands for, 16.16 */
	__u32 tid;
	__s32 stack_id;
	char comm[MEM_COMM_LEN];
	__u64 user_hash;
};

/* Which function an entry probe saw; the return probe acts on it. */
enum alloc_kind {
	ALLOC_NONE = 0,   /* not an allocation (a file mmap) */
	ALLOC_PLAIN,      /* malloc, calloc, memalign, ...: the result is the block */
	ALLOC_REALLOC,    /* realloc, reallocarray: also frees the old block */
	ALLOC_MEMPTR,     /* posix_memalign: the block is written to *memptr */
	ALLOC_MMAP,       /* anonymous mmap */
};

/* Attach cookies of the session program: which function it was put on. */
enum alloc_fn {
	FN_MALLOC = 1,
	FN_CALLOC,
	FN_REALLOC,
	FN_REALLOCARRAY,
	FN_POSIX_MEMALIGN,
	FN_MEMALIGN,      /* memalign, aligned_alloc: (alignment, size) */
	FN_VALLOC,        /* valloc, pvalloc: (size) */
	FN_MMAP,
};

enum mem_stat {
	MEM_STAT_CALLS = 0,     /* allocation calls seen (outermost) */
	MEM_STAT_SAMPLED,       /* allocations sampled and counted */
	MEM_STAT_NESTED,        /* calls inside another allocator call, ignored */
	MEM_STAT_NO_STATE,      /* per-thread state not available */
	MEM_STAT_ALLOCS_FULL,   /* counts map full: sample lost */
	MEM_STAT_LIVE_FULL,     /* live map full: not tracked for in-use */
	MEM_STAT_STACK_COLLISION, /* user stack hash collision (-EEXIST) */
	MEM_STAT_STACK_ERR,     /* user stack not read */
	MEM_STAT_FREED,         /* frees that removed a live sampled block */
	MEM_STAT_FAILED,        /* allocations that returned no memory */
	MEM_STAT_MAX,
};

#endif /* __EBPF_OTEL_MEMORY_H */
