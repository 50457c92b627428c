#!/usr/bin/env bash
# Regenerates the proto outputs into a temporary directory and fails (exit 1)
# if any differs from what is in the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/gen-proto.sh "$tmp"
status=0
for d in proto/otlp.binpb processor-ts/src/gen/sidecar processor-ts/src/gen/otlp processor/internal/gen; do
	if ! diff -r "$tmp/$d" "$d" >/dev/null 2>&1; then
		echo "check-proto: $d differs from a fresh scripts/gen-proto.sh: regenerate and commit it" >&2
		diff -r "$tmp/$d" "$d" | head -20 >&2 || true
		status=1
	fi
done
exit $status
