//go:build linux

package ebpfreceiver

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// collected is one profile of an interval and the set that drained it, so
// the value it exports is credited to that set once the batch is taken.
type collected struct {
	set *runningSet
	probe.Profile
}

// mergeInterval hands every profile type of one interval on as one batch
// with one dictionary. Every batch goes through each processor's sidecar
// call (Symbolize, then Aggregate), and what the sidecar pays per call
// (decoding, the dictionary, encoding, a window per stream) was paid once per
// type; the types of one interval share processes, mappings, strings and
// often frames. The first profile's batch takes the others in; they are
// consumed (read-only after). With one profile, it is returned as it is.
func mergeInterval(ps []collected) (pprofile.Profiles, error) {
	into := ps[0].Data
	for _, p := range ps[1:] {
		if err := p.Data.MergeTo(into); err != nil {
			return pprofile.Profiles{}, fmt.Errorf("merging the %s profile into the %s profile's batch: %w", p.Type, ps[0].Type, err)
		}
	}
	return into, nil
}
