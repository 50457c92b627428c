//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
)

// setMemory is the kernel memory of the syscalls set's maps: what the
// kernel charges for them here (memlock, with this machine's possible
// CPUs) and how much of it is per possible CPU (per-CPU maps' values,
// rounded to 8 bytes as the kernel stores them), to project other CPU
// counts.
type setMemory struct {
	cpus          int
	memlock       uint64
	perCPU        uint64
	perCPUByMap   map[string]uint64
	memlockByName map[string]uint64
}

// measureMemory loads the syscalls set with the default config and reads
// its maps' info from the kernel.
func measureMemory() (setMemory, error) {
	m := setMemory{perCPUByMap: map[string]uint64{}, memlockByName: map[string]uint64{}}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return m, fmt.Errorf("counting possible CPUs: %w", err)
	}
	m.cpus = cpus
	t, err := syscalls.Start(benchConfig())
	if err != nil {
		return m, err
	}
	defer t.Close()
	ids, err := t.ProgramIDs()
	if err != nil {
		return m, err
	}
	seen := map[ebpf.MapID]bool{}
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return m, fmt.Errorf("opening program %d: %w", id, err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			return m, fmt.Errorf("reading program %d: %w", id, err)
		}
		mids, _ := info.MapIDs()
		for _, mid := range mids {
			if seen[mid] {
				continue
			}
			seen[mid] = true
			mp, err := ebpf.NewMapFromID(mid)
			if err != nil {
				return m, fmt.Errorf("opening map %d: %w", mid, err)
			}
			mi, err := mp.Info()
			mp.Close()
			if err != nil {
				return m, fmt.Errorf("reading map %d: %w", mid, err)
			}
			lock, _ := mi.Memlock()
			m.memlock += lock
			m.memlockByName[mi.Name] += lock
			if mi.Type == ebpf.PerCPUArray || mi.Type == ebpf.PerCPUHash || mi.Type == ebpf.LRUCPUHash {
				b := uint64(mi.ValueSize+7) / 8 * 8 * uint64(mi.MaxEntries)
				m.perCPU += b
				m.perCPUByMap[mi.Name] += b
			}
		}
	}
	return m, nil
}

// at projects the set's kernel memory to a node with cpus possible CPUs.
func (m setMemory) at(cpus int) uint64 {
	shared := m.memlock - uint64(m.cpus)*m.perCPU
	return shared + uint64(cpus)*m.perCPU
}

func printMemory(m setMemory) {
	fmt.Printf("syscalls set kernel memory (map memlock, %d possible CPUs here): %.2f MB; per possible CPU %d bytes (%.1f KB)\n",
		m.cpus, float64(m.memlock)/1e6, m.perCPU, float64(m.perCPU)/1e3)
	names := make([]string, 0, len(m.memlockByName))
	for n := range m.memlockByName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Printf("  %-16s memlock %9d  per CPU %7d\n", n, m.memlockByName[n], m.perCPUByMap[n])
	}
	for _, c := range []int{2, 128, 256} {
		fmt.Printf("  projected at %3d CPUs: %7.2f MB\n", c, float64(m.at(c))/1e6)
	}
}

// hold loads the syscalls set, prints its program ids on one line and
// drains it every 10 s until stdin closes: for A/B runs of two builds
// attached at once to the same system calls (docs/performance.md).
func hold() error {
	if *holdFlr {
		ids, stop, err := floor()
		if err != nil {
			return err
		}
		defer stop()
		fmt.Println(ids[0], ids[1])
		_, err = io.Copy(io.Discard, os.Stdin)
		return err
	}
	t, err := syscalls.Start(benchConfig())
	if err != nil {
		return err
	}
	defer t.Close()
	ids, err := t.ProgramIDs()
	if err != nil {
		return err
	}
	fmt.Println(ids[0], ids[1])
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	start := pcommon.NewTimestampFromTime(time.Now())
	for {
		select {
		case <-done:
			return nil
		case now := <-tick.C:
			if _, err := t.Collect(pmetric.NewMetricSlice(), start, pcommon.NewTimestampFromTime(now), nil, nil); err != nil {
				return err
			}
		}
	}
}
