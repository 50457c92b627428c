#!/bin/sh
# A/B of the whole pipeline's busy phase between two trees, side by side:
# both pipelines run at once on one busy workload (the trees take turns to
# run it; the other runs with -workload=false), so both see the same
# machine, other work on it included. Reports each collector's CPU (the
# figure issue 14's collector work is judged by), its context switches a
# second, the sidecar's CPU and the load average. Each pipeline profiles
# the other too: the absolute figures are above a lone run's, the pairs
# compare. BPF statistics stay on for the whole A/B (each run's BPF column
# counts only its own programs).
#   bench/pipeline/ab.sh BASE_TREE BRANCH_TREE [rounds] [seconds]
# e.g. git clone . /tmp/pipeline-base && git -C /tmp/pipeline-base checkout main,
# scripts/setup.sh in it, then bench/pipeline/ab.sh /tmp/pipeline-base . 3 90
set -eu
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) rounds=${3:-3} seconds=${4:-90}
dir=$(mktemp -d)
old=$(cat /proc/sys/kernel/bpf_stats_enabled)
trap 'echo "$old" >/proc/sys/kernel/bpf_stats_enabled; rm -rf "$dir"' EXIT
echo 1 >/proc/sys/kernel/bpf_stats_enabled
for tree in "$a" "$b"; do
	(cd "$tree" && bash scripts/setup.sh >"$dir/setup" 2>&1) || { cat "$dir/setup" >&2; exit 1; }
done
# One benchmark binary, this tree's, measures both pipelines (it runs the
# scripts/start.sh of the tree it runs in).
(cd "$(dirname "$0")/../.." && . scripts/env.sh && go build -o "$dir/pipeline" ./bench/pipeline)
# run NAME TREE WORKLOAD: one busy phase of TREE's pipeline into $dir/NAME.
run() {
	(cd "$2" && . scripts/env.sh && exec "$dir/pipeline" -states busy -seconds "$seconds" \
		-warmup $((seconds / 3)) -perf=false -cpu-prof=false -workload="$3") >"$dir/$1" 2>&1
}
# show NAME ROUND: the busy line of run NAME.
show() {
	line=$(grep -E '^busy +ebpf-otel' "$dir/$1") || { cat "$dir/$1" >&2; return 1; }
	sw=$(sed -n 's/^busy: collector context switches \([0-9.]*\).*/\1/p' "$dir/$1")
	echo "$line" | awk -v r="$2" -v t="$1" -v sw="$sw" \
		'{printf "%-5s %-4s %9s %10s %8s %8s  %s %s %s\n", r, t, $3, sw, $4, $11, $15, $16, $17}'
}
printf '%-5s %-4s %9s %10s %8s %8s  %s\n' round tree collector "switch/s" sidecar "RSS coll" "load average"
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then wa=true wb=false; else wa=false wb=true; fi
	run A "$a" $wa &
	pa=$!
	# The workload's runner waits 2 s for it to ramp up: so does the other.
	sleep 2
	run B "$b" $wb &
	pb=$!
	wait $pa || true
	wait $pb || true
	show A "$r"
	show B "$r"
done
