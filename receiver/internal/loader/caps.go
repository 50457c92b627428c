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
	CapDacReadSearch     = 2
	CapSetpcap           = 8
	CapSysPtrace         = 19
	CapSysAdmin          = 21
	CapPerfmon           = 38
	CapBPF               = 39
	CapCheckpointRestore = 40
)

// ErrMissingCapability is wrapped by every error that reports a missing capability.
var ErrMissingCapability = errors.New("missing capability")

// CapSet is a set of capabilities.
type CapSet uint64

// Has reports whether capability c is in the set.
func (s CapSet) Has(c int) bool { return s&(1<<uint(c)) != 0 }

// capNames name the capabilities the receiver uses, for messages.
var capNames = map[int]string{
	CapDacReadSearch: "CAP_DAC_READ_SEARCH", CapSetpcap: "CAP_SETPCAP",
	CapSysPtrace: "CAP_SYS_PTRACE", CapSysAdmin: "CAP_SYS_ADMIN",
	CapPerfmon: "CAP_PERFMON", CapBPF: "CAP_BPF", CapCheckpointRestore: "CAP_CHECKPOINT_RESTORE",
}

// String lists the set's capabilities by name (by number for those the
// receiver never uses), lowest first.
func (s CapSet) String() string {
	var names []string
	for c := range 64 {
		if !s.Has(c) {
			continue
		}
		if n, ok := capNames[c]; ok {
			names = append(names, n)
		} else {
			names = append(names, "cap_"+strconv.Itoa(c))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// EffectiveCaps reads the calling thread's effective capability set.
func EffectiveCaps() (CapSet, error) {
	return readCaps("/proc/thread-self/status", "CapEff")
}

// PermittedCaps reads the calling thread's permitted capability set.
func PermittedCaps() (CapSet, error) {
	return readCaps("/proc/thread-self/status", "CapPrm")
}

// readCaps reads the set named field (CapEff, CapPrm, CapBnd...) from a
// /proc status file.
func readCaps(path, field string) (CapSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	defer f.Close()
	return parseCaps(f, field)
}

func parseCapEff(r io.Reader) (CapSet, error) { return parseCaps(r, "CapEff") }

func parseCaps(r io.Reader, field string) (CapSet, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q: %w", field, v, err)
		}
		return CapSet(n), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return 0, fmt.Errorf("reading capabilities: no %s line", field)
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
