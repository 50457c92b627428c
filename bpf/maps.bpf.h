/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Small map helpers shared by every probe set. */
#ifndef __EBPF_OTEL_MAPS_BPF_H
#define __EBPF_OTEL_MAPS_BPF_H

#include <bpf/bpf_helpers.h>
/* EFAULT, EEXIST, ... as the kernel defines them (UAPI, linux-libc-dev). */
#include <asm-generic/errno-base.h>

/* stat_inc bumps one slot of a per-CPU counter array; per-CPU so the hot path
 * never contends on a cache line. */
static __always_inline void stat_inc(void *map, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += 1;
}

/* lookup_or_init returns the value of key in map, inserting init first when
 * the key is absent. Another CPU inserting the same key meanwhile is fine:
 * the lookup after the insert finds its entry. When the map is full it
 * counts one in slot full_slot of the per-CPU array stats and returns NULL,
 * so a lost update is always counted, never silent. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init,
					    void *stats, __u32 full_slot)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		stat_inc(stats, full_slot);
	return v;
}

#endif /* __EBPF_OTEL_MAPS_BPF_H */
