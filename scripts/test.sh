#!/usr/bin/env bash
# Every test of the repository: generated code, Go (race detector, coverage),
# TypeScript (vitest, coverage), and end-to-end tests over the real collector,
# sidecar and kernel. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# A whole run from empty caches grows Go's build cache by about 2.5 GB
# (race and coverage builds) beside a 1 GB checkout: refuse early, with
# what to free, below 4 GiB.
EBPF_OTEL_MIN_FREE_MIB=${EBPF_OTEL_MIN_FREE_MIB:-4096} "$ROOT/scripts/setup.sh"
mkdir -p test-artifacts

step() { printf '\n\033[1;32m== %s\033[0m\n' "$*"; }

step "pinned versions"
scripts/check-versions.sh

step "generated code regenerates identically (bpf2go, protobuf)"
scripts/check-generated.sh
scripts/check-proto.sh

step "gofmt, go vet, golangci-lint, tsc, eslint"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed on: $unformatted" >&2; exit 1; fi
go vet ./...
golangci-lint run --allow-parallel-runners ./...
npm run --silent -w processor-ts typecheck
npm run --silent -w processor-ts lint

step "go test (race, coverage; kernel tests load real eBPF programs)"
# -p 1: tests that load programs and count the kernel's objects must not
# see another package's programs come and go.
# Coverage counts the code we write: not generated code, generators, bench
# drivers or test helpers.
coverpkg=$(go list ./receiver/... ./processor/... ./exporter/... ./internal/... |
	grep -vE '/(gen|benchcmd|sidecartest|metadata)($|/)' | paste -sd, -)
go test -race -p 1 -count=1 -timeout 20m -coverpkg="$coverpkg" \
	-coverprofile=test-artifacts/go-cover.out ./... 2>&1 |
	sed -E 's/ of statements in .*/ of statements (of our code, all packages)/'

scripts/go-coverage.sh test-artifacts/go-cover.out 85

if [ -f processor-ts/package.json ] && grep -q '"test"' processor-ts/package.json; then
	step "TypeScript tests (vitest, coverage)"
	npm test -w processor-ts
fi

step "kernel matrix: the kernel tests on Debian's 6.1 and 6.12 kernels under qemu (TCG)"
scripts/kernel-matrix.sh
