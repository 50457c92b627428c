package procmaps

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// AttrCreationTime is the semantic-conventions attribute that tells two
// processes with the same pid apart across pid reuse.
const AttrCreationTime = "process.creation.time"

// bootWall is the wall-clock time of boot, measured once: every start time
// the receiver formats in its life uses the same offset, so a process keeps
// one creation time (and its series one identity) from interval to interval.
var bootWall = sync.OnceValue(func() time.Time {
	var real, boot unix.Timespec
	// Two reads a few hundred nanoseconds apart; the attribute is
	// rounded to milliseconds, far coarser than that gap.
	if unix.ClockGettime(unix.CLOCK_REALTIME, &real) != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) != nil {
		return time.Time{}
	}
	return time.Unix(real.Unix()).Add(-time.Duration(boot.Nano()))
})

// CreationTime formats the start of the process of k (nanoseconds since
// boot, as the kernel's start_boottime) as the ISO 8601 UTC time
// process.creation.time holds, to the millisecond. It is false when the
// start time is unknown (0) or the clocks could not be read.
func CreationTime(k Key) (string, bool) {
	b := bootWall()
	if k.StartTime == 0 || b.IsZero() {
		return "", false
	}
	t := b.Add(time.Duration(k.StartTime)).UTC().Truncate(time.Millisecond) //nolint:gosec // G115: nanoseconds since boot stay far below 2^63
	return t.Format("2006-01-02T15:04:05.000Z07:00"), true
}
