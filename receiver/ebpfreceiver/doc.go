// Package ebpfreceiver is an OpenTelemetry Collector receiver (type "ebpf")
// that loads eBPF programs with cilium/ebpf and turns what they observe in
// the kernel into OTLP telemetry: CPU profiles whose frames are raw
// addresses plus the mappings they fall in (symbolized later, off the hot
// path, by the symbolizer processor), off-CPU and allocation profiles,
// syscall, TCP and kernel-memory metrics, and closed TCP connections as
// logs. Its own health goes to the Collector's internal telemetry.
//
// It runs on Linux only and needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN),
// plus CAP_SYS_PTRACE to read other processes' memory maps.
package ebpfreceiver // import "github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver"

//go:generate go tool -modfile=../../tools/mdatagen/go.mod mdatagen metadata.yaml
