#!/usr/bin/env bash
# Every OpenTelemetry Collector module in go.mod and in the ocb manifest must
# be at one release (core v0.165.0 with pdata v1.71.0; see README): mixing
# releases compiles but breaks at run time in subtle ways. The manifest's one
# replace (a test-only dependency of the file exporter) must stay out of the
# built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
CORE=v0.165.0 PDATA=v1.71.0
status=0
bad=$(grep -E '^\s+go\.opentelemetry\.io/collector/' go.mod | awk -v c="$CORE" -v p="$PDATA" '$2 != c && $2 != p {print "  " $1 " " $2}')
if [ -n "$bad" ]; then
	echo "check-versions: go.mod has collector modules off the pinned release ($CORE / $PDATA):" >&2
	echo "$bad" >&2
	status=1
fi
bad=$(grep -E '^\s+- gomod: (go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)/' builder-config.yaml |
	awk -v c="$CORE" -v p="$PDATA" '$4 != c && $4 != p {print "  " $3 " " $4}')
if [ -n "$bad" ]; then
	echo "check-versions: builder-config.yaml has modules off the pinned release ($CORE / $PDATA):" >&2
	echo "$bad" >&2
	status=1
fi
grep -q 'github.com/cilium/ebpf v0.22.0' go.mod || { echo "check-versions: cilium/ebpf must be v0.22.0" >&2; status=1; }
bin=build/otelcol-ebpf/otelcol-ebpf
if [ -x "$bin" ] && go version -m "$bin" | grep -q 'otlpencodingextension'; then
	echo "check-versions: $bin links otlpencodingextension, which builder-config.yaml replaces with an older release for the file exporter's tests only" >&2
	status=1
fi
exit $status
