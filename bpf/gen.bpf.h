/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Double buffering, the kernel half of receiver/internal/loader.Generation:
 * a probe set keeps two copies of each map it drains (name0, name1) and
 * writes to the one ctl[CTL_GENERATION] selects. User space flips the slot,
 * waits for programs still running on the old copy, then drains it, so no
 * event is lost or counted twice. A set that needs more control slots (the
 * off-CPU stack epoch) defines CTL_SLOTS before including this header. */
#ifndef __EBPF_OTEL_GEN_BPF_H
#define __EBPF_OTEL_GEN_BPF_H

#include <bpf/bpf_helpers.h>

#define CTL_GENERATION 0
#ifndef CTL_SLOTS
#define CTL_SLOTS 1
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, CTL_SLOTS);
} ctl SEC(".maps");

/* ctl_get reads one control slot; 0 when it cannot (never, for an array). */
static __always_inline __u32 ctl_get(__u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(&ctl, &slot);

	return v ? *v : 0;
}

/* generation is the copy programs write to now: 0 or 1. */
static __always_inline __u32 generation(void)
{
	return ctl_get(CTL_GENERATION);
}

/* GEN_MAP(gen, name) is map name0 or name1 for generation gen. */
#define GEN_MAP(gen, name) ((gen) ? (void *)&name##1 : (void *)&name##0)

#endif /* __EBPF_OTEL_GEN_BPF_H */
