//go:build linux

package tcp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// dropReasons names the kernel's enum skb_drop_reason values, read from the
// running kernel's BTF so new reasons need no code change.
type dropReasons struct {
	names []string
	// notDroppedMax is the largest value that is not a drop
	// (SKB_NOT_DROPPED_YET, SKB_CONSUMED).
	notDroppedMax uint32
}

func loadDropReasons() (dropReasons, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return dropReasons{}, fmt.Errorf("loading kernel BTF: %w", err)
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return dropReasons{}, fmt.Errorf("finding enum skb_drop_reason in kernel BTF: %w", err)
	}
	return newDropReasons(e), nil
}

func newDropReasons(e *btf.Enum) dropReasons {
	r := dropReasons{names: make([]string, dropSlots), notDroppedMax: 1}
	for _, v := range e.Values {
		switch {
		case v.Name == "SKB_NOT_DROPPED_YET" || v.Name == "SKB_CONSUMED":
			r.notDroppedMax = max(r.notDroppedMax, uint32(v.Value)) //nolint:gosec // G115: drop reasons are small enum values
		case v.Value < dropSlots-1 && strings.HasPrefix(v.Name, "SKB_DROP_REASON_"):
			r.names[v.Value] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		}
	}
	r.names[dropSlots-1] = "SUBSYSTEM"
	return r
}

// name returns a reason's name, such as "NO_SOCKET".
func (r dropReasons) name(slot uint32) string {
	if int(slot) < len(r.names) && r.names[slot] != "" {
		return r.names[slot]
	}
	return "REASON_" + strconv.FormatUint(uint64(slot), 10)
}
