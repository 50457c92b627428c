// Package loader holds what every probe set needs before and while loading:
// privilege checks that name the missing capability, and error wrapping that
// turns kernel refusals into advice.
package loader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Capability numbers from linux/capability.h.
const (
	CapSysAdmin  = 21
	CapSysPtrace = 19
	CapPerfmon   = 38
	CapBPF       = 39
)

// ErrMissingCapability is wrapped by every error that reports a missing capability.
var ErrMissingCapability = errors.New("missing capability")

// CapSet is a set of effective capabilities.
type CapSet uint64

// Has reports whether capability c is in the set.
func (s CapSet) Has(c int) bool { return s&(1<<uint(c)) != 0 }

// EffectiveCaps reads the calling process's effective capability set.
func EffectiveCaps() (CapSet, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	defer f.Close()
	return parseCapEff(f)
}

func parseCapEff(r io.Reader) (CapSet, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing CapEff %q: %w", v, err)
		}
		return CapSet(n), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return 0, errors.New("reading capabilities: no CapEff line in /proc/self/status")
}

// CheckProfiling verifies the capabilities needed to load BPF programs and open
// perf events. The kernel accepts CAP_SYS_ADMIN in place of CAP_BPF and
// CAP_PERFMON (bpf_capable, perfmon_capable), so we do too.
func CheckProfiling(caps CapSet) error {
	var missing []string
	if !caps.Has(CapBPF) && !caps.Has(CapSysAdmin) {
		missing = append(missing, "CAP_BPF")
	}
	if !caps.Has(CapPerfmon) && !caps.Has(CapSysAdmin) {
		missing = append(missing, "CAP_PERFMON")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s (needed to load eBPF programs and open perf events; "+
		"run as root or grant them, e.g. setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep otelcol-ebpf, "+
		"or in Kubernetes securityContext.capabilities.add: [BPF, PERFMON, SYS_PTRACE])",
		ErrMissingCapability, strings.Join(missing, " and "))
}
