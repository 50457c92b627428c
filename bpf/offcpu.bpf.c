// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Off-CPU profiler on sched_switch. When a task is switched out blocked, its
 * stacks and the time are remembered in the task's local storage (tp_btf) or
 * a per-thread hash (raw tracepoint fallback). When it runs again, the time
 * it was blocked is added in the kernel to counts keyed by process, thread
 * and stacks.
 *
 * Counts use two generations as in cpu.bpf.c. Stacks cannot: a task may stay
 * blocked across many drains and its stack id must stay valid. So there is
 * one stack map, cleared by user space only when it fills up; each clear
 * bumps an epoch, and a block remembered under an older epoch is counted
 * with STACK_EXPIRED instead of a stack id that may now mean another stack. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "offcpu.h"
#include "maps.bpf.h"
/* ctl[CTL_GENERATION]: counts generation; ctl[CTL_EPOCH]: stack epoch. */
#define CTL_SLOTS 2
#define CTL_EPOCH 1
#include "gen.bpf.h"
#include "filter.bpf.h"
#include "core_fixes.bpf.h"
#include "unwind.bpf.h"


const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
const volatile __u64 min_block_ns = 1000;
/* Walk user stacks with the CFI unwinder (unwind.bpf.h). */
const volatile bool cfi_unwind = false;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 1);
} stacks SEC(".maps");

/* User stacks walked by the CFI unwinder, keyed by hash; cleared with
 * stacks (same epoch). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct unwind_stack);
	__uint(max_entries, 1);
} ustacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct offcpu_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} counts0 SEC(".maps"), counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, OFFCPU_STAT_MAX);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct offcpu_start);
} start_storage SEC(".maps");

/* Fallback when tp_btf is unavailable; sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct offcpu_start);
	__uint(max_entries, 1);
} start_hash SEC(".maps");

static __always_inline __s32 stack_id(void *ctx, __u64 flags, __u32 collision_stat)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);

	if (id < 0 && id != -EFAULT)
		stat_inc(&stats, id == -EEXIST ? collision_stat : OFFCPU_STAT_STACK_ERR);
	return id;
}

/* wanted applies the target filters to the task being switched out, which is
 * still the current task when sched_switch fires. */
static __always_inline bool wanted(__u32 tgid)
{
	return tgid != 0 && target_wanted(tgid);
}

static __always_inline void record_out(void *ctx, struct offcpu_start *s)
{
	s->ts = bpf_ktime_get_ns();
	s->epoch = ctl_get(CTL_EPOCH);
	s->user_stack_id = -1;
	s->kern_stack_id = -1;
	s->user_hash = 0;
	if (user_stacks && cfi_unwind)
		s->user_hash = unwind_store(&ustacks, bpf_get_current_pid_tgid() >> 32);
	else if (user_stacks)
		s->user_stack_id = stack_id(ctx, BPF_F_USER_STACK, OFFCPU_STAT_USER_COLLISION);
	if (kernel_stacks)
		/* The whole stack, tracing frames included: how many frames the
		 * tracing machinery adds above __schedule depends on what else is
		 * attached to sched_switch (one callback is called directly, more
		 * go through __traceiter_sched_switch), so no fixed skip is right.
		 * User space trims up to __schedule, found in kallsyms; that costs
		 * nothing here and once per distinct stack there. */
		s->kern_stack_id = stack_id(ctx, 0, OFFCPU_STAT_KERN_COLLISION);
}

static __always_inline void record_in(struct task_struct *next, struct offcpu_start *s)
{
	struct offcpu_key key = {};
	__u64 delta, zero = 0, *total;
	void *counts;

	if (!s->ts)
		return;
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	if (delta < min_block_ns) {
		stat_inc(&stats, OFFCPU_STAT_SHORT);
		return;
	}
	key.pid = BPF_CORE_READ(next, tgid);
	key.tid = BPF_CORE_READ(next, pid);
	/* A task blocks and wakes in one image (exec needs it running), so
	 * the image at switch-in is the one it blocked in. */
	key.start_time = BPF_CORE_READ(next, group_leader, start_boottime);
	key.exec_id = BPF_CORE_READ(next, self_exec_id);
	key.user_stack_id = s->user_stack_id;
	key.kern_stack_id = s->kern_stack_id;
	key.user_hash = s->user_hash;
	if (s->epoch != ctl_get(CTL_EPOCH)) {
		key.user_stack_id = STACK_EXPIRED;
		key.kern_stack_id = STACK_EXPIRED;
		key.user_hash = 0;
		stat_inc(&stats, OFFCPU_STAT_STACK_EXPIRED);
	}
	BPF_CORE_READ_STR_INTO(&key.comm, next, comm);

	counts = GEN_MAP(generation(), counts);
	total = lookup_or_init(counts, &key, &zero, &stats, OFFCPU_STAT_COUNTS_FULL);
	if (!total)
		return;
	__sync_fetch_and_add(total, delta);
	stat_inc(&stats, OFFCPU_STAT_BLOCKS);
}

/* blocked: a task switched out while not runnable is waiting for something;
 * a preempted (still runnable) task is run-queue latency, not off-CPU time. */
static __always_inline bool blocked(struct task_struct *prev)
{
	return get_task_state(prev) != 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct offcpu_start *s;

	if (blocked(prev) && wanted(BPF_CORE_READ(prev, tgid))) {
		s = bpf_task_storage_get(&start_storage, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (s)
			record_out(ctx, s);
		else
			stat_inc(&stats, OFFCPU_STAT_START_FULL);
	}
	s = bpf_task_storage_get(&start_storage, next, 0, 0);
	if (s)
		record_in(next, s);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct offcpu_start *s, zero = {};
	__u32 tid;

	if (blocked(prev) && wanted(BPF_CORE_READ(prev, tgid))) {
		tid = BPF_CORE_READ(prev, pid);
		if (bpf_map_update_elem(&start_hash, &tid, &zero, BPF_ANY)) {
			stat_inc(&stats, OFFCPU_STAT_START_FULL);
		} else {
			s = bpf_map_lookup_elem(&start_hash, &tid);
			if (s)
				record_out(ctx, s);
		}
	}
	tid = BPF_CORE_READ(next, pid);
	s = bpf_map_lookup_elem(&start_hash, &tid);
	if (s) {
		record_in(next, s);
		bpf_map_delete_elem(&start_hash, &tid);
	}
	return 0;
}

const enum offcpu_stat *unused_offcpu_stat __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
