package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ProgramsEnv names the directory of prebuilt test programs. The kernel
// matrix (scripts/kernel-matrix.sh) sets it inside its guests, which have
// no compiler: it builds every program of Manifest on the host, with the
// same arguments, and CC copies the prebuilt file instead of compiling.
const ProgramsEnv = "EBPF_OTEL_PROGRAMS"

// Manifest lists every C program the tests build, relative to the module
// root: one line per program, "<package dir> <output name> <gcc args...>".
const Manifest = "test/kernels/programs.txt"

// CC builds a test program with gcc, run in the test's package directory
// with args plus "-o dir/out", and returns its path. The program must be
// listed in Manifest with exactly these arguments so that the kernel
// matrix's guests get it; CC fails the test otherwise.
func CC(t testing.TB, dir, out string, args ...string) string {
	t.Helper()
	bin := filepath.Join(dir, out)
	if err := cc(bin, args); err != nil {
		t.Fatalf("building %s: %v", out, err)
	}
	return bin
}

func cc(bin string, args []string) error {
	root, pkg, err := packageDir()
	if err != nil {
		return err
	}
	out := filepath.Base(bin)
	if prebuilt := os.Getenv(ProgramsEnv); prebuilt != "" {
		return copyPrebuilt(filepath.Join(prebuilt, pkg, out), bin, args)
	}
	if err := checkManifest(filepath.Join(root, Manifest), pkg, out, args); err != nil {
		return err
	}
	b, err := exec.Command("gcc", append(append([]string(nil), args...), "-o", bin)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gcc %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// packageDir returns the module root (the nearest directory above the
// working directory holding go.mod) and the working directory relative to
// it, slash-separated.
func packageDir() (root, pkg string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", fmt.Errorf("finding the module root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			return dir, filepath.ToSlash(rel), err
		}
		if dir == filepath.Dir(dir) {
			return "", "", fmt.Errorf("finding the module root: no go.mod above %s", wd)
		}
	}
}

// ManifestLine is how a program appears in Manifest.
func ManifestLine(pkg, out string, args []string) string {
	return strings.Join(append([]string{pkg, out}, args...), " ")
}

func checkManifest(path, pkg, out string, args []string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the test program list: %w", err)
	}
	defer f.Close()
	want := ManifestLine(pkg, out, args)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Join(strings.Fields(sc.Text()), " ") == want {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return fmt.Errorf("%w: add the line %q to %s so the kernel matrix's guests get the program",
		errUnlisted, want, Manifest)
}

var errUnlisted = errors.New("test program not listed")

// copyPrebuilt copies the program built on the host to bin, after checking
// that it was built with args (recorded beside it in src + ".args").
func copyPrebuilt(src, bin string, args []string) error {
	rec, err := os.ReadFile(src + ".args") //nolint:gosec // G703: the directory is the matrix's own, named by its guest init
	if err != nil {
		return fmt.Errorf("prebuilt program: %w (is it listed in %s?)", err, Manifest)
	}
	if got, want := strings.Join(strings.Fields(string(rec)), " "), strings.Join(args, " "); got != want {
		return fmt.Errorf("prebuilt %s was built with %q, the test asks for %q", src, got, want)
	}
	b, err := os.ReadFile(src) //nolint:gosec // G703: as above
	if err != nil {
		return fmt.Errorf("prebuilt program: %w", err)
	}
	return os.WriteFile(bin, b, 0o755) //nolint:gosec // G306: a program the test executes
}
