#!/bin/sh
# Added cost per syscall and per TCP connection of the syscalls and tcp probe
# sets, against no tracing, the floor (empty raw_tp programs on sys_enter and
# sys_exit) and bpftrace. Needs root, gcc and bpftrace (apt-get install -y
# bpftrace). The driver lives under receiver/ because it imports the
# receiver's internal packages.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./receiver/internal/probe/syscalls/benchcmd "$@"
