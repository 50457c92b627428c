/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by offcpu.bpf.c and the Go side. */
#ifndef __EBPF_OTEL_OFFCPU_H
#define __EBPF_OTEL_OFFCPU_H

#define TASK_COMM_LEN 16
#define MAX_STACK_DEPTH 127
/* Stack id of a block whose stacks were recorded before the stack map was
 * last cleared: its time is counted, its stacks are unknown. */
#define STACK_EXPIRED -2

struct offcpu_key {
	/* The program image, as in cpu_key: a process start (start_boottime,
	 * ns) tells a reused pid apart, self_exec_id an exec in the same pid. */
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u32 tid;
	__s32 user_stack_id;
	__s32 kern_stack_id;
	char comm[TASK_COMM_LEN];
	/* With the CFI unwinder: the user stack's key in ustacks (0: none). */
	__u64 user_hash;
	/* A kernel stack taken at switch-in: its key in kstacks (0: none;
	 * kern_stack_id holds a switch-out stack instead). */
	__u64 kern_hash;
};

/* What a task carries while it is off the CPU. */
struct offcpu_start {
	__u64 ts;       /* switch-out time; 0: not blocked */
	__s32 user_stack_id;
	__s32 kern_stack_id;
	__u32 epoch;
	__u32 await;    /* blocked in a syscall's body: user stack not walked yet */
	__u64 user_hash;
	__u64 pending;  /* a long block's time, counted at sys_exit with its user stack */
	__u64 kern_hash;
};

enum offcpu_stat {
	OFFCPU_STAT_BLOCKS = 0,     /* blocks counted */
	OFFCPU_STAT_SHORT,          /* shorter than min_block_ns */
	OFFCPU_STAT_COUNTS_FULL,    /* counts map full: block lost */
	OFFCPU_STAT_START_FULL,     /* no room to remember a switch-out */
	OFFCPU_STAT_STACK_EXPIRED,  /* stacks cleared while blocked */
	OFFCPU_STAT_USER_COLLISION,
	OFFCPU_STAT_KERN_COLLISION,
	OFFCPU_STAT_STACK_ERR,
	OFFCPU_STAT_DEFERRED,       /* long blocks whose user stack was walked after switch-in */
	OFFCPU_STAT_USER_REUSED,    /* user stacks found by the task's last walk, not walked again */
	OFFCPU_STAT_USER_AT_OUT,    /* user stacks walked at switch-out: blocked outside a syscall body */
	OFFCPU_STAT_SAMPLED_OUT,    /* long blocks shorter than sample_period_ns not drawn */
	OFFCPU_STAT_MAX,
};

#endif /* __EBPF_OTEL_OFFCPU_H */
