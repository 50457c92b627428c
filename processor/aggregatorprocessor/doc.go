// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package aggregatorprocessor is the `aggregator` profiles processor: it sends
// each batch to the ebpf-otel sidecar (Connect-RPC, AggregatorService), which
// merges samples with the same stack, attributes and link, compacts the
// dictionary and trims. With window 0 every batch is merged on its own and
// passed on at once; with a window the sidecar holds the merged state, the
// processor flushes it on its own timer and flushes the rest on Shutdown, so
// a clean stop loses nothing. While the sidecar is away, on_error decides
// what happens to a batch (pass_through by default).
package aggregatorprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"

//go:generate go tool -modfile=../../tools/mdatagen/go.mod mdatagen metadata.yaml
