#!/usr/bin/env bash
# Generates the sidecar's API code from proto/ and OTLP profiles TypeScript
# from proto/otlp.binpb (itself written from pdata's Go proto module):
#   processor-ts/src/gen/sidecar   TS for ebpfotel.sidecar.v1 and grpc.health.v1 (protoc-gen-es)
#   processor-ts/src/gen/otlp      TS for opentelemetry.proto.profiles.v1development
#   processor/internal/gen         Go for ebpfotel.sidecar.v1 (protoc-gen-go, protoc-gen-connect-go)
# Usage: scripts/gen-proto.sh [OUTDIR]   (OUTDIR prefixes every output; default: the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}
buf=node_modules/.bin/buf
[ -x "$buf" ] || { echo "gen-proto: $buf missing: run npm install" >&2; exit 1; }
mkdir -p "$out/proto"
go run ./proto/cmd/dumpotlp > "$out/proto/otlp.binpb"
"$buf" generate proto --template proto/buf.gen.yaml -o "$out"
"$buf" generate proto --template proto/buf.gen.go.yaml --path proto/ebpfotel -o "$out"
"$buf" generate "$out/proto/otlp.binpb" --template proto/buf.gen.otlp.yaml -o "$out"
