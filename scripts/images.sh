#!/usr/bin/env bash
# Builds the two container images from Debian's packages and this tree, with
# no container registry (none is reachable here):
#   localhost/otelcol-ebpf:VERSION       the static collector binary (and /etc/passwd)
#   localhost/ebpf-otel-sidecar:VERSION  glibc + libstdc++ (mmdebstrap --variant=extract),
#                                        Node.js 24 (setup's binary), the sidecar with its
#                                        production dependencies only
# Elsewhere, the same images build FROM a public base (docs/deployment.md).
# Prints each image's size. Needs root, mmdebstrap and podman (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
VERSION=$(awk '/^  version:/ {print $2; exit}' builder-config.yaml)
SUITE=bookworm
work=build/images
rm -rf "$work"
mkdir -p "$work"

# Both containers run as this non-root user: the sidecar's RPC socket is
# mode 0600, so the collector must be its owner to connect. Each binary
# carries, as file capabilities, exactly what it needs.
RUN_UID=65532

log() { printf '\033[1;34m[images]\033[0m %s\n' "$*" >&2; }

# passwd_files writes /etc/passwd and /etc/group into rootfs $1, so that
# tools inside and `podman top` name the users.
passwd_files() {
	mkdir -p "$1/etc"
	printf 'root:x:0:0:root:/root:/nonexistent\nebpf-otel:x:%d:%d:ebpf-otel:/nonexistent:/nonexistent\n' "$RUN_UID" "$RUN_UID" >"$1/etc/passwd"
	printf 'root:x:0:\nebpf-otel:x:%d:\n' "$RUN_UID" >"$1/etc/group"
}

# import_rootfs tars rootfs $1 (numeric owners, file capabilities kept) and
# imports it as image $2 with the remaining podman --change arguments.
import_rootfs() {
	local dir=$1 image=$2
	shift 2
	tar --xattrs --xattrs-include='security.capability' --numeric-owner -C "$dir" -cf "$dir.tar" .
	# The tag moves to the new image; the one it leaves would stay behind
	# untagged, 190 MB a build, until the disk fills (it did, once).
	local old new
	old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
	new=$(podman import --quiet "$@" "$dir.tar" "$image")
	rm -f "$dir.tar"
	if [ -n "$old" ] && [ "$old" != "$new" ] &&
		[ -z "$(podman image inspect --format '{{join .RepoTags ","}}' "$old" 2>/dev/null)" ]; then
		podman rmi "$old" >/dev/null 2>&1 || log "$image: the image it replaced ($old) is still in use; remove it with podman rmi when done"
	fi
	log "$image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1/1e6}')"
}

collector() {
	local root=$work/collector
	mkdir -p "$root/usr/local/bin" "$root/etc/otelcol-ebpf" "$root/run/ebpf-otel" "$root/tmp"
	chmod 1777 "$root/tmp"
	install -m 0755 build/otelcol-ebpf/otelcol-ebpf "$root/usr/local/bin/otelcol-ebpf"
	# BPF: programs and maps; PERFMON: perf events and tracing programs;
	# SYS_PTRACE: other processes' /proc/PID/maps; DAC_READ_SEARCH: tracefs
	# event ids and build IDs of files of other users; SYSLOG: kernel
	# addresses in /proc/kallsyms (hidden from non-root users without it).
	# (Allocation profiles through uprobes also need SYS_ADMIN: add it here
	# and in the pod.)
	setcap cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search,cap_syslog+ep "$root/usr/local/bin/otelcol-ebpf"
	passwd_files "$root"
	import_rootfs "$root" "localhost/otelcol-ebpf:$VERSION" \
		--change 'ENTRYPOINT ["/usr/local/bin/otelcol-ebpf"]' \
		--change 'CMD ["--config=/etc/otelcol-ebpf/collector.yaml", "--feature-gates=service.profilesSupport"]' \
		--change "USER $RUN_UID:$RUN_UID"
}

sidecar() {
	local root=$work/sidecar stage=$work/sidecar-npm
	log "root filesystem: glibc and libstdc++ from Debian $SUITE (mmdebstrap)"
	mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1,libstdc++6 \
		--customize-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/locale "$1"/usr/share/man "$1"/var/cache/apt "$1"/var/lib/apt/lists' \
		"$SUITE" "$root" >"$work/mmdebstrap.log" 2>&1 || { cat "$work/mmdebstrap.log" >&2; exit 1; }
	log "sidecar: production dependencies (npm ci --omit=dev)"
	mkdir -p "$stage/processor-ts"
	cp package.json package-lock.json "$stage/"
	cp processor-ts/package.json "$stage/processor-ts/"
	(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
	rm -f "$stage/node_modules/ebpf-otel-processor" "$stage/node_modules/.package-lock.json"
	mkdir -p "$root/app" "$root/usr/local/bin" "$root/run/ebpf-otel" "$root/tmp"
	chmod 1777 "$root/tmp"
	# Node resolves /app/dist's imports in /app/node_modules (what npm
	# nested under the workspace), then /node_modules (what it hoisted).
	cp -a "$stage/node_modules" "$root/node_modules"
	[ ! -d "$stage/processor-ts/node_modules" ] || cp -a "$stage/processor-ts/node_modules" "$root/app/node_modules"
	cp -a processor-ts/package.json processor-ts/bin "$root/app/"
	(cd processor-ts && find dist -name '*.js' -print0 | cpio --quiet -0 -pdm "../$root/app")
	install -m 0755 "$(command -v node)" "$root/usr/local/bin/node"
	# File capabilities: the non-root sidecar opens /proc/PID/root of other
	# users' processes (SYS_PTRACE) and reads their files whatever the mode
	# (DAC_READ_SEARCH), and symbolizes kernel frames with /proc/kallsyms
	# (SYSLOG: addresses are hidden from non-root users without it).
	setcap cap_sys_ptrace,cap_dac_read_search,cap_syslog+ep "$root/usr/local/bin/node"
	passwd_files "$root"
	import_rootfs "$root" "localhost/ebpf-otel-sidecar:$VERSION" \
		--change 'ENTRYPOINT ["/usr/local/bin/node", "/app/bin/ebpf-otel-sidecar.js"]' \
		--change 'CMD ["serve", "--no-tcp", "--unix", "/run/ebpf-otel/sidecar.sock"]' \
		--change "USER $RUN_UID:$RUN_UID" \
		--change 'WORKDIR /app'
	rm -rf "$stage"
}

collector
sidecar
rm -rf "$work/collector" "$work/sidecar"
