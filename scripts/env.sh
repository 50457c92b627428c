# Sourced by every script after `cd` to the repository root, and by
# developers from anywhere inside the checkout: the tools scripts/setup.sh
# installs come first on PATH (the Collector Builder and Go tools in
# .tools/bin; Node.js 24 LTS in .tools/node when the system's Node is older
# than the engines field allows).
#
# A sourced POSIX script cannot tell its own path, so the root is the
# nearest directory above $PWD holding this file: sourced from
# processor-ts/, it still finds the checkout's Node instead of silently
# falling back to the system's.
ROOT=$PWD
while [ ! -f "$ROOT/scripts/env.sh" ] && [ "$ROOT" != / ]; do
	ROOT=$(dirname "$ROOT")
done
if [ ! -f "$ROOT/scripts/env.sh" ]; then
	echo "scripts/env.sh: source it from inside the ebpf-otel checkout (no scripts/env.sh above $PWD)" >&2
	ROOT=$PWD
fi
export GOBIN="$ROOT/.tools/bin"
export PATH="$ROOT/.tools/node/node_modules/.bin:$GOBIN:$PATH"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
