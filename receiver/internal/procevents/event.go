package procevents

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// Type says what happened to a process.
type Type uint8

const (
	// Exec is a new program image in PID (exec replaced the old one).
	Exec Type = 1
	// Fork is a new process (not a thread), child of PPID; it runs its
	// parent's image until it execs.
	Fork Type = 2
	// Exit is the end of the process: its last thread exited.
	Exit Type = 3
	// Mmap is a file the process mapped executable (a library loaded by
	// the dynamic loader or dlopen).
	Mmap Type = 4
)

// mmapPathComplete is MMAP_PATH_COMPLETE of proc.h.
const mmapPathComplete = 0x8000

func (t Type) String() string {
	switch t {
	case Exec:
		return "exec"
	case Fork:
		return "fork"
	case Exit:
		return "exit"
	case Mmap:
		return "mmap"
	}
	return "unknown"
}

// eventSize is sizeof(struct process_event) (see bpf/proc.h).
const eventSize = 352

var errShortEvent = errors.New("process event shorter than struct process_event")

// Event is one decoded process event. (PID, StartTime, ExecID) names one
// program image: StartTime tells a reused pid apart, ExecID an exec in the
// same pid.
type Event struct {
	Type Type
	PID  uint32
	// PPID is the parent's pid (the forking process for Fork).
	PPID uint32
	// StartTime is the process start in nanoseconds since boot (the
	// kernel's start_boottime, as /proc/PID/stat reports in clock ticks).
	StartTime uint64
	// ExecID counts the execs in the process's ancestry (self_exec_id).
	ExecID uint64
	// Timestamp is when the event happened, nanoseconds since boot.
	Timestamp uint64
	// ExitCode is the wait status of an Exit; for an Mmap, the mapping's
	// vm_flags (VM_READ 1, VM_WRITE 2, VM_EXEC 4, VM_SHARED 8).
	ExitCode uint32
	// Text is the executable's text mapping of an Exec as the kernel laid
	// it out ([Start, End) at file offset Offset, file Dev/Inode), so that
	// it is known even when the process exits before it can be read. Zero
	// when the kernel could not tell. For an Mmap: the new mapping.
	Text Text
	// Comm is the process's name (after exec: the new program's). Filename
	// is the path exec was given (Exec only). Both alias the reader's buffer
	// and are valid only during the handler call: copy what you keep.
	Comm, Filename []byte
	// Path is an Mmap's file as the process sees it; empty when the
	// kernel side could not walk it whole (too deep, a name too long).
	// It aliases the Event's own buffer, reused by the next decode.
	Path []byte
	path [256]byte
}

// decode fills e from a raw record without allocating; the layout is fixed
// by proc.h and the byte order is the host's, as the kernel wrote it.
// Text is the executable's text mapping at exec.
type Text struct {
	Start, End, Offset, Inode uint64
	// Major and Minor identify the file's device as /proc/PID/maps does.
	Major, Minor uint32
}

func (e *Event) decode(b []byte) error {
	if len(b) < eventSize {
		return errShortEvent
	}
	ne := binary.NativeEndian
	e.StartTime = ne.Uint64(b[0:])
	e.ExecID = ne.Uint64(b[8:])
	e.Timestamp = ne.Uint64(b[16:])
	e.Type = 0 // unknown: the kernel writes 1-3
	if t := ne.Uint32(b[24:]); t <= uint32(Mmap) {
		e.Type = Type(t)
	}
	e.PID = ne.Uint32(b[28:])
	e.PPID = ne.Uint32(b[32:])
	e.ExitCode = ne.Uint32(b[36:])
	dev := ne.Uint32(b[72:])
	e.Text = Text{
		Start: ne.Uint64(b[40:]), End: ne.Uint64(b[48:]), Offset: ne.Uint64(b[56:]), Inode: ne.Uint64(b[64:]),
		// The kernel's dev_t: MAJOR is the top 12 bits, MINOR the low 20.
		Major: dev >> 20, Minor: dev & (1<<20 - 1),
	}
	e.Comm = cstr(b[80:96])
	e.Filename, e.Path = nil, e.path[:0]
	if e.Type != Mmap {
		e.Filename = cstr(b[96:eventSize])
		return nil
	}
	if n := ne.Uint32(b[76:]); n&mmapPathComplete != 0 && int(n&^mmapPathComplete) <= eventSize-96 {
		e.Path = joinReversed(e.path[:0], b[96:96+n&^mmapPathComplete])
	}
	return nil
}

// joinReversed appends to dst the path whose components comps holds leaf
// first, each NUL-terminated: "c\0b\0a\0" is "/a/b/c". A file at the
// root of its namespace has no components: "/".
func joinReversed(dst, comps []byte) []byte {
	if len(comps) == 0 {
		return append(dst, '/')
	}
	end := len(comps)
	for end > 0 {
		start := bytes.LastIndexByte(comps[:end-1], 0) + 1
		dst = append(dst, '/')
		dst = append(dst, comps[start:end-1]...)
		end = start
	}
	return dst
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
