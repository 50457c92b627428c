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
 * Executable file mappings (the dynamic loader's libraries, dlopen) come
 * from the syscalls:sys_exit_mmap tracepoint, with the file's path walked
 * from its dentry, so a library of a process that exits before user space
 * reads /proc is still known. Mappings made executable by mprotect are
 * not seen (glibc's loader maps text with PROT_EXEC); user space still
 * re-reads /proc/PID/maps when a sampled address misses.
 *
 * Fork, exit and mmap events never wake the reader (BPF_RB_NO_WAKEUP):
 * they wait for its periodic poll. An exec is left to the ring's own rule,
 * which wakes the reader only when every earlier record was read: after an
 * unread fork (the usual case) the exec waits for the poll too. Forcing
 * the wake-up (BPF_RB_FORCE_WAKEUP) was measured: under a churn of 60
 * execs a second it tripled the collector's CPU and made this program 4x
 * dearer (docs/performance.md); the exec event carries what naming and
 * unwinding need, so the reader can afford to come late. */
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
	e->text_dev = e->path_len = 0;
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

/* mmap_vma receives the mapping bpf_find_vma found at the address mmap
 * returned. */
struct mmap_vma {
	__u64 start, end, pgoff, flags;
	struct file *file;
};

static long mmap_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct mmap_vma *m = data;

	m->start = vma->vm_start;
	m->end = vma->vm_end;
	m->pgoff = vma->vm_pgoff;
	m->flags = BPF_CORE_READ(vma, vm_flags);
	m->file = vma->vm_file;
	return 0;
}

/* file_path writes f's path as the current task sees it into buf: its
 * components leaf first, each NUL-terminated, crossing mount points up to
 * the task's root, as d_path does. It returns the bytes written, with
 * MMAP_PATH_COMPLETE when the walk reached the root. */
static __always_inline __u32 file_path(struct file *f, char *buf)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *root = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct mount *mnt = (void *)vm - bpf_core_field_offset(struct mount, mnt);
	struct dentry *parent;
	struct mount *up;
	__u32 off = 0;
	__u64 o;
	long n;

	for (int i = 0; i < MMAP_PATH_DEPTH; i++) {
		if (d == root && vm == root_mnt)
			return off | MMAP_PATH_COMPLETE;
		parent = BPF_CORE_READ(d, d_parent);
		if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
			/* The top of a mount: go on from where it is mounted. */
			up = BPF_CORE_READ(mnt, mnt_parent);
			if (up == mnt)
				/* The namespace's root, outside the task's root
				 * (a chroot that is not a mount): as d_path. */
				return off | MMAP_PATH_COMPLETE;
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vm = (void *)up + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		/* The bound is tested and used on one 64-bit register: 6.1's
		 * verifier keeps no bound from a test on the 32-bit copy clang
		 * otherwise compares ("R1 max value is outside of the allowed
		 * memory range"). */
		o = off;
		asm volatile("" : "+r"(o));
		if (o > PROC_FILENAME_LEN - MMAP_NAME_MAX)
			return off;
		n = bpf_probe_read_kernel_str(buf + o, MMAP_NAME_MAX, BPF_CORE_READ(d, d_name.name));
		if (n <= 0 || n == MMAP_NAME_MAX)
			return off; /* unreadable, or truncated */
		off += n;
		d = parent;
	}
	return off;
}

/* syscalls:sys_exit_mmap's record (see its format in tracefs). */
struct mmap_exit_args {
	__u64 common;
	__s32 nr;
	__s64 ret;
};

#define VM_EXEC 0x4

SEC("tracepoint/syscalls/sys_exit_mmap")
int mmap_exit(struct mmap_exit_args *ctx)
{
	__u64 addr = ctx->ret;
	struct mmap_vma vma = {};
	struct process_event *e;
	struct task_struct *task;
	struct inode *ino;
	struct file *file;

	/* Failed calls return -errno. */
	if (ctx->ret < 0 && ctx->ret >= -4095)
		return 0;
	task = bpf_get_current_task_btf();
	if (bpf_find_vma(task, addr, mmap_vma_cb, &vma, 0) != 0 || !(vma.flags & VM_EXEC) || !vma.file)
		return 0;
	e = reserve(task, PROCESS_EVENT_MMAP);
	if (!e)
		return 0;
	/* Out of the local struct first: inside BPF_CORE_READ its access
	 * would be relocated against a kernel type of that name. */
	file = vma.file;
	ino = BPF_CORE_READ(file, f_inode);
	e->text_start = vma.start;
	e->text_end = vma.end;
	e->text_offset = vma.pgoff << page_shift;
	e->text_inode = BPF_CORE_READ(ino, i_ino);
	e->text_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	e->exit_code = vma.flags & 0xf;
	e->path_len = file_path(file, e->filename);
	/* A library is mapped before the code that runs it: no need to wake
	 * the reader, which reads it with the next exec or poll. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	stat_inc(&stats, PROC_STAT_MMAP);
	return 0;
}

/* Referenced so the types land in BTF and bpf2go generates Go for them. */
const enum proc_stat *unused_proc_stat __attribute__((unused));
const enum process_event_type *unused_process_event_type __attribute__((unused));
const struct process_event *unused_process_event __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
