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

/* A process's executable mappings sorted by start. serial: the receiver
 * gives every entry it writes a new one (never 0), so an unchanged serial
 * means unchanged mappings and table ids (unwind_memo). */
struct unwind_proc {
	__u32 count;
	__u32 serial;
	struct unwind_mapping mappings[UNWIND_MAX_MAPPINGS];
};

/* A user stack as recorded: frames leaf first. */
struct unwind_stack {
	__u64 len;
	__u64 ips[UNWIND_MAX_FRAMES];
};

/* Reads a walk may depend on and still be remembered (unwind_memo). */
#define UNWIND_MEMO_READS 32

/* unwind_memo: one task's last walk, what it read and what it found, so
 * that a walk that would read the same can be skipped. A walk is a
 * function of the user registers it starts from, the process's entry in
 * unwind_procs (its serial), the tables that entry names (fixed while the
 * entry is: a table id is not reused before the entries naming it are
 * rewritten) and the user memory it reads; so when all of them are equal
 * the walk would find the same frames. Same registers alone would not do:
 * the same function called from two places can block with the same ip,
 * sp and bp. Walks that asked the receiver for something (no process, no
 * mapping, no table) or met a read fault are not remembered, so their
 * retries and requests happen as before. */
struct unwind_memo {
	__u64 ip, sp, bp;
	__u64 hash;       /* the stack's key */
	__u32 pid;
	__u32 serial;     /* of the process entry the walk used */
	__u32 valid;
	__u32 n;          /* reads */
	__u64 addr[UNWIND_MEMO_READS];
	__u64 val[UNWIND_MEMO_READS][2];
	__u8 words[UNWIND_MEMO_READS]; /* 1 or 2 (val[i][1]) */
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
