// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package sidecar is the processors' Connect-RPC client of the TypeScript
// sidecar: endpoint parsing (TCP or unix socket, HTTP/2 without TLS), the
// Symbolize call over pdata profiles, and the outage bookkeeping that lets a
// processor log once per outage and resume by itself.
package sidecar // import "github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
