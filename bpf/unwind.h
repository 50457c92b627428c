/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by the CFI unwinder (unwind.bpf.h) and the receiver
 * (receiver/internal/unwind), which builds the tables from .eh_frame. */
#ifndef __EBPF_OTEL_UNWIND_H
#define __EBPF_OTEL_UNWIND_H

/* Deepest user stack the unwinder records. */
#define UNWIND_MAX_FRAMES 128
/* Executable mappings per process (a power of two: binary search). */
#define UNWIND_MAX_MAPPINGS 256
/* Rows per file table: 2^24, so the row search takes at most 24 steps. */
#define UNWIND_SEARCH_STEPS 24

/* How the CFA is found (receiver/internal/unwind.CFAType). */
enum unwind_cfa {
	UNWIND_CFA_NONE = 0,    /* no CFI here: frame pointer */
	UNWIND_CFA_RSP,         /* rsp + cfa_off */
	UNWIND_CFA_RBP,         /* rbp + cfa_off */
	UNWIND_CFA_PLT,         /* rsp + cfa_off + ((rip & 15) >= rbp_off ? 8 : 0) */
	UNWIND_CFA_END,         /* return address undefined: outermost frame */
	UNWIND_CFA_SIGNAL,      /* signal trampoline: registers in the ucontext */
	UNWIND_CFA_UNSUPPORTED, /* a rule we do not evaluate */
};

enum unwind_rbp {
	UNWIND_RBP_SAME = 0,  /* caller's rbp is the current rbp */
	UNWIND_RBP_AT_CFA,    /* saved at cfa + rbp_off */
	UNWIND_RBP_UNDEFINED, /* not recoverable */
};

/* One row of a file's table, sorted by pc (an ELF virtual address). */
struct unwind_row {
	__u32 pc;
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa;
	__u8 rbp;
};

/* One executable mapping of a process: [start, end), pc - bias is the ELF
 * virtual address. table_id 0: no table (frame pointers). */
struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;
	__u32 table_id;
	__u32 rows;
};

/* A process's executable mappings sorted by start. */
struct unwind_proc {
	__u32 count;
	__u32 pad;
	struct unwind_mapping mappings[UNWIND_MAX_MAPPINGS];
};

/* A user stack as recorded: frames leaf first. */
struct unwind_stack {
	__u64 len;
	__u64 ips[UNWIND_MAX_FRAMES];
};

/* Why a walk ended; slots of the unwind_stats per-CPU array. */
enum unwind_stat {
	UNWIND_STAT_WALKS = 0,      /* stacks walked */
	UNWIND_STAT_COMPLETE,       /* reached a frame whose return address is undefined */
	UNWIND_STAT_FP_END,         /* frame-pointer chain ended (rbp 0) */
	UNWIND_STAT_NO_PROC,        /* process not registered yet: frame pointers used */
	UNWIND_STAT_NO_MAPPING,     /* pc outside every known mapping: frame pointer used */
	UNWIND_STAT_NO_TABLE,       /* table evicted or not loaded: frame pointer used */
	UNWIND_STAT_BAD_RULE,       /* unsupported CFA or register rule */
	UNWIND_STAT_READ_FAULT,     /* reading the user stack failed */
	UNWIND_STAT_DEPTH,          /* UNWIND_MAX_FRAMES reached */
	UNWIND_STAT_NO_REGS,        /* no user registers (kernel thread) */
	UNWIND_STAT_STORE_FULL,     /* user stack map full: stack dropped */
	UNWIND_STAT_MAX,
};

#endif /* __EBPF_OTEL_UNWIND_H */
