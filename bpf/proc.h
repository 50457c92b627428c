/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by proc.bpf.c and the Go side (bpf2go generates Go structs). */
#ifndef __EBPF_OTEL_PROC_H
#define __EBPF_OTEL_PROC_H

#define TASK_COMM_LEN 16
/* Longest exec filename copied into an event; longer ones are truncated
 * (user space prefers /proc/PID/exe and only falls back to this). */
#define PROC_FILENAME_LEN 256

/* mmap events: each component of the path is read up to this many bytes
 * (longer ones leave the path incomplete), and at most this many are
 * walked (mount crossings included). */
#define MMAP_NAME_MAX 64
#define MMAP_PATH_DEPTH 16
/* Set in path_len when the walk reached the process's root. */
#define MMAP_PATH_COMPLETE 0x8000

enum process_event_type {
	PROCESS_EVENT_EXEC = 1, /* a new program image in pid */
	PROCESS_EVENT_FORK = 2, /* a new process (not a thread), child of ppid */
	PROCESS_EVENT_EXIT = 3, /* the last thread of pid exited */
	PROCESS_EVENT_MMAP = 4, /* pid mapped a file executable (mmap) */
};

/* One process event. (pid, start_time, exec_id) names one program image:
 * start_time tells a reused pid apart, exec_id an exec in the same pid.
 * An mmap event uses the text_* fields for the new mapping, exit_code for
 * its vm_flags (VM_READ 1, VM_WRITE 2, VM_EXEC 4, VM_SHARED 8) and
 * filename for its path's components, leaf first, each NUL-terminated, in
 * path_len bytes (with MMAP_PATH_COMPLETE when the walk reached the root). */
struct process_event {
	__u64 start_time; /* group leader's start, ns since boot (start_boottime) */
	__u64 exec_id;    /* task->self_exec_id: bumped by every exec */
	__u64 timestamp;  /* bpf_ktime_get_boot_ns() at the event */
	__u32 type;       /* enum process_event_type */
	__u32 pid;        /* thread group id */
	__u32 ppid;       /* parent's thread group id */
	__u32 exit_code;  /* exit: the group's exit code; mmap: vm_flags */
	/* exec: the executable's text mapping as the kernel laid it out, so
	 * it is known even if the process exits before user space reads it;
	 * mmap: the new mapping. */
	__u64 text_start, text_end;
	__u64 text_offset; /* file offset of text_start */
	__u64 text_inode;
	__u32 text_dev;    /* kernel dev_t: major << 20 | minor */
	__u32 path_len;    /* mmap: bytes of filename used, | MMAP_PATH_COMPLETE */
	char comm[TASK_COMM_LEN];
	char filename[PROC_FILENAME_LEN]; /* exec: the path passed to exec */
};

/* Slots of the per-CPU stats array, reported as the receiver's health. */
enum proc_stat {
	PROC_STAT_EXEC = 0,  /* exec events written */
	PROC_STAT_FORK,      /* fork events written */
	PROC_STAT_EXIT,      /* exit events written */
	PROC_STAT_LOST,      /* events lost: ring buffer full */
	PROC_STAT_FILTERED,  /* events of processes outside the target filters */
	PROC_STAT_MMAP,      /* mmap events written */
	PROC_STAT_MAX,
};

#endif /* __EBPF_OTEL_PROC_H */
