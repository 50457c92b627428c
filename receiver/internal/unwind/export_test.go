package unwind

import "time"

// SetIDQuarantine shortens how long a freed table id waits, for tests that
// churn files faster than the default allows; it returns the old value.
func SetIDQuarantine(d time.Duration) time.Duration {
	old := idQuarantine
	idQuarantine = d
	return old
}
