// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* On-CPU profiler: a perf_event program on a software cpu-clock event per CPU.
 * Stacks are counted in the kernel, keyed by process, thread and the two
 * stacks, so user space reads one entry per distinct stack per interval no
 * matter how many samples arrive.
 *
 * Two generations of (counts, stacks) maps let user space drain one while the
 * program writes the other: it flips `generation` in the ctl array, waits for
 * in-flight programs to finish, reads and clears the old generation. No
 * sample that arrives during a drain is lost. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "cpu.h"
#include "maps.bpf.h"
#include "gen.bpf.h"
#include "filter.bpf.h"
#include "unwind.bpf.h"

const volatile bool include_idle = false;
const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
/* Walk user stacks with the CFI unwinder (unwind.bpf.h) instead of the
 * kernel's frame-pointer walker. */
const volatile bool cfi_unwind = false;

/* Sizes are set by the loader from the receiver config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 1);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");

/* User stacks walked by the CFI unwinder, keyed by their hash. A stack
 * map (bpf_get_stackid) cannot take frames we walked ourselves. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct unwind_stack);
	__uint(max_entries, 1);
} ustacks0 SEC(".maps"), ustacks1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct cpu_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} counts0 SEC(".maps"), counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, CPU_STAT_MAX);
} stats SEC(".maps");

static __always_inline __s32 stack_id(void *ctx, void *stackmap, __u64 flags,
				       __u32 collision_stat, __u32 err_stat)
{
	long id = bpf_get_stackid(ctx, stackmap, flags);

	/* -EFAULT means there is no stack of that kind here (a sample taken in
	 * user mode has no kernel stack): not an error worth counting. */
	if (id < 0 && id != -EFAULT)
		stat_inc(&stats, id == -EEXIST ? collision_stat : err_stat);
	return id;
}

SEC("perf_event")
int cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct cpu_key key = {};
	void *stackmap, *counts, *ustacks;
	__u64 zero = 0, *cnt;
	__u32 gen;
	struct task_struct *task;

	if (!include_idle && tid == 0)
		return 0;
	if (!target_wanted(pid)) {
		stat_inc(&stats, CPU_STAT_FILTERED);
		return 0;
	}

	gen = generation();
	stackmap = GEN_MAP(gen, stacks);
	counts = GEN_MAP(gen, counts);
	ustacks = GEN_MAP(gen, ustacks);

	task = (struct task_struct *)bpf_get_current_task();
	key.pid = pid;
	key.tid = tid;
	if (pid != 0) {
		key.start_time = BPF_CORE_READ(task, group_leader, start_boottime);
		key.exec_id = BPF_CORE_READ(task, self_exec_id);
	}
	key.user_stack_id = -1;
	key.kern_stack_id = -1;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	/* Kernel threads have no user stack; asking would only count errors. */
	if (user_stacks && pid != 0) {
		if (cfi_unwind)
			key.user_hash = unwind_store(ustacks, pid);
		else if (BPF_CORE_READ(task, mm))
			key.user_stack_id = stack_id(ctx, stackmap, BPF_F_USER_STACK,
						     CPU_STAT_USER_COLLISION,
						     CPU_STAT_USER_STACK_ERR);
	}
	if (kernel_stacks)
		key.kern_stack_id = stack_id(ctx, stackmap, 0, CPU_STAT_KERN_COLLISION,
					     CPU_STAT_KERN_STACK_ERR);

	cnt = lookup_or_init(counts, &key, &zero, &stats, CPU_STAT_COUNTS_FULL);
	if (!cnt)
		return 0;
	__sync_fetch_and_add(cnt, 1);
	stat_inc(&stats, CPU_STAT_SAMPLES);
	return 0;
}

/* Referenced so the enum lands in BTF and bpf2go generates its Go constants. */
const enum cpu_stat *unused_cpu_stat __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
