// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allocation profiler: uprobes on an allocator's entry points (malloc,
 * calloc, realloc, ..., mmap) and uretprobes on their returns, sampled by
 * bytes as tcmalloc samples.
 *
 * Sampling. Each thread keeps a countdown of bytes; every allocation
 * subtracts its size, and the allocation that takes the countdown to zero or
 * below is sampled, after which a new countdown is drawn from an exponential
 * distribution of mean T (sample_mean). The sample points therefore form a
 * Poisson process over allocated bytes with rate 1/T, so an allocation of s
 * bytes is sampled with probability p(s) = 1 - exp(-s/T), independently of
 * the others. Counting each sample as 1/p(s) allocations and s/p(s) bytes is
 * an unbiased estimate of the true totals (Horvitz-Thompson). With
 * sample_every set (mean 1 in the config) every allocation is counted with
 * weight 1: exact totals.
 *
 * The exponential draw: u = prandom + 1 in [1, 2^32], -ln(u / 2^32) =
 * ln 2 * (32 - log2 u), log2 u = floor (shifts) + log2(1 + f) for the
 * mantissa f from a 65-entry 16.16 table with linear interpolation (error
 * below 5e-5 in log2 units). The weight 1/p(s) is 16.16 fixed point: for
 * s/T < 1/64 p = x - x^2/2 + x^3/6 (relative error < 2e-7), above that
 * exp(-x) = exp(-int) * exp(-j/64) * (1 - r + r^2/2) from two 32.32 tables.
 *
 * Entry probes record the call in task local storage (size, kind, stack
 * pointer); the return probe, seeing the result, counts the sampled ones in
 * the kernel keyed by process, thread and user stack, and remembers them by
 * address in a bounded live map until free, realloc or munmap removes them.
 * Allocator functions call each other (realloc(NULL, n) calls malloc, malloc
 * calls mmap): a call whose stack pointer lies below the pending outer call
 * is nested and ignored, and a return is the pending call's only if its
 * stack pointer lies above the one recorded at entry.
 *
 * Cost. Every probed call traps into the kernel (~1 us in the KVM guests
 * we measured; the BPF work is a few hundred ns). On kernels with uprobe
 * sessions (6.13+) one program, alloc_session, is the entry and the return
 * of all allocating functions, and an entry that is neither sampled nor
 * needs its result (a plain allocation below skip_return_max) returns 1 so
 * the kernel skips the return probe. Older kernels get the per-function
 * *_enter programs plus alloc_return on every return. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "memory.h"
#include "maps.bpf.h"
#include "gen.bpf.h"
#include "bits.bpf.h"
#include "unwind.bpf.h"

#define MAP_ANONYMOUS 0x20
#define ONE_Q16 (1ULL << 16)
#define ONE_Q32 (1ULL << 32)

const volatile __u64 sample_mean = 512 * 1024;
const volatile bool sample_every = false;
const volatile bool track_live = true;
/* Below this size a plain allocation is served without a nested mmap. */
const volatile __u64 skip_return_max = 64 * 1024;
/* Walk user stacks with the CFI unwinder (unwind.bpf.h). */
const volatile bool cfi_unwind = false;

struct thread_state {
	__s64 remaining;   /* bytes until the next sample */
	__u64 sp;          /* stack pointer at the pending call's entry */
	__u64 size;
	__u64 old;         /* realloc: the old block */
	__u64 memptr;      /* posix_memalign: where the block is written */
	__u64 weight_q16;
	__u32 kind;
	__u8 active;
	__u8 sampled;
	__u8 init;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} threads SEC(".maps");

/* Sizes are set by the loader from the config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MEM_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 1);
} stacks SEC(".maps");

/* User stacks walked by the CFI unwinder, keyed by hash. Like stacks, never
 * cleared: a key names one stack for the profiler's life (live blocks keep
 * theirs); when full, further new stacks are counted and dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct unwind_stack);
	__uint(max_entries, 1);
} ustacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct alloc_key);
	__type(value, struct alloc_val);
	__uint(max_entries, 1);
} allocs0 SEC(".maps"), allocs1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct live_key);
	__type(value, struct live_val);
	__uint(max_entries, 1);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MEM_STAT_MAX);
} stats SEC(".maps");

/* log2(1 + i/64), 16.16. */
static const __u32 log2_tab[65] = {
	0, 1466, 2909, 4331, 5732, 7112, 8473, 9814, 11136, 12440, 13727, 14996,
	16248, 17484, 18704, 19909, 21098, 22272, 23433, 24579, 25711, 26830,
	27936, 29029, 30109, 31178, 32234, 33279, 34312, 35334, 36346, 37346,
	38336, 39316, 40286, 41246, 42196, 43137, 44068, 44990, 45904, 46809,
	47705, 48593, 49472, 50344, 51207, 52063, 52911, 53751, 54584, 55410,
	56229, 57040, 57845, 58643, 59434, 60219, 60997, 61769, 62534, 63294,
	64047, 64794, 65536,
};

/* exp(-i), 32.32. */
static const __u64 exp_int[24] = {
	4294967296ULL, 1580030169ULL, 581260615ULL, 213833830ULL, 78665070ULL,
	28939262ULL, 10646160ULL, 3916503ULL, 1440801ULL, 530041ULL, 194991ULL,
	71733ULL, 26389ULL, 9708ULL, 3571ULL, 1314ULL, 483ULL, 178ULL, 65ULL,
	24ULL, 9ULL, 3ULL, 1ULL, 0ULL,
};

/* exp(-j/64), 32.32. */
static const __u64 exp_frac[64] = {
	4294967296ULL, 4228380000ULL, 4162825044ULL, 4098286424ULL, 4034748382ULL,
	3972195407ULL, 3910612225ULL, 3849983802ULL, 3790295335ULL, 3731532253ULL,
	3673680208ULL, 3616725075ULL, 3560652950ULL, 3505450143ULL, 3451103176ULL,
	3397598780ULL, 3344923893ULL, 3293065655ULL, 3242011404ULL, 3191748676ULL,
	3142265200ULL, 3093548893ULL, 3045587863ULL, 2998370400ULL, 2951884975ULL,
	2906120241ULL, 2861065022ULL, 2816708321ULL, 2773039306ULL, 2730047316ULL,
	2687721856ULL, 2646052591ULL, 2605029347ULL, 2564642111ULL, 2524881020ULL,
	2485736368ULL, 2447198598ULL, 2409258300ULL, 2371906213ULL, 2335133215ULL,
	2298930330ULL, 2263288719ULL, 2228199680ULL, 2193654646ULL, 2159645183ULL,
	2126162988ULL, 2093199886ULL, 2060747830ULL, 2028798896ULL, 1997345284ULL,
	1966379316ULL, 1935893430ULL, 1905880184ULL, 1876332251ULL, 1847242416ULL,
	1818603577ULL, 1790408741ULL, 1762651027ULL, 1735323656ULL, 1708419956ULL,
	1681933360ULL, 1655857400ULL, 1630185710ULL, 1604912023ULL,
};

#define LN2_Q32 2977044472ULL

/* next_interval draws the bytes until the next sample, exponential with
 * mean sample_mean. */
static __always_inline __s64 next_interval(void)
{
	__u64 u = (__u64)bpf_get_prandom_u32() + 1; /* [1, 2^32] */
	__u32 l = log2_u64(u);
	__u64 f = (u << (40 - l)) - (1ULL << 40);  /* mantissa, [0, 2^40) */
	__u32 j = (f >> 34) & 63;
	__u64 rem = f & ((1ULL << 34) - 1);
	__u64 lo = log2_tab[j], hi = log2_tab[j + 1];
	__u64 lg = ((__u64)l << 16) + lo + (((hi - lo) * rem) >> 34);
	__u64 nl = (32ULL << 16) - lg;              /* -log2(u / 2^32), 16.16 */
	__u64 ln = (nl * LN2_Q32) >> 32;            /* -ln(u / 2^32), 16.16 */

	return (__s64)((sample_mean * ln) >> 16);
}

/* weight_q16 is 1 / (1 - exp(-size / sample_mean)) in 16.16; size > 0. */
static __always_inline __u64 weight_q16(__u64 size)
{
	__u64 t = sample_mean, p;

	if (size < t / 64) {
		/* x < 1/64: the series avoids cancellation in 1 - exp(-x). */
		__u64 x = (size << 32) / t;         /* 32.32, size < 2^26 */
		__u64 x2 = (x * x) >> 32;

		p = x - (x2 >> 1) + ((x2 * x) >> 32) / 6;
	} else {
		__u64 xq, i, j, r, e, tay;

		if (size >= (t << 4) || size >= (1ULL << 40))
			return ONE_Q16;             /* x >= 16: p = 1 within 2^-23 */
		xq = (size << 20) / t;              /* 12.20 */
		i = xq >> 20;
		j = (xq >> 14) & 63;
		r = (xq & ((1 << 14) - 1)) << 12;   /* remainder < 1/64, 32.32 */
		if (i >= 24)
			return ONE_Q16;
		e = (exp_int[i] * exp_frac[j]) >> 32;
		tay = ONE_Q32 - r + ((r * r) >> 33);
		e = (e * tay) >> 32;
		p = ONE_Q32 - e;
	}
	if (p == 0)
		p = 1;
	return (1ULL << 48) / p;
}

/* array_size is n * size, or 0 when it may overflow 64 bits (calloc and
 * reallocarray fail then); clang turns the usual division check into a
 * 128-bit multiply BPF cannot do. */
static __always_inline __u64 array_size(__u64 n, __u64 size)
{
	if (((n | size) >> 32) && log2_u64(n) + log2_u64(size) >= 63)
		return 0;
	return n * size;
}

static __always_inline struct thread_state *thread_state(void)
{
	struct thread_state *st;

	st = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		stat_inc(&stats, MEM_STAT_NO_STATE);
		return NULL;
	}
	if (!st->init) {
		st->init = 1;
		st->remaining = next_interval();
	}
	return st;
}

/* on_enter handles an allocator call's entry. It returns 1 when the call's
 * return need not be seen: only a uprobe session (alloc_session) acts on
 * that, and only for small plain allocations that were not sampled (below
 * skip_return_max, which keeps allocations large enough to be served by a
 * nested mmap under the pending-call logic). */
static __always_inline int on_enter(struct pt_regs *ctx, __u64 size, __u32 kind,
				    __u64 old, __u64 memptr, bool session)
{
	struct thread_state *st = thread_state();
	__u64 sp = PT_REGS_SP(ctx);
	__u8 sampled = 0;
	__u64 weight = 0;

	if (!st)
		return 1;
	if (st->active && sp < st->sp) {
		stat_inc(&stats, MEM_STAT_NESTED);
		return 1;
	}
	if (kind != ALLOC_NONE) {
		stat_inc(&stats, MEM_STAT_CALLS);
		if (sample_every) {
			sampled = 1;
			weight = ONE_Q16;
		} else if (size) {
			st->remaining -= (__s64)size;
			if (st->remaining <= 0) {
				st->remaining = next_interval();
				sampled = 1;
				weight = weight_q16(size);
			}
		}
	}
	if (session && !sampled && (kind == ALLOC_NONE ||
				    (kind == ALLOC_PLAIN && size < skip_return_max)))
		return 1;
	st->active = 1;
	st->sp = sp;
	st->kind = kind;
	st->size = size;
	st->old = old;
	st->memptr = memptr;
	st->sampled = sampled;
	st->weight_q16 = weight;
	return 0;
}

static __always_inline void forget(__u32 pid, __u64 addr)
{
	struct live_key k = { .pid = pid, .addr = addr };

	if (addr && !bpf_map_delete_elem(&live, &k))
		stat_inc(&stats, MEM_STAT_FREED);
}

static __always_inline void record(struct pt_regs *ctx, struct thread_state *st,
				   __u64 addr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_key key = {};
	struct alloc_val *v, zero = {};
	struct task_struct *task;
	void *allocs;
	long sid;

	key.pid = id >> 32;
	key.tid = (__u32)id;
	task = bpf_get_current_task_btf();
	key.start_time = task->group_leader->start_boottime;
	key.exec_id = task->self_exec_id;
	key.stack_id = -1;
	if (cfi_unwind) {
		key.user_hash = unwind_store(&ustacks, key.pid);
	} else {
		sid = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		if (sid < 0)
			stat_inc(&stats, sid == -EEXIST ? MEM_STAT_STACK_COLLISION : MEM_STAT_STACK_ERR);
		key.stack_id = sid < 0 ? -1 : sid;
	}
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	allocs = GEN_MAP(generation(), allocs);
	v = lookup_or_init(allocs, &key, &zero, &stats, MEM_STAT_ALLOCS_FULL);
	if (!v)
		return;
	__sync_fetch_and_add(&v->samples, 1);
	__sync_fetch_and_add(&v->bytes, st->size);
	__sync_fetch_and_add(&v->count_q16, st->weight_q16);
	__sync_fetch_and_add(&v->space, (st->size * st->weight_q16) >> 16);
	stat_inc(&stats, MEM_STAT_SAMPLED);

	if (track_live) {
		struct live_key lk = { .pid = key.pid, .addr = addr };
		struct live_val lv = {
			.start_time = key.start_time,
			.exec_id = key.exec_id,
			.size = st->size,
			.weight_q16 = st->weight_q16,
			.tid = key.tid,
			.stack_id = key.stack_id,
			.user_hash = key.user_hash,
		};

		__builtin_memcpy(lv.comm, key.comm, sizeof(lv.comm));
		if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY))
			stat_inc(&stats, MEM_STAT_LIVE_FULL);
	}
}

static __always_inline int on_return(struct pt_regs *ctx, __u64 addr)
{
	struct thread_state *st = thread_state();

	if (!st || !st->active || PT_REGS_SP(ctx) <= st->sp)
		return 0;
	st->active = 0;
	switch (st->kind) {
	case ALLOC_REALLOC:
		/* realloc(p, 0) frees p and may return NULL; a failed realloc
		 * leaves p alone. */
		if (track_live && (addr || st->size == 0))
			forget(bpf_get_current_pid_tgid() >> 32, st->old);
		break;
	case ALLOC_MEMPTR:
		if (addr) { /* an error number */
			stat_inc(&stats, MEM_STAT_FAILED);
			return 0;
		}
		if (!st->sampled)
			return 0;
		if (bpf_probe_read_user(&addr, sizeof(addr), (void *)st->memptr))
			addr = 0;
		break;
	case ALLOC_MMAP:
		if ((__s64)addr == -1)
			addr = 0;
		break;
	case ALLOC_NONE:
		return 0;
	}
	if (!addr) {
		if (st->kind != ALLOC_REALLOC || st->size)
			stat_inc(&stats, MEM_STAT_FAILED);
		return 0;
	}
	if (st->sampled)
		record(ctx, st, addr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	return on_enter(ctx, size, ALLOC_PLAIN, 0, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 n, __u64 size)
{
	return on_enter(ctx, array_size(n, size), ALLOC_PLAIN, 0, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, void *old, __u64 size)
{
	return on_enter(ctx, size, ALLOC_REALLOC, (__u64)old, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, void *old, __u64 n, __u64 size)
{
	return on_enter(ctx, array_size(n, size), ALLOC_REALLOC, (__u64)old, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, void **memptr, __u64 align, __u64 size)
{
	return on_enter(ctx, size, ALLOC_MEMPTR, 0, (__u64)memptr, false);
}

/* aligned_alloc and memalign take (alignment, size). */
SEC("uprobe")
int BPF_KPROBE(memalign_enter, __u64 align, __u64 size)
{
	return on_enter(ctx, size, ALLOC_PLAIN, 0, 0, false);
}

/* valloc and pvalloc take (size). */
SEC("uprobe")
int BPF_KPROBE(valloc_enter, __u64 size)
{
	return on_enter(ctx, size, ALLOC_PLAIN, 0, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(mmap_enter, void *addr, __u64 len, int prot, int flags)
{
	return on_enter(ctx, len, (flags & MAP_ANONYMOUS) ? ALLOC_MMAP : ALLOC_NONE, 0, 0, false);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	if (track_live)
		forget(bpf_get_current_pid_tgid() >> 32, (__u64)ptr);
	return 0;
}

/* munmap of a whole sampled mapping; partial unmaps are not tracked. */
SEC("uprobe")
int BPF_KPROBE(munmap_enter, void *addr, __u64 len)
{
	if (track_live)
		forget(bpf_get_current_pid_tgid() >> 32, (__u64)addr);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, void *ret)
{
	return on_return(ctx, (__u64)ret);
}

extern bool bpf_session_is_return(void) __ksym;

/* alloc_session is the entry and the return of every allocating function
 * on kernels with uprobe sessions (6.13+): the attach cookie says which
 * function, and an entry that returns 1 spares the call its return probe
 * (a second trap into the kernel). */
SEC("uprobe.session")
int alloc_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return on_return(ctx, PT_REGS_RC(ctx));
	switch (bpf_get_attach_cookie(ctx)) {
	case FN_MALLOC:
	case FN_VALLOC:
		return on_enter(ctx, PT_REGS_PARM1(ctx), ALLOC_PLAIN, 0, 0, true);
	case FN_CALLOC:
		return on_enter(ctx, array_size(PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx)),
				ALLOC_PLAIN, 0, 0, true);
	case FN_REALLOC:
		return on_enter(ctx, PT_REGS_PARM2(ctx), ALLOC_REALLOC, PT_REGS_PARM1(ctx), 0, true);
	case FN_REALLOCARRAY:
		return on_enter(ctx, array_size(PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx)),
				ALLOC_REALLOC, PT_REGS_PARM1(ctx), 0, true);
	case FN_POSIX_MEMALIGN:
		return on_enter(ctx, PT_REGS_PARM3(ctx), ALLOC_MEMPTR, 0, PT_REGS_PARM1(ctx), true);
	case FN_MEMALIGN:
		return on_enter(ctx, PT_REGS_PARM2(ctx), ALLOC_PLAIN, 0, 0, true);
	case FN_MMAP:
		return on_enter(ctx, PT_REGS_PARM2(ctx),
				(PT_REGS_PARM4(ctx) & MAP_ANONYMOUS) ? ALLOC_MMAP : ALLOC_NONE, 0, 0, true);
	}
	return 1;
}

/* Referenced so the enums land in BTF and bpf2go generates Go constants. */
const enum mem_stat *unused_mem_stat __attribute__((unused));
const enum alloc_kind *unused_alloc_kind __attribute__((unused));
const enum alloc_fn *unused_alloc_fn __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
