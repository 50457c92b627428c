// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TCP connections, bytes, retransmits, resets and packet drops, on BTF
 * tracepoints only (no kprobes): sock:inet_sock_set_state, tcp:*, and
 * skb:kfree_skb.
 *
 * State changes after connect() and accept() happen in softirq context, so
 * the owning process is remembered in socket local storage when it is known:
 * at connect (CLOSE -> SYN_SENT, in the caller's context) and, for accepted
 * sockets, from the process that called listen() on the local port. Socket
 * storage is freed with the socket, so nothing leaks when a close is missed.
 *
 * Counters live in two generations of a hash map as in cpu.bpf.c; closed
 * connections also go to a ring buffer when events are enabled. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcp.h"
#include "maps.bpf.h"
#include "gen.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

#include "filter.bpf.h"

const volatile bool emit_events = false;
/* Reasons up to this value are not drops (SKB_NOT_DROPPED_YET, SKB_CONSUMED);
 * set from the kernel's BTF by the loader. */
const volatile __u32 not_dropped_max = 1;

struct conn {
	__u64 start_ns;
	__u64 start_time; /* the owner's image, as in conn_key */
	__u64 exec_id;
	__u32 pid;
	__u8 dir;
	__u8 established;
	__u8 fin_out; /* we sent a FIN (close or shutdown) */
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn);
} conns SEC(".maps");

struct listen_key {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

struct owner {
	__u64 start_time; /* the listener's image, as in conn_key */
	__u64 exec_id;
	__u32 pid;
	__u8 wanted; /* the listener passed the target filters */
	char comm[TASK_COMM_LEN];
};

/* Who listens on a local port, for accepted connections. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct listen_key);
	__type(value, struct owner);
	__uint(max_entries, 4096);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct conn_key);
	__type(value, struct tcp_val);
	__uint(max_entries, 1);
} counts0 SEC(".maps"), counts1 SEC(".maps");

/* Cumulative drops by reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DROP_SLOTS);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, TCP_STAT_MAX);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static const struct tcp_val zero_val;

/* With target filters, a connection is counted only when its owner passed
 * them at its start (the connecting task, or the task that listened): its
 * later events run in softirq, where the current task is not the owner, so
 * they are judged by the socket's storage, and sockets without any are
 * left out. */
static __always_inline bool filtering(void)
{
	return filter_pid || filter_cgroup;
}

/* lport reads the local port from inet_sport: at TCP_CLOSE the port is
 * already released (inet_put_port zeroes skc_num) but inet_sport stays. */
static __always_inline __u16 lport_of(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

static __always_inline __u32 netns_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* fill_key describes sk's server end: remote for active connections, local
 * for passive ones; for unknown ones the lower port is taken as the
 * server's (ephemeral ports are high). */
static __always_inline void fill_key(struct conn_key *k, const struct sock *sk,
				     struct conn *c)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 lport = lport_of(sk);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	bool local;

	__builtin_memset(k, 0, sizeof(*k));
	k->dir = c ? c->dir : TCP_DIR_UNKNOWN;
	if (c) {
		k->start_time = c->start_time;
		k->exec_id = c->exec_id;
		k->pid = c->pid;
		__builtin_memcpy(k->comm, c->comm, sizeof(k->comm));
	}
	local = k->dir == TCP_DIR_PASSIVE || (k->dir == TCP_DIR_UNKNOWN && lport < rport);
	k->port = local ? lport : rport;
	if (family == AF_INET6) {
		k->family = 6;
		if (local)
			BPF_CORE_READ_INTO(&k->addr, sk, __sk_common.skc_v6_rcv_saddr);
		else
			BPF_CORE_READ_INTO(&k->addr, sk, __sk_common.skc_v6_daddr);
	} else {
		k->family = 4;
		if (local)
			BPF_CORE_READ_INTO((__u32 *)k->addr, sk, __sk_common.skc_rcv_saddr);
		else
			BPF_CORE_READ_INTO((__u32 *)k->addr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline struct tcp_val *counts_get(struct conn_key *k)
{
	return lookup_or_init(GEN_MAP(generation(), counts), k, &zero_val, &stats, TCP_STAT_COUNTS_FULL);
}

static __always_inline struct conn *conn_of(const struct sock *sk, __u64 flags)
{
	return bpf_sk_storage_get(&conns, (void *)sk, 0, flags);
}

/* current_image reads the current task's program image, as in conn_key:
 * the caller of connect() or listen() owns the connection. */
static __always_inline void current_image(__u64 *start_time, __u64 *exec_id)
{
	struct task_struct *task = bpf_get_current_task_btf();

	*start_time = task->group_leader->start_boottime;
	*exec_id = task->self_exec_id;
}

static __always_inline void on_listen(const struct sock *sk)
{
	struct listen_key lk = { .netns = netns_of(sk),
				 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
	struct owner o = { .pid = bpf_get_current_pid_tgid() >> 32 };

	current_image(&o.start_time, &o.exec_id);
	o.wanted = target_wanted(o.pid);
	bpf_get_current_comm(&o.comm, sizeof(o.comm));
	bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
}

static __always_inline void on_start(const struct sock *sk, __u8 dir)
{
	struct owner *o = NULL;
	struct conn *c;

	if (dir == TCP_DIR_ACTIVE) {
		if (!target_wanted(bpf_get_current_pid_tgid() >> 32))
			return;
	} else {
		struct listen_key lk = { .netns = netns_of(sk),
					 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };

		o = bpf_map_lookup_elem(&listeners, &lk);
		if (filtering() && (!o || !o->wanted))
			return;
	}
	c = conn_of(sk, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c) {
		stat_inc(&stats, TCP_STAT_NO_STORAGE);
		return;
	}
	c->start_ns = bpf_ktime_get_ns();
	c->dir = dir;
	c->established = 0;
	c->fin_out = 0;
	if (dir == TCP_DIR_ACTIVE) {
		c->pid = bpf_get_current_pid_tgid() >> 32;
		current_image(&c->start_time, &c->exec_id);
		bpf_get_current_comm(&c->comm, sizeof(c->comm));
	} else if (o) {
		c->pid = o->pid;
		c->start_time = o->start_time;
		c->exec_id = o->exec_id;
		__builtin_memcpy(c->comm, o->comm, sizeof(c->comm));
	} else {
		/* Storage is reused when the socket is: no owner left over. */
		c->pid = 0;
		c->start_time = 0;
		c->exec_id = 0;
		c->comm[0] = 0;
	}
}

static __always_inline void on_established(const struct sock *sk)
{
	struct conn *c = conn_of(sk, 0);
	struct conn_key k;
	struct tcp_val *v;

	if (!c || c->established)
		return;
	c->established = 1;
	fill_key(&k, sk, c);
	v = counts_get(&k);
	if (v)
		__sync_fetch_and_add(&v->opens, 1);
}

static __always_inline void emit_event(const struct sock *sk, struct conn *c,
				       struct conn_key *k, __u64 dur, __u64 sent, __u64 recvd)
{
	struct tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(&stats, TCP_STAT_EVENTS_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->duration_ns = dur;
	e->bytes_sent = sent;
	e->bytes_received = recvd;
	e->start_time = c->start_time;
	e->exec_id = c->exec_id;
	e->pid = c->pid;
	e->family = k->family;
	e->dir = c->dir;
	e->sport = lport_of(sk);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	if (k->family == 6) {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void on_close(const struct sock *sk)
{
	struct conn *c = conn_of(sk, 0);
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 dur, sent, recvd, flags;
	struct conn_key k;
	struct tcp_val *v;

	if (!c || !c->established)
		return;
	c->established = 0;
	dur = bpf_ktime_get_ns() - c->start_ns;
	/* bytes_acked and bytes_received count sequence space, so they include
	 * the SYN and FIN flags: the active side's bytes_acked counts its SYN
	 * (a passive child starts with snd_una past it), and our FIN once
	 * acknowledged (then snd_una == write_seq). A received FIN is the only
	 * thing that sets SOCK_DONE on a TCP socket (tcp_fin). */
	sent = BPF_CORE_READ(tp, bytes_acked);
	if (c->dir == TCP_DIR_ACTIVE && sent)
		sent--;
	if (c->fin_out && sent &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		sent--;
	recvd = BPF_CORE_READ(tp, bytes_received);
	flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	if (recvd && (flags & (1ULL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		recvd--;
	fill_key(&k, sk, c);
	v = counts_get(&k);
	if (v) {
		__sync_fetch_and_add(&v->closes, 1);
		__sync_fetch_and_add(&v->bytes_sent, sent);
		__sync_fetch_and_add(&v->bytes_received, recvd);
		__sync_fetch_and_add(&v->dur_sum, dur);
		if (dur == 0)
			__sync_fetch_and_add(&v->dur_zero, 1);
		else
			__sync_fetch_and_add(&v->dur_slots[log2_slot(dur)], 1);
	}
	if (emit_events)
		emit_event(sk, c, &k, dur, sent, recvd);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	switch (newstate) {
	case TCP_LISTEN:
		on_listen(sk);
		break;
	case TCP_SYN_SENT:
		on_start(sk, TCP_DIR_ACTIVE);
		break;
	case TCP_SYN_RECV:
		on_start(sk, TCP_DIR_PASSIVE);
		break;
	case TCP_ESTABLISHED:
		on_established(sk);
		break;
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK: {
		/* tcp_close_state: a FIN follows. */
		struct conn *c = conn_of(sk, 0);

		if (c)
			c->fin_out = 1;
		break;
	}
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN) {
			struct listen_key lk = { .netns = netns_of(sk),
						 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };

			bpf_map_delete_elem(&listeners, &lk);
		} else {
			on_close(sk);
		}
		break;
	}
	return 0;
}

/* count_sock adds one to the field at off of sk's counters. */
static __always_inline void count_sock(const struct sock *sk, __u32 off)
{
	struct conn *c = conn_of(sk, 0);
	struct conn_key k;
	struct tcp_val *v;

	if (!c && filtering())
		return;
	fill_key(&k, sk, c);
	v = counts_get(&k);
	if (v)
		__sync_fetch_and_add((__u64 *)((void *)v + off), 1);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	if (sk)
		count_sock(sk, __builtin_offsetof(struct tcp_val, retransmits));
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	if (sk)
		count_sock(sk, __builtin_offsetof(struct tcp_val, resets_received));
	return 0;
}

/* A reset answering a segment that found no socket: the server end is the
 * segment's destination. */
static __always_inline void count_orphan_reset(const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	struct conn_key k = { .dir = TCP_DIR_PASSIVE };
	struct tcphdr tcp;
	struct tcp_val *v;
	__u8 ver;

	if (bpf_probe_read_kernel(&ver, 1, head + nh) ||
	    bpf_probe_read_kernel(&tcp, sizeof(tcp), head + th))
		return;
	k.port = bpf_ntohs(tcp.dest);
	if ((ver >> 4) == 6) {
		k.family = 6;
		bpf_probe_read_kernel(&k.addr, 16, head + nh + offsetof(struct ipv6hdr, daddr));
	} else {
		k.family = 4;
		bpf_probe_read_kernel(&k.addr, 4, head + nh + offsetof(struct iphdr, daddr));
	}
	v = counts_get(&k);
	if (v)
		__sync_fetch_and_add(&v->resets_sent, 1);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (sk)
		count_sock(sk, __builtin_offsetof(struct tcp_val, resets_sent));
	else if (skb && !filtering()) /* no socket, no owner to filter by */
		count_orphan_reset(skb);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u32 slot = reason;

	if (slot <= not_dropped_max)
		return 0;
	if (slot >= DROP_SLOTS)
		slot = DROP_SLOTS - 1;
	stat_inc(&drops, slot);
	return 0;
}

/* Referenced so the types land in BTF and bpf2go generates them. */
const enum tcp_stat *unused_tcp_stat __attribute__((unused));
const enum tcp_dir *unused_tcp_dir __attribute__((unused));
const struct tcp_event *unused_tcp_event __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
