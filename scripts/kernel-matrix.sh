#!/usr/bin/env bash
# The kernel matrix: runs the kernel tests of test/kernels/tests.txt inside
# qemu guests (TCG: KVM guests hang on these machines) booting each kernel
# of test/kernels/kernels.txt, Debian's own packages unpacked with dpkg -x
# and cached under .cache/kernels. The guests' initramfs holds busybox, the
# test binaries (go test -c), the C test programs prebuilt from
# test/kernels/programs.txt and the shared libraries they need. Results come
# back on the serial console; any failing guest fails this script. The
# guests run at the same time.
#
#   scripts/kernel-matrix.sh [kernel name...]   # default: every kernel
#
# MATRIX_TIMEOUT (seconds per guest, default 1200) bounds a hung guest;
# MATRIX_TESTS (default test/kernels/tests.txt) names another test list,
# to try a few tests in the guests without the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/kernels
WORK=$ROOT/build/kernel-matrix
KDIR=$ROOT/test/kernels
TIMEOUT=${MATRIX_TIMEOUT:-1200}
TESTS=$(realpath "${MATRIX_TESTS:-$KDIR/tests.txt}")
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { printf '\033[1;34m[matrix]\033[0m %s\n' "$*" >&2; }
die() { printf 'kernel-matrix: %s\n' "$*" >&2; exit 1; }

# since prints the seconds elapsed since $1 (date +%s.%N).
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# entries prints the non-comment lines of a list file.
entries() { grep -vE '^[[:space:]]*(#|$)' "$1"; }

# fetch_kernel unpacks Debian package $1 into the cache once and prints the
# path of its kernel image.
fetch_kernel() {
	local pkg=$1 dir=$CACHE/$1
	if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		log "fetching $pkg"
		mkdir -p "$CACHE/deb"
		rm -f "$CACHE/deb/${pkg}"_*.deb
		(cd "$CACHE/deb" && { apt-get download -q "$pkg" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null && apt-get download -q "$pkg" >/dev/null 2>&1; }; }) ||
			die "apt-get download $pkg failed: the archive may have moved on; pick the newest of its series in test/kernels/kernels.txt"
		rm -rf "$dir.tmp"
		dpkg -x "$CACHE/deb/${pkg}"_*.deb "$dir.tmp"
		rm -f "$CACHE/deb/${pkg}"_*.deb # the unpacked tree is what is kept
		mv "$dir.tmp" "$dir"
	fi
	ls "$dir"/boot/vmlinuz-*
}

# copy_file copies host file $1 into the guest root at the same path.
copy_file() {
	[ -e "$WORK/root$1" ] && return
	mkdir -p "$WORK/root$(dirname "$1")"
	cp -L "$1" "$WORK/root$1"
}

# copy_libs copies the shared libraries (and loader) ELF file $1 needs into
# the guest root at the same paths, with their separate debug files where
# the host has them (libc's: the tests name its local functions, such as
# __libc_start_call_main, from it).
copy_libs() {
	local lib id
	for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' || true); do
		case $lib in "$WORK"/*) continue ;; esac # in the guest's tree already
		[ -e "$WORK/root$lib" ] && continue
		copy_file "$lib"
		id=$(readelf -n "$lib" 2>/dev/null | awk '/Build ID/ { print $3; exit }')
		if [ -n "$id" ] && [ -e "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ]; then
			copy_file "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
		fi
	done
}

# build_root assembles the guest's file tree: busybox, /init, the test
# binaries, the test programs with their libraries and the packages'
# testdata (tests run in their package directory, as under go test).
# The tree is merged-/usr, as Debian 12's (/bin is usr/bin): tests compare
# an exec's path (/bin/sleep) with the file the process maps (/usr/bin/sleep).
build_root() {
	local root=$WORK/root pkg out args f
	rm -rf "$root"
	mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,dev,proc,sys,tmp,tests,progs,matrix,src,etc}
	for f in bin sbin lib lib64; do ln -s "usr/$f" "$root/$f"; done
	cp /bin/busybox "$root/usr/bin/busybox"
	install -m 755 "$KDIR/init.sh" "$root/init"
	entries "$TESTS" >"$root/matrix/tests"
	echo "root:x:0:0:root:/tmp:/bin/sh" >"$root/etc/passwd"
	touch "$root/src/go.mod" # marks the module root for testenv.CC
	# Static test binaries: CGO off (the guest has no libc for Go), no race
	# detector (it needs cgo, and TCG is slow enough), symbols kept for
	# readable panics.
	while read -r pkg _; do
		out=$root/tests/$(echo "$pkg" | tr / _).test
		[ -e "$out" ] && continue
		CGO_ENABLED=0 go test -c -o "$out" "./$pkg"
		mkdir -p "$root/src/$pkg"
		if [ -d "$pkg/testdata" ]; then cp -r "$pkg/testdata" "$root/src/$pkg/"; fi
	done < <(entries "$TESTS")
	while read -r pkg out args; do
		mkdir -p "$root/progs/$pkg"
		# shellcheck disable=SC2086 # args are gcc's words, as listed
		(cd "$pkg" && gcc $args -o "$root/progs/$pkg/$out") || die "building $pkg/$out for the guests"
		echo "$args" >"$root/progs/$pkg/$out.args"
		copy_libs "$root/progs/$pkg/$out"
	done < <(entries "$KDIR/programs.txt")
	# The unwinder's test programs (gcc, clang, g++ with exceptions, a
	# shared library, .debug_frame only) come from unwindtest's own list.
	out=$root/progs/receiver/internal/unwind/unwindtest
	go run ./receiver/internal/unwind/unwindtest/prebuild "$out" || die "building the unwinder's test programs for the guests"
	rm -rf "$out/src"
	for f in "$out"/*; do
		case $f in *.cmd) continue ;; esac
		LD_LIBRARY_PATH=$out copy_libs "$f"
	done
	# Distribution binaries the tests run: xz (a stripped binary unwound
	# by its .eh_frame) and coreutils' sleep (a real ELF where busybox
	# would be an applet).
	for f in /usr/bin/xz /usr/bin/sleep; do
		copy_file "$f"
		copy_libs "$f"
	done
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$WORK/initramfs.cpio"
}

# run_guest boots kernel $2 (named $1) with missing features $3 and relays
# its console; the guest's "MATRIX" lines are checked after it powers off.
run_guest() {
	local name=$1 kernel=$2 missing=$3 logf=$WORK/$1.log start line
	start=$(date +%s.%N)
	log "booting $name ($(basename "$kernel")), expecting missing: $missing"
	set +e
	# thread=single: with one host thread per vCPU (thread=multi) a vCPU can
	# run a stale translation of code the kernel live-patches with int3
	# (text_poke_bp, e.g. when a test enables a trace event and the
	# sched_switch static key flips) after the patch finished: an oops in
	# __schedule seen on 6.12. Round-robin vCPUs see each patch at once.
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg,thread=single -cpu max -smp 2 -m 2048 \
		-nodefaults -display none -serial stdio -no-reboot \
		-kernel "$kernel" -initrd "$WORK/initramfs.cpio" \
		-append "console=ttyS0 quiet panic=-1 MATRIX_KERNEL=$name EBPF_OTEL_EXPECT_MISSING=$missing" \
		</dev/null 2>&1 | sed -u 's/\r$//' | while IFS= read -r line; do
		printf '%s\n' "$line" >>"$logf"
		case $line in
		MATRIX*) printf '[%s +%5.1fs] %s\n' "$name" "$(since "$start")" "$line" >&2 ;;
		*) printf '[%s] %s\n' "$name" "$line" >&2 ;;
		esac
	done
	local rc=${PIPESTATUS[0]}
	set -e
	local total
	total=$(since "$start")
	if [ "$rc" -eq 124 ]; then
		echo "$name: FAIL (no result within ${TIMEOUT}s, log $logf)"
		return 1
	fi
	if ! grep -q '^MATRIX done fails=0$' "$logf"; then
		echo "$name: FAIL ($(grep -c '^MATRIX fail' "$logf" || true) package(s) failed or the guest stopped early; log $logf)"
		grep '^MATRIX' "$logf" | sed 's/^/  /'
		return 1
	fi
	echo "$name: pass in ${total}s (booted: $(grep '^MATRIX boot' "$logf" | grep -oE 'uptime=[^ ]+'); $(grep '^MATRIX pass' "$logf" | awk '{printf "%s%s %s", sep, $3, $4; sep=", "}'))"
}

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/setup.sh installs it)"
mkdir -p "$WORK"
t0=$(date +%s)
log "building the guests' initramfs"
build_root
log "initramfs: $(du -h "$WORK/initramfs.cpio" | cut -f1) in $(($(date +%s) - t0))s"

# The guests run side by side: single-threaded TCG keeps each qemu on one
# host CPU, so two guests on a 2-core machine take the time of one.
declare -a names pids
failed=0
while read -r name pkg missing; do
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
	kernel=$(fetch_kernel "$pkg")
	rm -f "$WORK/$name.log" "$WORK/$name.summary"
	run_guest "$name" "$kernel" "$missing" >"$WORK/$name.summary" </dev/null &
	names+=("$name")
	pids+=($!)
done < <(entries "$KDIR/kernels.txt")
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done
echo
echo "kernel matrix ($(($(date +%s) - t0))s in all):"
for name in "${names[@]}"; do
	sed 's/^/  /' "$WORK/$name.summary"
done
exit $failed
