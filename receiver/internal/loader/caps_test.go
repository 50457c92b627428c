package loader

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCapEff(t *testing.T) {
	caps, err := parseCapEff(strings.NewReader("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(CapBPF) || !caps.Has(CapPerfmon) {
		t.Fatalf("caps %x should have CAP_BPF and CAP_PERFMON", caps)
	}
	if _, err := parseCapEff(strings.NewReader("CapEff:\tzz\n")); err == nil {
		t.Fatal("bad hex accepted")
	}
	if _, err := parseCapEff(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("missing CapEff accepted")
	}
}

func TestCheckProfiling(t *testing.T) {
	all := CapSet(1<<CapBPF | 1<<CapPerfmon)
	tests := []struct {
		name string
		caps CapSet
		want string
	}{
		{"all", all, ""},
		{"sys_admin stands in", 1 << CapSysAdmin, ""},
		{"no bpf", 1 << CapPerfmon, "missing capability: CAP_BPF ("},
		{"no perfmon", 1 << CapBPF, "missing capability: CAP_PERFMON ("},
		{"none", 0, "missing capability: CAP_BPF and CAP_PERFMON ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckProfiling(tt.caps)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrMissingCapability) {
				t.Fatalf("got %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestEffectiveCaps(t *testing.T) {
	if _, err := EffectiveCaps(); err != nil {
		t.Fatal(err)
	}
}
