//go:build linux

package main

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// statsFloor is what the kernel's BPF statistics add to the run time they
// report for every program run: with kernel.bpf_stats_enabled=1 each run is
// bracketed by two clock reads, and the reported time holds about one of
// them. A node that runs the pipeline has the statistics off and does not
// spend it. It is measured here, on this kernel and in this run, as the
// median reported run time of an empty raw tracepoint program on sys_enter
// (three rounds of a getppid loop): an empty program does nothing else.
func statsFloor() (time.Duration, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.RawTracepoint,
		License:      "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return 0, fmt.Errorf("loading the empty program: %w", err)
	}
	defer p.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
	if err != nil {
		return 0, fmt.Errorf("attaching the empty program to sys_enter: %w", err)
	}
	defer l.Close()
	var perRun []float64
	for range 3 {
		before, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("reading the empty program's statistics: %w", err)
		}
		for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
			for range 1000 {
				syscall.Getppid()
			}
		}
		after, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("reading the empty program's statistics: %w", err)
		}
		if n := after.RunCount - before.RunCount; n > 0 {
			perRun = append(perRun, float64(after.Runtime-before.Runtime)/float64(n))
		}
	}
	if len(perRun) == 0 {
		return 0, fmt.Errorf("the empty program never ran: are BPF statistics on?")
	}
	slices.Sort(perRun)
	return time.Duration(perRun[len(perRun)/2]), nil
}

// lessFloor is progs with floor taken off every run: their run time as a
// node with the statistics off would spend it (never below zero).
func lessFloor(progs map[string]bpfStat, floor time.Duration) map[string]bpfStat {
	out := make(map[string]bpfStat, len(progs))
	for k, s := range progs {
		s.runtime = max(s.runtime-time.Duration(s.runs)*floor, 0)
		out[k] = s
	}
	return out
}
