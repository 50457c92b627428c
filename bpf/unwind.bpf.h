/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* User-stack unwinding from CFI tables, shared by every probe set that
 * records user stacks.
 *
 * The receiver turns each file's .eh_frame into a sorted table of rows
 * (unwind_tables: table id -> array of struct unwind_row) and each process's
 * executable mappings into unwind_procs (pid -> sorted mappings, each with
 * its file's table id and load bias). Per frame the walk finds the mapping
 * of the pc, binary-searches the row in force there, computes the CFA from
 * rsp or rbp, reads the return address (CFA - 8) and the saved rbp from the
 * user stack, and continues in the caller. Files without CFI, anonymous
 * code and addresses before any row fall back to the frame pointer, so
 * mixed stacks work. Every way a walk ends is counted in unwind_stats.
 *
 * unwind_tables, unwind_procs, unwind_requests, unwind_table_requests,
 * unwind_wake and unwind_stats are shared
 * by all probe sets (the loader replaces each object's copies with one set
 * owned by the receiver); the scratch state is each object's own, because
 * programs of different sets can interrupt one another on a CPU.
 *
 * The walk runs in bpf_loop (kernel 5.17+): one callback per frame keeps
 * the verifier's work independent of the depth. */
#ifndef __EBPF_OTEL_UNWIND_BPF_H
#define __EBPF_OTEL_UNWIND_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "unwind.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	/* Tables differ in length: BPF_F_INNER_MAP lets one outer map hold
	 * arrays of any size (kernel 5.10+). BPF_F_MMAPABLE (5.5+): the
	 * receiver writes a table's rows through a mapping, one copy, rather
	 * than one element update per row. */
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
		__uint(key_size, sizeof(__u32));
		__uint(value_size, sizeof(struct unwind_row));
		__uint(max_entries, 1);
	});
} unwind_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct unwind_proc);
	__uint(max_entries, 1);
} unwind_procs SEC(".maps");

/* Processes whose mappings the receiver should (re)read: not registered
 * yet, or a pc outside every known mapping. Value: that pc, which the
 * receiver looks up in its process table (a miss there re-reads the
 * process). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} unwind_requests SEC(".maps");

/* Tables a walk needed that are not loaded (never built yet, or evicted):
 * the receiver builds a file's table only once a stack goes through it.
 * Value: when asked (ns). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} unwind_table_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, UNWIND_STAT_MAX);
} unwind_stats SEC(".maps");

/* A byte per new request: the receiver blocks on this ring instead of
 * polling the request maps. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} unwind_wake SEC(".maps");

/* Slots of the per-CPU row cache (a power of two). */
#define UNWIND_ROW_CACHE 1024

/* unwind_cached: the row found for pc in a table, remembered by (table,
 * pc). Only a hint: it is checked against the table before use. */
struct unwind_cached {
	__u32 table_id;
	__u32 pc;
	__u32 idx;
};

struct unwind_scratch {
	/* Stacks repeat, and so do their return addresses: a pc found once
	 * costs two row reads instead of a binary search next time. */
	struct unwind_cached cache[UNWIND_ROW_CACHE];
	struct unwind_stack stack;
	__u64 ip, sp, bp;
	__u64 hash;
	__u32 pid;
	__u32 stop;
	/* ip is the interrupted instruction (leaf, or after a signal frame),
	 * not a return address: look it up as is rather than ip - 1. */
	__u32 exact_ip;
	/* ip came from a frame-pointer step standing in for CFI (no table,
	 * no row, no mapping): in code without frame pointers it is often
	 * garbage, not worth a re-read of the process when it is unmapped. */
	__u32 guess;
	/* Index of the mapping the last frame was in: frames next to one
	 * another are mostly in one file, so it is tried before the search. */
	__u32 map_hint;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_scratch);
	__uint(max_entries, 1);
} unwind_scratch SEC(".maps");

struct unwind_loop_ctx {
	struct unwind_scratch *s;
	struct unwind_proc *proc;
	/* The task's memo being filled, or NULL; memo_ok: it still can be. */
	struct unwind_memo *memo;
	__u32 memo_ok;
};

/* Offsets in the signal frame at __restore_rt: rsp points at the
 * ucontext; uc_mcontext (struct sigcontext) starts 40 bytes in. */
#define UNWIND_SIG_RBP (40 + 10 * 8)
#define UNWIND_SIG_RSP (40 + 15 * 8)
#define UNWIND_SIG_RIP (40 + 16 * 8)

/* unwind_wake_up wakes the receiver, which sleeps until a request is
 * queued. A full ring loses only the wake-up: the receiver also looks at
 * the request maps, every second, backing off to 8 s while none comes. */
static __always_inline void unwind_wake_up(void)
{
	__u8 one = 1;

	bpf_ringbuf_output(&unwind_wake, &one, sizeof(one), 0);
}

static __always_inline void unwind_request(__u32 pid, __u64 pc)
{
	if (!bpf_map_update_elem(&unwind_requests, &pid, &pc, BPF_NOEXIST))
		unwind_wake_up();
}

static __always_inline long unwind_stop(struct unwind_scratch *s, __u32 reason)
{
	s->stop = reason;
	return 1;
}

/* unwind_note adds a read of user memory (addr: words of v) to the memo
 * being filled, if any. */
static __always_inline void unwind_note(struct unwind_loop_ctx *c, __u64 addr, __u64 v0, __u64 v1, __u8 words)
{
	struct unwind_memo *m = c->memo;
	__u32 n;

	if (!m || !c->memo_ok)
		return;
	n = m->n;
	if (n >= UNWIND_MEMO_READS) {
		c->memo_ok = 0;
		return;
	}
	m->addr[n] = addr;
	m->val[n][0] = v0;
	m->val[n][1] = v1;
	m->words[n] = words;
	m->n = n + 1;
}

/* unwind_fp steps one frame with the frame pointer. */
static __always_inline long unwind_fp(struct unwind_loop_ctx *c)
{
	struct unwind_scratch *s = c->s;
	__u64 frame[2];

	if (!s->bp)
		return unwind_stop(s, UNWIND_STAT_FP_END);
	if (bpf_probe_read_user(frame, sizeof(frame), (void *)s->bp))
		return unwind_stop(s, UNWIND_STAT_READ_FAULT);
	unwind_note(c, s->bp, frame[0], frame[1], 2);
	if (frame[0] && frame[0] <= s->bp)
		return unwind_stop(s, UNWIND_STAT_FP_END); /* not a chain */
	s->sp = s->bp + 16;
	s->bp = frame[0];
	s->ip = frame[1];
	s->exact_ip = 0;
	return s->ip ? 0 : unwind_stop(s, UNWIND_STAT_FP_END);
}

/* unwind_fp_fallback steps with the frame pointer where CFI should have
 * been used: the caller's ip is a guess. */
static __always_inline long unwind_fp_fallback(struct unwind_loop_ctx *c)
{
	c->s->guess = 1;
	return unwind_fp(c);
}

static __always_inline struct unwind_mapping *unwind_find_mapping(struct unwind_proc *proc, __u64 ip, __u32 *hint)
{
	__u32 lo = 0, n = proc->count, half, mid, h = *hint & (UNWIND_MAX_MAPPINGS - 1);

	if (n > UNWIND_MAX_MAPPINGS)
		return NULL;
	if (h < n && ip >= proc->mappings[h].start && ip < proc->mappings[h].end)
		return &proc->mappings[h];
	for (int i = 0; i < 9 && n > 1; i++) {
		half = n / 2;
		mid = (lo + half) & (UNWIND_MAX_MAPPINGS - 1);
		if (proc->mappings[mid].start <= ip) {
			lo = mid;
			n -= half;
		} else {
			n = half;
		}
	}
	if (!n)
		return NULL;
	lo &= UNWIND_MAX_MAPPINGS - 1;
	if (ip < proc->mappings[lo].start || ip >= proc->mappings[lo].end)
		return NULL;
	*hint = lo;
	return &proc->mappings[lo];
}

/* unwind_find_row returns the last row at or before pc, and its index in
 * *idx, by binary search: a lookup per step. */
static __always_inline struct unwind_row *unwind_find_row(void *rows, __u32 count, __u64 pc, __u32 *idx)
{
	__u32 lo = 0, n = count, half, mid;
	struct unwind_row *r;

	for (int i = 0; i < UNWIND_SEARCH_STEPS && n > 1; i++) {
		half = n / 2;
		mid = lo + half;
		r = bpf_map_lookup_elem(rows, &mid);
		if (!r)
			return NULL;
		if (r->pc <= pc) {
			lo = mid;
			n -= half;
		} else {
			n = half;
		}
	}
	r = bpf_map_lookup_elem(rows, &lo);
	if (!r || r->pc > pc)
		return NULL;
	*idx = lo;
	return r;
}

/* unwind_row_at returns row idx when it is the one unwind_find_row would
 * find for pc: at or before pc, and the last such (the next row, if any,
 * is after pc). Rows are sorted, so this holds for one index only, and a
 * stale cache entry (a table id reused for another file) is refused. */
static __always_inline struct unwind_row *unwind_row_at(void *rows, __u32 count, __u64 pc, __u32 idx)
{
	struct unwind_row *r, *next;
	__u32 nidx = idx + 1;

	if (idx >= count)
		return NULL;
	r = bpf_map_lookup_elem(rows, &idx);
	if (!r || r->pc > pc)
		return NULL;
	if (nidx >= count)
		return r;
	next = bpf_map_lookup_elem(rows, &nidx);
	return next && next->pc > pc ? r : NULL;
}

/* unwind_lookup_row finds the row for pc through the per-CPU cache. */
static __always_inline struct unwind_row *unwind_lookup_row(struct unwind_scratch *s, void *rows,
							     __u32 table_id, __u32 count, __u64 pc)
{
	__u32 slot = ((__u32)pc ^ (table_id * 0x9e3779b1U)) & (UNWIND_ROW_CACHE - 1);
	struct unwind_cached *c = &s->cache[slot];
	struct unwind_row *r;
	__u32 idx = 0;

	if (c->table_id == table_id && c->pc == (__u32)pc) {
		r = unwind_row_at(rows, count, pc, c->idx);
		if (r)
			return r;
	}
	r = unwind_find_row(rows, count, pc, &idx);
	if (r) {
		c->table_id = table_id;
		c->pc = pc;
		c->idx = idx;
	}
	return r;
}

static long unwind_step(__u32 i, void *data)
{
	struct unwind_loop_ctx *c = data;
	struct unwind_scratch *s = c->s;
	struct unwind_mapping *m;
	struct unwind_row *row;
	__u64 pc, cfa, ra, len;
	void *rows;

	len = s->stack.len;
	if (len >= UNWIND_MAX_FRAMES)
		return unwind_stop(s, UNWIND_STAT_DEPTH);
	s->stack.ips[len & (UNWIND_MAX_FRAMES - 1)] = s->ip;
	s->stack.len = len + 1;
	s->hash = (s->hash ^ s->ip) * 0x100000001b3ULL;

	if (!c->proc)
		return unwind_fp(c);
	m = unwind_find_mapping(c->proc, s->ip, &s->map_hint);
	if (!m) {
		/* Mapped after the process was read (a library the dynamic
		 * loader mapped after exec, dlopen): ask, and use the frame
		 * pointer meanwhile. Not remembered: the next walk asks again. */
		stat_inc(&unwind_stats, UNWIND_STAT_NO_MAPPING);
		c->memo_ok = 0;
		if (!s->guess)
			unwind_request(s->pid, s->ip);
		return unwind_fp_fallback(c);
	}
	if (!m->table_id)
		return unwind_fp(c);
	rows = bpf_map_lookup_elem(&unwind_tables, &m->table_id);
	if (!rows) {
		__u64 now = bpf_ktime_get_ns();

		stat_inc(&unwind_stats, UNWIND_STAT_NO_TABLE);
		c->memo_ok = 0;
		if (!bpf_map_update_elem(&unwind_table_requests, &m->table_id, &now, BPF_NOEXIST))
			unwind_wake_up();
		return unwind_fp_fallback(c);
	}
	/* A return address may be one past the end of its function (a call
	 * to a noreturn function): look up the call instruction instead. */
	pc = s->ip - m->bias - (s->exact_ip ? 0 : 1);
	row = unwind_lookup_row(s, rows, m->table_id, m->rows, pc);
	if (!row || row->cfa == UNWIND_CFA_NONE)
		return unwind_fp_fallback(c);

	switch (row->cfa) {
	case UNWIND_CFA_RSP:
		cfa = s->sp + row->cfa_off;
		break;
	case UNWIND_CFA_RBP:
		cfa = s->bp + row->cfa_off;
		break;
	case UNWIND_CFA_PLT:
		cfa = s->sp + row->cfa_off + ((s->ip & 15) >= (__u64)row->rbp_off ? 8 : 0);
		break;
	case UNWIND_CFA_END:
		return unwind_stop(s, UNWIND_STAT_COMPLETE);
	case UNWIND_CFA_SIGNAL: {
		__u64 sp = s->sp;

		if (bpf_probe_read_user(&s->bp, 8, (void *)(sp + UNWIND_SIG_RBP)) ||
		    bpf_probe_read_user(&s->sp, 8, (void *)(sp + UNWIND_SIG_RSP)) ||
		    bpf_probe_read_user(&s->ip, 8, (void *)(sp + UNWIND_SIG_RIP)))
			return unwind_stop(s, UNWIND_STAT_READ_FAULT);
		unwind_note(c, sp + UNWIND_SIG_RBP, s->bp, 0, 1);
		unwind_note(c, sp + UNWIND_SIG_RSP, s->sp, 0, 1);
		unwind_note(c, sp + UNWIND_SIG_RIP, s->ip, 0, 1);
		s->exact_ip = 1;
		s->guess = 0;
		return 0;
	}
	default:
		return unwind_stop(s, UNWIND_STAT_BAD_RULE);
	}
	if (cfa <= s->sp && row->cfa != UNWIND_CFA_RBP)
		return unwind_stop(s, UNWIND_STAT_BAD_RULE);
	if (row->rbp == UNWIND_RBP_AT_CFA && row->rbp_off == -16) {
		/* The usual push %rbp right after the call: the saved rbp
		 * and the return address are adjacent, one read. */
		__u64 pair[2];

		if (bpf_probe_read_user(pair, sizeof(pair), (void *)(cfa - 16)))
			return unwind_stop(s, UNWIND_STAT_READ_FAULT);
		unwind_note(c, cfa - 16, pair[0], pair[1], 2);
		s->bp = pair[0];
		ra = pair[1];
	} else {
		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
			return unwind_stop(s, UNWIND_STAT_READ_FAULT);
		unwind_note(c, cfa - 8, ra, 0, 1);
		if (row->rbp == UNWIND_RBP_AT_CFA) {
			/* Into the stack, not the scratch: a copy to a map
			 * value costs the kernel's heap-object checks. */
			__u64 bp;

			if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + row->rbp_off)))
				return unwind_stop(s, UNWIND_STAT_READ_FAULT);
			unwind_note(c, cfa + row->rbp_off, bp, 0, 1);
			s->bp = bp;
		} else if (row->rbp == UNWIND_RBP_UNDEFINED) {
			s->bp = 0;
		}
	}
	s->sp = cfa;
	s->ip = ra;
	s->exact_ip = 0;
	s->guess = 0;
	return ra ? 0 : unwind_stop(s, UNWIND_STAT_COMPLETE);
}

/* unwind_walk walks the current task's user stack. It returns the stack
 * (valid until the next walk on this CPU) and its hash (never 0), or NULL
 * when the task has no user registers. memo, when not NULL, is the task's
 * (unwind_memo): it is filled with what the walk read, and *memo_ok tells
 * whether the walk may be remembered. */
static __always_inline struct unwind_stack *unwind_walk(__u32 pid, __u64 *hash, struct unwind_memo *memo,
							 __u32 *memo_ok)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct unwind_loop_ctx c = {};
	struct unwind_scratch *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s)
		return NULL;
	if (!task->mm || !regs) {
		stat_inc(&unwind_stats, UNWIND_STAT_NO_REGS);
		return NULL;
	}
	/* regs is a BTF pointer: plain loads, no helper calls. */
	s->ip = regs->ip;
	s->sp = regs->sp;
	s->bp = regs->bp;
	if (!s->ip) {
		stat_inc(&unwind_stats, UNWIND_STAT_NO_REGS);
		return NULL;
	}
	s->stack.len = 0;
	s->hash = 0xcbf29ce484222325ULL;
	s->pid = pid;
	s->stop = UNWIND_STAT_DEPTH;
	s->exact_ip = 1;
	s->guess = 0;
	s->map_hint = 0;
	c.s = s;
	c.proc = bpf_map_lookup_elem(&unwind_procs, &pid);
	c.memo = memo;
	c.memo_ok = memo != NULL;
	if (memo) {
		memo->valid = 0;
		memo->n = 0;
		memo->pid = pid;
		memo->ip = s->ip;
		memo->sp = s->sp;
		memo->bp = s->bp;
	}
	if (!c.proc) {
		stat_inc(&unwind_stats, UNWIND_STAT_NO_PROC);
		c.memo_ok = 0;
		unwind_request(pid, s->ip);
	} else if (memo) {
		memo->serial = c.proc->serial;
	}
	stat_inc(&unwind_stats, UNWIND_STAT_WALKS);
	bpf_loop(UNWIND_MAX_FRAMES + 1, unwind_step, &c, 0);
	stat_inc(&unwind_stats, s->stop);
	*hash = s->hash ? s->hash : 1;
	if (memo_ok)
		*memo_ok = c.memo_ok && s->stop != UNWIND_STAT_READ_FAULT;
	return &s->stack;
}

/* unwind_user walks the current task's user stack (unwind_walk). */
static __always_inline struct unwind_stack *unwind_user(__u32 pid, __u64 *hash)
{
	return unwind_walk(pid, hash, NULL, NULL);
}

struct unwind_check_ctx {
	struct unwind_memo *m;
	__u32 same;
};

/* unwind_check_read reads the memo's read i again and compares. */
static long unwind_check_read(__u32 i, void *data)
{
	struct unwind_check_ctx *c = data;
	struct unwind_memo *m = c->m;
	__u64 v[2] = {};
	long err;

	if (i >= UNWIND_MEMO_READS)
		return 1;
	if (m->words[i] == 2)
		err = bpf_probe_read_user(v, 16, (void *)m->addr[i]);
	else
		err = bpf_probe_read_user(v, 8, (void *)m->addr[i]);
	if (err || v[0] != m->val[i][0] || (m->words[i] == 2 && v[1] != m->val[i][1])) {
		c->same = 0;
		return 1;
	}
	return 0;
}

/* unwind_reuse returns the stack key of the current task's last walk
 * when a walk now would find the same frames (unwind_memo) and the stack
 * is still in stacks, or 0. It costs one read of user memory per frame
 * or so, instead of the mappings' and rows' searches besides. */
static __always_inline __u64 unwind_reuse(void *stacks, struct unwind_memo *m, __u32 pid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct unwind_check_ctx c = { .m = m, .same = 1 };
	struct unwind_proc *proc;
	__u32 n = m->n;

	if (!m->valid || !regs || !task->mm || m->pid != pid)
		return 0;
	/* regs is a BTF pointer: plain loads. */
	if (regs->ip != m->ip || regs->sp != m->sp || regs->bp != m->bp)
		return 0;
	proc = bpf_map_lookup_elem(&unwind_procs, &pid);
	if (!proc || proc->serial != m->serial || n > UNWIND_MEMO_READS)
		return 0;
	if (n)
		bpf_loop(n, unwind_check_read, &c, 0);
	if (!c.same || !bpf_map_lookup_elem(stacks, &m->hash))
		return 0;
	return m->hash;
}

/* unwind_store_memo walks the current user stack and stores it in stacks
 * (a hash of u64 -> struct unwind_stack) unless an identical stack is
 * there. It returns the stack's key, or 0 when there is none to record.
 * memo (may be NULL): the task's unwind_memo, which remembers the walk
 * when it can. */
static __always_inline __u64 unwind_store_memo(void *stacks, __u32 pid, struct unwind_memo *memo)
{
	struct unwind_stack *st;
	__u32 memo_ok = 0;
	__u64 hash = 0;

	st = unwind_walk(pid, &hash, memo, &memo_ok);
	if (!st)
		return 0;
	if (!bpf_map_lookup_elem(stacks, &hash) &&
	    bpf_map_update_elem(stacks, &hash, st, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(stacks, &hash)) {
		stat_inc(&unwind_stats, UNWIND_STAT_STORE_FULL);
		return 0;
	}
	if (memo && memo_ok) {
		memo->hash = hash;
		memo->valid = 1;
	}
	return hash;
}

/* unwind_store is unwind_store_memo without a memo. */
static __always_inline __u64 unwind_store(void *stacks, __u32 pid)
{
	return unwind_store_memo(stacks, pid, NULL);
}

#endif /* __EBPF_OTEL_UNWIND_BPF_H */
