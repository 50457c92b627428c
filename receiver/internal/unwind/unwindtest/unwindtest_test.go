package unwindtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

func needCompilers(t *testing.T) {
	t.Helper()
	for _, c := range []string{"gcc", "g++", "clang"} {
		if _, err := exec.LookPath(c); err != nil {
			testenv.Skip(t, "%s not installed", c)
		}
	}
}

// A guest's Build copies exactly what Prebuild made on the host, and the
// programs it returns point into the test's own directory.
func TestBuildCopiesPrebuilt(t *testing.T) {
	needCompilers(t)
	pre := t.TempDir()
	if err := Prebuild(filepath.Join(pre, PackageDir)); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testenv.ProgramsEnv, pre)
	dir := t.TempDir()
	progs, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := steps(dir)
	var names []string
	for _, s := range want {
		got, err := os.ReadFile(filepath.Join(dir, s.out))
		if err != nil {
			t.Fatal(err)
		}
		built, err := os.ReadFile(filepath.Join(pre, PackageDir, s.out))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, built) {
			t.Errorf("%s differs from the prebuilt file", s.out)
		}
		if s.prog.Name != "" {
			names = append(names, s.prog.Name)
		}
	}
	var gotNames []string
	for _, p := range progs {
		gotNames = append(gotNames, p.Name)
		if filepath.Dir(p.Path) != dir || p.Files[0] != p.Path {
			t.Errorf("%s: path %s, files %v", p.Name, p.Path, p.Files)
		}
	}
	if !reflect.DeepEqual(gotNames, names) || len(names) != 5 {
		t.Fatalf("programs %v, want %v", gotNames, names)
	}
	// The copied shared-library program runs from the test's directory.
	r, err := Start(progs[len(progs)-1], 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	if err := r.Cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", progs[len(progs)-1].Name, err)
	}
}

// A variant missing from the prebuilt directory, or built by another
// command, fails Build in the guest instead of testing something else.
func TestBuildRejectsMissingOrStalePrebuilt(t *testing.T) {
	pre := t.TempDir()
	t.Setenv(testenv.ProgramsEnv, pre)
	_, err := Build(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "prebuilt chain-gcc") || !strings.Contains(err.Error(), "Prebuild") {
		t.Fatalf("missing: %v", err)
	}
	dir := filepath.Join(pre, PackageDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chain-gcc.cmd"), []byte("gcc -O0 -o $DIR/chain-gcc $DIR/src/chain.c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Build(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `was built with "gcc -O0`) {
		t.Fatalf("stale: %v", err)
	}
}

// VDSOLeaves drops exactly the process's samples whose leaf is in its vDSO.
func TestVDSOLeaves(t *testing.T) {
	pid := os.Getpid()
	sym, err := NewSymbolizer(pid)
	if err != nil {
		t.Fatal(err)
	}
	if sym.vdsoHi == 0 {
		t.Skip("no vDSO mapped")
	}
	lo := sym.vdsoLo
	samples := []Sample{
		{PID: uint32(pid), User: []uint64{lo + 8, 0x401000}, Value: 3},
		{PID: uint32(pid), User: []uint64{0x401000, lo}, Value: 5},
		{PID: uint32(pid) + 1, User: []uint64{lo}, Value: 7},
		{PID: uint32(pid), Value: 11},
	}
	kept, dropped := sym.VDSOLeaves(samples)
	if dropped != 3 || len(kept) != 3 || kept[0].Value != 5 || kept[1].Value != 7 || kept[2].Value != 11 {
		t.Fatalf("dropped %d, kept %+v", dropped, kept)
	}
	// The vDSO has no file: its frames are unnamed and said to be unmapped.
	if _, _, bad := sym.Completeness(samples[:1], []string{"main"}); len(bad) != 1 || !strings.HasPrefix(bad[0], fmt.Sprintf("%#x(unmapped)", lo+8)) {
		t.Fatalf("incomplete %q", bad)
	}
}

// The symbolizer refuses a process that maps no file (an exited one).
func TestSymbolizerRefusesExitedProcess(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	// Not waited for yet: a zombie keeps /proc/PID with empty maps.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("true did not exit")
		}
	}
	if _, err := NewSymbolizer(cmd.Process.Pid); err == nil || !strings.Contains(err.Error(), "has it exited?") {
		t.Fatalf("got %v", err)
	}
}

// Two symbolizers share one parse of a file that did not change.
func TestSymbolsParsedOnce(t *testing.T) {
	const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		testenv.Skip(t, "no %s: %v", libc, err)
	}
	first, second := cachedSymbols(libc), cachedSymbols(libc)
	if first != second {
		t.Fatal("libc's symbols were parsed twice")
	}
	if len(first.syms) == 0 {
		t.Fatal("no function symbols in libc")
	}
	missing := filepath.Join(t.TempDir(), "gone")
	if sf := cachedSymbols(missing); len(sf.syms) != 0 {
		t.Fatalf("symbols of a missing file: %d", len(sf.syms))
	}
}
