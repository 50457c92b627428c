// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor

import "go.opentelemetry.io/otel/attribute"

func attributeKey(k string) attribute.Key { return attribute.Key(k) }
