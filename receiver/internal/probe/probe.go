// Package probe is the contract between the receiver's engine and its probe
// sets. A probe set is one package under probe/ that loads its programs when
// it is built (its constructor takes an Env and its own Config), adds what
// it observed to an Interval on every Collect, reports its own Health, and
// releases everything on Close. The engine only loops over the enabled sets:
// adding a set is its package, its config section and one line in the
// receiver's list (receiver/sets_linux.go).
package probe // import "github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"

import (
	"regexp"
	"time"

	"github.com/cilium/ebpf"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// Set is one running probe set. Collect, Health and Close are called by one
// goroutine at a time (the engine serialises them); Close is safe to call
// more than once.
type Set interface {
	// Collect drains what the kernel side gathered since the last call and
	// appends it to iv. An error still leaves in iv what was read before it
	// (entries already removed from kernel maps are never dropped).
	Collect(iv *Interval) error
	// Health returns the set's cumulative counters as of the last Collect.
	Health() Health
	// Close detaches and unloads the programs and frees the maps.
	Close() error
}

// Env is what the receiver shares with every probe set: the target filters
// and the services that outlive one set.
type Env struct {
	Targets Targets
	// Logger is the receiver's logger, for what a set notices at start.
	Logger *zap.Logger
	// ProcRoot is where procfs is mounted ("/proc" unless in a container).
	ProcRoot string
	// Processes is the shared process table: identity, mappings, build IDs.
	Processes *procmaps.Cache
	// NewBuilder makes a profile builder for one profile type, bound to the
	// process table, the kernel mapping and the receiver's scope.
	NewBuilder func(profbuild.ProfileType) *profbuild.Builder
	// Unwinder walks user stacks from CFI tables (unwinder: cfi); nil
	// leaves them to the kernel's frame-pointer walker.
	Unwinder *unwind.Unwinder
	// SyscallExit is shared by the sets started from one Env; nil when
	// the receiver does not share it.
	SyscallExit *SyscallExit
}

// SyscallExit lets a set's work at every syscall exit run inside the
// syscalls set's sys_exit program (a tail call into Programs, slot 0)
// rather than as a second program on raw_syscalls:sys_exit. The set with
// such work (off-CPU) attaches its own program first, then fills Programs
// and Attached; a syscalls set started after it loads its program with
// Programs and calls Attached once that program is attached, and the first
// set detaches its own then. Until then both run, which the work must
// tolerate (off-CPU's does: what one run handles, the other finds done).
type SyscallExit struct {
	Programs *ebpf.Map
	Attached func() error
}

// Targets are the receiver's target filters, resolved. Empty fields keep
// everything.
type Targets struct {
	// PIDs and CgroupIDs are applied in the kernel (filter.bpf.h).
	PIDs      []uint32
	CgroupIDs []uint64
	// Name is targets.process_name, matched in user space against the
	// executable's short name; nil keeps every process.
	Name *regexp.Regexp
}

// Interval is one collection: the window it covers and where sets append
// their data.
type Interval struct {
	// From and To bound the profiles of this interval (the last collection
	// and now).
	From, To time.Time
	// Start is when the receiver started (the start of cumulative series
	// that existed from the beginning); Now is To as a timestamp.
	Start, Now pcommon.Timestamp
	// Metrics receives metric sets' series.
	Metrics pmetric.MetricSlice
	// Logs receives log records; it is the zero slice when no logs
	// pipeline is connected, and sets then discard their events.
	Logs plog.LogRecordSlice
	// Profiles receives profile sets' batches, one per profile type.
	Profiles []Profile
	// Resolve names a program image (ok false when it is unknown or could
	// not be read). A key without a start time names the pid's newest.
	Resolve func(procmaps.Key) (name string, ok bool)
	// Alive reports whether a program image can still be active: false
	// once its process exited or exec'd another program, or when the
	// process table does not know it. Metric sets drop an ended image's
	// series once they have emitted its last values.
	Alive func(procmaps.Key) bool
}

// Profile is one batch of one profile type.
type Profile struct {
	// Type names the profile ("cpu", "off_cpu", "alloc_space", ...).
	Type string
	Data pprofile.Profiles
	// Value is the sum of the batch's sample values.
	Value uint64
}

// Health is a set's cumulative view of itself, reported as the receiver's
// own metrics.
type Health struct {
	// ProfileTypes lists what a profile set emits; empty for metric sets.
	ProfileTypes []string
	// Counted and Filtered are a profile set's samples counted in the
	// kernel and those left out by the target filters (or thresholds).
	Counted, Filtered uint64
	// Unattributed sums a profile set's sample values whose process
	// could not be read (it had exited, with no event about it).
	Unattributed uint64
	// Lost are events the kernel side could not record, by reason, in a
	// stable order.
	Lost []Count
	// Folded counts kernel entries folded into "other" series by the
	// cardinality limits (metric sets).
	Folded uint64
}

// Count is one labelled counter.
type Count struct {
	Reason string
	Value  uint64
}
