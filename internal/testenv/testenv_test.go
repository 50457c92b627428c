package testenv

import (
	"os"
	"testing"
	"time"
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
