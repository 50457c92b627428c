// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Off-CPU profiler on sched_switch. When a task is switched out blocked, its
 * stacks and the time are remembered in the task's local storage (tp_btf) or
 * a per-thread hash (raw tracepoint fallback). When it runs again, the time
 * it was blocked is added in the kernel to counts keyed by process, thread
 * and stacks.
 *
 * Most blocks are shorter than min_block and are thrown away at switch-in,
 * so walking the user stack at every switch-out (about 2 µs with the CFI
 * unwinder) is mostly wasted. With defer_user, a task blocked in the body of
 * a system call gets its user stack walked only when the block turned out
 * long enough, in its own context at raw_syscalls:sys_exit: until it
 * returns to user space its user registers and stack are the ones it
 * blocked with. Blocks elsewhere (page faults, stops after a syscall
 * returned, exec, exit) are walked at switch-out as before. See
 * in_syscall_body for how the two are told apart.
 *
 * The kernel stack likewise (kstack_at_in): taken at switch-in, of long
 * blocks only, with bpf_get_task_stack on the task about to run, whose
 * stack is frozen where it slept. That walk leaves out the scheduler's and
 * the locks' own functions (.sched.text, .spinlock.text: the kernel's
 * in_sched_functions), so its leaf is the first frame outside them; user
 * space trims switch-out stacks the same way, so both read alike.
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
/* ENOSYS (in_syscall_body). */
#include <asm-generic/errno.h>
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
/* Walk the user stack of a block in a syscall at sys_exit, only when it
 * was long enough (tp_btf only: needs task storage and BTF tasks). */
const volatile bool defer_user = false;
/* Take the kernel stack at switch-in, of long blocks only (tp_btf only:
 * bpf_get_task_stack needs a BTF task). */
const volatile bool kstack_at_in = false;
/* Time-proportional sampling of blocks: 0 records every block of at least
 * min_block_ns exactly. Otherwise a block of d < sample_period_ns is
 * recorded with probability d / sample_period_ns and counted as
 * sample_period_ns (expected value d: unbiased), and longer blocks always,
 * exactly. Blocks not drawn cost no stack and no count. At most 2^32 ns
 * (the loader checks), so d << 32 cannot overflow in sampled(). */
const volatile __u64 sample_period_ns = 0;
/* Remember each task's last CFI walk and reuse its stack when a walk now
 * would find the same frames (unwind_memo; tp_btf only: task storage). */
const volatile bool reuse_walks = false;

/* Tasks with a deferred block not counted yet: while there is none, which
 * is nearly always, offcpu_sys_exit returns after one load. Only a hint: a
 * task that died with a block pending leaves it high, which costs the
 * lookup of the task's storage at each sys_exit, never a count. */
__u64 pending_tasks;

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

/* Kernel stacks taken at switch-in, keyed by hash; cleared with stacks
 * (same epoch). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct unwind_stack);
	__uint(max_entries, 1);
} kstacks SEC(".maps");

/* Each task's last user-stack walk (reuse_walks). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct unwind_memo);
} umemo SEC(".maps");

/* Where a kernel stack is walked into before it is stored: too big for
 * the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_stack);
	__uint(max_entries, 1);
} kstack_scratch SEC(".maps");

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

/* kstack_store walks the kernel stack of task, which is not running, and
 * stores it in kstacks unless an identical stack is there. It returns the
 * stack's key, or 0 when there is none to record. */
static __always_inline __u64 kstack_store(struct task_struct *task)
{
	__u64 hash = 0xcbf29ce484222325ULL;
	struct unwind_stack *st;
	__u32 zero = 0, i, n;
	long bytes;

	st = bpf_map_lookup_elem(&kstack_scratch, &zero);
	if (!st)
		return 0;
	bytes = bpf_get_task_stack(task, st->ips, MAX_STACK_DEPTH * sizeof(__u64), 0);
	if (bytes <= 0) {
		if (bytes < 0)
			stat_inc(&stats, OFFCPU_STAT_STACK_ERR);
		return 0;
	}
	n = bytes / sizeof(__u64);
	st->len = n;
	/* FNV-1a over the frames, as unwind.bpf.h hashes user stacks. */
	for (i = 0; i < MAX_STACK_DEPTH && i < n; i++)
		hash = (hash ^ st->ips[i]) * 0x100000001b3ULL;
	if (!hash)
		hash = 1;
	if (bpf_map_lookup_elem(&kstacks, &hash))
		return hash;
	if (bpf_map_update_elem(&kstacks, &hash, st, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&kstacks, &hash)) {
		stat_inc(&stats, OFFCPU_STAT_STACK_ERR);
		return 0;
	}
	return hash;
}

/* wanted applies the target filters to the task being switched out, which is
 * still the current task when sched_switch fires. */
static __always_inline bool wanted(__u32 tgid)
{
	return tgid != 0 && target_wanted(tgid);
}

/* Syscall numbers (x86_64) whose body may block but that never come back
 * to sys_exit in the image they blocked in: exec replaces the user stack,
 * exit does not return. */
#define NR_EXECVE 59
#define NR_EXIT 60
#define NR_EXIT_GROUP 231
#define NR_EXECVEAT 322
/* Numbers at or above this are x32 (bit 30) or out of range. */
#define NR_NATIVE_MAX 512
/* thread_info.status: the task is in a 32-bit syscall, whose numbers differ. */
#define TS_COMPAT 0x0002

/* in_syscall_body tells whether a task switched out now will come back
 * through raw_syscalls:sys_exit with the user registers and stack it has
 * now. On x86_64, syscall entry sets pt_regs->orig_ax to the syscall
 * number and pt_regs->ax to -ENOSYS until the syscall returns its value;
 * exceptions and interrupts set orig_ax to -1 (entry_64.S, idtentry). So
 * orig_ax >= 0 with ax == -ENOSYS is a task inside a syscall's body, before
 * sys_exit; a task blocked after sys_exit fired (a stop or task work on the
 * way back to user space) has the return value in ax. A syscall whose
 * result is -ENOSYS and that then blocks on its way out would be mistaken
 * for one still in its body; none does. */
static __always_inline bool in_syscall_body(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr, ax;

	/* task and regs are BTF pointers: plain loads, no helper calls. */
	if (!regs || (task->thread_info.status & TS_COMPAT))
		return false;
	nr = regs->orig_ax;
	ax = regs->ax;
	if (nr < 0 || nr >= NR_NATIVE_MAX || ax != -ENOSYS)
		return false;
	return nr != NR_EXECVE && nr != NR_EXECVEAT && nr != NR_EXIT && nr != NR_EXIT_GROUP;
}

/* user_stack_cfi walks the current task's user stack with the CFI
 * unwinder, or reuses its last walk's stack when a walk would find the
 * same frames. Idle threads block again and again where they blocked
 * before (an epoll_wait or futex loop): at idle most walks are repeats. */
static __always_inline __u64 user_stack_cfi(bool btf)
{
	struct task_struct *task;
	struct unwind_memo *memo;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 hash;

	/* btf is a constant: the raw tracepoint's program has no umemo. */
	if (!btf || !reuse_walks)
		return unwind_store(&ustacks, pid);
	task = bpf_get_current_task_btf();
	memo = bpf_task_storage_get(&umemo, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (memo) {
		hash = unwind_reuse(&ustacks, memo, pid);
		if (hash) {
			stat_inc(&stats, OFFCPU_STAT_USER_REUSED);
			return hash;
		}
	}
	return unwind_store_memo(&ustacks, pid, memo);
}

/* user_stack records the current task's user stack into s. btf: in a
 * tp_btf program (task storage). */
static __always_inline void user_stack(void *ctx, struct offcpu_start *s, bool btf)
{
	if (cfi_unwind)
		s->user_hash = user_stack_cfi(btf);
	else
		s->user_stack_id = stack_id(ctx, BPF_F_USER_STACK, OFFCPU_STAT_USER_COLLISION);
}

/* TASK_READ reads a task field: a plain load when task is a BTF pointer
 * (tp_btf arguments, bpf_get_current_task_btf), a probe read otherwise
 * (the raw tracepoint's arguments). Helper calls cost ~20 ns each here. */
#define TASK_READ(btf, task, ...) ((btf) ? (task)->__VA_ARGS__ : BPF_CORE_READ(task, __VA_ARGS__))

/* count adds delta to task's counts under the stacks in s. btf: task is a
 * BTF pointer. */
static __always_inline void count(struct task_struct *task, struct offcpu_start *s, __u64 delta, bool btf)
{
	struct offcpu_key key = {};
	__u64 zero = 0, *total;
	void *counts;

	key.pid = TASK_READ(btf, task, tgid);
	key.tid = TASK_READ(btf, task, pid);
	/* A task blocks and wakes in one image (exec needs it running, and a
	 * block in exec's body is never deferred), so the image now is the
	 * one it blocked in. */
	key.start_time = btf ? task->group_leader->start_boottime
			     : BPF_CORE_READ(task, group_leader, start_boottime);
	key.exec_id = TASK_READ(btf, task, self_exec_id);
	key.user_stack_id = s->user_stack_id;
	key.kern_stack_id = s->kern_stack_id;
	key.user_hash = s->user_hash;
	key.kern_hash = s->kern_hash;
	if (s->epoch != ctl_get(CTL_EPOCH)) {
		key.user_stack_id = STACK_EXPIRED;
		key.kern_stack_id = STACK_EXPIRED;
		key.user_hash = 0;
		key.kern_hash = 0;
		stat_inc(&stats, OFFCPU_STAT_STACK_EXPIRED);
	}
	/* comm is NUL-padded (__set_task_comm uses strscpy_pad). */
	if (btf)
		__builtin_memcpy(key.comm, task->comm, sizeof(key.comm));
	else
		BPF_CORE_READ_STR_INTO(&key.comm, task, comm);

	counts = GEN_MAP(generation(), counts);
	total = lookup_or_init(counts, &key, &zero, &stats, OFFCPU_STAT_COUNTS_FULL);
	if (!total)
		return;
	__sync_fetch_and_add(total, delta);
	stat_inc(&stats, OFFCPU_STAT_BLOCKS);
}

/* resolve counts a long block that waited for its user stack, walking the
 * stack now: the task is current and still in the syscall it blocked in. */
static __always_inline void resolve(void *ctx, struct task_struct *task, struct offcpu_start *s)
{
	if (user_stacks)
		user_stack(ctx, s, true);
	count(task, s, s->pending, true);
	s->pending = 0;
	__sync_fetch_and_add(&pending_tasks, -1);
}

/* switch_time reads the clock once per context switch: prev's switch-out
 * and next's switch-in are the same instant (a clock read costs ~50 ns
 * here). *now is 0 until read. */
static __always_inline __u64 switch_time(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_ns();
	return *now;
}

/* record_out remembers a switch-out of prev, the current task. defer: the
 * user stack may wait for sys_exit (in_syscall_body). user: prev has a user
 * stack to walk (kernel threads have none). btf: in the tp_btf program. */
static __always_inline void record_out(void *ctx, struct task_struct *prev, struct offcpu_start *s, bool defer,
				       bool user, __u64 *now, bool btf)
{
	/* The block starts before any walk below: the walk runs on prev's
	 * time, while what it blocks on (a timer, a wakeup) is already
	 * armed, so reading the clock after it would leave the walk out of
	 * the block, by hundreds of microseconds on a slow machine. */
	__u64 ts = switch_time(now);

	/* A long block still waiting for its user stack, and the task blocks
	 * again in the same syscall: walk now and count it, and the new
	 * block has the same user stack. */
	if (btf && defer_user && s->pending) {
		resolve(ctx, prev, s);
		s->await = 0;
	} else {
		s->user_stack_id = -1;
		s->user_hash = 0;
		s->await = defer;
		if (user_stacks && !defer && user) {
			user_stack(ctx, s, btf);
			stat_inc(&stats, OFFCPU_STAT_USER_AT_OUT);
		}
	}
	s->ts = ts;
	s->epoch = ctl_get(CTL_EPOCH);
	s->kern_stack_id = -1;
	s->kern_hash = 0;
	if (kernel_stacks && !kstack_at_in)
		/* The whole stack, tracing frames included: how many frames the
		 * tracing machinery adds above __schedule depends on what else is
		 * attached to sched_switch (one callback is called directly, more
		 * go through __traceiter_sched_switch), so no fixed skip is right.
		 * User space trims up to __schedule, found in kallsyms; that costs
		 * nothing here and once per distinct stack there. */
		s->kern_stack_id = stack_id(ctx, 0, OFFCPU_STAT_KERN_COLLISION);
}

/* sampled draws whether a long block of *delta is recorded (see
 * sample_period_ns) and sets *delta to the time it is counted as. The draw
 * is a 32-bit uniform r kept when r < d * 2^32 / T: probability d / T
 * within 2^-32. */
static __always_inline bool sampled(__u64 *delta)
{
	__u64 period = sample_period_ns;

	if (!period || *delta >= period)
		return true;
	if ((__u64)bpf_get_prandom_u32() >= (*delta << 32) / period) {
		stat_inc(&stats, OFFCPU_STAT_SAMPLED_OUT);
		return false;
	}
	*delta = period;
	return true;
}

static __always_inline void record_in(struct task_struct *next, struct offcpu_start *s, bool btf, __u64 *now)
{
	__u64 delta;

	if (!s->ts)
		return;
	delta = switch_time(now) - s->ts;
	s->ts = 0;
	if (delta < min_block_ns) {
		stat_inc(&stats, OFFCPU_STAT_SHORT);
		return;
	}
	/* Before any stack work: a block not drawn skips the kernel stack,
	 * the deferral (pending_tasks, the walk at sys_exit) and the count. */
	if (!sampled(&delta))
		return;
	if (btf && kernel_stacks && kstack_at_in)
		s->kern_hash = kstack_store(next);
	if (defer_user && s->await) {
		/* Counted at sys_exit, once the user stack is walked. */
		s->pending = delta;
		__sync_fetch_and_add(&pending_tasks, 1);
		stat_inc(&stats, OFFCPU_STAT_DEFERRED);
		return;
	}
	count(next, s, delta, btf);
}

/* TASK_DEAD (include/linux/sched.h, unchanged since 4.14): the state of a
 * task's last switch-out (do_task_dead). */
#define TASK_DEAD 0x0080

/* blocks tells whether a task switched out in state will be off the CPU
 * until something wakes it. A preempted (still runnable) task is run-queue
 * latency, not off-CPU time; a dead task never runs again, so its block
 * would never be counted: remembering it would only give a task about to
 * be freed its storage (and, outside a syscall body, a stack walk). */
static __always_inline bool blocks(__s64 state)
{
	return state != 0 && !(state & TASK_DEAD);
}

/* state_btf is get_task_state for a BTF pointer: a plain load. */
static __always_inline __s64 state_btf(struct task_struct *prev)
{
	struct task_struct___o *o = (void *)prev;

	if (bpf_core_field_exists(o->state))
		return o->state;
	return prev->__state;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct offcpu_start *s;
	__u64 now = 0;
	bool user;

	if (blocks(state_btf(prev)) && wanted(prev->tgid)) {
		s = bpf_task_storage_get(&start_storage, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		/* A kernel thread (or a task past exit_mm) has no user stack:
		 * neither a walk nor its syscall registers to look at. */
		user = prev->mm != NULL;
		if (s)
			record_out(ctx, prev, s, user && defer_user && in_syscall_body(prev), user, &now, true);
		else
			stat_inc(&stats, OFFCPU_STAT_START_FULL);
	}
	/* The idle task (pid 0, never wanted) has no storage: a CPU going idle
	 * is a switch in the scheduler's hottest path. */
	if (!next->pid)
		return 0;
	s = bpf_task_storage_get(&start_storage, next, 0, 0);
	if (s)
		record_in(next, s, true, &now);
	return 0;
}

/* offcpu_sys_exit counts a long block of the current task once its user
 * stack is walked (attached only with defer_user). Every other syscall
 * exit costs one load of pending_tasks, and while some task anywhere has a
 * block pending, one lookup of the task's storage. */
SEC("raw_tp/sys_exit")
int offcpu_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task;
	struct offcpu_start *s;

	if (!*(volatile __u64 *)&pending_tasks)
		return 0;
	task = bpf_get_current_task_btf();
	s = bpf_task_storage_get(&start_storage, task, 0, 0);
	if (s && s->pending)
		resolve(ctx, task, s);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct offcpu_start *s, zero = {};
	__u64 now = 0;
	__u32 tid;

	if (blocks(get_task_state(prev)) && wanted(BPF_CORE_READ(prev, tgid))) {
		tid = BPF_CORE_READ(prev, pid);
		if (bpf_map_update_elem(&start_hash, &tid, &zero, BPF_ANY)) {
			stat_inc(&stats, OFFCPU_STAT_START_FULL);
		} else {
			s = bpf_map_lookup_elem(&start_hash, &tid);
			if (s)
				record_out(ctx, prev, s, false, true, &now, false);
		}
	}
	tid = BPF_CORE_READ(next, pid);
	s = bpf_map_lookup_elem(&start_hash, &tid);
	if (s) {
		record_in(next, s, false, &now);
		bpf_map_delete_elem(&start_hash, &tid);
	}
	return 0;
}

const enum offcpu_stat *unused_offcpu_stat __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
