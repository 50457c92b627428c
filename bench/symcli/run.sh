#!/bin/sh
# Cold symbolization as a user runs it, one whole process per run: the
# sidecar's `symbolize` command against llvm-symbolizer on Debian's libc
# (through its debug file) and the node binary, 20,000 random .text
# addresses each. Needs llvm and libc6-dbg (scripts/setup.sh installs both).
set -eu
cd "$(dirname "$0")/../.."
. scripts/env.sh
exec go run ./bench/symcli "$@"
