#!/usr/bin/env bash
# Every benchmark; each compares against its reference side by side in one run.
# BENCH_SECONDS (default 60) and BENCH_RSS_SECONDS (default 300) size the CPU
# profiler's phases.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
"$ROOT/scripts/setup.sh"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "== CPU profiler overhead (reference: the same workload without the collector)"
go run ./bench/cpu -seconds "${BENCH_SECONDS:-60}" -rss-seconds "${BENCH_RSS_SECONDS:-300}" -rounds "${BENCH_ROUNDS:-1}"

for b in bench/*/bench.sh; do
	[ -x "$b" ] || continue
	echo "== $b"
	"$b"
done
