// Package unwindtest builds the no-frame-pointer test programs that the
// unwinder's tests (table builder and kernel) run: C with gcc and clang,
// C++ with exceptions, and a program calling through a shared library, all
// -O2 -fomit-frame-pointer.
package unwindtest

import (
	"embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed src
var sources embed.FS

// Program is one built test program.
type Program struct {
	// Name identifies the variant, e.g. "gcc-c".
	Name string
	// Path is the executable; run it with the number of seconds to spin.
	Path string
	// Env is added to the environment when running it (the library path).
	Env []string
	// Files are the ELF files whose CFI the program's stacks cross.
	Files []string
	// Chain is the call chain from the spinning leaf to main.
	Chain []string
}

const flags = "-O2 -fomit-frame-pointer -g"

// Build compiles every variant into dir (a test's TempDir).
func Build(dir string) ([]Program, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	entries, err := sources.ReadDir("src")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := sources.ReadFile("src/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), data, 0o644); err != nil {
			return nil, err
		}
	}
	cChain := []string{"spin", "level5", "level4", "level3", "level2", "level1", "main"}
	out := func(name string) string { return filepath.Join(dir, name) }
	lib := out("libchain.so")
	steps := []struct {
		prog Program
		cmd  []string
	}{
		{Program{Name: "gcc-c", Path: out("chain-gcc"), Chain: cChain},
			[]string{"gcc", flags, "-o", out("chain-gcc"), filepath.Join(src, "chain.c")}},
		{Program{Name: "gcc-c-debug-frame", Path: out("chain-debug-frame"), Chain: cChain},
			[]string{"gcc", flags + " -fno-asynchronous-unwind-tables -fno-unwind-tables", "-o", out("chain-debug-frame"), filepath.Join(src, "chain.c")}},
		{Program{Name: "clang-c", Path: out("chain-clang"), Chain: cChain},
			[]string{"clang", flags, "-o", out("chain-clang"), filepath.Join(src, "chain.c")}},
		{Program{Name: "gcc-c++-exceptions", Path: out("chain-cxx"),
			Chain: []string{"_Z4spinm", "_Z7throwerm", "_Z5innerm", "_Z6middlem", "_ZN5Outer3runEm", "main"}},
			[]string{"g++", flags, "-o", out("chain-cxx"), filepath.Join(src, "chain.cpp")}},
		{Program{}, []string{"gcc", flags, "-fPIC", "-shared", "-o", lib, filepath.Join(src, "libchain.c")}},
		{Program{Name: "gcc-shared-library", Path: out("uselib"), Env: []string{"LD_LIBRARY_PATH=" + dir},
			Files: []string{lib},
			Chain: []string{"lib_inner", "app_callback", "lib_outer", "app_level2", "app_level1", "main"}},
			[]string{"gcc", flags, "-o", out("uselib"), filepath.Join(src, "uselib.c"), "-L" + dir, "-lchain"}},
	}
	var progs []Program
	for _, s := range steps {
		args := append(strings.Fields(s.cmd[1]), s.cmd[2:]...)
		if o, err := exec.Command(s.cmd[0], args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", filepath.Base(s.cmd[3]), err, o)
		}
		if s.prog.Name == "" {
			continue
		}
		s.prog.Files = append([]string{s.prog.Path}, s.prog.Files...)
		progs = append(progs, s.prog)
	}
	return progs, nil
}

// Running is a started test program, waiting to be released.
type Running struct {
	Cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Release lets the program start spinning.
func (r *Running) Release() error { return r.stdin.Close() }

// Stop kills the program if it still runs and waits for it.
func (r *Running) Stop() {
	r.stdin.Close()
	r.Cmd.Process.Kill()
	r.Cmd.Wait()
}

// Start runs p for seconds once released (args "block": sleeping in the
// leaf instead of spinning; "alloc": allocating), and waits until every file of p
// is mapped; the program blocks on its stdin until Release, so the caller
// can register it first.
func Start(p Program, seconds float64, args ...string) (*Running, error) {
	cmd := exec.Command(p.Path, append([]string{fmt.Sprint(seconds)}, args...)...)
	cmd.Env = append(os.Environ(), p.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Running{Cmd: cmd, stdin: stdin}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid))
		if err != nil {
			break
		}
		all := strings.Contains(string(maps), "libc.so")
		for _, f := range p.Files {
			all = all && strings.Contains(string(maps), f)
		}
		if all {
			return r, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Stop()
	return nil, fmt.Errorf("%s: its files were not mapped within 5s", p.Name)
}
