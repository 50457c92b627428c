# Sourced by every script after `cd` to the repository root: the tools
# scripts/setup.sh installs come first on PATH (the Collector Builder and Go
# tools in .tools/bin; Node.js 24 LTS in .tools/node when the system's Node
# is older than the engines field allows).
ROOT=$PWD
export GOBIN="$ROOT/.tools/bin"
export PATH="$ROOT/.tools/node/node_modules/.bin:$GOBIN:$PATH"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
