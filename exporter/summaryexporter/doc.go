// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package summaryexporter is the `summary` exporter: it reads what the
// pipelines carry and prints one short line per interval that a person
// reads at a glance — samples and the hottest functions of the CPU profile,
// the busiest syscalls, TCP connections closed, what the receiver lost and
// how many bytes the file exporters wrote — where the debug exporter prints
// a block per batch. One instance per component ID serves all three
// signals, so a line covers them all. npm start's default config uses it.
package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

//go:generate go tool -modfile=../../tools/mdatagen/go.mod mdatagen metadata.yaml
