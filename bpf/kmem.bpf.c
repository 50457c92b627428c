// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel memory by process: the kmem:mm_page_alloc and kmem:kmalloc
 * tracepoints add pages, page bytes and kmalloc bytes to cumulative counts
 * per thread group in the kernel. Counts only grow, with atomic adds, so
 * user space reads them without draining (nothing is lost to a race) and
 * deletes the entries of processes that exited.
 *
 * Attribution is to the current task: allocations made in interrupt
 * context or by kernel threads on a process's behalf (writeback, softirq
 * networking) go to whichever task runs, or to the kernel thread; pid 0 is
 * the idle task's interrupts. The target filters (filter.bpf.h) apply to
 * the same task, so a filtered process is counted exactly as it would be
 * attributed without filters. Field offsets come from BTF (CO-RE), so the
 * tracepoints' layout changes across kernels are absorbed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kmem.h"
#include "maps.bpf.h"
#include "filter.bpf.h"

/* Set by the loader from the system's page size. */
const volatile __u32 page_shift = 12;

/* Size is set by the loader from the config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct kmem_key);
	__type(value, struct kmem_val);
	__uint(max_entries, 1);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, KMEM_STAT_MAX);
} stats SEC(".maps");

/* counts_of_current is the current process's counts, NULL when the target
 * filters leave it out (or the map is full). */
static __always_inline struct kmem_val *counts_of_current(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct kmem_key key = { .pid = bpf_get_current_pid_tgid() >> 32 };
	struct kmem_val zero = {};

	if (!target_wanted(key.pid))
		return NULL;
	/* The idle task (pid 0) has no image worth naming. */
	if (key.pid) {
		key.start_time = BPF_CORE_READ(task, group_leader, start_boottime);
		key.exec_id = BPF_CORE_READ(task, self_exec_id);
	}
	return lookup_or_init(&counts, &key, &zero, &stats, KMEM_STAT_FULL);
}

SEC("tracepoint/kmem/mm_page_alloc")
int mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	unsigned int order = BPF_CORE_READ(ctx, order);
	struct kmem_val *v;

	/* pfn is -1 when the allocation failed. */
	if ((long)BPF_CORE_READ(ctx, pfn) == -1L)
		return 0;
	v = counts_of_current();
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->page_allocs, 1);
	__sync_fetch_and_add(&v->page_bytes, (1ULL << page_shift) << (order & 31));
	stat_inc(&stats, KMEM_STAT_PAGE_EVENTS);
	return 0;
}

SEC("tracepoint/kmem/kmalloc")
int kmalloc(struct trace_event_raw_kmalloc *ctx)
{
	__u64 bytes = BPF_CORE_READ(ctx, bytes_alloc);
	struct kmem_val *v;

	if (!BPF_CORE_READ(ctx, ptr))
		return 0;
	v = counts_of_current();
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->kmalloc_calls, 1);
	__sync_fetch_and_add(&v->kmalloc_bytes, bytes);
	stat_inc(&stats, KMEM_STAT_KMALLOC_EVENTS);
	return 0;
}

/* Referenced so the enum lands in BTF and bpf2go generates Go constants. */
const enum kmem_stat *unused_kmem_stat __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
