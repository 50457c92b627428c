// Package unwind turns the DWARF call frame information (CFI) of an ELF file
// (.eh_frame, or .debug_frame where .eh_frame is missing) into a compact
// sorted table the eBPF unwinder searches: one Row per address range saying
// how to find the caller's stack pointer (the CFA), return address and frame
// pointer on x86-64.
//
// The parser is ours. Go's debug/dwarf has no CFI reader; delve's
// pkg/dwarf/frame evaluates one PC at a time (EstablishFrame) and does not
// expose where rows change, so a table would cost one evaluation per
// instruction address; the OpenTelemetry eBPF profiler's elfunwindinfo is
// an internal part of that agent (its own ELF reader, logging and row
// types) rather than a library. What we need is small: evaluate each FDE's
// instructions once, record a row at every location advance, and never trust
// a length or an encoding from the file (see FuzzBuild).
package unwind
