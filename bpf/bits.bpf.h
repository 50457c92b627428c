/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log2 buckets for latency histograms, computed with shifts (clang 14
 * crashes on __builtin_clzll in BPF code). */
#ifndef __EBPF_OTEL_BITS_BPF_H
#define __EBPF_OTEL_BITS_BPF_H

/* Slots of every log2 histogram. Slot i counts values v with
 * 2^(i-1) < v <= 2^i (slot 0 holds v == 1), which is bucket index i-1 of an
 * OpenTelemetry exponential histogram at scale 0 (base 2, buckets
 * (2^k, 2^(k+1)]). 64 slots hold every v <= 2^63 exactly; v == 0 is counted
 * apart, as the histogram's zero count. */
#define LOG2_SLOTS 64

/* log2_u64 returns floor(log2(v)) for v > 0, and 0 for v == 0. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* log2_slot returns ceil(log2(v)) for v >= 1: the slot whose range
 * (2^(i-1), 2^i] holds v, clamped to the last slot. */
static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 s = v <= 1 ? 0 : log2_u64(v - 1) + 1;

	return s < LOG2_SLOTS ? s : LOG2_SLOTS - 1;
}

#endif /* __EBPF_OTEL_BITS_BPF_H */
