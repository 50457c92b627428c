/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by syscalls.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_SYSCALLS_H
#define __EBPF_OTEL_SYSCALLS_H

#include "bits.bpf.h"

/* One program image and syscall number. The image is named as in
 * cpu_key: a process start (start_boottime, ns) tells a reused pid apart,
 * self_exec_id an exec in the same pid. */
struct sys_key {
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u32 nr;
};

/* Native syscall numbers (x86_64) below SYS_HIST_NRS have a latency
 * histogram of their own; every other number (x32, out of range) shares
 * slot SYS_HIST_OTHER. x86_64 defines no number in [SYS_HIST_GAP_LO,
 * SYS_HIST_GAP_HI) (337-423: the numbers after uprobe were left to the
 * other architectures' catch-up), so those go to SYS_HIST_OTHER too and
 * the numbers above the gap move down by its width: 426 entries instead
 * of 513 in arrays held once per CPU. */
#define SYS_HIST_NRS 512
#define SYS_HIST_GAP_LO 337
#define SYS_HIST_GAP_HI 424
#define SYS_HIST_OTHER (SYS_HIST_NRS - (SYS_HIST_GAP_HI - SYS_HIST_GAP_LO))

/* sys_hist_index is syscall nr's entry in the latency arrays. */
static __always_inline __u32 sys_hist_index(__u32 nr)
{
	if (nr < SYS_HIST_GAP_LO)
		return nr;
	if (nr < SYS_HIST_GAP_HI || nr >= SYS_HIST_NRS)
		return SYS_HIST_OTHER;
	return nr - (SYS_HIST_GAP_HI - SYS_HIST_GAP_LO);
}

/* Latency in nanoseconds of the calls of one syscall on one CPU, as a log2
 * histogram (see bits.bpf.h for the exact bucket bounds). Calls of up to
 * 2^(SYS_HIST_SLOTS-1) ns (~1.07 s) are counted here, per CPU; longer ones
 * in slots of sys_hist_long, shared by the CPUs: this array is allocated
 * once per possible CPU, and its entry size is what a large node pays
 * (136 bytes here; 528 with 64 u64 slots). The calls are zero plus the
 * slots of both: user space adds them up. Per syscall, not per process:
 * the histograms are exported over the whole machine only
 * (receiver/internal/probe/syscalls, emitDurations).
 *
 * Counters are u32: a generation is drained every collection_interval,
 * and a CPU would need more than 2^32 calls of one syscall in one bucket
 * before that (7 minutes of a tight loop at 10^7 calls a second). A
 * counter that reaches the top stops there and the call is counted in
 * SYS_STAT_HIST_SATURATED instead, never wrapped. */
#define SYS_HIST_SLOTS 31
#define SYS_HIST_LONG_SLOTS (LOG2_SLOTS - SYS_HIST_SLOTS)

struct sys_hist {
	__u64 sum_ns;
	__u32 zero;
	__u32 slots[SYS_HIST_SLOTS];
};

/* Log2 slots SYS_HIST_SLOTS..LOG2_SLOTS-1 (calls longer than ~1.07 s) of
 * one syscall, over all CPUs: atomic adds, rare (at most one a second per
 * thread). u64: every thread of the machine may end one each second. */
struct sys_hist_long {
	__u64 slots[SYS_HIST_LONG_SLOTS];
};

/* One slot of a CPU's cache of calls: the calls of key on this CPU not yet
 * added to the counts hash (calls 0: the slot is empty), and errs of them
 * that failed with errno err, not yet added to the errors hash. */
struct sys_slot {
	struct sys_key key;
	__u64 calls;
	__u32 err;
	__u32 errs;
};

/* Slots in each CPU's cache of calls (a power of two). */
#define SYS_CACHE_SLOTS 256

/* Failed calls of one process and syscall, by errno. */
struct sys_err_key {
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u32 nr;
	__u32 err;
	__u32 pad;
};

enum sys_stat {
	SYS_STAT_COUNTS_FULL = 0, /* counts map full: call lost */
	SYS_STAT_ERRORS_FULL,     /* errors map full: error lost */
	SYS_STAT_NO_STORAGE,      /* task storage not available: a sampled latency lost */
	SYS_STAT_HIST_SATURATED,  /* a histogram counter was full: latency lost */
	SYS_STAT_MAX,
};

#endif /* __EBPF_OTEL_SYSCALLS_H */
