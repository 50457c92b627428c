// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package roundtrip proves that the sidecar's TypeScript OTLP profiles schema
// is wire-compatible with pdata: Go marshals a rich batch, TypeScript decodes
// and re-encodes it, Go reads it back equal.
package roundtrip
