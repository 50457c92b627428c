#!/usr/bin/env bash
# Every OpenTelemetry Collector module in go.mod must be at one release
# (core v0.161.0 with pdata v1.67.0; see README): mixing releases compiles
# but breaks at run time in subtle ways.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -E '^\s+go\.opentelemetry\.io/collector/' go.mod | awk '$2 !~ /^v(0\.161\.0|1\.67\.0)$/ {print "  " $1 " " $2}')
if [ -n "$bad" ]; then
	echo "check-versions: collector modules off the pinned release (v0.161.0 / v1.67.0):" >&2
	echo "$bad" >&2
	exit 1
fi
grep -q 'github.com/cilium/ebpf v0.22.0' go.mod || { echo "check-versions: cilium/ebpf must be v0.22.0" >&2; exit 1; }
