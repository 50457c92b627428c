#!/usr/bin/env bash
# Sets up, builds, and runs otelcol-ebpf on the embedded default config
# (config/default.yaml): profiles the whole machine, prints a summary per
# interval, writes every signal as OTLP/JSON under ./out/. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
"$ROOT/scripts/setup.sh"
export EBPF_OTEL_OUT="${EBPF_OTEL_OUT:-$ROOT/out}"
mkdir -p "$EBPF_OTEL_OUT"
CONFIG="${EBPF_OTEL_CONFIG:-$ROOT/config/default.yaml}"
echo "otelcol-ebpf: config $CONFIG, OTLP/JSON to $EBPF_OTEL_OUT (Ctrl-C to stop)" >&2
exec "$ROOT/build/otelcol-ebpf/otelcol-ebpf" --config "$CONFIG" \
	--feature-gates=service.profilesSupport "$@"
