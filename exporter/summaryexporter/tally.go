// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// What a line reads from the pipelines: names the ebpf receiver emits
// (docs/configuration.md) and any producer may share.
const (
	// Calls per process and syscall, exact (syscall.duration's histograms
	// hold only the calls whose latency was sampled).
	metricSyscallCalls = "syscall.calls"
	metricTCPClosed    = "tcp.connections.closed"
	metricSamplesLost  = "ebpf.receiver.profile.samples.lost"
	metricUpdatesLost  = "ebpf.receiver.updates.lost"
	metricEventsLost   = "ebpf.receiver.process_events.lost"
	attrSyscall        = "syscall.name"
	eventTCPClosed     = "tcp.connection.closed"

	// cpuSampleType is the sample type of CPU profiles (pprof's
	// convention: samples/count with a cpu/nanoseconds period).
	cpuSampleType = "samples"
)

// tally is one interval's figures. Its maps are cleared, not reallocated,
// each interval; they hold one entry per distinct function, syscall and
// profile type seen in the interval.
type tally struct {
	cpuSamples int64
	// leaf is CPU samples by the innermost frame's function name;
	// unnamed is those whose innermost frame has no function (not
	// symbolized), by mapping file name.
	leaf    map[string]int64
	unnamed map[string]int64
	// byFunction and byMapping are one batch's CPU samples by dictionary
	// index, reused between batches.
	byFunction, byMapping []int64
	// other is the value of every other profile type, by type and unit.
	other    map[valueType]int64
	syscalls map[string]float64
	// tcpClosed counts closed connections from the metric; tcpLogs from
	// connection log records (used when no metric came).
	tcpClosed, tcpLogs float64
	samplesLost        float64
	updatesLost        float64
	eventsLost         float64
	sawProfiles        bool
	sawMetrics         bool
	sawTCPMetric       bool
}

type valueType struct{ typ, unit string }

func newTally() *tally {
	return &tally{
		leaf: map[string]int64{}, unnamed: map[string]int64{},
		other: map[valueType]int64{}, syscalls: map[string]float64{},
	}
}

func (t *tally) reset() {
	clear(t.leaf)
	clear(t.unnamed)
	clear(t.other)
	clear(t.syscalls)
	*t = tally{leaf: t.leaf, unnamed: t.unnamed, other: t.other, syscalls: t.syscalls,
		byFunction: t.byFunction, byMapping: t.byMapping}
}

// addProfiles counts sample values by profile type and, for CPU profiles,
// by the innermost frame's function. Samples are counted by function and
// mapping index into reused slices, and names looked up once per batch, not
// once per sample.
func (t *tally) addProfiles(pd pprofile.Profiles) {
	d := pd.Dictionary()
	strs, stacks, locs, fns, maps := d.StringTable(), d.StackTable(), d.LocationTable(), d.FunctionTable(), d.MappingTable()
	str := func(i int32) string {
		if i < 0 || int(i) >= strs.Len() {
			return ""
		}
		return strs.At(int(i))
	}
	t.sawProfiles = true
	t.byFunction = resize(t.byFunction, fns.Len())
	t.byMapping = resize(t.byMapping, maps.Len())
	var unknown int64
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				samples := p.Samples()
				if str(p.SampleType().TypeStrindex()) != cpuSampleType {
					var total int64
					for _, s := range samples.All() {
						total += sampleValue(s)
					}
					t.other[valueType{str(p.SampleType().TypeStrindex()), str(p.SampleType().UnitStrindex())}] += total
					continue
				}
				for _, s := range samples.All() {
					v := sampleValue(s)
					t.cpuSamples += v
					si := int(s.StackIndex())
					if si < 0 || si >= stacks.Len() {
						unknown += v
						continue
					}
					li := stacks.At(si).LocationIndices()
					if li.Len() == 0 || li.At(0) < 0 || int(li.At(0)) >= locs.Len() {
						unknown += v
						continue
					}
					loc := locs.At(int(li.At(0)))
					// Lines are innermost first: an inlined function is
					// where the time went.
					if lines := loc.Lines(); lines.Len() > 0 {
						if fi := int(lines.At(0).FunctionIndex()); fi > 0 && fi < len(t.byFunction) {
							t.byFunction[fi] += v
							continue
						}
					}
					if mi := int(loc.MappingIndex()); mi > 0 && mi < len(t.byMapping) {
						t.byMapping[mi] += v
					} else {
						unknown += v
					}
				}
			}
		}
	}
	for fi, v := range t.byFunction {
		if v == 0 {
			continue
		}
		if name := str(fns.At(fi).NameStrindex()); name != "" {
			t.leaf[name] += v
		} else {
			unknown += v
		}
	}
	for mi, v := range t.byMapping {
		if v != 0 {
			t.unnamed[str(maps.At(mi).FilenameStrindex())] += v
		}
	}
	if unknown != 0 {
		t.unnamed[""] += unknown
	}
}

// resize returns s with n zeroed elements, reusing its array when it can.
func resize(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// sampleValue is a sample's value: its (first) value, or its number of
// timestamps when it carries none.
func sampleValue(s pprofile.Sample) int64 {
	if s.Values().Len() > 0 {
		return s.Values().At(0)
	}
	return int64(s.TimestampsUnixNano().Len())
}

// addMetrics turns the cumulative series the line reports into this
// interval's deltas.
func (t *tally) addMetrics(md pmetric.Metrics, cum *cumulative) {
	t.sawMetrics = true
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Name() {
				case metricSyscallCalls:
					t.addSyscalls(m, cum)
				case metricTCPClosed:
					t.sawTCPMetric = true
					t.tcpClosed += sumDeltas(m, cum)
				case metricSamplesLost:
					t.samplesLost += sumDeltas(m, cum)
				case metricUpdatesLost:
					t.updatesLost += sumDeltas(m, cum)
				case metricEventsLost:
					t.eventsLost += sumDeltas(m, cum)
				}
			}
		}
	}
}

// addSyscalls adds the interval's calls of each syscall over all processes.
func (t *tally) addSyscalls(m pmetric.Metric, cum *cumulative) {
	if m.Type() != pmetric.MetricTypeSum {
		return
	}
	cumulativeSeries := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	for _, dp := range m.Sum().DataPoints().All() {
		name, ok := dp.Attributes().Get(attrSyscall)
		if !ok {
			continue
		}
		t.syscalls[name.Str()] += pointDelta(m, dp, cumulativeSeries, cum)
	}
}

// sumDeltas is the interval's increase of a sum over all its series.
func sumDeltas(m pmetric.Metric, cum *cumulative) float64 {
	if m.Type() != pmetric.MetricTypeSum {
		return 0
	}
	cumulativeSeries := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	var total float64
	for _, dp := range m.Sum().DataPoints().All() {
		total += pointDelta(m, dp, cumulativeSeries, cum)
	}
	return total
}

// pointDelta is the interval's increase of one point of sum m.
func pointDelta(m pmetric.Metric, dp pmetric.NumberDataPoint, cumulativeSeries bool, cum *cumulative) float64 {
	v := dp.DoubleValue()
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	}
	if cumulativeSeries {
		v = cum.delta(m.Name(), dp.Attributes(), dp.StartTimestamp(), v)
	}
	return v
}

// addLogs counts connection log records.
func (t *tally) addLogs(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() == eventTCPClosed {
					t.tcpLogs++
				}
			}
		}
	}
}

// tcpConnections is the interval's closed connections: the metric when it
// came, else the log records.
func (t *tally) tcpConnections() (float64, bool) {
	if t.sawTCPMetric {
		return t.tcpClosed, true
	}
	return t.tcpLogs, t.tcpLogs > 0
}

// attrsKey identifies a series by its attributes; pcommon.Map has no
// stable key of its own.
func attrsKey(m pcommon.Map) string {
	if m.Len() == 0 {
		return ""
	}
	return keyOf(m)
}
