package ebpfreceiver

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// collectStatus reports collection failures through componentstatus: a
// recoverable error for every interval in which a probe set failed to
// collect (the receiver keeps trying each interval), and StatusOK once an
// interval succeeds again. Not safe for concurrent use: the engine
// serialises collections.
type collectStatus struct {
	host    component.Host
	failing bool
}

// report takes the interval's collection error, nil when every set
// collected.
func (s *collectStatus) report(err error) {
	switch {
	case err != nil:
		componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(err))
		s.failing = true
	case s.failing:
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
		s.failing = false
	}
}
