//go:build linux && amd64

package memory

import (
	"bufio"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// requirePrivileges skips without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
// (uprobes), except in CI, where a skip would hide a broken setup.
func requirePrivileges(t *testing.T) {
	t.Helper()
	caps, err := loader.EffectiveCaps()
	if err == nil {
		err = loader.CheckProfiling(caps)
		if err == nil && !caps.Has(loader.CapSysAdmin) {
			err = loader.ErrMissingCapability
		}
	}
	if err == nil {
		return
	}
	testenv.Skip(t, "needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (run as root): %v", err)
}

// build compiles testdata sources with gcc into dir.
func build(t *testing.T, dir, out string, args ...string) string {
	t.Helper()
	return testenv.CC(t, dir, out, append([]string{"-O0", "-g", "-fno-omit-frame-pointer"}, args...)...)
}

type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	lines chan string
}

func startChild(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, in: in, out: bufio.NewReader(out), lines: make(chan string, 8)}
	go func() {
		for {
			l, err := c.out.ReadString('\n')
			if err != nil {
				close(c.lines)
				return
			}
			c.lines <- strings.TrimSpace(l)
		}
	}()
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

func (c *child) pid() uint32 { return uint32(c.cmd.Process.Pid) }

func (c *child) send() {
	c.t.Helper()
	if _, err := c.in.Write([]byte("\n")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *child) expect(want string) {
	c.t.Helper()
	select {
	case l := <-c.lines:
		if l != want {
			c.t.Fatalf("child said %q, want %q", l, want)
		}
	case <-time.After(60 * time.Second):
		c.t.Fatalf("child did not say %q", want)
	}
}

// finish closes stdin and waits for the child to exit.
func (c *child) finish() {
	c.t.Helper()
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("child: %v", err)
	}
}

// symbolizer names the function holding a user address of a live process,
// from its maps and the ELF symbol table of the mapped file.
type symbolizer struct {
	maps  []procmaps.Mapping
	files map[string]*elf.File
}

func newSymbolizer(t *testing.T, pid uint32) *symbolizer {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", itoa(pid), "maps"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	maps, err := procmaps.ParseMaps(f)
	if err != nil {
		t.Fatal(err)
	}
	return &symbolizer{maps: maps, files: map[string]*elf.File{}}
}

func (s *symbolizer) name(addr uint64) string {
	for i := range s.maps {
		m := &s.maps[i]
		if addr < m.Start || addr >= m.Limit || m.Kind != procmaps.KindFile {
			continue
		}
		f, ok := s.files[m.Path]
		if !ok {
			f, _ = elf.Open(m.Path)
			s.files[m.Path] = f
		}
		if f == nil {
			return "?"
		}
		off := m.FileOffset(addr)
		var vaddr uint64
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Off <= off && off < p.Off+p.Filesz {
				vaddr = off - p.Off + p.Vaddr
			}
		}
		syms, _ := f.Symbols()
		dyn, _ := f.DynamicSymbols()
		for _, sym := range append(syms, dyn...) {
			if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value <= vaddr && vaddr < sym.Value+sym.Size {
				return sym.Name
			}
		}
		return "?"
	}
	return "?"
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
