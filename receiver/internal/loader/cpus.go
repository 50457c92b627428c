package loader

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// OnlineCPUs returns the ids of the online CPUs from
// /sys/devices/system/cpu/online (a list such as "0-3,6").
func OnlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("reading online cpus: %w", err)
	}
	return ParseCPUList(string(b))
}

// ParseCPUList parses the kernel's cpu list format ("0-3,6").
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parsing cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parsing cpu list %q: %w", s, err)
			}
		}
		if b < a {
			return nil, fmt.Errorf("parsing cpu list %q: range %d-%d is reversed", s, a, b)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("parsing cpu list %q: no cpus", s)
	}
	return cpus, nil
}
