#!/bin/sh
# A/B of two builds of the syscalls probe set attached at once to the same
# system calls: BPF ns per sys_enter and sys_exit run of each, from
# kernel.bpf_stats_enabled, over a getppid loop and the machine's own
# calls. The attach order alternates between rounds (the second attached
# runs second at every call). The floor (empty programs, B's binary with
# -floor) is attached too, last: "as deployed" is each build's ns per call
# (enter + exit) less the floor's, what the statistics and the tracepoint
# cost any program. Each build is a benchcmd binary:
#   go build -o /tmp/bench-a ./receiver/internal/probe/syscalls/benchcmd  (in each tree)
#   bench/syscalls/ab.sh /tmp/bench-a /tmp/bench-b [rounds] [calls] [seconds]
# calls 0 and a longer wait measure the machine's own mix alone (run it
# beside a busy workload, e.g. the pipeline benchmark's busy phase).
# Needs root, gcc and bpftool.
set -eu
a=$1 b=$2 rounds=${3:-4} calls=${4:-2000000} seconds=${5:-5}
dir=$(mktemp -d)
old=$(cat /proc/sys/kernel/bpf_stats_enabled)
trap 'echo "$old" >/proc/sys/kernel/bpf_stats_enabled; kill $(cat "$dir"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT
echo 1 >/proc/sys/kernel/bpf_stats_enabled
gcc -O2 -o "$dir/loop" "$(dirname "$0")/../../receiver/internal/probe/syscalls/benchcmd/csrc/loop.c"

# start NAME BIN [FLAG]: loads BIN's set, holding it until its stdin (a sleep) ends.
start() {
	mkfifo "$dir/$1.in"
	sleep 3600 >"$dir/$1.in" & echo $! >"$dir/$1.pid"
	"$2" -hold ${3:-} <"$dir/$1.in" >"$dir/$1.ids" & echo $! >"$dir/$1.hold"
	while [ ! -s "$dir/$1.ids" ]; do sleep 0.1; done
}
stop() {
	kill "$(cat "$dir/$1.pid")"
	wait "$(cat "$dir/$1.hold")" || true
	rm -f "$dir/$1.pid" "$dir/$1.hold" "$dir/$1.in" "$dir/$1.ids"
}
# stats ID: run time (ns) and runs of program ID.
stats() { bpftool prog show id "$1" | sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p'; }

printf '%-6s %-5s %10s %10s %10s %10s %10s %10s %9s %9s  %s\n' round order "A exit" "B exit" "A enter" "B enter" "fl exit" "fl enter" "A deploy" "B deploy" "load average"
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then start A "$a"; start B "$b"; order=AB; else start B "$b"; start A "$a"; order=BA; fi
	start F "$b" -floor
	read -r aen aex <"$dir/A.ids"; read -r ben bex <"$dir/B.ids"; read -r fen fex <"$dir/F.ids"
	for id in $aen $aex $ben $bex $fen $fex; do stats "$id" >"$dir/$id.0"; done
	[ "$calls" = 0 ] || "$dir/loop" "$calls" >/dev/null
	sleep "$seconds" # and the machine's own calls
	for id in $aen $aex $ben $bex $fen $fex; do stats "$id" >"$dir/$id.1"; done
	per() { read -r t0 c0 <"$dir/$1.0"; read -r t1 c1 <"$dir/$1.1"; echo $(((t1 - t0) / (c1 - c0))); }
	ax=$(per "$aex") bx=$(per "$bex") an=$(per "$aen") bn=$(per "$ben") fx=$(per "$fex") fn=$(per "$fen")
	printf '%-6s %-5s %10s %10s %10s %10s %10s %10s %9s %9s  %s\n' "$r" $order "$ax" "$bx" "$an" "$bn" "$fx" "$fn" \
		$((ax + an - fx - fn)) $((bx + bn - fx - fn)) "$(cut -d' ' -f1-3 /proc/loadavg)"
	stop A; stop B; stop F
done
