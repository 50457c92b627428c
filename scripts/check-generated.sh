#!/usr/bin/env bash
# Regenerates every generated file into place and fails if any differs from
# what is committed (compared by content, so it works on a dirty tree too).
set -euo pipefail
cd "$(dirname "$0")/.."
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
gen_files() {
	{
		find receiver -name '*_bpfel.go' -o -name '*_bpfel.o'
		echo receiver/internal/syscallnames/tables.go
		# mdatagen's output for the receiver, the processors and the exporters.
		find processor exporter receiver/ebpfreceiver -path '*/internal/metadata*/generated_*' -o -name 'generated_*_test.go' -o -name documentation.md
	} | sort
}
gen_files | while read -r f; do mkdir -p "$snap/$(dirname "$f")"; cp "$f" "$snap/$f"; done
go generate ./receiver/... ./processor/... ./exporter/...
status=0
while read -r f; do
	if [ ! -f "$snap/$f" ]; then echo "check-generated: $f is new: commit it" >&2; status=1
	elif ! cmp -s "$f" "$snap/$f"; then echo "check-generated: $f differs after go generate: regenerate and commit it" >&2; status=1; fi
done < <(gen_files)
exit $status
