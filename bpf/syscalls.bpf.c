// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Syscall counts and errors per process and syscall number, and latency per
 * syscall number, aggregated in the kernel on the raw_syscalls tracepoints (raw: cheaper than the
 * plain tracepoints, and there are no kprobes on the kernels we target).
 *
 * Counts and errors come from sys_exit alone: the number is the exit's
 * regs->orig_ax and the result its ret, so every call is counted exactly
 * without any per-call state. Latency needs the entry time, which costs
 * two clock reads (~50 ns each on this VM: kvm-clock) and a task storage
 * create at entry; it is measured for one call in latency_sample_every
 * on each CPU (1: every call). sys_enter keeps a per-CPU countdown and
 * writes the start time into the task's local storage for a sampled call
 * only; sys_exit finds the start there (a thread may sleep and migrate
 * inside a call, so per-CPU state cannot carry it) and clears it, so an
 * unsampled call finds none. Measured with kernel.bpf_stats_enabled
 * (docs/performance.md, Syscalls): task storage beats a hash keyed by tid
 * (~340 against ~555 ns a call), whose update and delete dominate.
 *
 * sys_exit adds the call to the generation user space is not draining (two
 * generations as in cpu.bpf.c): its latency, when sampled, to a per-CPU histogram per
 * syscall number (an array: no hashing, no atomics, a few hot cache lines;
 * the histograms are exported per syscall over the whole machine only;
 * calls over ~1 s go to a shared array instead, see sys_hist),
 * and the call to a small direct-mapped per-CPU cache of counts per program
 * image and syscall. Only a call whose slot holds another key goes to the
 * counts hash, adding the slot's calls there. In the busy pipeline
 * benchmark the hash lookup, cache misses mostly, was the largest part of
 * sys_exit (~100 of ~230 ns a run); a CPU's recent keys are few. User
 * space reads the caches of the generation it drains with the hash.
 *
 * exit and exit_group never return, so they are never counted.
 *
 * sys_exit ends with a tail call into exit_hooks, where another probe set
 * may put its own work at every syscall exit (the off-CPU deferral,
 * offcpu_sys_exit): one program on the tracepoint instead of two. An empty
 * slot costs a few instructions. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "syscalls.h"
#include "maps.bpf.h"
#include "gen.bpf.h"
#include "filter.bpf.h"

#define MAX_ERRNO 4095
/* x86_64's rt_sigreturn: it restores the registers of the interrupted
 * context and sets orig_ax to -1 (restore_sigcontext), so its exit shows
 * no number of its own. */
#define NR_RT_SIGRETURN 15
/* x86_64's calls that start a thread or process (the child's first return
 * to user space is their exit, see count_exit). */
#define NR_CLONE 56
#define NR_FORK 57
#define NR_VFORK 58
#define NR_CLONE3 435

/* Latency of one call in latency_sample_every per CPU (>= 1; set by the
 * loader before load, so with 1 the verifier drops the countdown). */
const volatile __u32 latency_sample_every = 1;


struct start {
	__u64 ts; /* of a sampled call in progress; 0: none */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct start);
} start SEC(".maps");

/* Each CPU's calls left until the next sampled one. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} sample_left SEC(".maps");

/* Calls per program image and syscall. Sizes are set by the loader from
 * the config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sys_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} counts0 SEC(".maps"), counts1 SEC(".maps");

/* Each CPU's cache of calls: slot cache_slot(key). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct sys_slot);
	__uint(max_entries, SYS_CACHE_SLOTS);
} cache0 SEC(".maps"), cache1 SEC(".maps");

/* Latency per syscall number on each CPU: index sys_hist_index(nr).
 * User space reads and clears the entries of the numbers it drained from
 * counts and the caches (every call is in one of them). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct sys_hist);
	__uint(max_entries, SYS_HIST_OTHER + 1);
} hists0 SEC(".maps"), hists1 SEC(".maps");

/* The long calls' slots, same index, one copy for all CPUs. Mappable:
 * user space reads and clears the drained generation's entries in its own
 * memory, without a syscall per entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sys_hist_long);
	__uint(max_entries, SYS_HIST_OTHER + 1);
} hists_long0 SEC(".maps"), hists_long1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sys_err_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} errors0 SEC(".maps"), errors1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, SYS_STAT_MAX);
} stats SEC(".maps");

/* Slot 0: a program run at the end of sys_exit (receiver/internal/probe.SyscallExit). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} exit_hooks SEC(".maps");

/* sampled counts a call down on this CPU and says whether its latency is
 * measured. The gap to the next sampled call is drawn uniformly from
 * [N - N/2, N + N/2] (mean N): a fixed period would alias with a workload
 * that repeats a cycle of calls (a ping-pong of read and write with N
 * even would only ever sample one of them). With the filters on, only
 * the targets' calls count down. */
static __always_inline bool sampled(void)
{
	__u32 zero = 0, *left, n = latency_sample_every;

	if (n <= 1)
		return true;
	left = bpf_map_lookup_elem(&sample_left, &zero);
	if (!left)
		return false;
	if (*left > 1) {
		(*left)--;
		return false;
	}
	*left = n - n / 2 + bpf_get_prandom_u32() % (n / 2 * 2 + 1);
	return true;
}

SEC("raw_tp/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct start *s;

	if ((filter_pid || filter_cgroup) && !target_wanted(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (!sampled())
		return 0;
	s = bpf_task_storage_get(&start, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		stat_inc(&stats, SYS_STAT_NO_STORAGE);
		return 0;
	}
	s->ts = bpf_ktime_get_ns();
	return 0;
}

/* cache_slot picks a key's slot in the per-CPU cache: a multiplicative
 * hash of the pid and the syscall number (the image fields rarely differ
 * between the keys of one CPU's recent calls). */
static __always_inline __u32 cache_slot(const struct sys_key *key)
{
	__u32 h = key->pid * 0x9e3779b1u ^ key->nr * 0x85ebca77u;

	return (h * 0xc2b2ae35u) >> 24 & (SYS_CACHE_SLOTS - 1);
}

static __always_inline bool same_key(const struct sys_key *a, const struct sys_key *b)
{
	return a->pid == b->pid && a->nr == b->nr && a->start_time == b->start_time &&
	       a->exec_id == b->exec_id;
}

/* add_to adds n to key's counter in hash m, creating it at 0 first; when
 * the hash is full the n are counted in stat full instead, never dropped
 * silently. */
static __always_inline void add_to(void *m, void *key, __u64 n, __u32 full)
{
	__u64 zero = 0, *cnt, *lost;

	cnt = bpf_map_lookup_elem(m, key);
	if (!cnt) {
		bpf_map_update_elem(m, key, &zero, BPF_NOEXIST);
		cnt = bpf_map_lookup_elem(m, key);
	}
	if (cnt) {
		__sync_fetch_and_add(cnt, n);
		return;
	}
	lost = bpf_map_lookup_elem(&stats, &full);
	if (lost)
		*lost += n;
}

/* flush_errors adds a cache slot's failed calls to the errors hash. */
static __always_inline void flush_errors(void *errors, struct sys_slot *c)
{
	struct sys_err_key ek = { .start_time = c->key.start_time, .exec_id = c->key.exec_id,
				  .pid = c->key.pid, .nr = c->key.nr, .err = c->err };

	add_to(errors, &ek, c->errs, SYS_STAT_ERRORS_FULL);
	c->errs = 0;
}

/* flush adds a cache slot's calls, and failed calls, to the hashes. */
static __always_inline void flush(void *counts, void *errors, struct sys_slot *c)
{
	struct sys_key key = c->key;

	add_to(counts, &key, c->calls, SYS_STAT_COUNTS_FULL);
	if (c->errs)
		flush_errors(errors, c);
}

/* hist_inc adds one to a per-CPU counter unless it is full (see sys_hist),
 * and says whether it did. */
static __always_inline bool hist_inc(__u32 *n)
{
	if (*n != (__u32)-1) {
		(*n)++;
		return true;
	}
	stat_inc(&stats, SYS_STAT_HIST_SATURATED);
	return false;
}

/* count_latency adds a call of delta ns to syscall slot's histogram: h on
 * this CPU, or the shared long slots. */
static __always_inline void count_latency(struct sys_hist *h, void *longs, __u32 slot, __u64 delta)
{
	struct sys_hist_long *l;
	__u32 s;

	/* The sum holds only the calls a bucket counts: a saturated one is
	 * in neither, so the sum over the count stays the mean. */
	if (delta == 0) {
		hist_inc(&h->zero);
		return;
	}
	s = log2_slot(delta);
	if (s < SYS_HIST_SLOTS) {
		if (hist_inc(&h->slots[s]))
			h->sum_ns += delta;
		return;
	}
	h->sum_ns += delta;
	s -= SYS_HIST_SLOTS;
	/* clang knows s is in range and drops the check; the 6.1 verifier
	 * does not, and needs it on the register it indexes with. */
	barrier_var(s);
	l = bpf_map_lookup_elem(longs, &slot);
	if (l && s < SYS_HIST_LONG_SLOTS)
		__sync_fetch_and_add(&l->slots[s], 1);
}

/* count_gen adds a call to one generation's maps. It is inlined once per
 * generation with that generation's maps as constants: the verifier then
 * inlines each lookup (arrays, and the hash's bucket walk without the
 * indirect call through map->ops), which a pointer selected at run time
 * (GEN_MAP) prevents; in the busy pipeline those generic lookups were
 * ~15 % of sys_exit's own perf samples. */
static __always_inline void count_gen(struct task_struct *task, struct sys_key *key, long ret, void *counts,
				      void *errors, void *hists, void *cache, void *longs)
{
	struct sys_hist *h;
	struct start *s;
	struct sys_slot *c;
	__u32 slot;
	__u64 delta;

	/* This CPU's copies, and programs on one CPU do not interleave (a
	 * program runs to its end with migration and, on these tracepoints,
	 * preemption off): plain adds. */
	slot = cache_slot(key);
	c = bpf_map_lookup_elem(cache, &slot);
	if (!c)
		return;
	if (c->calls && same_key(&c->key, key)) {
		c->calls++;
	} else {
		if (c->calls)
			flush(counts, errors, c);
		c->key = *key;
		c->calls = 1;
		c->errs = 0;
	}
	/* A failed call waits in the slot too, while the key's calls keep
	 * failing with one errno (the busy pipeline's failing calls were 5 %
	 * of all, each a lookup in the errors hash before). */
	if (ret < 0 && ret >= -MAX_ERRNO) {
		if (c->errs && c->err != -ret)
			flush_errors(errors, c);
		c->err = -ret;
		c->errs++;
	}

	/* No start: not sampled, or the call began before we attached. */
	s = bpf_task_storage_get(&start, task, 0, 0);
	if (!s || !s->ts)
		return;
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	slot = sys_hist_index(key->nr);
	h = bpf_map_lookup_elem(hists, &slot);
	if (h)
		count_latency(h, longs, slot, delta);
}

static __always_inline void count_exit(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = ctx->args[1];
	struct task_struct *task;
	struct sys_key key;

	task = bpf_get_current_task_btf();
	/* task is a BTF pointer: plain loads, no helper calls. */
	key.pid = task->tgid;
	if ((filter_pid || filter_cgroup) && !target_wanted(key.pid))
		return;
	/* The exit's regs argument is the task's own: through
	 * bpf_task_pt_regs it is a BTF pointer, read with a plain load
	 * rather than bpf_probe_read_kernel. */
	key.nr = ((struct pt_regs *)bpf_task_pt_regs(task))->orig_ax;
	if (key.nr == (__u32)-1)
		key.nr = NR_RT_SIGRETURN;
	/* A new thread or process returns to user space through this exit
	 * with the parent's registers (orig_ax the parent's clone) and 0:
	 * not a call, the parent's is counted in the parent, which never
	 * sees 0 from these. */
	if (ret == 0 && (key.nr == NR_CLONE || key.nr == NR_CLONE3 || key.nr == NR_FORK || key.nr == NR_VFORK))
		return;
	/* The image at exit: an execve that succeeded returns in the new
	 * program, and is counted there. */
	key.start_time = task->group_leader->start_boottime;
	key.exec_id = task->self_exec_id;

	if (generation())
		count_gen(task, &key, ret, &counts1, &errors1, &hists1, &cache1, &hists_long1);
	else
		count_gen(task, &key, ret, &counts0, &errors0, &hists0, &cache0, &hists_long0);
}

SEC("raw_tp/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	count_exit(ctx);
	/* Every exit, counted or not: the hook's work is not ours to filter. */
	bpf_tail_call(ctx, &exit_hooks, 0);
	return 0;
}

/* Referenced so the enum lands in BTF and bpf2go generates its Go constants. */
const enum sys_stat *unused_sys_stat __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
