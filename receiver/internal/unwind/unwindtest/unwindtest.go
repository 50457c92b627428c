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

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
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

// PackageDir is where the kernel matrix keeps the prebuilt variants, under
// testenv.ProgramsEnv: every test package shares one copy.
const PackageDir = "receiver/internal/unwind/unwindtest"

// dirToken stands for the output directory in the recorded commands, which
// must match between the host's build and a guest's copy.
const dirToken = "$DIR"

// step builds one output file; prog is zero for the shared library, which
// is not run by itself.
type step struct {
	prog Program
	out  string
	cmd  []string
}

// steps lists every variant and the command that builds it into dir: this
// list is what Build compiles on a host and what Prebuild builds for the
// kernel matrix's guests, so the two cannot drift apart.
func steps(dir string) []step {
	src := filepath.Join(dir, "src")
	cChain := []string{"spin", "level5", "level4", "level3", "level2", "level1", "main"}
	out := func(name string) string { return filepath.Join(dir, name) }
	cmd := func(compiler, extra, name string, rest ...string) []string {
		return append(append([]string{compiler}, strings.Fields(flags+" "+extra)...), append([]string{"-o", out(name)}, rest...)...)
	}
	return []step{
		{Program{Name: "gcc-c", Path: out("chain-gcc"), Chain: cChain}, "chain-gcc",
			cmd("gcc", "", "chain-gcc", filepath.Join(src, "chain.c"))},
		{Program{Name: "gcc-c-debug-frame", Path: out("chain-debug-frame"), Chain: cChain}, "chain-debug-frame",
			cmd("gcc", "-fno-asynchronous-unwind-tables -fno-unwind-tables", "chain-debug-frame", filepath.Join(src, "chain.c"))},
		{Program{Name: "clang-c", Path: out("chain-clang"), Chain: cChain}, "chain-clang",
			cmd("clang", "", "chain-clang", filepath.Join(src, "chain.c"))},
		{Program{Name: "gcc-c++-exceptions", Path: out("chain-cxx"),
			Chain: []string{"_Z4spinm", "_Z7throwerm", "_Z5innerm", "_Z6middlem", "_ZN5Outer3runEm", "main"}}, "chain-cxx",
			cmd("g++", "", "chain-cxx", filepath.Join(src, "chain.cpp"))},
		{Program{}, "libchain.so",
			cmd("gcc", "-fPIC -shared", "libchain.so", filepath.Join(src, "libchain.c"))},
		{Program{Name: "gcc-shared-library", Path: out("uselib"), Env: []string{"LD_LIBRARY_PATH=" + dir},
			Files: []string{out("libchain.so")},
			Chain: []string{"lib_inner", "app_callback", "lib_outer", "app_level2", "app_level1", "main"}}, "uselib",
			cmd("gcc", "", "uselib", filepath.Join(src, "uselib.c"), "-L"+dir, "-lchain")},
	}
}

// Build compiles every variant into dir (a test's TempDir). In the kernel
// matrix's guests, which have no compiler (testenv.ProgramsEnv is set), it
// copies the variants Prebuild made on the host instead, after checking
// that each was built by the command it would have run; a variant missing
// there fails the build.
func Build(dir string) ([]Program, error) {
	if prebuilt := os.Getenv(testenv.ProgramsEnv); prebuilt != "" {
		return copyPrebuilt(filepath.Join(prebuilt, PackageDir), dir)
	}
	return build(dir)
}

// Prebuild builds every variant into dir for the kernel matrix's guests and
// records each one's command beside it (name + ".cmd").
func Prebuild(dir string) error {
	if _, err := build(dir); err != nil {
		return err
	}
	for _, s := range steps(dir) {
		if err := os.WriteFile(filepath.Join(dir, s.out+".cmd"), []byte(recorded(s.cmd, dir)+"\n"), 0o644); err != nil {
			return fmt.Errorf("recording how %s was built: %w", s.out, err)
		}
	}
	return nil
}

// recorded is cmd as one line, with the output directory replaced by
// dirToken.
func recorded(cmd []string, dir string) string {
	return strings.ReplaceAll(strings.Join(cmd, " "), dir, dirToken)
}

func build(dir string) ([]Program, error) {
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
	var progs []Program
	for _, s := range steps(dir) {
		if o, err := exec.Command(s.cmd[0], s.cmd[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", s.out, err, o)
		}
		progs = appendProgram(progs, s)
	}
	return progs, nil
}

// copyPrebuilt copies every variant from from (Prebuild's directory) to dir.
func copyPrebuilt(from, dir string) ([]Program, error) {
	var progs []Program
	for _, s := range steps(dir) {
		src := filepath.Join(from, s.out)
		rec, err := os.ReadFile(src + ".cmd")
		if err != nil {
			return nil, fmt.Errorf("prebuilt %s: %w (the kernel matrix builds unwindtest's programs with Prebuild)", s.out, err)
		}
		if got, want := strings.TrimSpace(string(rec)), recorded(s.cmd, dir); got != want {
			return nil, fmt.Errorf("prebuilt %s was built with %q, this test builds it with %q: rebuild the kernel matrix's initramfs", src, got, want)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("prebuilt %s: %w", s.out, err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.out), data, 0o755); err != nil {
			return nil, err
		}
		progs = appendProgram(progs, s)
	}
	return progs, nil
}

func appendProgram(progs []Program, s step) []Program {
	if s.prog.Name == "" {
		return progs
	}
	s.prog.Files = append([]string{s.prog.Path}, s.prog.Files...)
	return append(progs, s.prog)
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
	// Symbols bound at load, before the test releases the program: a lazy
	// binding in the sampled window runs _dl_runtime_resolve, whose stack
	// realignment the unwinder does not follow (docs/unwinding.md), and
	// on an emulated CPU it lasts long enough to be sampled.
	cmd.Env = append(append(os.Environ(), "LD_BIND_NOW=1"), p.Env...)
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
