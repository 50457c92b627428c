package loader

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// DrainGrace is how long a drain waits after switching generations before
// it reads the old one. Tracing and perf_event programs run with preemption
// off and finish within microseconds; a few milliseconds cover any program
// that read the old generation just before the switch.
const DrainGrace = 5 * time.Millisecond

// Generation is the double buffering every probe set uses: programs write
// to the maps of the generation in slot 0 of their ctl array; user space
// switches to the other one, waits DrainGrace, and drains the old one, so no
// event that arrives during a drain is lost or counted twice. Not safe for
// concurrent use.
type Generation struct {
	current uint32
}

// Switch makes programs write to the other generation and returns the one
// to drain (0 or 1).
func (g *Generation) Switch(ctl *ebpf.Map) (uint32, error) {
	next := g.current ^ 1
	if err := ctl.Put(uint32(0), next); err != nil {
		return 0, fmt.Errorf("switching generation: %w", err)
	}
	old := g.current
	g.current = next
	time.Sleep(DrainGrace)
	return old, nil
}
