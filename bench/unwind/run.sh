#!/bin/sh
# The CFI unwinder against perf record --call-graph dwarf on stock Debian
# programs (xz -9, a CPython loop): share of samples reaching
# __libc_start_call_main (ours with cfi and with fp, perf's), BPF run time
# per sample with cfi and fp, and table build time and bytes per MB of
# .eh_frame. Needs root and perf (linux-perf). The driver lives under
# receiver/ because it imports the receiver's internal packages.
# Then the collector's CPU share with cfi against fp on a busy machine with
# process churn (bench/unwind/cost; BENCH_UNWIND_COST_SECONDS per phase).
set -eu
cd "$(dirname "$0")/../.."
go run ./receiver/internal/unwind/benchcmd -seconds "${BENCH_UNWIND_SECONDS:-10}" "$@"
exec go run ./bench/unwind/cost -seconds "${BENCH_UNWIND_COST_SECONDS:-60}" -rounds "${BENCH_UNWIND_COST_ROUNDS:-2}"
