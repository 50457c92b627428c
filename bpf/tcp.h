/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by tcp.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_TCP_H
#define __EBPF_OTEL_TCP_H

#include "bits.bpf.h"

#define TASK_COMM_LEN 16
/* Drop reasons counted one by one; larger values (subsystem reasons) share
 * the last slot. The kernel's core enum has ~130 values. */
#define DROP_SLOTS 512

enum tcp_dir {
	TCP_DIR_UNKNOWN = 0, /* socket older than the tracer */
	TCP_DIR_ACTIVE,      /* connect() */
	TCP_DIR_PASSIVE,     /* accepted from a listener */
};

/* One program image, server endpoint and direction. The server is the
 * remote end of an active connection and the local end of a passive one.
 * The image is the owner's, named as in cpu_key: a process start
 * (start_boottime, ns) tells a reused pid apart, self_exec_id an exec in
 * the same pid; all three are 0 when the owner is unknown. */
struct conn_key {
	__u64 start_time;
	__u64 exec_id;
	__u32 pid;
	__u16 port;   /* server port, host byte order */
	__u8 family;  /* 4 or 6 */
	__u8 dir;     /* enum tcp_dir */
	__u8 addr[16]; /* server address (IPv4 in the first 4 bytes) */
	char comm[TASK_COMM_LEN];
};

struct tcp_val {
	__u64 opens;
	__u64 closes;
	__u64 bytes_sent;     /* data bytes sent, counted at close */
	__u64 bytes_received; /* data bytes received, counted at close */
	__u64 retransmits;
	__u64 resets_sent;
	__u64 resets_received;
	__u64 dur_sum;  /* connection durations, ns */
	__u64 dur_zero;
	__u64 dur_slots[LOG2_SLOTS];
};

/* A closed connection, sent through the ring buffer. The owner (pid, comm
 * and image) is the one conn_key names: recorded at connect or listen, not
 * the task that happens to run when the socket closes. */
struct tcp_event {
	__u8 saddr[16]; /* local */
	__u8 daddr[16]; /* remote */
	__u64 duration_ns;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 start_time; /* owner's image as in conn_key; 0 when unknown */
	__u64 exec_id;
	__u32 pid;
	__u16 sport; /* local port, host order */
	__u16 dport; /* remote port, host order */
	__u8 family; /* 4 or 6 */
	__u8 dir;    /* enum tcp_dir */
	__u8 pad[2];
	char comm[TASK_COMM_LEN];
};

enum tcp_stat {
	TCP_STAT_COUNTS_FULL = 0, /* counts map full: update lost */
	TCP_STAT_EVENTS_LOST,     /* ring buffer full: close event lost */
	TCP_STAT_NO_STORAGE,      /* socket storage unavailable: connection untracked */
	TCP_STAT_MAX,
};

#endif /* __EBPF_OTEL_TCP_H */
