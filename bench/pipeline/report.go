//go:build linux

package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

func share(d, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * d.Seconds() / (wall.Seconds() * float64(runtime.NumCPU()))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func report(rs []*result, floor time.Duration) {
	fmt.Println()
	fmt.Printf("%-5s %-11s %9s %9s %9s %8s %9s %8s %11s %11s %10s %6s %s\n", "state", "tool", "collector", "sidecar", "BPF",
		"share", "steady", "goal", "RSS coll", "RSS side", "exported", "busy", "load")
	for _, r := range rs {
		// Less the BPF time already in the collector's and the sidecar's
		// own CPU time (see ownBPF).
		total := r.coll + r.side + r.bpf - r.own
		steady := r.collSteady + r.sideSteady + r.bpfSteady - r.ownSteady
		goal := "≤ 0.3 %"
		if r.state == "busy" {
			goal = "≤ 1 %"
		}
		rssSide := "—"
		if r.tool == "ebpf-otel" {
			rssSide = fmt.Sprintf("%.0f/%.0f", mib(r.rssSide), mib(r.hwmSide))
		} else {
			goal = ""
		}
		rssColl := fmt.Sprintf("%.0f/%.0f", mib(r.rssColl), mib(r.hwmColl))
		if r.rssColl == 0 {
			rssColl = fmt.Sprintf("—/%.0f", mib(r.hwmColl))
		}
		fmt.Printf("%-5s %-11s %8.2fs %8.2fs %8.2fs %7.3f%% %8.3f%% %8s %11s %11s %9.1fM %5.0f%% %s\n", r.state, r.tool,
			r.coll.Seconds(), r.side.Seconds(), r.bpf.Seconds(), share(total, r.wall), share(steady, r.wall-r.warm), goal,
			rssColl, rssSide, float64(r.bytes)/1e6, 100*r.machineBusy, r.load)
	}
	for _, r := range rs {
		if r.tool == "ebpf-otel" {
			fmt.Printf("%s: collector context switches %.1f/s (steady; its threads' voluntary + involuntary)\n", r.state, r.collSwitches)
		}
	}
	fmt.Println("share: (collector + sidecar + BPF CPU time, less BPF run inside the first two) / (wall × CPUs); steady: after the warm-up; RSS now/peak MiB;")
	fmt.Println("busy: the whole machine's busy share in the phase (other work included); perf's kernel sampling is not counted.")
	for i := 0; i+1 < len(rs); i++ {
		o, p := rs[i], rs[i+1]
		if o.tool == "ebpf-otel" && p.tool == "perf record" && o.state == p.state && p.coll > 0 {
			fmt.Printf("%s: ebpf-otel CPU / perf record CPU = %.1f× (collector alone %.1f×); bytes %.2f×\n", o.state,
				(o.coll+o.side+o.bpf-o.own).Seconds()/p.coll.Seconds(), o.coll.Seconds()/p.coll.Seconds(), float64(o.bytes)/float64(max(p.bytes, 1)))
		}
	}
	for _, r := range rs {
		if r.tool != "ebpf-otel" {
			continue
		}
		if r.ownErr != nil {
			fmt.Printf("\n%s: BPF run inside the collector and the sidecar not estimated (counted twice in the share): %v\n", r.state, r.ownErr)
		} else {
			fmt.Printf("\n%s: BPF run inside the collector and the sidecar (in their CPU already, left out of the share once): %.2f s of %.2f s (%.0f system calls, %d switches)\n",
				r.state, r.own.Seconds(), r.bpf.Seconds(), r.ownCalls, r.ownSwitches)
		}
		var runs uint64
		for _, p := range r.bpfProgs {
			runs += p.runs
		}
		fmt.Printf("%s: as deployed (BPF statistics off): share %.3f%%, steady %.3f%%; BPF %.2f s, the statistics' %.0f ns a run × %d runs left out\n",
			r.state, share(r.coll+r.side+r.bpfDeployed, r.wall), share(r.collSteady+r.sideSteady+r.bpfDeployedSteady, r.wall-r.warm),
			bpfTotal(lessFloor(r.bpfProgs, floor)).Seconds(), float64(floor.Nanoseconds()), runs)
		fmt.Printf("%s: sidecar threads (CPU s):", r.state)
		for _, k := range sortedKeys(r.sideThreads) {
			if k != "total" {
				fmt.Printf(" %s %.2f", k, r.sideThreads[k].Seconds())
			}
		}
		fmt.Println()
		if len(r.slices) > 0 {
			fmt.Printf("%s: pipeline CPU per %.0f s (share of all CPU, in order):", r.state, sliceLen.Seconds())
			for _, d := range r.slices {
				fmt.Printf(" %.2f%%", 100*d.Seconds()/(sliceLen.Seconds()*float64(runtime.NumCPU())))
			}
			fmt.Println()
		}
		if r.splitErr != nil {
			fmt.Printf("%s: sidecar main thread split unavailable: %v\n", r.state, r.splitErr)
		} else if r.split != nil {
			var sum time.Duration
			for _, v := range r.split {
				sum += v
			}
			parts := []string{}
			for _, k := range sortedKeys(r.split) {
				parts = append(parts, fmt.Sprintf("%s %.1f%%", k, 100*r.split[k].Seconds()/max(sum.Seconds(), 1e-9)))
			}
			fmt.Printf("%s: sidecar main thread (node --cpu-prof, 10 ms samples): %s\n", r.state, strings.Join(parts, ", "))
		}
		if m := r.sideMem; m["resident_memory_bytes"] > 0 { // sidecars before the gauges lack them
			fmt.Printf("%s: sidecar memory at the end (MiB): resident %.0f, V8 heap used %.0f, external %.0f, parsed-file cache %.0f (%.0f objects)\n", r.state,
				m["resident_memory_bytes"]/(1<<20), m["heap_used_bytes"]/(1<<20), m["external_memory_bytes"]/(1<<20), m["cached_bytes"]/(1<<20), m["cached_objects"])
		}
		fmt.Printf("%s: BPF per program:", r.state)
		for _, k := range sortedKeys(r.bpfProgs) {
			s := r.bpfProgs[k]
			if s.runs == 0 {
				continue
			}
			fmt.Printf(" %s %.3fs/%d runs (%.0f ns)", k, s.runtime.Seconds(), s.runs, float64(s.runtime.Nanoseconds())/float64(s.runs))
		}
		fmt.Println()
	}
	fmt.Printf("BPF statistics' own time per program run (an empty program on sys_enter, this run): %d ns\n", floor.Nanoseconds())
	fmt.Println("goals: busy ≤ 1 % (steady ≤ 0.5 %), idle ≤ 0.3 %, sidecar steady RSS ≤ 150 MiB, collector ≤ 100 MiB")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
