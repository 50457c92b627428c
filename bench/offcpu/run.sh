#!/bin/sh
# The off-CPU probe set's BPF time per context switch with user stacks
# walked at switch-out against deferred to sys_exit (the default), side by
# side in one run, plus the deferral's cost per syscall (a getppid loop).
# Needs root and gcc. The driver lives under receiver/ because it imports
# the receiver's internal packages. BENCH_OFFCPU_SECONDS per phase.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./receiver/internal/probe/offcpu/benchcmd -seconds "${BENCH_OFFCPU_SECONDS:-10}" "$@"
