package ebpfreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
)

// recordingHost is a host whose status reporter records the events, as
// the Collector's service receives them.
type recordingHost struct {
	component.Host
	events []*componentstatus.Event
}

func (h *recordingHost) Report(ev *componentstatus.Event) { h.events = append(h.events, ev) }

func TestCollectStatus(t *testing.T) {
	h := &recordingHost{Host: componenttest.NewNopHost()}
	s := collectStatus{host: h}
	s.report(nil) // healthy from the start: nothing to say
	require.Empty(t, h.events)
	boom := errors.New("syscalls: draining syscall counts: bad file descriptor")
	s.report(boom)
	s.report(boom)
	s.report(nil)
	s.report(nil)
	require.Len(t, h.events, 3)
	for _, ev := range h.events[:2] {
		assert.Equal(t, componentstatus.StatusRecoverableError, ev.Status())
		assert.ErrorIs(t, ev.Err(), boom)
	}
	assert.Equal(t, componentstatus.StatusOK, h.events[2].Status(), "recovered once")

	// A host without a status reporter is fine.
	(&collectStatus{host: componenttest.NewNopHost()}).report(boom)
}
