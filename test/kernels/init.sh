#!/bin/busybox sh
# /init of the kernel matrix's guests (scripts/kernel-matrix.sh): mounts what
# the receiver needs, runs each test binary listed in /matrix/tests and
# reports on the serial console in lines starting with "MATRIX", which the
# host parses. The kernel passes EBPF_OTEL_EXPECT_MISSING (the features this
# kernel lacks, whose fallbacks the tests must see taken) and MATRIX_KERNEL
# from its command line into init's environment.
/bin/busybox --install -s /bin
export PATH=/bin CI=true HOME=/tmp EBPF_OTEL_PROGRAMS=/progs EBPF_OTEL_EMULATED=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
read -r up _ </proc/uptime
echo "MATRIX boot $MATRIX_KERNEL $(uname -r) uptime=${up}s"
fails=0
while read -r pkg run; do
	case "$pkg" in '' | '#'*) continue ;; esac
	bin=/tests/$(echo "$pkg" | tr / _).test
	read -r t0 _ </proc/uptime
	(cd "/src/$pkg" && "$bin" -test.v -test.count=1 -test.timeout=15m -test.run "$run" </dev/null)
	rc=$?
	read -r t1 _ </proc/uptime
	secs=$(awk "BEGIN{printf \"%.1f\", $t1-$t0}")
	if [ $rc -eq 0 ]; then
		echo "MATRIX pass $pkg ${secs}s"
	else
		echo "MATRIX fail $pkg rc=$rc ${secs}s"
		fails=$((fails + 1))
	fi
done </matrix/tests
echo "MATRIX done fails=$fails"
poweroff -f
