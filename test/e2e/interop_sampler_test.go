//go:build linux

package e2e

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// procMapping is one line of /proc/PID/maps.
type procMapping struct {
	start, end, offset uint64
	perms, path        string
}

func readProcMaps(t *testing.T, pid int) []procMapping {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	require.NoError(t, err)
	defer f.Close()
	var out []procMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		r := strings.SplitN(fs[0], "-", 2)
		s, _ := strconv.ParseUint(r[0], 16, 64)
		e, _ := strconv.ParseUint(r[1], 16, 64)
		o, _ := strconv.ParseUint(fs[2], 16, 64)
		m := procMapping{start: s, end: e, offset: o, perms: fs[1]}
		if len(fs) >= 6 {
			m.path = fs[5]
		}
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}

func findMapping(maps []procMapping, addr uint64) (procMapping, bool) {
	for _, m := range maps {
		if addr >= m.start && addr < m.end {
			return m, true
		}
	}
	return procMapping{}, false
}

// stackSample is one user stack: the leaf's instruction pointer first, then
// return addresses, and when it was taken.
type stackSample struct {
	pcs  []uint64
	when time.Time
}

// sampleStacks stops the single-threaded process pid n times, every interval,
// with ptrace and walks its frame pointers: a real, if simple, user-space
// stack sampler. A walk ends at the first frame pointer outside the stack or
// return address outside executable memory, as an unwinder must.
func sampleStacks(t *testing.T, pid, n int, interval time.Duration) []stackSample {
	t.Helper()
	// ptrace requests must come from the thread that attached.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	maps := readProcMaps(t, pid)
	var stack procMapping
	for _, m := range maps {
		if m.path == "[stack]" {
			stack = m
		}
	}
	require.NotZero(t, stack.end, "no [stack] mapping")
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	require.NoError(t, err)
	defer mem.Close()
	word := make([]byte, 16)
	var out []stackSample
	for i := 0; i < n; i++ {
		time.Sleep(interval)
		require.NoError(t, syscall.PtraceAttach(pid))
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, syscall.WALL, nil)
		require.NoError(t, err)
		var regs syscall.PtraceRegs
		require.NoError(t, syscall.PtraceGetRegs(pid, &regs))
		s := stackSample{pcs: []uint64{regs.Rip}, when: time.Now()}
		for fp := regs.Rbp; len(s.pcs) < 64 && fp >= stack.start && fp+16 <= stack.end; {
			if _, err := mem.ReadAt(word, int64(fp)); err != nil {
				break
			}
			next, ret := binary.LittleEndian.Uint64(word[:8]), binary.LittleEndian.Uint64(word[8:])
			if m, ok := findMapping(maps, ret); !ok || !strings.Contains(m.perms, "x") {
				break
			}
			s.pcs = append(s.pcs, ret)
			if next <= fp {
				break
			}
			fp = next
		}
		require.NoError(t, syscall.PtraceDetach(pid))
		out = append(out, s)
	}
	return out
}

// elfIdentity is what producers record about an object file.
type elfIdentity struct {
	gnuBuildID string
	loads      []elf.ProgHeader
}

func readELFIdentity(t *testing.T, path string) elfIdentity {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var id elfIdentity
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			id.loads = append(id.loads, p.ProgHeader)
		}
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		for len(data) >= 12 {
			namesz, descsz, typ := binary.LittleEndian.Uint32(data), binary.LittleEndian.Uint32(data[4:]), binary.LittleEndian.Uint32(data[8:])
			name := data[12 : 12+namesz]
			descOff := 12 + (namesz+3)&^3
			desc := data[descOff : descOff+descsz]
			if typ == 3 && string(name) == "GNU\x00" {
				id.gnuBuildID = fmt.Sprintf("%x", desc)
			}
			data = data[descOff+(descsz+3)&^3:]
		}
	}
	return id
}

// fileOffsetToVaddr maps a mapping's file offset to the ELF's virtual address
// space through its PT_LOAD headers.
func (id elfIdentity) fileOffsetToVaddr(off uint64) (uint64, bool) {
	for _, p := range id.loads {
		if off >= p.Off && off < p.Off+p.Filesz {
			return p.Vaddr + off - p.Off, true
		}
	}
	return 0, false
}
