package unwind

// CFAType says how the canonical frame address (the caller's stack pointer
// before the call) is found at a row's addresses. The values are shared with
// bpf/unwind.h.
type CFAType uint8

const (
	// CFANone: no CFI covers the address (a gap between functions).
	CFANone CFAType = iota
	// CFARSP: CFA = rsp + CFAOffset.
	CFARSP
	// CFARBP: CFA = rbp + CFAOffset.
	CFARBP
	// CFAPLT: the expression GCC and ld emit for PLT entries:
	// CFA = rsp + CFAOffset + ((rip & 15) >= RBPOffset ? 8 : 0). PLT
	// entries never save rbp, so the threshold rides in RBPOffset.
	CFAPLT
	// CFAEnd: the return address is undefined: the outermost frame
	// (_start, thread start). The stack is complete here.
	CFAEnd
	// CFASignal: a signal trampoline (__restore_rt, augmentation "S"); the
	// interrupted registers are in the ucontext on the stack.
	CFASignal
	// CFAUnsupported: an expression or register form the unwinder does not
	// evaluate; the walk stops there and counts it.
	CFAUnsupported
)

// RBPType says where the caller's rbp is.
type RBPType uint8

const (
	// RBPSame: rbp is not saved by this frame: the caller's rbp is the
	// current one.
	RBPSame RBPType = iota
	// RBPAtCFA: the caller's rbp is saved at CFA + RBPOffset.
	RBPAtCFA
	// RBPUndefined: the caller's rbp cannot be recovered.
	RBPUndefined
)

// Row is one line of an unwind table: its rules hold from PC up to the next
// row's PC. The layout is bpf/unwind.h's struct unwind_row (12 bytes).
type Row struct {
	// PC is the ELF virtual address where the row starts.
	PC uint32
	// CFAOffset is 32 bits: functions with large stack arrays (libc's
	// printf family) keep CFAs beyond 32 KiB.
	CFAOffset int32
	RBPOffset int16
	CFA       CFAType
	RBP       RBPType
}

// RowSize is the size of struct unwind_row.
const RowSize = 12

// kernelRowSize is what a row takes in the kernel: array elements are
// 8-byte aligned.
const kernelRowSize = 16

// sameRules reports whether two rows unwind identically (rows that only
// repeat their predecessor's rules are dropped).
func (r Row) sameRules(o Row) bool {
	return r.CFA == o.CFA && r.CFAOffset == o.CFAOffset && r.RBP == o.RBP &&
		r.RBPOffset == o.RBPOffset
}
