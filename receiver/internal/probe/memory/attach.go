//go:build linux && amd64

package memory

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

// uprobe is one allocator function: the program on its entry and, for
// functions returning memory, the shared return program.
type uprobe struct {
	symbol     string
	enter, ret *ebpf.Program
	fn         memoryAllocFn // the session program's cookie
}

func (p *Probe) probeList() []uprobe {
	s, o := p.cfg.Symbols, &p.objs
	ret := o.AllocReturn
	list := []uprobe{
		{s.Malloc, o.MallocEnter, ret, memoryAllocFnFN_MALLOC},
		{s.Calloc, o.CallocEnter, ret, memoryAllocFnFN_CALLOC},
		{s.Realloc, o.ReallocEnter, ret, memoryAllocFnFN_REALLOC},
		{s.ReallocArray, o.ReallocarrayEnter, ret, memoryAllocFnFN_REALLOCARRAY},
		{s.PosixMemalign, o.PosixMemalignEnter, ret, memoryAllocFnFN_POSIX_MEMALIGN},
		{s.AlignedAlloc, o.MemalignEnter, ret, memoryAllocFnFN_MEMALIGN},
		{s.Memalign, o.MemalignEnter, ret, memoryAllocFnFN_MEMALIGN},
		{s.Valloc, o.VallocEnter, ret, memoryAllocFnFN_VALLOC},
		{s.Pvalloc, o.VallocEnter, ret, memoryAllocFnFN_VALLOC},
		{s.Mmap, o.MmapEnter, ret, memoryAllocFnFN_MMAP},
	}
	if !p.cfg.SkipInUse {
		list = append(list, uprobe{s.Free, o.FreeEnter, nil, 0}, uprobe{s.Munmap, o.MunmapEnter, nil, 0})
	}
	out := list[:0]
	for _, pr := range list {
		if pr.symbol != "" {
			out = append(out, pr)
		}
	}
	return out
}

// attach puts the probes on the allocator file f for process pid (0:
// every process). Symbols the file does not define are skipped; aliases at
// one address are probed once. On error nothing stays attached.
//
// The kernel attaches uprobes to the inode behind a path it resolves
// itself; it is handed /proc/self/fd/N of the file already opened and
// checked (safeopen), so a file swapped in at the process's path since
// cannot take the probes.
func (p *Probe) attach(f *safeopen.File, pid uint32) (_ []link.Link, err error) {
	offsets, err := p.symbolOffsets(f)
	if err != nil {
		return nil, err
	}
	path := f.Name()
	fdPath := "/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
	ex, err := link.OpenExecutable(fdPath)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	var links []link.Link
	defer func() {
		if err != nil {
			_ = closeLinks(links)
		}
	}()
	seen := make(map[uint64]bool, len(p.probes))
	var sessOffs, sessFns []uint64
	for _, pr := range p.probes {
		off, ok := offsets[pr.symbol]
		if !ok || seen[off] {
			continue
		}
		seen[off] = true
		if p.session && pr.ret != nil {
			sessOffs = append(sessOffs, off)
			sessFns = append(sessFns, uint64(pr.fn))
			continue
		}
		opts := &link.UprobeOptions{Address: off, PID: int(pid)}
		l, err := ex.Uprobe(pr.symbol, pr.enter, opts)
		if err != nil {
			return nil, loader.Explain(fmt.Sprintf("attaching uprobe %s on %s", pr.symbol, path), err)
		}
		links = append(links, l)
		if pr.ret == nil {
			continue
		}
		l, err = ex.Uretprobe(pr.symbol, pr.ret, opts)
		if err != nil {
			return nil, loader.Explain(fmt.Sprintf("attaching uretprobe %s on %s", pr.symbol, path), err)
		}
		links = append(links, l)
	}
	if len(sessOffs) > 0 {
		l, err := attachSession(fdPath, p.objs.AllocSession, sessOffs, sessFns, pid)
		if err != nil {
			return nil, loader.Explain(fmt.Sprintf("attaching uprobe session on %s", path), err)
		}
		links = append(links, l)
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("attaching to %s: %w", path, errNoSymbols)
	}
	return links, nil
}

var errNoSymbols = errors.New("none of the allocator's symbols is defined")

// maxSymbolFiles bounds the symbol cache (Probe.syms), which holds the
// function offsets of each allocator file by device and inode, so that one
// libc shared by hundreds of processes is parsed once.
const maxSymbolFiles = 64

// symbolOffsets returns the file offsets of the functions defined in the
// ELF file file, computed as the kernel's uprobes expect them: virtual
// address minus the executable segment's address plus its file offset,
// moved past a leading instruction the kernel would single-step (see
// skipPrologue).
func (p *Probe) symbolOffsets(file *safeopen.File) (map[string]uint64, error) {
	id := file.ID
	if m, ok := p.syms[id]; ok {
		return m, nil
	}
	f, err := elf.NewFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading symbols of %s: %w", file.Name(), err)
	}
	syms, _ := f.Symbols()
	dyn, _ := f.DynamicSymbols()
	m := make(map[string]uint64)
	for _, s := range append(syms, dyn...) {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		for _, pr := range f.Progs {
			if pr.Type == elf.PT_LOAD && pr.Flags&elf.PF_X != 0 &&
				pr.Vaddr <= s.Value && s.Value < pr.Vaddr+pr.Memsz {
				off := s.Value - pr.Vaddr + pr.Off
				m[s.Name] = off + probeSkip(pr, off)
				break
			}
		}
	}
	if len(p.syms) >= maxSymbolFiles {
		clear(p.syms)
	}
	p.syms[id] = m
	return m, nil
}

// probeSkip reads the first bytes of a function in segment pr at file
// offset off and returns how far to move its probe.
func probeSkip(pr *elf.Prog, off uint64) uint64 {
	var code [maxSkipRead]byte
	n, _ := pr.ReadAt(code[:], int64(off-pr.Off)) //nolint:gosec // G115: an ELF segment offset is below 2^63
	return skipPrologue(code[:n])
}

// procAlive reports whether path (a /proc/PID directory) exists.
func procAlive(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
