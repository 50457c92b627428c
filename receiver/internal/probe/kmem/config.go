package kmem

// DefaultMapEntries sizes the counts map when Config.MapEntries is zero
// (the receiver's default too).
const DefaultMapEntries = 16384

// Config is what the probe needs; the receiver's config maps onto it.
type Config struct {
	// TopProcesses is how many processes, by kernel memory allocated in
	// the interval, get their own series; the rest are folded into one
	// series named "other". 0 keeps every process, as in every probe set.
	TopProcesses int
	// MapEntries sizes the per-process counts map; 0 means
	// DefaultMapEntries.
	MapEntries uint32
	// ProcRoot is where procfs is mounted, to tell exited processes.
	// Default "/proc".
	ProcRoot string
	// PIDs and CgroupIDs are the target filters, applied in the kernel to
	// the task an allocation is attributed to; empty counts every process.
	PIDs      []uint32
	CgroupIDs []uint64
}

// Stats are the kernel side's cumulative counters and this Collect's
// figures.
type Stats struct {
	// PageEvents and KmallocEvents count the events counted; MapFull
	// those lost because the counts map was full.
	PageEvents, KmallocEvents, MapFull uint64
	// Processes is the number of processes in the kernel's map,
	// FoldedProcesses those folded into "other" this interval, Exited
	// those removed because they exited, Series the series emitted.
	Processes, FoldedProcesses, Exited, Series int
}
