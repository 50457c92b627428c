#!/usr/bin/env bash
# Sets up and builds, starts the sidecar (symbolizer) on a unix socket, then
# runs otelcol-ebpf on the embedded default config (config/default.yaml):
# profiles the whole machine, prints a summary per interval, writes every
# signal as OTLP/JSON under ./out/. Ctrl-C stops the collector, which flushes
# through the still-running sidecar; then the sidecar stops.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
"$ROOT/scripts/setup.sh"
export EBPF_OTEL_OUT="${EBPF_OTEL_OUT:-$ROOT/out}"
export EBPF_OTEL_RUN="${EBPF_OTEL_RUN:-$ROOT/build/run}"
mkdir -p "$EBPF_OTEL_OUT" "$EBPF_OTEL_RUN"
chmod 0700 "$EBPF_OTEL_RUN"
SOCK="$EBPF_OTEL_RUN/sidecar.sock"
export EBPF_OTEL_SIDECAR="unix://$SOCK"
CONFIG="${EBPF_OTEL_CONFIG:-$ROOT/config/default.yaml}"

# The sidecar runs in its own session so Ctrl-C reaches only the collector:
# the collector's last flush still finds the sidecar up.
rm -f "$SOCK"
LISTEN="${EBPF_OTEL_SIDECAR_LISTEN:-127.0.0.1:4319}"
# The sidecar's memory budget (docs/deployment.md, "Sidecar memory"): the
# parsed-file cache, the flame graph store and V8's generations are capped;
# the rest is Node's own and the requests' working set.
# With large tables read from the files on demand (docs/symbolizer.md), the
# collector, node and libc with its debug file weigh about 28 MiB in the
# cache together.
CACHE_BYTES="${EBPF_OTEL_SIDECAR_CACHE_BYTES:-33554432}"
FLAMEGRAPH_BYTES="${EBPF_OTEL_SIDECAR_FLAMEGRAPH_BYTES:-8388608}"
OLD_SPACE_MIB="${EBPF_OTEL_SIDECAR_OLD_SPACE_MIB:-64}"
# A young generation of a fixed size that holds a batch's garbage (node 24
# otherwise grows it to 3 x 64 MiB), and no pretenuring: a decoded request
# lives across awaits, and V8 then allocated every later request's objects
# straight into the old generation, whose full collections ran several
# times a second (docs/performance.md).
SEMI_SPACE_MIB="${EBPF_OTEL_SIDECAR_SEMI_SPACE_MIB:-8}"
# Maglev is V8's top tier here, not TurboFan: the sidecar runs a batch every
# few seconds, and TurboFan's compilations on V8's worker threads were a
# quarter of its CPU (perf record); without them the busy sidecar spent about
# a fifth less CPU, its workers a third less, and held less memory
# (docs/performance.md, sixth round).
OPT_FLAGS=(--max-opt=2)
# Extra node flags for the sidecar (the pipeline benchmark passes --cpu-prof,
# which node refuses in NODE_OPTIONS).
read -r -a NODE_FLAGS <<<"${EBPF_OTEL_SIDECAR_NODE_FLAGS:-}"
# glibc's allocator: two arenas rather than one per thread (V8's workers,
# libuv's pool), and every buffer of 16 KiB or more in its own mapping, given
# back when freed (the default threshold rises to the largest buffer freed,
# and file pieces freed inside the heap then stay resident): about 20 MiB less
# resident memory, the same CPU; 16 rather than 64 KiB puts the cache's
# 16 KiB pages of large tables in mappings of their own too, about 4 MiB less
# of the heap left fragmented by evictions (docs/performance.md).
SIDECAR_MALLOC=(MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=16384)
# V8's compile cache (node 22.1+): the sidecar's modules (ours and its dependencies') are compiled
# once and their code cache read at the next start (about 40 ms less CPU per
# start here). Under build/, owned by root and 0700: the cache is code the
# sidecar runs, so not a shared directory such as /tmp.
COMPILE_CACHE="$ROOT/build/node-compile-cache"
mkdir -p "$COMPILE_CACHE"
chmod 0700 "$COMPILE_CACHE"
setsid env "${SIDECAR_MALLOC[@]}" NODE_COMPILE_CACHE="$COMPILE_CACHE" node --max-old-space-size="$OLD_SPACE_MIB" --min-semi-space-size="$SEMI_SPACE_MIB" --max-semi-space-size="$SEMI_SPACE_MIB" \
	--no-allocation-site-pretenuring "${OPT_FLAGS[@]}" "${NODE_FLAGS[@]}" "$ROOT/processor-ts/dist/main.js" serve \
	--listen "$LISTEN" --unix "$SOCK" --cache-bytes "$CACHE_BYTES" --flamegraph-bytes "$FLAMEGRAPH_BYTES" \
	--pprof-dir "$EBPF_OTEL_OUT/pprof" >"$EBPF_OTEL_RUN/sidecar.log" 2>&1 &
SIDECAR=$!
stop_sidecar() {
	kill -TERM "$SIDECAR" 2>/dev/null || true
	wait "$SIDECAR" 2>/dev/null || true
}
trap stop_sidecar EXIT
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	kill -0 "$SIDECAR" 2>/dev/null || { cat "$EBPF_OTEL_RUN/sidecar.log" >&2; exit 1; }
	sleep 0.1
done
[ -S "$SOCK" ] || { echo "start: the sidecar did not come up; see $EBPF_OTEL_RUN/sidecar.log" >&2; exit 1; }

cat >&2 <<MSG
otelcol-ebpf: config $CONFIG
  OTLP/JSON   $EBPF_OTEL_OUT/{profiles,metrics,logs}.jsonl, pprof files in $EBPF_OTEL_OUT/pprof/
  log         $EBPF_OTEL_OUT/collector.log
  flame graph http://$LISTEN/flamegraph/
  sidecar     $SOCK (log $EBPF_OTEL_RUN/sidecar.log)
One line per interval below (the first once the programs are loaded); Ctrl-C stops both.
MSG
status=0
# One P for the collector: it waits nearly all the time, and with one P per
# CPU each goroutine a timer or a ring buffer wakes also woke another thread
# to look for work, and the runtime's monitor thread polled while any P ran:
# on this 2-CPU machine the idle pipeline's collector switched context about
# 150-500 times a second with the default and 50-125 with one P in half of
# the side-by-side pairs, about the same in the others
# (docs/performance.md, "Wake-ups, sixth round"). Its
# blocking work (/proc reads, BPF map syscalls) still leaves the P to another
# thread. 0 keeps Go's default.
COLLECTOR_GOMAXPROCS="${EBPF_OTEL_COLLECTOR_GOMAXPROCS:-1}"
GOMAXPROCS="$COLLECTOR_GOMAXPROCS" "$ROOT/build/otelcol-ebpf/otelcol-ebpf" --config "$CONFIG" \
	--feature-gates=service.profilesSupport "$@" || status=$?
# 130: the collector stopped on Ctrl-C, a clean stop. Otherwise its log
# (a file, so the terminal shows the summary lines) says why.
[ "$status" -eq 130 ] && status=0
if [ "$status" -ne 0 ] && [ -s "$EBPF_OTEL_OUT/collector.log" ]; then
	echo "start: otelcol-ebpf exited with $status; the end of $EBPF_OTEL_OUT/collector.log:" >&2
	tail -n 20 "$EBPF_OTEL_OUT/collector.log" >&2
fi
exit "$status"
