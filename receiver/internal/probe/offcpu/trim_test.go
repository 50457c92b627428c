//go:build linux

package offcpu

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/kallsyms"
)

// dropScheduler leaves out every frame in the scheduler's and locks' text,
// as the kernel's walk of a sleeping task does, without touching the slice
// it was given (the stack reader caches it).
func TestDropScheduler(t *testing.T) {
	p := &Probe{schedText: kallsyms.Range{Start: 0x100, End: 0x200}, lockText: kallsyms.Range{Start: 0x300, End: 0x400}}
	for _, tc := range []struct {
		name     string
		in, want []uint64
	}{
		{"leading", []uint64{0x110, 0x1f0, 0x350, 0x500, 0x600}, []uint64{0x500, 0x600}},
		{"none", []uint64{0x500, 0x600}, []uint64{0x500, 0x600}},
		{"further down", []uint64{0x110, 0x500, 0x120, 0x600, 0x3ff}, []uint64{0x500, 0x600}},
		{"bounds", []uint64{0x200, 0xff, 0x400, 0x2ff}, []uint64{0x200, 0xff, 0x400, 0x2ff}},
		{"all", []uint64{0x110, 0x310}, []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]uint64(nil), tc.in...)
			assert.Equal(t, tc.want, p.dropScheduler(in))
			assert.Equal(t, tc.in, in, "the given stack is unchanged")
		})
	}
}
