/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Target filters shared by the probe sets: by process (thread group) id and
 * by cgroup v2 id. The switches are constants set before load, so with no
 * filter the verifier drops the lookups entirely; the maps are filled by the
 * loader (receiver/internal/loader/targets.go) before attach. */
#ifndef __EBPF_OTEL_FILTER_BPF_H
#define __EBPF_OTEL_FILTER_BPF_H

#include <bpf/bpf_helpers.h>

const volatile bool filter_pid = false;
const volatile bool filter_cgroup = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 1024);
} target_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, 1024);
} target_cgroups SEC(".maps");

/* target_wanted applies the filters to process tgid running in the current
 * task's cgroup. */
static __always_inline bool target_wanted(__u32 tgid)
{
	if (filter_pid && !bpf_map_lookup_elem(&target_pids, &tgid))
		return false;
	if (filter_cgroup) {
		__u64 cg = bpf_get_current_cgroup_id();

		if (!bpf_map_lookup_elem(&target_cgroups, &cg))
			return false;
	}
	return true;
}

#endif /* __EBPF_OTEL_FILTER_BPF_H */
