/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Small map helpers shared by every probe set. */
#ifndef __EBPF_OTEL_MAPS_BPF_H
#define __EBPF_OTEL_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

/* stat_inc bumps one slot of a per-CPU counter array; per-CPU so the hot path
 * never contends on a cache line. */
static __always_inline void stat_inc(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += 1;
}

#endif /* __EBPF_OTEL_MAPS_BPF_H */
