package memory

// Symbols are the names of an allocator's functions.
type Symbols struct {
	Malloc, Calloc, Realloc, ReallocArray, Free string
	PosixMemalign, AlignedAlloc, Memalign       string
	Valloc, Pvalloc, Mmap, Munmap               string
}

// LibcSymbols are the C library's names, also those of jemalloc and
// tcmalloc built to replace malloc.
func LibcSymbols() Symbols {
	return Symbols{
		Malloc: "malloc", Calloc: "calloc", Realloc: "realloc", ReallocArray: "reallocarray",
		Free: "free", PosixMemalign: "posix_memalign", AlignedAlloc: "aligned_alloc",
		Memalign: "memalign", Valloc: "valloc", Pvalloc: "pvalloc", Mmap: "mmap", Munmap: "munmap",
	}
}

// PrefixedSymbols are an allocator's names with a prefix, such as "je_"
// for a prefixed jemalloc or "tc_" for tcmalloc; mmap and munmap are not
// included.
func PrefixedSymbols(prefix string) Symbols {
	s := LibcSymbols()
	s.Mmap, s.Munmap = "", ""
	for _, f := range []*string{&s.Malloc, &s.Calloc, &s.Realloc, &s.ReallocArray, &s.Free,
		&s.PosixMemalign, &s.AlignedAlloc, &s.Memalign, &s.Valloc, &s.Pvalloc} {
		*f = prefix + *f
	}
	return s
}
