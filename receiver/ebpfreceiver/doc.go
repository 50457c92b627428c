// Package ebpfreceiver is an OpenTelemetry Collector receiver (type "ebpf")
// that loads eBPF programs with cilium/ebpf and turns what they observe in
// the kernel into OTLP telemetry: CPU profiles whose frames are raw
// addresses plus the mappings they fall in (symbolized later, off the hot
// path, by the symbolizer processor), and metrics about its own health.
//
// It runs on Linux only and needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN),
// plus CAP_SYS_PTRACE to read other processes' memory maps.
package ebpfreceiver // import "github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver"
