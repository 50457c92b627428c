#!/bin/sh
# Slowdown of a malloc-heavy program (churn.c) under the allocation
# profiler: no profiler, default sampling (512 KiB) and every allocation,
# side by side in alternating rounds. Needs root and gcc. The driver lives
# under receiver/ because it imports the receiver's internal packages.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./receiver/internal/probe/memory/benchcmd "$@"
