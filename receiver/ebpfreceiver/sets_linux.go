//go:build linux

package ebpfreceiver

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/kmem"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/memory"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/offcpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/tcp"
)

// probeSet is one entry of the list below: how a set is named in logs and
// the receiver's metrics, whether the configuration enables it, and how it
// starts from the configuration.
type probeSet struct {
	name    string
	what    string // for "starting <what>: ..." errors
	enabled func(*Config) bool
	start   func(probe.Env, *Config) (probe.Set, error)
}

// probeSets lists every probe set in start order. Adding one is its
// package under internal/probe, its section in Config, and one line here.
// off_cpu starts before syscalls: its work at every syscall exit then moves
// into the syscalls set's sys_exit program (probe.SyscallExit).
var probeSets = []probeSet{
	{"cpu", "the cpu profiler", func(c *Config) bool { return c.Profiles.CPU.Enabled }, startCPU},
	{"off_cpu", "the off-cpu profiler", func(c *Config) bool { return c.Profiles.OffCPU.Enabled }, startOffCPU},
	{"memory", "the allocation profiler", func(c *Config) bool { return c.Profiles.Memory.Enabled }, startMemory},
	{"syscalls", "syscall tracing", func(c *Config) bool { return c.Metrics.Syscalls.Enabled }, startSyscalls},
	{"tcp", "tcp tracing", func(c *Config) bool { return c.Metrics.TCP.Enabled }, startTCP},
	{"kernel_memory", "kernel memory tracing", func(c *Config) bool { return c.Metrics.KernelMemory.Enabled }, startKmem},
}

func startCPU(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Profiles.CPU
	return cpu.NewSet(env, cpu.Config{
		Frequency:    c.Frequency,
		KernelStacks: c.KernelStacks,
		UserStacks:   c.UserStacks,
		IncludeIdle:  c.IncludeIdle,
		StackEntries: c.StackMapEntries,
		CountEntries: c.CountMapEntries,
	})
}

func startOffCPU(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Profiles.OffCPU
	return offcpu.NewSet(env, offcpu.Config{
		MinBlock:      c.MinBlock,
		SamplePeriod:  c.SamplePeriod,
		KernelStacks:  c.KernelStacks,
		UserStacks:    c.UserStacks,
		StackEntries:  c.StackMapEntries,
		CountEntries:  c.CountMapEntries,
		ThreadEntries: c.ThreadMapEntries,
	})
}

func startMemory(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Profiles.Memory
	mc := memory.Config{
		SampleMean:        c.SampleMean,
		Executables:       c.Executables,
		AllMappingLibrary: c.AllMappingLibrary,
		Library:           c.Library,
		SkipInUse:         !c.InUse,
		StackEntries:      c.StackMapEntries,
		AllocEntries:      c.AllocMapEntries,
		LiveEntries:       c.LiveMapEntries,
		MaxTargets:        c.MaxTargets,
	}
	if c.SymbolPrefix != "" {
		mc.Symbols = memory.PrefixedSymbols(c.SymbolPrefix)
	}
	return memory.NewSet(env, mc)
}

func startSyscalls(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Metrics.Syscalls
	return syscalls.NewSet(env, syscalls.Config{TopProcesses: c.TopProcesses, TopSyscalls: c.TopSyscalls,
		TopHistograms: c.TopHistograms, MapEntries: c.MapEntries, LatencySampleEvery: c.LatencySampleEvery})
}

func startTCP(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Metrics.TCP
	return tcp.NewSet(env, tcp.Config{
		TopProcesses: c.TopProcesses,
		TopPeers:     c.TopPeers,
		MaxSeries:    c.MaxSeries,
		Events:       c.ConnectionLogs,
		MapEntries:   c.MapEntries,
	})
}

func startKmem(env probe.Env, cfg *Config) (probe.Set, error) {
	c := cfg.Metrics.KernelMemory
	return kmem.NewSet(env, kmem.Config{TopProcesses: c.TopProcesses, MapEntries: c.MapEntries})
}
