package testenv

import "testing"

func TestInCI(t *testing.T) {
	t.Setenv("CI", "")
	if InCI() {
		t.Fatal("CI unset reported as CI")
	}
	t.Setenv("CI", "true")
	if !InCI() {
		t.Fatal("CI=true not reported as CI")
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
