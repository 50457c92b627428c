//go:build linux

package ebpfreceiver

import "testing"

func TestVMPerms(t *testing.T) {
	for flags, want := range map[uint32]string{5: "r-xp", 4: "--xp", 7: "rwxp", 13: "r-xs", 0: "---p"} {
		if got := vmPerms(flags); got != want {
			t.Errorf("vmPerms(%d) = %q, want %q", flags, got, want)
		}
	}
}
