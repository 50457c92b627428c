// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func pcommonTime(seed int) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(time.Unix(1_760_000_000+int64(seed), 0))
}
