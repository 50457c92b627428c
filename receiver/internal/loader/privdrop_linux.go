//go:build linux

package loader

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// Needs says what a started receiver still does that takes privilege.
type Needs struct {
	// LateUprobes: the allocation profiler attaches uprobes to processes
	// found after Start (targets by pid, executable or library). The
	// kernel's uprobe PMU asks for CAP_SYS_ADMIN (perf_uprobe_event_init),
	// whatever CAP_PERFMON says.
	LateUprobes bool
}

// KeepAfterStart is the set a receiver keeps once its programs are loaded
// and attached:
//   - CAP_BPF: every bpf(2) command (drains, the unwinder's and process
//     table's map updates) asks for it on kernels before 6.5 when
//     unprivileged BPF is disabled, as distributions do;
//   - CAP_SYS_PTRACE: /proc/PID/maps and /proc/PID/root of processes of
//     other users, or with capabilities the receiver no longer has;
//   - CAP_DAC_READ_SEARCH: mapped files (build IDs, CFI) whose modes
//     refuse a root without CAP_DAC_OVERRIDE;
//   - CAP_CHECKPOINT_RESTORE: /proc/PID/map_files, the one way to reach a
//     mapped file that was deleted or replaced;
//   - with Needs.LateUprobes, CAP_SYS_ADMIN and CAP_PERFMON.
//
// The caller's permitted set still bounds it: nothing is ever gained.
func KeepAfterStart(n Needs) CapSet {
	keep := CapSet(1<<CapBPF | 1<<CapSysPtrace | 1<<CapDacReadSearch | 1<<CapCheckpointRestore)
	if n.LateUprobes {
		keep |= 1<<CapSysAdmin | 1<<CapPerfmon
	}
	return keep
}

// fitPermitted keeps what the permitted set holds. A process that loaded
// its programs with CAP_SYS_ADMIN standing in for CAP_BPF keeps
// CAP_SYS_ADMIN, the one capability its bpf(2) calls pass with.
func fitPermitted(keep, permitted CapSet) CapSet {
	out := keep & permitted
	if keep.Has(CapBPF) && !permitted.Has(CapBPF) && permitted.Has(CapSysAdmin) {
		out |= 1 << CapSysAdmin
	}
	return out
}

// DropTo reduces the permitted and effective sets of every thread of the
// process to keep (within what they hold), clears the inheritable and
// ambient sets and, when CAP_SETPCAP allows, the bounding set too, so that
// an exec cannot bring the rest back even though the user stays root.
// Capabilities are per thread: psx runs each system call on all of them
// (cgo or not), so no Go thread keeps what the others dropped. It returns
// the set every thread has afterwards, checked in /proc/self/task.
func DropTo(keep CapSet) (CapSet, error) {
	// One thread for the whole sequence, so that what it reads is what
	// the psx calls changed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prm, err := PermittedCaps()
	if err != nil {
		return 0, err
	}
	eff, err := EffectiveCaps()
	if err != nil {
		return 0, err
	}
	keep = fitPermitted(keep, prm)
	if eff.Has(CapSetpcap) {
		last, err := lastCap()
		if err != nil {
			return 0, err
		}
		for c := 0; c <= last; c++ {
			if keep.Has(c) {
				continue
			}
			if _, _, errno := psx.Syscall3(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); errno != 0 {
				return 0, fmt.Errorf("dropping capability %d from the bounding set: %w", c, errno)
			}
		}
	}
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); errno != 0 && errno != unix.EINVAL {
		// EINVAL: a kernel without ambient capabilities (before 4.3).
		return 0, fmt.Errorf("clearing ambient capabilities: %w", errno)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	// The kernel takes the 64-bit sets as two 32-bit halves.
	lo, hi := uint32(keep&0xffffffff), uint32(keep>>32)
	data[0].Effective, data[0].Permitted = lo, lo
	data[1].Effective, data[1].Permitted = hi, hi
	//nolint:gosec // G103: capset(2) takes pointers to its header and data, kept alive below
	if _, _, errno := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return 0, fmt.Errorf("setting capabilities to %s: %w", keep, errno)
	}
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	threads, err := ThreadCaps()
	if err != nil {
		return 0, err
	}
	for tid, c := range threads {
		if c.Effective != keep || c.Permitted != keep {
			return 0, fmt.Errorf("thread %d kept effective %s, permitted %s after dropping to %s", tid, c.Effective, c.Permitted, keep)
		}
	}
	return keep, nil
}

// lastCap is the highest capability number the kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading the highest capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("reading the highest capability: %q", b)
	}
	return n, nil
}

// Caps are one thread's capability sets.
type Caps struct {
	Effective, Permitted, Inheritable, Bounding, Ambient CapSet
}

// ThreadCaps reads the capability sets of every thread of the process.
func ThreadCaps() (map[int]Caps, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing threads: %w", err)
	}
	out := make(map[int]Caps, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return nil, fmt.Errorf("reading thread %d's capabilities: %w", tid, err)
		}
		var c Caps
		for _, f := range []struct {
			name string
			dst  *CapSet
		}{{"CapEff", &c.Effective}, {"CapPrm", &c.Permitted}, {"CapInh", &c.Inheritable}, {"CapBnd", &c.Bounding}, {"CapAmb", &c.Ambient}} {
			if *f.dst, err = parseCaps(strings.NewReader(string(b)), f.name); err != nil {
				return nil, fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		out[tid] = c
	}
	return out, nil
}

// The drop is process-wide, but a collector may run several receivers, and
// one that is still loading needs everything. dropGate lets the last of
// them to finish starting drop to the union of what the running ones keep;
// a receiver configured to keep its capabilities prevents the drop.
var dropGate struct {
	mu       sync.Mutex
	starting int
	running  map[*Lease]struct{}
}

// Lease is one receiver's part in the capability drop. Not safe for
// concurrent use; the gate it belongs to is.
type Lease struct {
	keep  CapSet
	drop  bool
	state leaseState
}

type leaseState int

const (
	leaseStarting leaseState = iota
	leaseRunning
	leaseGone
)

// Dropped reports the outcome of a Lease's Started.
type Dropped struct {
	// Done: the drop happened now (false when another receiver is still
	// starting, or one keeps its capabilities).
	Done bool
	// Kept is the set every thread has after the drop.
	Kept CapSet
}

// BeginStart registers a receiver that is about to load its programs: no
// drop happens until it calls Started or Abort.
func BeginStart() *Lease {
	dropGate.mu.Lock()
	defer dropGate.mu.Unlock()
	dropGate.starting++
	return &Lease{}
}

// Started marks the receiver started; with drop it asks for every
// capability outside keep to go once no receiver is starting.
func (l *Lease) Started(keep CapSet, drop bool) (Dropped, error) {
	dropGate.mu.Lock()
	defer dropGate.mu.Unlock()
	if l.state != leaseStarting {
		return Dropped{}, errors.New("capability lease: Started after Started, Abort or Release")
	}
	l.keep, l.drop, l.state = keep, drop, leaseRunning
	dropGate.starting--
	if dropGate.running == nil {
		dropGate.running = map[*Lease]struct{}{}
	}
	dropGate.running[l] = struct{}{}
	return settleLocked()
}

// Abort withdraws a receiver whose start failed; others waiting for it to
// finish may drop now.
func (l *Lease) Abort() error {
	dropGate.mu.Lock()
	defer dropGate.mu.Unlock()
	if l.state != leaseStarting {
		return nil
	}
	l.state = leaseGone
	dropGate.starting--
	_, err := settleLocked()
	return err
}

// Release takes a started receiver out of the union (at shutdown).
// Capabilities already dropped are not regained.
func (l *Lease) Release() {
	dropGate.mu.Lock()
	defer dropGate.mu.Unlock()
	if l.state == leaseStarting {
		dropGate.starting--
	}
	l.state = leaseGone
	delete(dropGate.running, l)
}

func settleLocked() (Dropped, error) {
	if dropGate.starting > 0 || len(dropGate.running) == 0 {
		return Dropped{}, nil
	}
	var keep CapSet
	for r := range dropGate.running {
		if !r.drop {
			return Dropped{}, nil
		}
		keep |= r.keep
	}
	kept, err := DropTo(keep)
	if err != nil {
		return Dropped{}, err
	}
	return Dropped{Done: true, Kept: kept}, nil
}
