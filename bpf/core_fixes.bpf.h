/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CO-RE flavours of kernel fields renamed across versions. */
#ifndef __EBPF_OTEL_CORE_FIXES_BPF_H
#define __EBPF_OTEL_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* task_struct::state became __state in 5.14
 * (commit 2f064a59a11f "sched: Change task_struct::state"). */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___o *t = task;

	if (bpf_core_field_exists(t->state))
		return BPF_CORE_READ(t, state);
	return BPF_CORE_READ((struct task_struct *)task, __state);
}

#endif /* __EBPF_OTEL_CORE_FIXES_BPF_H */
