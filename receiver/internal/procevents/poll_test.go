package procevents

import (
	"testing"
	"time"
)

func TestNextPoll(t *testing.T) {
	const ring = DefaultRingBufferSize // target: 32 KiB a wait
	for _, c := range []struct {
		name    string
		poll    time.Duration
		elapsed time.Duration
		read    int
		want    time.Duration
	}{
		// 3.2 KiB in 100 ms: 32 KiB would take 1 s, but growth is twofold.
		{"light load grows twofold", 100 * time.Millisecond, 100 * time.Millisecond, 3277, 200 * time.Millisecond},
		{"light load settles at the idle interval", 800 * time.Millisecond, 800 * time.Millisecond, 100, idlePollInterval},
		// 32 KiB in 400 ms: the rate fills the target in 400 ms.
		{"steady load keeps its interval", 400 * time.Millisecond, 400 * time.Millisecond, ring / 8, 400 * time.Millisecond},
		// 128 KiB in 1 s: the target takes 250 ms, shrunk at once.
		{"a burst shrinks at once", idlePollInterval, time.Second, ring / 2, 250 * time.Millisecond},
		{"never below pollInterval", 200 * time.Millisecond, 200 * time.Millisecond, ring, pollInterval},
		// An exec's wake-up 10 ms after the last read, one 300-byte event:
		// a slow rate, so the wait grows (twofold at most).
		{"an exec wake-up", 300 * time.Millisecond, 10 * time.Millisecond, 300, 600 * time.Millisecond},
		{"nothing read backs off", 100 * time.Millisecond, time.Second, 0, 200 * time.Millisecond},
		{"a clock step back backs off", 100 * time.Millisecond, -time.Second, 300, 200 * time.Millisecond},
		// Elapsed times of hours must not overflow into a short wait.
		{"a long elapsed time", 100 * time.Millisecond, 100 * time.Hour, 1, 200 * time.Millisecond},
	} {
		if got := nextPoll(c.poll, c.elapsed, c.read, ring); got != c.want {
			t.Errorf("%s: nextPoll(%v, %v, %d) = %v, want %v", c.name, c.poll, c.elapsed, c.read, got, c.want)
		}
	}
}
