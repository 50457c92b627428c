#!/bin/sh
# What kernel feature probing adds to the receiver's start, against the
# reference, `bpftool feature probe kernel`, side by side in one run. Needs
# root and bpftool (scripts/setup.sh installs it).
set -eu
cd "$(dirname "$0")/../.."
exec go run ./receiver/internal/loader/benchcmd "$@"
