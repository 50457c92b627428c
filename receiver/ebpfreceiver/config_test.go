package ebpfreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, createDefaultConfig(), def)

	c := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(c))
	want := createDefaultConfig()
	want.CollectionInterval = 5 * time.Second
	want.Targets = TargetsConfig{PIDs: []uint32{1, 2}, ProcessName: "^nginx", CgroupPaths: []string{"/system.slice/nginx.service"}}
	want.Profiles.CPU.Frequency = 99
	want.Profiles.CPU.KernelStacks = false
	want.Profiles.CPU.IncludeIdle = true
	want.Profiles.CPU.StackMapEntries = 4096
	want.Profiles.CPU.CountMapEntries = 8192
	want.ProcessCache = ProcessCacheConfig{MaxProcesses: 100, CommandLine: true,
		Events: ProcessEventsConfig{Enabled: true, RingBufferSize: 65536}}
	assert.Equal(t, want, c)

	off := loadConfig(t, "offcpu")
	require.NoError(t, confmap.Validate(off))
	assert.True(t, off.Profiles.OffCPU.Enabled)
	assert.Equal(t, time.Millisecond, off.Profiles.OffCPU.MinBlock)
	assert.Equal(t, 20*time.Millisecond, off.Profiles.OffCPU.SamplePeriod)
	assert.Zero(t, createDefaultConfig().Profiles.OffCPU.SamplePeriod, "exact unless asked")
}

func TestValidateNamesFieldAndFix(t *testing.T) {
	tests := map[string]string{
		"bad_frequency": "profiles.cpu.frequency must be between 1 and 1000 Hz, got 5000; 19 is cheap, 99 is detailed",
		"bad_interval":  "collection_interval must be at least 100ms, got 10ms; set it to e.g. 10s",
		"bad_pid":       "targets.pids[0] is 0; list process ids greater than 0 (the idle task is chosen with profiles.cpu.include_idle)",
		"bad_regex":     "targets.process_name is not a valid regular expression (error parsing regexp: missing closing ]: `[`); use Go RE2 syntax, e.g. \"^nginx\"",
		"bad_cgroup":    "targets.cgroup_paths[0] \"system.slice\" must start with \"/\" (relative to cgroup_root), e.g. \"/system.slice/nginx.service\"",
		"no_stacks":     "profiles.cpu: kernel_stacks and user_stacks are both false; enable at least one",
		"bad_entries": "profiles.cpu.stack_map_entries must be between 64 and 1048576, got 1; larger maps lock more kernel memory (a stack map entry is about 1 KiB)\n" +
			"profiles.cpu.count_map_entries must be between 64 and 1048576, got 99999999; larger maps lock more kernel memory (a stack map entry is about 1 KiB)",
		"bad_cache": "process_cache.max_processes must be positive, got 0; the default is 4096\n" +
			"process_cache.events.ring_buffer_size must be a power of two between 4096 and 67108864, got 5000; the default is 262144",
		"nothing": "nothing is enabled; enable at least one probe set, e.g. profiles.cpu.enabled: true or metrics.syscalls.enabled: true",
		"bad_memory": "profiles.memory.sample_mean must be between 1 and 4294967296 bytes, got 0; 524288 (512 KiB) is cheap, 1 records every allocation\n" +
			"profiles.memory has no targets; set targets.pids, profiles.memory.executables, or profiles.memory.all_mapping_library: true\n" +
			"profiles.memory.library is empty; set the allocator library, e.g. \"libc.so.6\" or \"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\"\n" +
			"profiles.memory.max_targets must be positive, got 0; the default is 256\n" +
			"profiles.memory.live_map_entries must be between 64 and 1048576, got 1; larger maps lock more kernel memory (a stack map entry is about 1 KiB)\n" +
			"metrics.kernel_memory.top_processes must not be negative, got -1; 0 keeps every process",
		"bad_metrics": "metrics.syscalls.top_processes must not be negative, got -1; 0 keeps every process\n" +
			"metrics.syscalls.top_syscalls must not be negative, got -4; 0 keeps every syscall of a process\n" +
			"metrics.syscalls.top_histograms must not be negative, got -5; 0 keeps a histogram per syscall\n" +
			"metrics.syscalls.map_entries must be between 64 and 1048576, got 0; larger maps lock more kernel memory (a stack map entry is about 1 KiB)\n" +
			"metrics.syscalls.latency_sample_every must be between 1 and 1048576, got 0; 1 measures every call's latency, the default 16 one in 16\n" +
			"metrics.tcp.top_processes must not be negative, got -2; 0 keeps every process\n" +
			"metrics.tcp.top_peers must not be negative, got -3; 0 leaves server.address out\n" +
			"metrics.tcp.max_series must not be negative, got -6; 0 keeps every connection series",
		"bad_offcpu": "profiles.off_cpu.min_block must not be negative, got -1s; the default is 100us\n" +
			"profiles.off_cpu.sample_period must be between 0 and 1s, got -1ms; 0 records every block exactly, 10ms samples shorter blocks in proportion to their time\n" +
			"profiles.off_cpu: kernel_stacks and user_stacks are both false; enable at least one\n" +
			"profiles.off_cpu.thread_map_entries must be between 64 and 1048576, got 1; larger maps lock more kernel memory (a stack map entry is about 1 KiB)",
		"bad_roots": "proc_root is empty; set it to where procfs is mounted, usually \"/proc\"\n" +
			"cgroup_root \"sys/fs/cgroup\" must be an absolute path, or empty to find the cgroup v2 mount",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			err := loadConfig(t, name).Validate()
			require.Error(t, err)
			assert.Equal(t, want, err.Error())
		})
	}
}
