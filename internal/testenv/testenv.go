// Package testenv holds the one rule every test that depends on the machine
// follows: it may skip for a missing tool, privilege or kernel feature when
// run by hand, but in CI (see InCI) a skip would hide a failure, so it fails.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// InCI reports whether the tests run in CI: the CI variable is set to
// anything but "", "0" or "false" (any case), as processor-ts's inCI.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Skip skips the test with the reason, or fails it in CI.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI must run this test: %s", msg)
	}
	t.Skip(msg)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture we build for.
const clockTicks = 100

// ProcessCPU is the CPU time (user + system) a process has used so far, from
// /proc/PID/stat. Tests that count profile samples compare them with it
// instead of wall time: on a loaded machine a spinning thread gets only a
// share of a CPU, and a cpu-clock profiler rightly samples only that share.
func ProcessCPU(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	// utime and stime are fields 14 and 15.
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil //nolint:gosec // G115: CPU ticks of a test process, far below 2^33
}

// ProcessStart is the start of a process since boot, from /proc/PID/stat's
// starttime (field 22): the kernel's start_boottime cut to a clock tick.
func ProcessStart(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil //nolint:gosec // G115: ticks since boot, far below 2^33
}

// CheckCreationTime checks that c, a process.creation.time value (ISO 8601,
// UTC, milliseconds), names the process that started at start (as
// ProcessStart reads it): it falls in start's clock tick. The boot's wall
// time is measured here apart from the code under test; the slack covers
// the cut to milliseconds and the gap between the two clock reads.
func CheckCreationTime(c string, start time.Duration) error {
	ct, err := time.Parse(time.RFC3339Nano, c)
	if err != nil {
		return fmt.Errorf("process.creation.time %q: %w", c, err)
	}
	var real, boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &real); err != nil {
		return err
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return err
	}
	since := ct.Sub(time.Unix(real.Unix()).Add(-time.Duration(boot.Nano())))
	const tick, slack = time.Second / clockTicks, 2 * time.Millisecond
	if since < start-slack || since >= start+tick+slack {
		return fmt.Errorf("process.creation.time %s is %v after boot, not in the tick of the start at %v", c, since, start)
	}
	return nil
}

// statFields reads /proc/PID/stat's fields from field 3 (state) on. The
// command name (field 2) may hold spaces and parentheses: fields are
// counted from the last ')'.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f, nil
}

// ExpectMissingEnv names the kernel features (loader.AllFeatures names,
// comma-separated, or "none") the kernel under test lacks. The kernel
// matrix sets it in each guest from test/kernels/kernels.txt, so tests
// assert which fallback ran on which kernel.
const ExpectMissingEnv = "EBPF_OTEL_EXPECT_MISSING"

// ExpectedMissing returns the features the kernel under test is declared
// to lack, and whether a declaration exists.
func ExpectedMissing() ([]string, bool) {
	v, ok := os.LookupEnv(ExpectMissingEnv)
	if !ok || v == "" {
		return nil, false
	}
	if v == "none" {
		return []string{}, true
	}
	return strings.Split(v, ","), true
}

// EmulatedEnv is set (to 1) in the kernel matrix's guests, whose CPUs qemu
// emulates (TCG) on a host shared with other work.
const EmulatedEnv = "EBPF_OTEL_EMULATED"

// Emulated reports whether the tests run on an emulated CPU. There a
// thread waits longer for a CPU after it wakes, and a vCPU the host
// descheduled misses timer ticks: tests that bound times or sample counts
// widen those bounds, and only those, when it is true.
func Emulated() bool { return os.Getenv(EmulatedEnv) == "1" }

// MinSampleShare is the least share of the samples its CPU time predicts
// that a cpu-clock profiler must record of a spinning process: 80 %, or 15
// % on an emulated CPU, whose vCPU the host deschedules: the hrtimer then
// fires once for the whole gap while CPU-time accounting charges all of it
// (seen 49-78 % in loaded guests, 20-40 % with two single-threaded guests
// side by side on a host at load 25-30). Upper bounds (nothing counted
// twice) do not loosen.
func MinSampleShare() float64 {
	if Emulated() {
		return 0.15
	}
	return 0.8
}
