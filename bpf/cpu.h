/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by cpu.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_CPU_H
#define __EBPF_OTEL_CPU_H

#define TASK_COMM_LEN 16
/* Deepest stack bpf_get_stackid records (the kernel's default sysctl
 * kernel.perf_event_max_stack is 127). */
#define MAX_STACK_DEPTH 127

struct cpu_key {
	/* The program image: a process start (start_boottime, ns) tells a
	 * reused pid apart, self_exec_id an exec in the same pid. */
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;  /* thread group id: the process */
	__u32 tid;  /* thread id */
	__s32 user_stack_id;
	__s32 kern_stack_id;
	char comm[TASK_COMM_LEN]; /* the thread's name */
	/* With the CFI unwinder: the user stack's key in ustacks0/1 (0: none);
	 * user_stack_id is then -1. */
	__u64 user_hash;
};

/* Slots of the per-CPU stats array; the receiver reports them as its own
 * health metrics, so nothing is dropped silently. */
enum cpu_stat {
	CPU_STAT_SAMPLES = 0,        /* samples counted */
	CPU_STAT_FILTERED,           /* samples outside the target filters */
	CPU_STAT_COUNTS_FULL,        /* counts map full: sample lost */
	CPU_STAT_USER_COLLISION,     /* user stack hash collision (-EEXIST) */
	CPU_STAT_KERN_COLLISION,     /* kernel stack hash collision (-EEXIST) */
	CPU_STAT_USER_STACK_ERR,     /* user stack not read (other errors) */
	CPU_STAT_KERN_STACK_ERR,     /* kernel stack not read (other errors) */
	CPU_STAT_MAX,
};

#endif /* __EBPF_OTEL_CPU_H */
