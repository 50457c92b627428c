// Package testenv holds the one rule every test that depends on the machine
// follows: it may skip for a missing tool, privilege or kernel feature when
// run by hand, but in CI (CI set) a skip would hide a failure, so it fails.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") != "" }

// Skip skips the test with the reason, or fails it in CI.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI must run this test: %s", msg)
	}
	t.Skip(msg)
}
