// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process events: exec, fork (processes, not threads) and exit of the last
 * thread, written to a ring buffer so the receiver learns about a process
 * when it starts, reads its mappings while it still exists, and knows when
 * it ended. A full ring buffer loses the event and counts it; the receiver
 * then falls back to reading the process on its first sample.
 *
 * BTF-typed tracepoints (tp_btf) give the task pointers directly; CO-RE
 * needs kernel BTF anyway, so there is no raw-tracepoint fallback.
 *
 * Only an exec wakes the reader: it must read the new process before it
 * exits. Waking it costs about as much again as the rest of the program,
 * so fork and exit events wait for the next exec or the reader's periodic
 * poll (BPF_RB_NO_WAKEUP); the ring keeps them in order either way. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "proc.h"
#include "maps.bpf.h"
#include "filter.bpf.h"

/* vm_pgoff counts pages: the loader sets the page size's shift. */
const volatile __u32 page_shift = 12;

/* Size set by the loader from the receiver config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PROC_STAT_MAX);
} stats SEC(".maps");

/* reserve returns a zeroed-header event for task's process, or NULL when the
 * process is filtered out or the ring buffer is full (both counted). The
 * filter is evaluated in the current task's context: for fork that is the
 * parent, whose cgroup the child inherits. */
static __always_inline struct process_event *reserve(struct task_struct *task, __u32 type)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct process_event *e;

	if (!target_wanted(tgid)) {
		stat_inc(&stats, PROC_STAT_FILTERED);
		return NULL;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(&stats, PROC_STAT_LOST);
		return NULL;
	}
	e->type = type;
	e->pid = tgid;
	e->start_time = BPF_CORE_READ(leader, start_boottime);
	e->exec_id = BPF_CORE_READ(task, self_exec_id);
	e->timestamp = bpf_ktime_get_boot_ns();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = 0;
	e->text_start = e->text_end = e->text_offset = e->text_inode = 0;
	e->text_dev = e->pad = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	e->filename[0] = 0;
	return e;
}

/* text_vma receives the mapping bpf_find_vma found. */
struct text_vma {
	__u64 start, end, pgoff;
};

static long text_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct text_vma *t = data;

	t->start = vma->vm_start;
	t->end = vma->vm_end;
	t->pgoff = vma->vm_pgoff;
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct process_event *e = reserve(p, PROCESS_EVENT_EXEC);
	struct text_vma text = {};
	struct mm_struct *mm;
	struct inode *ino;

	if (!e)
		return 0;
	bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	/* The new image is mapped by now (ld.so and libraries come later, from
	 * user space): the mapping holding start_code is the executable's. */
	mm = BPF_CORE_READ(p, mm);
	if (bpf_find_vma(p, BPF_CORE_READ(mm, start_code), text_vma_cb, &text, 0) == 0) {
		ino = BPF_CORE_READ(mm, exe_file, f_inode);
		e->text_start = text.start;
		e->text_end = text.end;
		e->text_offset = text.pgoff << page_shift;
		e->text_inode = BPF_CORE_READ(ino, i_ino);
		e->text_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	}
	bpf_ringbuf_submit(e, 0);
	stat_inc(&stats, PROC_STAT_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct process_event *e;

	/* A new thread shares its process's mappings: nothing to learn. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	e = reserve(child, PROCESS_EVENT_FORK);
	if (!e)
		return 0;
	/* The child is not linked into the tree yet on every path; its parent
	 * is the forking process. */
	e->ppid = BPF_CORE_READ(parent, tgid);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	stat_inc(&stats, PROC_STAT_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p)
{
	struct process_event *e;

	/* Every thread passes here; the process ends with the last one, when
	 * do_exit has brought signal->live to zero (before this tracepoint on
	 * every kernel since the tracepoint exists). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	e = reserve(p, PROCESS_EVENT_EXIT);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(p, signal, group_exit_code);
	if (!e->exit_code)
		e->exit_code = BPF_CORE_READ(p, exit_code);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	stat_inc(&stats, PROC_STAT_EXIT);
	return 0;
}

/* Referenced so the types land in BTF and bpf2go generates Go for them. */
const enum proc_stat *unused_proc_stat __attribute__((unused));
const enum process_event_type *unused_process_event_type __attribute__((unused));
const struct process_event *unused_process_event __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
