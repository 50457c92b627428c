#!/usr/bin/env bash
# Every benchmark; each compares against its reference side by side in one run.
# BENCH_SECONDS (default 60) and BENCH_RSS_SECONDS (default 300) size the CPU
# profiler's phases; BENCH_PIPELINE_SECONDS (default 300) each phase of the
# whole-pipeline benchmark (idle and busy, ours and perf record: 4 phases);
# BENCH_PROC_SECONDS (default 30) and BENCH_EXEC_SECONDS (default 20) the
# process tracking benchmark's churn and exec-rate phases;
# BENCH_CARDINALITY_SECONDS (default 65) each phase of the metrics
# cardinality benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
"$ROOT/scripts/setup.sh"

echo "== CPU profiler overhead (reference: the same workload without the collector)"
go run ./bench/cpu -seconds "${BENCH_SECONDS:-60}" -rss-seconds "${BENCH_RSS_SECONDS:-300}" -rounds "${BENCH_ROUNDS:-1}"

echo "== the whole default pipeline as npm start runs it (reference: perf record -F 19 -a -g)"
go run ./bench/pipeline -seconds "${BENCH_PIPELINE_SECONDS:-300}"

echo "== metrics cardinality of the default config on a busy node (reference: the same config with the syscall limits off)"
go run ./bench/cardinality -seconds "${BENCH_CARDINALITY_SECONDS:-65}"

echo "== npm start's summary line per interval (reference: the debug exporter it replaced, at each verbosity)"
go test -run '^$' -bench Interval -benchtime 50x ./exporter/summaryexporter/

echo "== process tracking: attribution on a churn workload against perf record -g; cost at 1,000 execs/s"
go run ./bench/proctrack -seconds "${BENCH_PROC_SECONDS:-30}" -exec-seconds "${BENCH_EXEC_SECONDS:-20}"

# References the other benchmarks compare against.
# bpftrace: the syscall benchmark's reference; libstdc++'s debug file: the
# symbolizer benchmark's large C++ binary; Debian's python3: a stock program
# for the unwinder benchmark (against perf, from linux-perf).
for pkg in bpftrace libstdc++6-12-dbg python3; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null
done

echo "== symbolizer against llvm-symbolizer; aggregator against go tool pprof"
npm run --silent -w processor-ts bench

for b in bench/*/run.sh bench/*/bench.sh; do
	[ -f "$b" ] || continue
	echo "== $b"
	sh "$b"
done
