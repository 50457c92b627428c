// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package symbolizerprocessor is the `symbolizer` profiles processor: it sends
// each batch to the ebpf-otel sidecar (Connect-RPC, SymbolizerService) and
// passes the symbolized answer on. While the sidecar is away, on_error decides
// what happens to the batch (pass_through by default); calls resume by
// themselves when it is back.
package symbolizerprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor"

//go:generate go tool -modfile=../../tools/mdatagen/go.mod mdatagen metadata.yaml
