package testenv

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "0": false, "false": false, "False": false, "FALSE": false,
		"true": true, "1": true, "yes": true, "woodpecker": true,
	} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestSkipOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	ran := false
	t.Run("skips", func(t *testing.T) {
		defer func() { ran = true }()
		Skip(t, "no %s here", "tool")
		t.Fatal("not reached")
	})
	if !ran {
		t.Fatal("subtest did not run")
	}
}

func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time did not grow while spinning: %s then %s", before, after)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}

func TestProcessStartAndCreationTime(t *testing.T) {
	start, err := ProcessStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		t.Fatal(err)
	}
	if up := time.Duration(boot.Nano()); start <= 0 || start > up {
		t.Fatalf("started %v after boot, up for %v", start, up)
	}
	// The wall time of the start, formatted as process.creation.time.
	at := func(d time.Duration) string {
		return time.Now().Add(d - time.Duration(boot.Nano())).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if err := CheckCreationTime(at(start+5*time.Millisecond), start); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{at(start + 50*time.Millisecond), at(start - 50*time.Millisecond), "yesterday"} {
		if err := CheckCreationTime(bad, start); err == nil {
			t.Fatalf("%q accepted for a start at %v", bad, start)
		}
	}
	if _, err := ProcessStart(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
