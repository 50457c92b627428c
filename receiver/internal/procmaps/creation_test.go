package procmaps

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCreationTime(t *testing.T) {
	var boot unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot))
	now := time.Now()
	k := Key{PID: 1, StartTime: uint64(boot.Nano())}

	s, ok := CreationTime(k)
	require.True(t, ok)
	got, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "ISO 8601 as process.creation.time holds")
	assert.WithinDuration(t, now, got, 50*time.Millisecond, "a process started now was created now")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, s, "UTC, milliseconds")

	again, _ := CreationTime(k)
	assert.Equal(t, s, again, "one process keeps one creation time")

	later, _ := CreationTime(Key{PID: 1, StartTime: k.StartTime + uint64(1500*time.Millisecond)})
	l, err := time.Parse(time.RFC3339Nano, later)
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, l.Sub(got), "start times map one to one")

	_, ok = CreationTime(Key{PID: 1})
	assert.False(t, ok, "unknown start time: no attribute")
}
